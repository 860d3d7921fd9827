"""The quality table: gain over bicubic per model, weight set and factor on held-out images,
and the rules that decide from it what ``best`` and ``auto`` run (its Markdown: ``report``).

The table is measured by ``benchmarks/quality.py`` and shipped as data
(``srspace/bundled/quality.json``); it records the sha256 of the weights it measured, so a
test notices when the weights change and the table does not.
"""
from __future__ import annotations

import json
from pathlib import Path

from dataclasses import dataclass

from ..contract import BUNDLED_SET, BICUBIC_KEY, MODELS, PHOTO_SET, WEIGHT_SETS
from .heldout import gain_over_bicubic
from ..models.weights import BUNDLED_DIR

QUALITY_PATH = BUNDLED_DIR / "quality.json"
FACTORS = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
RESTORE_FROM = 1.1  # below this factor there is nothing to restore: auto resamples (bicubic), as at x1

# Inputs the table measures: clean (lossless) low-resolution images, and the same saved as JPEG
# at these qualities (benchmarks/quality.py --jpeg). A JPEG input below JPEG_CLEAN_FROM is decided
# by the rows of the nearest measured quality; from it up, a JPEG is as good as clean.
CLEAN = "clean"
JPEG_QUALITIES = (60, 80)
JPEG_CLEAN_FROM = 91  # measured (srspace/bundled/photo/espcn_x3.json): photo better up to q90, clean from q91


def input_kind(jpeg_quality: int | None) -> str:
    """Which rows of the table decide for an input: ``CLEAN`` for a lossless image (None) or a JPEG
    of quality JPEG_CLEAN_FROM and up, else "jpeg60"/"jpeg80", the nearest measured quality."""
    if jpeg_quality is None or jpeg_quality >= JPEG_CLEAN_FROM:
        return CLEAN
    return f"jpeg{min(JPEG_QUALITIES, key=lambda q: (abs(q - jpeg_quality), q))}"


def _candidates(available, inputs: str) -> list[str]:
    """The sets among ``available`` that decide on ``inputs``: for clean inputs not the photo set
    (a lossless image gets exactly what it got before that set existed), unless it is all there is."""
    available = [w for w in WEIGHT_SETS if w in available]
    clean_sets = [w for w in available if w != PHOTO_SET]
    return clean_sets if inputs == CLEAN and clean_sets else available


def table_rows(table: dict | None, inputs: str) -> list[dict]:
    """The table's rows for ``inputs``; the clean rows when it has none for that input."""
    rows = (table or {}).get("rows", [])
    chosen = [r for r in rows if r.get("input", CLEAN) == inputs]
    return chosen or [r for r in rows if r.get("input", CLEAN) == CLEAN]


def load_table(path: Path = QUALITY_PATH) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


def best_set(key: str, factor: float, available, table: dict | None = None, inputs: str = CLEAN) -> str:
    """The available weight set with the larger measured gain for model ``key`` at the table's
    factor nearest to ``factor``, on ``inputs`` (``input_kind``); bundled when the table has no
    figure for it."""
    table = table if table is not None else load_table()
    available = _candidates(available, inputs)
    fallback = BUNDLED_SET if BUNDLED_SET in available else available[0]
    rows = [r for r in table_rows(table, inputs) if r["model"] == key and r["weights"] in available]
    if not rows:
        return fallback
    nearest = min({r["factor"] for r in rows}, key=lambda f: (abs(f - factor), f))
    return max((r for r in rows if r["factor"] == nearest), key=lambda r: r["gain"])["weights"]


@dataclass(frozen=True)
class Pick:
    """What ``auto`` runs at a factor: the model and weight set with the largest measured gain."""

    key: str
    weights: str  # "" for bicubic
    gain: float  # dB over bicubic, at ``measured``
    measured: float  # the table's factor nearest the request
    inputs: str = CLEAN  # the table's rows it was decided on (input_kind)


def best_model(factor: float, available, table: dict | None = None, inputs: str = CLEAN) -> Pick:
    """The model and weight set among ``available`` sets with the largest gain in the quality
    table at its factor nearest to ``factor``, on ``inputs`` (``input_kind``); bicubic (gain 0)
    when no network beats it there, so ``auto`` is never worse than bicubic by the table."""
    table = table if table is not None else load_table()
    available = _candidates(available, inputs)
    rows = [r for r in table_rows(table, inputs) if r["model"] in MODELS and r["weights"] in available]
    if not rows or factor < RESTORE_FROM:
        return Pick(BICUBIC_KEY, "", 0.0, factor, inputs)
    nearest = min({r["factor"] for r in rows}, key=lambda f: (abs(f - factor), f))
    order = {key: i for i, key in enumerate(MODELS)}
    best = max((r for r in rows if r["factor"] == nearest),
               key=lambda r: (r["gain"], -order[r["model"]], -available.index(r["weights"])))
    if best["gain"] <= 0:
        return Pick(BICUBIC_KEY, "", 0.0, nearest, inputs)
    return Pick(best["model"], best["weights"], best["gain"], nearest, inputs)


