"""onnxruntime-web, pinned: its files by SHA-384 (``browser/ort_pin.json``), checked where installed by
``npm ci``, else loaded from a CDN with their hashes; and the types its modules must be served with."""
from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from functools import lru_cache
from pathlib import Path

from ..contract import ROOT

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
PIN = json.loads((BROWSER_DIR / "ort_pin.json").read_text())
DIST_DIR = ROOT / "node_modules" / PIN["package"] / "dist"
CDN_BASE = f"https://cdn.jsdelivr.net/npm/{PIN['package']}@{PIN['version']}/dist/"


def register_types() -> None:
    """Serve modules and WebAssembly with their proper types (a module script refuses any other);
    called by whatever serves the browser files (the app's static paths, the local site server)."""
    mimetypes.add_type("text/javascript", ".mjs")
    mimetypes.add_type("text/javascript", ".js")
    mimetypes.add_type("application/wasm", ".wasm")


class SiteError(RuntimeError):
    """The browser edition cannot be built or served as asked; the message says what to do."""


def sri(path: Path) -> str:
    """Subresource Integrity value (sha384) of a file."""
    return "sha384-" + base64.b64encode(hashlib.sha384(Path(path).read_bytes()).digest()).decode()


def check_dist(dist: Path = DIST_DIR) -> list[Path]:
    """The pinned onnxruntime-web files, checked against ``ort_pin.json``; or SiteError saying to run npm ci."""
    paths = []
    for name, integrity in PIN["files"].items():
        path = Path(dist) / name
        if not path.is_file():
            raise SiteError(f"onnxruntime-web {PIN['version']} is not installed ({path} is missing): run `npm ci` "
                            f"in {ROOT} (package-lock.json pins it), then try again.")
        if sri(path) != integrity:
            raise SiteError(f"{path} is not onnxruntime-web {PIN['version']} as pinned: run `npm ci` in {ROOT} "
                            "to reinstall it from package-lock.json.")
        paths.append(path)
    return paths


@lru_cache(maxsize=1)
def local_dist_available() -> bool:
    """True when the installed onnxruntime-web files are the pinned ones."""
    try:
        check_dist()
    except SiteError:
        return False
    return True


def ort_config(base: str, local: bool) -> dict:
    """Where the worker finds onnxruntime-web: ``base`` (a URL folder); from another origin the
    entry modules' hashes go along, and the worker checks them before running them."""
    return {"base": base, "wasm": PIN["entry"]["wasm"], "webgpu": PIN["entry"]["webgpu"], "version": PIN["version"],
            "source": "local" if local else "cdn",
            "integrity": None if local else {name: PIN["files"][name] for name in PIN["entry"].values()}}
