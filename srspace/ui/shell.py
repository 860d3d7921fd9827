"""The page: its header and the four tabs, each built by its own module."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..serving.admission import Lanes
from ..contract import MAX_OUTPUT_PIXELS
from ..serving.downloads import UrlFetcher
from ..service.upscaler import Upscaler
from . import browser_tab, compare_tab, models_tab, upscale_tab
from .common import Server

TITLE = "Super-resolution: PyTorch → ONNX → ONNX Runtime"


def build_demo(upscaler: Upscaler, models_dir: Path, lanes: Lanes | None = None,
               fetcher: UrlFetcher | None = None) -> gr.Blocks:
    """The app's page for ``upscaler``'s models (their files in ``models_dir``), admitting work through ``lanes``
    and fetching image URLs with ``fetcher`` (default: its bounds, no temp-folder cap)."""
    server = Server(upscaler, lanes or Lanes(), Path(models_dir), fetcher or UrlFetcher.from_env())
    # the request files (uploads, results) are bounded by srspace.serving.tempfolder, which app.py starts
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(
            f"# {TITLE}\n"
            "Upscale an image ×1 to ×4 with SRCNN or ESPCN, exported from PyTorch to ONNX, proven equal to PyTorch "
            "and served by ONNX Runtime; see the gain over bicubic on your own image, compare the engines, or run "
            f"the same files in your browser. Lossless PNG out, up to {MAX_OUTPUT_PIXELS / 1e6:.0f} MP. "
            "Call it from code or an AI assistant: [API](?view=api) (and the README's *API* section).",
            elem_id="header",
        )
        for name, tab in (("Upscale", upscale_tab), ("Compare", compare_tab), ("Browser", browser_tab), ("Models", models_tab)):
            with gr.Tab(name, id=name.lower()):
                tab.build(server)
    return demo
