"""An image input that leaves decoding to us.

Kept in a module of its own: Gradio writes a .pyi stub beside the source of every
component subclass (ignored by git).
"""
from __future__ import annotations

import gradio as gr


class UploadedImage(gr.Image):
    """gr.Image that hands the raw upload path to our decoder.

    Gradio's own preprocessing opens the file with PIL, and an exception there reaches an
    API client as an opaque error; ``srspace.images`` turns every bad file into a message.
    """

    is_template = True  # the front end is gr.Image's

    def preprocess(self, payload):
        return None if payload is None else payload.path
