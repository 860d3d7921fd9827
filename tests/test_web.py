"""Where onnxruntime-web comes from: the pinned version, its integrity, local or CDN."""
from __future__ import annotations

import json

import pytest

from srspace.contract import MODELS, ROOT
from srspace.web import CDN_BASE, DIST_DIR, PIN, head_html, local_dist_available, page_config, sri


def test_pin_matches_package_json_and_lockfile():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert package["dependencies"][PIN["package"]] == PIN["version"]
    assert lock["packages"][f"node_modules/{PIN['package']}"]["version"] == PIN["version"]
    assert PIN["integrity"].startswith("sha384-")


def test_installed_dist_is_the_pinned_file():
    path = DIST_DIR / PIN["file"]
    if not path.exists():
        pytest.skip("onnxruntime-web not installed (npm ci)")
    assert sri(path) == PIN["integrity"]
    assert local_dist_available()


def test_page_config_serves_local_files_or_names_the_cdn(models_dir):
    config = page_config(models_dir, ["bundled", "official"])
    ort = config["ort"]
    if local_dist_available():
        assert ort["source"] == "local" and ort["src"].startswith("/gradio_api/file=") and ort["src"].endswith(PIN["file"])
    else:
        assert ort["source"] == "cdn" and ort["src"] == CDN_BASE + PIN["file"]
    assert ort["integrity"] == PIN["integrity"]
    assert set(config["models"]) == {"bundled", "official"}
    for weights, models in config["models"].items():
        assert set(models) == set(MODELS)
        assert models["srcnn_dynamic"]["url"].endswith(f"/{weights}/srcnn_dynamic.onnx")
    assert "window.srspaceBrowserRun" in head_html(models_dir, ["bundled"])
