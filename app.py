"""The Space: python app.py [--host H] [--port P] [--share] [--mcp] [--weight-sets auto|official|bundled|photo] [--models-dir DIR]"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path



def parse_args(argv=None) -> argparse.Namespace:
    from srspace.contract import WEIGHT_SETS  # the contract only: --help answers without importing torch

    sources = ("auto", *WEIGHT_SETS)  # srspace.models.weights.SOURCES
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public *.gradio.live link")
    parser.add_argument("--mcp", action="store_true",
                        help="also serve /upscale, /compare and /check_quality as MCP tools at /gradio_api/mcp/ "
                             "(env GRADIO_MCP_SERVER=True does the same, for a Space)")
    parser.add_argument("--weight-sets", "--weights", dest="weights", choices=sources, default=os.environ.get("SRSPACE_WEIGHTS", "auto"),
                        help="weight sets to serve: every set that can be had (auto, default), or one "
                             "(env SRSPACE_WEIGHTS)")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="where the ONNX models are exported and read (env SRSPACE_MODELS; default models/)")
    return parser.parse_args(argv)


# Key/value tables keep their keys on one line; tables too wide for a phone scroll sideways
# instead of breaking words; an inlined graph picture fits its column;
# on a phone the tab labels are tighter, so all four fit beside each other; the gain chart's
# legend wraps; the quality crops keep a useful size (one per row on a phone, not five slivers), and the
# result rows of Compare and Browser stack, so each picture takes the phone's width.
CSS = """
.model-card table td:first-child, .model-card table th:first-child { white-space: nowrap; width: 1%; }
.model-graph svg { max-width: 100%; height: auto; }
.quality-table table, .model-card table { display: block; overflow-x: auto; width: fit-content; max-width: 100%; border: none !important; }
.quality-table td, .quality-table th { white-space: nowrap; }
#browser-stats table { display: block; overflow-x: auto; max-width: 100%; }
#browser-stats th { white-space: nowrap; }
@media (max-width: 640px) { .tab-container button { padding-left: 6px !important; padding-right: 6px !important; } }
#quality-plot .chart-legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 0.9em; }
#quality-plot .series { white-space: nowrap; display: inline-flex; align-items: center; gap: 4px; }
#quality-crops, #quality-crops .grid-wrap { height: auto !important; min-height: 0 !important; max-height: none !important; }
#quality-crops .grid-container { grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)) !important;
                                 grid-template-rows: none !important; grid-auto-rows: auto !important; }
@media (max-width: 640px) {
  #quality-crops .grid-container { grid-template-columns: 1fr !important; }
  #browser-results, #compare-results { flex-direction: column !important; }
  #browser-results > *, #compare-results > * { width: 100% !important; min-width: 0 !important; }
}
"""


def own_temp_dir(port: int) -> Path:
    """This app's upload and result folder ($SRSPACE_TEMP, else <tmp>/srspace, one per port), emptied of
    the leftovers of an earlier run on this port; Gradio's host-wide /tmp/gradio stays untouched."""
    folder = Path(os.environ.get("SRSPACE_TEMP") or Path(tempfile.gettempdir()) / "srspace") / str(port)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def main(argv=None) -> None:
    args = parse_args(argv)  # before anything heavy: --help answers at once
    logging.basicConfig(format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("srspace").setLevel(logging.INFO)  # one line per request
    from srspace.serving.heap import limit_heap_arenas

    limit_heap_arenas()  # before any thread starts: threads share 2 heaps, which are trimmed as requests end
    temp = own_temp_dir(args.port)
    os.environ["GRADIO_TEMP_DIR"] = str(temp)  # before Gradio reads it
    import gradio as gr

    from srspace.contract import MAX_FILE_MB, models_folder
    from srspace.serving.downloads import UrlFetcher
    from srspace.buildtime.export import ExportError, export_all, wanted_sets
    from starlette.middleware import Middleware

    from srspace.service.upscaler import Upscaler
    from srspace.serving.tempfolder import TempFolder
    from srspace.serving.http import McpGate, NoSniff, UploadGate, install_header_deadline, trusted_proxies
    from srspace.ui import build_demo
    from srspace.models.weights import WeightsError
    from srspace.web.config import head_html, static_paths

    proxies = trusted_proxies()  # checked at start: a mistyped $SRSPACE_TRUSTED_PROXIES stops here, with why
    print("Visitors are told apart by " + ("the address a trusted proxy forwards." if proxies.any_peer or proxies.networks
                                          else "their connection's own address (no proxy is trusted)."))
    # Load once, serve many: models are exported if missing, stale or of other weights, then loaded.
    weights, models_dir = args.weights, args.models_dir or models_folder()
    try:
        export_all(models_dir, weights=weights)
    except (WeightsError, ExportError) as exc:
        if weights == "bundled":
            sys.exit(f"cannot start: {exc}")
        print(f"The {weights} weights cannot be used ({exc}); serving what can be had instead (--weight-sets auto).")
        weights = "auto"
        export_all(models_dir, weights=weights)
    # the sets asked for, and no others: another process may export more into the same folder
    upscaler = Upscaler(models_dir, weight_sets=wanted_sets(weights))
    bounds = TempFolder.from_env(temp)  # uploads and results: a cap and a lifetime, swept in the background
    bounds.start()
    install_header_deadline()  # a connection that sends no whole request head in 20 s is closed
    gr.set_static_paths(paths=static_paths())  # the Browser tab's modules, and onnxruntime-web when installed
    demo = build_demo(upscaler, models_dir, fetcher=UrlFetcher.from_env(bounds))  # image URLs: bounded, counted
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        allowed_paths=[str(models_dir)],  # the .onnx downloads of the Models tab, nothing wider
        # system fonts: nothing fetched from a font host, and capitals drawn as capitals
        theme=gr.themes.Soft(font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]),
        head=head_html(models_dir, list(upscaler.engines)),  # the browser engine's config and the Browser tab's module
        css=CSS,
        prevent_thread_lock=True,
        max_file_size=MAX_FILE_MB << 20,  # Gradio refuses larger uploads with a message
        mcp_server=True if args.mcp else None,  # None: Gradio reads GRADIO_MCP_SERVER
        # X-Content-Type-Options: nosniff on every response; no upload while the temp folder is full
        # and an MCP call too large for the MCP library is answered with a message, its session kept
        app_kwargs={"middleware": [Middleware(NoSniff), Middleware(UploadGate, folder=bounds), Middleware(McpGate)]},
        show_error=True,  # every error reaches the client with its message, Gradio's own refusals included
        quiet=True,  # our own lines below: Gradio's advice to edit launch() does not apply to this app
    )
    print(f"Running on {demo.local_url}" + ("" if args.share else "  (python app.py --share for a public link)"))
    if demo.share_url:
        print(f"Public link: {demo.share_url}")
    if args.share and not demo.share_url:
        print("No public link: the share server could not be reached (offline or blocked). "
              f"The app is still served on http://{args.host}:{args.port}.")
    demo.block_thread()


if __name__ == "__main__":
    main()
