"""The browser engine's config and where onnxruntime-web comes from: the pinned files, their
hashes, this server or the CDN; the tiling rules and `best` handed over from the Python side."""
from __future__ import annotations

import json

import pytest

from srspace.contract import BICUBIC_KEY, CHOICES, MODELS, ROOT, set_models
from srspace.quality.table import load_table
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
    """Checked against facts, not against the functions that built it: the factor as an exact
    reduced fraction, every step from 1 to 4, and auto's pick the best row of the shipped table."""
    from fractions import Fraction
    from math import gcd

    config = browser_config({"bundled": {k: f"{k}.onnx" for k in MODELS}}, ort_config("ort/", True))
    assert list(config["factors"]) == [f"{step / 100:.2f}" for step in range(100, 401)] and config["choices"] == list(CHOICES)
    rows = [r for r in load_table()["rows"] if r["weights"] == "bundled" and r["input"] == "clean"]
    measured = sorted({r["factor"] for r in rows})
    for key_text, rule in config["factors"].items():
        assert Fraction(rule["p"], rule["q"]) == Fraction(key_text) and gcd(rule["p"], rule["q"]) == 1
        for key in (*MODELS, BICUBIC_KEY):
            sides = rule["models"][key]
            assert sides["halo"] >= 0 and sides["tile"] >= sides["smallTile"] > 2 * sides["halo"], (key_text, key, sides)
        assert set(rule["best"].values()) == {"bundled"}  # the only set this page has
        factor = float(key_text)
        pick = rule["auto"]["best"]
        if factor < measured[0]:
            continue
        nearest = min(measured, key=lambda f: (abs(f - factor), f))
        top = max((r for r in rows if r["factor"] == nearest), key=lambda r: r["gain"])
        assert (pick["key"], pick["weights"], pick["gain"]) == (top["model"], "bundled", top["gain"]), key_text
        assert rule["auto"]["bundled"] == pick and f"{top['gain']:+.2f}" in pick["note"], pick["note"]

