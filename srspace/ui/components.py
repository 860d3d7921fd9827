"""Inputs that leave checking to us: whatever a browser or an API client sends reaches the
handler, which answers every bad value with a message saying what is wrong.

Gradio's own preprocessing opens an uploaded file with PIL, compares a slider's value with its
bounds and checks a dropdown's value against its choices; a wrong type there (a factor of
"abc", a model key of 50 MB) reaches an API client as an opaque error, or as an error message
that repeats the whole value. ``srspace.imaging.decoding`` and ``srspace.service.upscaler`` check each of them and
cut user strings short.

Kept in a module of its own: Gradio writes a .pyi stub beside the source of every component
subclass (ignored by git).
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..serving.downloads import is_url
from ..errors import ImageInputError, shorten
from ..serving.http import request_log


class UploadedImage(gr.Image):
    """gr.Image that hands the raw upload path to our decoder, and fetches an image given as a URL
    (an API or MCP call's) with ``fetcher`` (a ``srspace.serving.downloads.UrlFetcher``: bounded in size and
    time, counted against the temp folder's cap) where Gradio would read it into memory unbounded."""

    is_template = True  # the front end is gr.Image's
    fetcher = None  # set by Server.image_input

    def preprocess(self, payload):
        return None if payload is None else payload.path

    async def async_move_resource_to_block_cache(self, url_or_file_path):
        if self.fetcher is None or not is_url(url_or_file_path):
            return await super().async_move_resource_to_block_cache(url_or_file_path)
        try:
            with request_log("fetch", url=shorten(url_or_file_path, 100)) as record:  # one line, no traceback
                path = await self.fetcher.fetch(url_or_file_path, Path(self.GRADIO_CACHE))
                record["bytes"] = path.stat().st_size
        except ImageInputError as exc:
            raise gr.Error(str(exc), title="Cannot fetch this image", print_exception=False) from exc
        self.temp_files.add(str(path))
        return str(path)


class Factor(gr.Slider):
    """gr.Slider whose value reaches the handler as sent (``request.check_factor`` checks it)."""

    is_template = True

    def preprocess(self, payload):
        return payload


class Choice(gr.Dropdown):
    """gr.Dropdown whose value reaches the handler as sent (the handler checks it against the choices)."""

    is_template = True

    def preprocess(self, payload):
        return payload
