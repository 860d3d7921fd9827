"""The shipped weights against plain bicubic: a real quality test, not a smoke test.

The gallery images are downscaled again (PIL bicubic, 8-bit) and upscaled back through the
exported ONNX models; Y-PSNR with `factor` pixels shaved is compared with bicubic's.
"""
from __future__ import annotations

import numpy as np
import pytest

from srspace.quality.heldout import gain_over_bicubic, load_rgb
from srspace.contract import MODELS
from srspace.quality.table import best_set, load_table
from srspace.contract import EXAMPLES_DIR

# Minimum gain in dB over bicubic, per model and factor (measured figures are in the README).
MIN_GAIN = {
    ("srcnn_dynamic", 1.5): 0.4,
    ("srcnn_dynamic", 2.0): 0.5,
    ("srcnn_dynamic", 3.0): 0.4,
    ("srcnn_dynamic", 4.0): 0.1,
    ("srcnn_x3", 3.0): 0.4,
    ("espcn_x2", 2.0): 1.0,
    ("espcn_x3", 3.0): 0.8,
    ("espcn_x4", 4.0): 0.5,
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
    from srspace.runtime.engines import OrtEngine

    return {w: OrtEngine(models_dir / w) for w in ("bundled", "official")}  # the sets of clean inputs


@pytest.mark.parametrize("factor", [1.5, 2.0, 2.5, 3.0])
def test_official_srcnn_is_never_worse_than_bicubic(set_engines, crops, factor):
    gain = gain_over_bicubic(set_engines["official"], "srcnn_dynamic", crops, factor)["gain"]
    assert gain >= -0.005, gain  # below ~x1.9 the fitted gain is 0: exactly bicubic


def test_official_srcnn_at_x4_is_the_tutorial_network(set_engines, crops, official_files):
    from srspace.runtime.engines import TorchEngine
    from srspace.models.weights import load_checkpoint

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
        engines = {w: e for w, e in set_engines.items() if key in e}
        gains = {(w, f): gain_over_bicubic(e, key, crops, f)["gain"] for w, e in engines.items() for f in factors}
        best = sum(gains[best_set(key, f, engines), f] for f in factors)
        for weights in engines:
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
    from srspace.models.weights import bundled_path, sha256_file

    table = load_table()
    assert table is not None, "srspace/bundled/quality.json is missing: python benchmarks/quality.py --write"
    from srspace.contract import SET_WEIGHTS, SHIPPED_SETS

    for weights in SHIPPED_SETS:
        for name in SET_WEIGHTS[weights]:
            assert table["weights"][weights][name] == sha256_file(bundled_path(name, weights)), (weights, name)
    for name in SET_WEIGHTS["official"]:
        assert table["weights"]["official"][name] == sha256_file(official_files[name]), name
    assert {row["factor"] for row in table["rows"]} == {1.5, 2.0, 2.5, 3.0, 3.5, 4.0}
    assert table["data"] == "bsd68" and len(table["images"]) == 68  # held out whole: never trained on


def test_auto_picks_the_tables_best_and_is_never_below_any_single_choice():
    from srspace.contract import BICUBIC_KEY, MODELS, WEIGHT_SETS
    from srspace.quality.table import RESTORE_FROM, best_model, load_table

    table = load_table()
    kinds = ["clean", "jpeg60", "jpeg80"]
    assert {r["input"] for r in table["rows"]} == set(kinds)
    for inputs in kinds:  # the rows as measured, read here rather than through the table module's helpers
        rows = [r for r in table["rows"] if r["input"] == inputs]
        measured = sorted({r["factor"] for r in rows})
        gain = {(r["model"], r["weights"], r["factor"]): r["gain"] for r in rows}
        # on clean inputs the photo set is not a candidate: a lossless image gets what it always got
        for sets in (list(WEIGHT_SETS), ["bundled"], ["official"], ["photo"]):
            deciding = [w for w in sets if w != "photo"] if inputs == "clean" and sets != ["photo"] else sets
            for step in range(10, 41):
                factor = step / 10
                pick = best_model(factor, sets, table, inputs)
                if factor < RESTORE_FROM:
                    assert pick.key == BICUBIC_KEY  # at x1 there is nothing to restore
                    continue
                nearest = min(measured, key=lambda f: (abs(f - factor), f))
                choices = {(k, w): gain[k, w, nearest] for k in MODELS for w in deciding if (k, w, nearest) in gain}
                assert pick.measured == nearest and pick.gain >= 0
                assert all(pick.gain >= g for g in choices.values()), (factor, sets, pick)
                assert pick.key == BICUBIC_KEY or choices[pick.key, pick.weights] == pick.gain
    # a table where no network beats bicubic: auto is bicubic
    worse = {**table, "rows": [{**r, "gain": -abs(r["gain"]) - 0.01} for r in table["rows"]]}
    assert best_model(2.0, WEIGHT_SETS, worse).key == BICUBIC_KEY


def _as(path, fmt, **save):
    from PIL import Image

    with Image.open(EXAMPLES_DIR / "chelsea.png") as img:
        img.convert("RGB").save(path, fmt, **save)
    return path


def test_a_jpeg_gets_the_photo_weights_by_its_content_and_a_png_keeps_the_clean_ones(upscaler, tmp_path):
    """auto and best decide per image: a JPEG of ordinary quality (also one named .png) runs the
    photo weights, said in plain words; a PNG, or a JPEG of high quality, gets the clean weights."""
    from srspace.quality.table import best_model

    jpeg = upscaler.job(_as(tmp_path / "cat.jpg", "JPEG", quality=60), "auto", 3.0)
    assert jpeg.weights == "photo" and jpeg.notices[0] == "A JPEG (quality ≈ 60): the photo weights, which also remove JPEG blocks."
    disguised = upscaler.job(_as(tmp_path / "cat_jpeg.png", "JPEG", quality=75), "espcn_x2", 2.0)
    assert disguised.weights == "photo" and "quality ≈ 75" in disguised.notices[0]
    png = upscaler.job(_as(tmp_path / "cat.png", "PNG"), "auto", 3.0)
    clean = best_model(3.0, [w for w in upscaler.engines if w != "photo"], upscaler.quality)
    assert (png.key, png.weights) == (clean.key, clean.weights) and not any("JPEG" in n for n in png.notices)
    for quality in (91, 95):  # where the clean weights won, measured (srspace/bundled/photo/espcn_x3.json)
        fine = upscaler.job(_as(tmp_path / f"fine{quality}.jpg", "JPEG", quality=quality), "auto", 3.0)
        assert (fine.key, fine.weights) == (clean.key, clean.weights) and "as good as lossless" in fine.notices[0]
    assert upscaler.job(_as(tmp_path / "q90.jpg", "JPEG", quality=90), "auto", 3.0).weights == "photo"  # the photo weights won
    chosen = upscaler.job(tmp_path / "cat.jpg", "espcn_x3", 3.0, "bundled")  # a set picked by hand is kept
    assert chosen.weights == "bundled"


def test_the_official_set_has_no_espcn_at_x2_or_x4_and_says_so(upscaler, official_files):
    from srspace.errors import ImageInputError

    for key in ("espcn_x2", "espcn_x4"):
        with pytest.raises(ImageInputError, match=f"The official weights have no {key}: the tutorial published "
                                                  "ESPCN at x3 only; choose weights 'best' or 'bundled'"):
            upscaler.job(EXAMPLES_DIR / "coffee.png", key, 2.0, "official")
        assert upscaler.job(EXAMPLES_DIR / "coffee.png", key, 2.0, "best").weights == "bundled"


def test_odd_jpegs_get_a_correct_result_or_a_clear_message(upscaler, odd_jpegs, tmp_path):
    """Progressive and CMYK JPEGs are read as JPEGs (their tables estimate quality 60: the photo
    weights); one whose tables the estimate cannot find gets the clean weights; a truncated one is
    refused with a message. Every result equals the same pixels upscaled from a PNG, same weights."""
    from PIL import Image

    from srspace.errors import ImageInputError
    from srspace.imaging.decoding import jpeg_quality

    def as_png(path):
        png = tmp_path / f"{path.stem}.png"
        Image.open(path).convert("RGB").save(png)
        return png

    assert jpeg_quality(odd_jpegs["progressive"]) == jpeg_quality(odd_jpegs["cmyk"]) == 60
    assert jpeg_quality(odd_jpegs["no_luma_table"]) is None
    clean = upscaler.job(EXAMPLES_DIR / "coffee.png", "auto", 2.0)
    for name, weights in (("progressive", "photo"), ("cmyk", "photo"), ("no_luma_table", clean.weights)):
        job = upscaler.job(odd_jpegs[name], "auto", 2.0)
        assert job.weights == weights, name
        got = upscaler.upscale(odd_jpegs[name], "auto", 2.0)
        expected = upscaler.upscale(as_png(odd_jpegs[name]), job.key, 2.0, job.weights)
        assert got.image.mode == "RGB" and np.array_equal(np.asarray(got.image), np.asarray(expected.image)), name
    baseline = upscaler.upscale(odd_jpegs["baseline"], "auto", 2.0)
    progressive = upscaler.upscale(odd_jpegs["progressive"], "auto", 2.0)
    assert np.array_equal(np.asarray(baseline.image), np.asarray(progressive.image))  # the same coefficients
    with pytest.raises(ImageInputError, match="'truncated.jpg' is damaged or truncated and cannot be decoded"):
        upscaler.upscale(odd_jpegs["truncated"], "auto", 2.0)
