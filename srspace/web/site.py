"""The static edition: the whole upscaler as static files that run in the visitor's browser.

``python -m srspace site OUT`` (after ``export_models.py`` and ``npm ci``) writes OUT/ with the
page, its ES modules, the ONNX files of every exported weight set, the quality table, the
example images, onnxruntime-web's own pinned files (nothing is loaded from any other origin),
and a README.md whose front matter makes OUT/ a free static Hugging Face Space. Multi-threaded
WebAssembly needs the page to be cross-origin isolated: the Space's ``custom_headers`` (and
``_headers`` for Netlify and Cloudflare Pages) send the three headers below; without them the
page still runs, on one thread, and says so.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..contract import EXAMPLES_DIR, GALLERY, model_path, set_models
from ..models.manifest import read_manifest
from ..quality.table import QUALITY_PATH
from .config import SITE_MODULES, browser_config
from .ort import BROWSER_DIR, DIST_DIR, PIN, SiteError, check_dist, ort_config

# What a host must send with every file for WASM threads (SharedArrayBuffer): the page is then
# cross-origin isolated. Lower case, as a static Space's custom_headers takes them.
HEADERS = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-resource-policy": "cross-origin",
}
MARKER = ".srspace-site"  # a folder with it was built here, and a rebuild may replace it
BINARY_PATTERNS = ("*.onnx", "*.wasm", "*.png")  # stored through Xet/LFS when the folder is pushed to a Space

SPACE_README = """---
title: Super-resolution in your browser
emoji: 🔍
colorFrom: indigo
colorTo: green
sdk: static
app_file: index.html
pinned: false
license: mit
short_description: Upscale images x1-x4 with SRCNN and ESPCN, in your browser
custom_headers:
{headers}
---

# Super-resolution in your browser

SRCNN and ESPCN, exported from PyTorch to ONNX and run by onnxruntime-web {version} in the
visitor's browser: static files, the image never leaves the machine. Built by
`python -m srspace site` from the Gradio project of the same name; weight sets: {sets}.

Any static host serves it; for WebAssembly threads it must send these headers with every file
(`_headers` does it on Netlify and Cloudflare Pages):

{header_list}

Without them the page runs on one thread and says so.
"""


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def build_site(out: Path, models_dir: Path, dist: Path = DIST_DIR) -> dict:
    """Write the static site into ``out`` (created, or replacing an earlier build); a summary.
    ``dist``: onnxruntime-web's installed files (npm ci)."""
    out = Path(out).resolve()
    manifest = read_manifest(models_dir)
    if manifest is None or not manifest.get("sets"):
        raise SiteError(f"no exported models in {models_dir}: run `python export_models.py` first.")
    ort_files = check_dist(dist)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise SiteError(f"{out} exists and is not an earlier site build: choose a new or empty folder.")
    sets = [w for w in manifest["sets"] if all(model_path(models_dir, w, k).is_file() for k in set_models(w))]
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        _copy(BROWSER_DIR / "index.html", staging / "index.html")
        for name in SITE_MODULES:
            _copy(BROWSER_DIR / name, staging / "js" / name)
        for path in ort_files:
            _copy(path, staging / "ort" / path.name)
        urls = {}
        for weights in sets:
            urls[weights] = {}
            for key in set_models(weights):
                path = model_path(models_dir, weights, key)
                _copy(path, staging / "models" / weights / path.name)
                urls[weights][key] = f"models/{weights}/{path.name}"
        examples = []
        for name, factor, label in GALLERY:
            if (EXAMPLES_DIR / name).exists():
                _copy(EXAMPLES_DIR / name, staging / "examples" / name)
                examples.append({"url": f"examples/{name}", "factor": factor, "label": label})
        if QUALITY_PATH.exists():
            _copy(QUALITY_PATH, staging / "quality.json")
        config = browser_config(urls, ort_config("ort/", local=True), examples)
        (staging / "config.json").write_text(json.dumps(config))
        header_yaml = "\n".join(f"  {k}: {v}" for k, v in HEADERS.items())
        (staging / "README.md").write_text(SPACE_README.format(
            headers=header_yaml, version=PIN["version"], sets=", ".join(sets),
            header_list="\n".join(f"    {k}: {v}" for k, v in HEADERS.items())))
        (staging / "_headers").write_text("/*\n" + "".join(f"  {k}: {v}\n" for k, v in HEADERS.items()))
        (staging / ".gitattributes").write_text(
            "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in BINARY_PATTERNS))
        (staging / MARKER).write_text("built by python -m srspace site; a rebuild replaces this folder\n")
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700: a web server run as another user must read it
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = [p for p in out.rglob("*") if p.is_file()]
    return {"out": out, "sets": sets, "files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def front_matter(readme: Path) -> dict:
    """The YAML front matter of a README.md."""
    import yaml

    text = Path(readme).read_text()
    if not text.startswith("---\n"):
        raise SiteError(f"{readme} has no front matter")
    return yaml.safe_load(text.split("---\n", 2)[1])

