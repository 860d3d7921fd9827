"""The shipped weights against plain bicubic: a real quality test, not a smoke test.

The gallery images are downscaled again (PIL bicubic, 8-bit) and upscaled back through the
exported ONNX models; Y-PSNR with `factor` pixels shaved is compared with bicubic's.
"""
from __future__ import annotations

import pytest

from srspace.heldout import gain_over_bicubic, load_rgb
from srspace.contract import MODELS
from srspace.quality_table import best_set, load_table
from srspace.contract import EXAMPLES_DIR

# Minimum gain in dB over bicubic, per model and factor (measured figures are in the README).
MIN_GAIN = {
    ("srcnn_dynamic", 1.5): 0.4,
    ("srcnn_dynamic", 2.0): 0.5,
    ("srcnn_dynamic", 3.0): 0.4,
    ("srcnn_dynamic", 4.0): 0.1,
    ("srcnn_x3", 3.0): 0.4,
    ("espcn_x3", 3.0): 0.8,
}


@pytest.fixture(scope="module")
def images():
    return [load_rgb(p) for p in sorted(EXAMPLES_DIR.glob("*.png"))]


@pytest.mark.parametrize("key,factor", list(MIN_GAIN))
def test_shipped_weights_beat_bicubic(ort_engine, images, key, factor):
    result = gain_over_bicubic(ort_engine, key, images, factor)
    assert result["gain"] >= MIN_GAIN[key, factor], result


# --- the two weight sets on the held-out photographs (../shared/data/train, every 8th) ------------------

CROP = 256


@pytest.fixture(scope="module")
def crops(held_out_images):
    """Centre crops of the held-out images: the table's images, small enough for a quick test."""
    out = []
    for img in held_out_images:
        y, x = (img.shape[0] - CROP) // 2, (img.shape[1] - CROP) // 2
        out.append(img[y : y + CROP, x : x + CROP])
    return out


@pytest.fixture(scope="module")
def set_engines(models_dir, official_files):
    from srspace.engines import OrtEngine

    return {w: OrtEngine(models_dir / w) for w in ("bundled", "official")}


@pytest.mark.parametrize("factor", [1.5, 2.0, 2.5, 3.0])
def test_official_srcnn_is_never_worse_than_bicubic(set_engines, crops, factor):
    gain = gain_over_bicubic(set_engines["official"], "srcnn_dynamic", crops, factor)["gain"]
    assert gain >= -0.005, gain  # below ~x1.9 the fitted gain is 0: exactly bicubic


def test_official_srcnn_at_x4_is_the_tutorial_network(set_engines, crops, official_files):
    from srspace.engines import TorchEngine
    from srspace.weights import load_checkpoint

    tutorial = TorchEngine.from_state_dicts({"srcnn": load_checkpoint(official_files["srcnn"], "srcnn")},
                                            keys=("srcnn_dynamic",))  # no fitted gain: g = 1
    ours = gain_over_bicubic(set_engines["official"], "srcnn_dynamic", crops, 4.0)
    theirs = gain_over_bicubic(tutorial, "srcnn_dynamic", crops, 4.0)
    assert abs(ours["model"] - theirs["model"]) < 0.01 and ours["gain"] > 0.3, (ours, theirs)
    unfitted_x2 = gain_over_bicubic(tutorial, "srcnn_dynamic", crops, 2.0)["gain"]
    assert unfitted_x2 < -2, unfitted_x2  # why the gain is fitted: unchanged at x2 it is far worse than bicubic


def test_best_weights_are_at_least_as_good_as_either_set(set_engines, crops):
    """"best" picks a set per model and factor from the shipped table (full-size images); on these
    crops its choices, over the factors, do at least as well as either set alone."""
    for key in MODELS:
        factors = (1.5, 2.0, 3.0, 4.0)
        gains = {(w, f): gain_over_bicubic(e, key, crops, f)["gain"] for w, e in set_engines.items() for f in factors}
        best = sum(gains[best_set(key, f, set_engines), f] for f in factors)
        for weights in set_engines:
            assert best >= sum(gains[weights, f] for f in factors) - 0.02, (key, gains)


def test_best_follows_the_table():
    table = {"rows": [{"model": "srcnn_dynamic", "weights": w, "factor": f, "gain": g}
                      for w, f, g in (("bundled", 2.0, 0.7), ("official", 2.0, 0.1),
                                      ("bundled", 4.0, 0.3), ("official", 4.0, 0.7))]}
    assert best_set("srcnn_dynamic", 2.2, ("bundled", "official"), table) == "bundled"
    assert best_set("srcnn_dynamic", 3.5, ("bundled", "official"), table) == "official"
    assert best_set("srcnn_dynamic", 3.5, ("bundled",), table) == "bundled"  # only what the server has
    assert best_set("espcn_x3", 3.0, ("bundled", "official"), table) == "bundled"  # no figures: bundled


def test_quality_table_measured_the_shipped_weights(official_files):
    from srspace.weights import bundled_path, sha256_file

    table = load_table()
    assert table is not None, "srspace/bundled/quality.json is missing: python benchmarks/quality.py --write"
    for network in ("srcnn", "espcn"):
        assert table["weights"]["bundled"][network] == sha256_file(bundled_path(network)), network
        assert table["weights"]["official"][network] == sha256_file(official_files[network]), network
    assert {row["factor"] for row in table["rows"]} == {1.5, 2.0, 2.5, 3.0, 3.5, 4.0}
    assert len(table["images"]) == 19


def test_auto_picks_the_tables_best_and_is_never_below_any_single_choice():
    from srspace.contract import BICUBIC_KEY, MODELS, WEIGHT_SETS
    from srspace.quality_table import RESTORE_FROM, best_model, load_table

    table = load_table()
    gain = {(r["model"], r["weights"], r["factor"]): r["gain"] for r in table["rows"]}
    measured = sorted({r["factor"] for r in table["rows"]})
    for sets in (list(WEIGHT_SETS), ["bundled"], ["official"]):
        for step in range(10, 41):
            factor = step / 10
            pick = best_model(factor, sets, table)
            if factor < RESTORE_FROM:
                assert pick.key == BICUBIC_KEY  # at x1 there is nothing to restore
                continue
            nearest = min(measured, key=lambda f: (abs(f - factor), f))
            choices = {(k, w): gain[k, w, nearest] for k in MODELS for w in sets}
            assert pick.measured == nearest and pick.gain >= 0
            assert all(pick.gain >= g for g in choices.values()), (factor, sets, pick)
            assert pick.key == BICUBIC_KEY or choices[pick.key, pick.weights] == pick.gain
    # a table where no network beats bicubic: auto is bicubic
    worse = {**table, "rows": [{**r, "gain": -abs(r["gain"]) - 0.01} for r in table["rows"]]}
    assert best_model(2.0, WEIGHT_SETS, worse).key == BICUBIC_KEY