def input_phrase(inputs: str) -> str:
    """How the held-out inputs of ``inputs`` rows were made, for a sentence."""
    return "" if inputs == CLEAN else f" saved as JPEG at quality {inputs[len('jpeg'):]}"


# What a JPEG input changed, said to the visitor ({q}: its estimated quality); the page uses the same words.
JPEG_NOTES = {
    "clean": "A JPEG of quality ≈ {q}: as good as lossless, so the weights for clean images.",
    PHOTO_SET: "A JPEG (quality ≈ {q}): the photo weights, which also remove JPEG blocks.",
    "other": "A JPEG (quality ≈ {q}): decided on the figures for JPEG inputs.",
}


def jpeg_note(jpeg_quality: int | None, weights: str) -> str:
    """What a JPEG input changed, in plain words ("" for a lossless input)."""
    if jpeg_quality is None:
        return ""
    kind = "clean" if jpeg_quality >= JPEG_CLEAN_FROM else PHOTO_SET if weights == PHOTO_SET else "other"
    return JPEG_NOTES[kind].format(q=jpeg_quality)


def pick_note(pick: Pick, factor: float, table: dict | None) -> str:
    """``auto``'s choice in one plain sentence, with the measured gain."""
    images = len((table or {}).get("images", []))
    if pick.key == BICUBIC_KEY:
        if factor < RESTORE_FROM:
            return f"Auto: plain bicubic, since at x{factor:g} there is nothing for a network to restore."
        return f"Auto: plain bicubic: no network measured better at x{pick.measured:g}."
    spec = MODELS[pick.key]
    resized = ", then resized" if spec.fixed_factor and factor != spec.fixed_factor else ""
    return (f"Auto: {spec.title}{resized}, {pick.weights} weights: {signed(pick.gain)} dB over bicubic at "
            f"x{pick.measured:g} on {images} held-out photographs{input_phrase(pick.inputs)} (the largest gain "
            "in the quality table).")


def measure(engines: dict[str, object], images, factors=FACTORS, log=print, jpeg_quality: int | None = None,
            keys=tuple(MODELS)) -> list[dict]:
    """Rows of the table: ``engines`` maps each weight set to the engine running its models; with
    ``jpeg_quality``, on the inputs saved as JPEG of that quality (rows of input "jpeg<q>")."""
    rows = []
    inputs = f"jpeg{jpeg_quality}" if jpeg_quality else CLEAN
    for weights, engine in engines.items():
        for key in (k for k in keys if k in engine):  # the official set has no ESPCN x2, x4
            for factor in factors:
                result = gain_over_bicubic(engine, key, images, factor, jpeg_quality)
                rows.append({"model": key, "weights": weights, "factor": factor, "input": inputs,
                             "model_db": round(result["model"], 3), "bicubic_db": round(result["bicubic"], 3),
                             "gain": round(result["gain"], 3)})
                log(f"{inputs:6s} {weights:8s} {key:14s} x{factor:<4g} {result['model']:.2f} dB vs bicubic "
                    f"{result['bicubic']:.2f}: {result['gain']:+.2f} dB")
    return rows


def gain_grid(table: dict, inputs: str = CLEAN) -> tuple[list[float], dict[tuple[str, str, float], float]]:
    """The table's factors, and its gain per (model, weights, factor) on ``inputs``."""
    rows = table_rows(table, inputs)
    return sorted({row["factor"] for row in rows}), {(r["model"], r["weights"], r["factor"]): r["gain"] for r in rows}


# Published Y-PSNR (dB) on the B100 benchmark, `factor` px shaved (VDSR's table, Kim et al. 2016); BSD68,
# on which the table is measured, is 68 of B100's 100 images, so these are a reference, not the same set.
PUBLISHED_B100 = {
    "bicubic": {2.0: 29.56, 3.0: 27.21, 4.0: 25.96},
    "SRCNN (Dong et al. 2016)": {2.0: 31.36, 3.0: 28.41, 4.0: 26.90},
    "FSRCNN (Dong et al. 2016)": {2.0: 31.53, 3.0: 28.53, 4.0: 26.98},
}


def input_kinds(table: dict | None) -> list[str]:
    """The inputs ``table`` has rows for, clean first."""
    kinds = {r.get("input", CLEAN) for r in (table or {}).get("rows", [])}
    return [k for k in (CLEAN, *(f"jpeg{q}" for q in JPEG_QUALITIES)) if k in kinds]


def signed(db: float) -> str:
    """+0.74, −0.31, and 0.00 rather than -0.00."""
    text = f"{db:+.2f}"
    return "0.00" if text in ("+0.00", "-0.00") else text.replace("-", "−")
