"""Inputs that leave checking to us: whatever a browser or an API client sends reaches the
handler, which answers every bad value with a message saying what is wrong.

Gradio's own preprocessing opens an uploaded file with PIL, compares a slider's value with its
bounds and checks a dropdown's value against its choices; a wrong type there (a factor of
"abc", a model key of 50 MB) reaches an API client as an opaque error, or as an error message
that repeats the whole value. ``srspace.decoding`` and ``srspace.upscaler`` check each of them and
cut user strings short.

Kept in a module of its own: Gradio writes a .pyi stub beside the source of every component
subclass (ignored by git).
"""
from __future__ import annotations

import gradio as gr


class UploadedImage(gr.Image):
    """gr.Image that hands the raw upload path to our decoder."""

    is_template = True  # the front end is gr.Image's

    def preprocess(self, payload):
        return None if payload is None else payload.path


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
