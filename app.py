"""The Space: python app.py [--host H] [--port P] [--share]"""
from __future__ import annotations

import argparse
import os

import gradio as gr

from srspace.contract import MODELS_DIR
from srspace.export import export_all
from srspace.service import Upscaler
from srspace.ui import build_demo
from srspace.web import head_html

# Load once, serve many: models are exported if missing or stale, then loaded at import.
export_all(MODELS_DIR, weights=os.environ.get("SRSPACE_WEIGHTS", "auto"))
demo = build_demo(Upscaler(MODELS_DIR), MODELS_DIR)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public *.gradio.live link")
    args = parser.parse_args(argv)
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        allowed_paths=[str(MODELS_DIR)],  # the .onnx downloads of the Models tab, nothing wider
        theme=gr.themes.Soft(),
        head=head_html(MODELS_DIR),  # onnxruntime-web config and runner for the in-browser tab
        prevent_thread_lock=True,
    )
    if args.share and not demo.share_url:
        print("No public link: the share server could not be reached (offline or blocked). "
              f"The app is still served on http://{args.host}:{args.port}.")
    demo.block_thread()


if __name__ == "__main__":
    main()
