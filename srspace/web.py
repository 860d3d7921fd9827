"""The in-browser tab's server side: where onnxruntime-web comes from, and the page config.

onnxruntime-web is pinned in package.json/package-lock.json. When `npm ci` has installed
it, the app serves its dist/ files itself (only that folder is made static), so the tab
works offline; otherwise the page loads the same pinned file from a public CDN with
Subresource Integrity and says so.
"""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import gradio as gr

from .contract import MODELS, ROOT, model_path

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
PIN = json.loads((BROWSER_DIR / "ort_pin.json").read_text())
DIST_DIR = ROOT / "node_modules" / PIN["package"] / "dist"
CDN_BASE = f"https://cdn.jsdelivr.net/npm/{PIN['package']}@{PIN['version']}/dist/"
BROWSER_MAX_INPUT_PIXELS = 300 * 300  # single-threaded WASM: keep a run within seconds
# The browser tab's tolerance: onnxruntime-web, ONNX Runtime and PyTorch agree on every 8-bit
# channel value to this many levels (float rounding can tip a value across a level boundary).
BROWSER_MAX_DIFF_LEVELS = 2


def file_url(path: Path) -> str:
    return f"/gradio_api/file={Path(path).resolve()}"


def sri(path: Path) -> str:
    """Subresource Integrity value (sha384) of a file."""
    return "sha384-" + base64.b64encode(hashlib.sha384(Path(path).read_bytes()).digest()).decode()


def local_dist_available() -> bool:
    """True when the installed dist file is the pinned one."""
    path = DIST_DIR / PIN["file"]
    return path.exists() and sri(path) == PIN["integrity"]


def ort_source() -> dict:
    """Where the page loads onnxruntime-web from: this server's files, else the CDN."""
    if local_dist_available():
        gr.set_static_paths(paths=[DIST_DIR])
        return {"source": "local", "src": file_url(DIST_DIR / PIN["file"]), "wasmBase": file_url(DIST_DIR) + "/",
                "integrity": PIN["integrity"], "version": PIN["version"]}
    return {"source": "cdn", "src": CDN_BASE + PIN["file"], "wasmBase": CDN_BASE, "integrity": PIN["integrity"],
            "version": PIN["version"]}


def page_config(models_dir: Path, weight_sets) -> dict:
    """What the page needs: where onnxruntime-web is, and per weight set and model its .onnx file."""
    return {
        "ort": ort_source(),
        "models": {
            weights: {
                key: {"url": file_url(model_path(models_dir, weights, key)), "channels": spec.channels,
                      "factor": spec.fixed_factor}
                for key, spec in MODELS.items()
            }
            for weights in weight_sets
        },
        "maxInputPixels": BROWSER_MAX_INPUT_PIXELS,
        "maxDiffLevels": BROWSER_MAX_DIFF_LEVELS,
    }


def head_html(models_dir: Path, weight_sets) -> str:
    """The <head> additions: the page config and the browser runner."""
    config = json.dumps(page_config(models_dir, weight_sets))
    runner = (BROWSER_DIR / "runner.js").read_text()
    return f"<script>window.SRSPACE_WEB = {config};</script>\n<script>{runner}</script>"
