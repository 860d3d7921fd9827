"""The browser engine's config and where onnxruntime-web comes from: the pinned files, their
hashes, this server or the CDN; the tiling rules and `best` handed over from the Python side."""
from __future__ import annotations

import json

import pytest

from srspace.contract import BICUBIC_KEY, CHOICES, MODELS, ROOT, SMALL_RESULT_PIXELS, set_models
from srspace.runtime.pipeline import halo, tile_side
from srspace.quality.table import best_model, best_set, load_table, pick_note
from srspace.runtime.tiling import as_fraction, auto_tile
from srspace.web.config import app_config, browser_config, head_html
from srspace.web.ort import CDN_BASE, DIST_DIR, PIN, local_dist_available, ort_config, sri


def test_pin_matches_package_json_and_lockfile():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert package["dependencies"][PIN["package"]] == PIN["version"]
    assert lock["packages"][f"node_modules/{PIN['package']}"]["version"] == PIN["version"]
    assert set(PIN["entry"].values()) <= set(PIN["files"])
    assert all(value.startswith("sha384-") for value in PIN["files"].values())


def test_installed_dist_is_the_pinned_files():
    if not (DIST_DIR / PIN["entry"]["wasm"]).exists():
        pytest.skip("onnxruntime-web not installed (npm ci)")
    for name, integrity in PIN["files"].items():
        assert sri(DIST_DIR / name) == integrity, name
    assert local_dist_available()


def test_app_config_serves_local_files_or_names_the_cdn_with_hashes(models_dir):
    config = app_config(models_dir, ["bundled", "official"])
    ort = config["ort"]
    if local_dist_available():
        assert ort["source"] == "local" and ort["base"].startswith("/gradio_api/file=") and ort["integrity"] is None
    else:  # the worker checks the entry modules against these before running them
        assert ort["source"] == "cdn" and ort["base"] == CDN_BASE
        assert ort["integrity"] == {name: PIN["files"][name] for name in PIN["entry"].values()}
    assert set(config["models"]) == {"bundled", "official"}
    for weights, models in config["models"].items():
        assert set(models) == set(set_models(weights))  # the official set: no ESPCN x2, x4
        assert models["srcnn_dynamic"]["url"].endswith(f"/{weights}/srcnn_dynamic.onnx")
    assert "window.SRSPACE_WEB" in head_html(models_dir, ["bundled"]) and "tab.js" in head_html(models_dir, ["bundled"])


def test_the_config_carries_the_python_rules_at_every_factor():
    config = browser_config({"bundled": {k: f"{k}.onnx" for k in MODELS}}, ort_config("ort/", True))
    assert len(config["factors"]) == 301 and config["choices"] == list(CHOICES)
    table = load_table()
    for key_text, rule in config["factors"].items():
        factor = float(key_text)
        frac = as_fraction(factor)
        assert (rule["p"], rule["q"]) == (frac.numerator, frac.denominator)
        for key in (*MODELS, BICUBIC_KEY):
            assert rule["models"][key] == {"halo": halo(key, factor), "tile": tile_side(key, factor) or auto_tile(factor),
                                           "smallTile": tile_side(key, factor, SMALL_RESULT_PIXELS) or auto_tile(factor)}
        for key in MODELS:  # only the sets the page has
            assert rule["best"][key] == best_set(key, factor, ["bundled"], table) == "bundled"
        pick = best_model(factor, ["bundled"], table)  # what auto runs, with its sentence
        assert rule["auto"]["best"] == rule["auto"]["bundled"] == {**vars(pick), "note": pick_note(pick, factor, table)}
