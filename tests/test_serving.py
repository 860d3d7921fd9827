"""What every request goes through: its one log line says refused only for a refusal."""
from __future__ import annotations

import logging

import pytest

from srspace.errors import ImageInputError
from srspace.serving.http import request_log


def test_a_refusal_is_one_line_without_a_traceback(caplog):
    caplog.set_level(logging.INFO, logger="srspace")
    with pytest.raises(ImageInputError):
        with request_log("upscale", model="'x'"):
            raise ImageInputError("Unknown model 'x' here")
    [record] = caplog.records
    assert "upscale model='x'" in record.message and "refused: Unknown model 'x' here" in record.message
    assert record.exc_info is None


def test_any_other_error_is_a_bug_logged_with_its_traceback(caplog):
    caplog.set_level(logging.INFO, logger="srspace")
    with pytest.raises(ValueError):
        with request_log("compare"):
            raise ValueError("shapes do not match")  # a bug of ours, not the visitor's input
    [record] = caplog.records
    assert record.message.endswith("failed") and "refused" not in record.message
    assert record.exc_info is not None and record.exc_info[0] is ValueError
