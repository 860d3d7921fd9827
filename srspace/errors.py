"""What a refusal is: the one exception whose message was written for the user, and how values
a user sent are quoted in messages and log lines (cut short)."""
from __future__ import annotations

from pathlib import Path

NO_IMAGE = "No image was received. Upload an image file (PNG, JPEG, WebP, ...)."


class ImageInputError(ValueError):
    """The user's image or settings cannot be processed; the message says why and what to do.

    Only this exception counts as a refusal (one log line, the message shown as it is); any
    other exception is a bug and is logged with its traceback."""


def shorten(value, limit: int = 40) -> str:
    """A user-supplied value as it may appear in a message or a log line: repr'd and cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shorten_name(path: Path, limit: int = 60) -> str:
    """A file name as it may appear in a message: cut short."""
    name = Path(path).name
    return name if len(name) <= limit else name[: limit - 1] + "…"
