"""The quality table: gain over bicubic per model, weight set and factor on held-out images,
and the default weight set it decides per model and factor.

The table is measured by ``benchmarks/quality.py`` and shipped as data
(``srspace/bundled/quality.json``); it records the sha256 of the weights it measured, so a
test notices when the weights change and the table does not.
"""
from __future__ import annotations

import json
from pathlib import Path

from dataclasses import dataclass

from .contract import BUNDLED_SET, BICUBIC_KEY, MODELS, WEIGHT_SETS
from .heldout import gain_over_bicubic
from .weights import BUNDLED_DIR

QUALITY_PATH = BUNDLED_DIR / "quality.json"
FACTORS = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
RESTORE_FROM = 1.1  # below this factor there is nothing to restore: auto resamples (bicubic), as at x1


def load_table(path: Path = QUALITY_PATH) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


def best_set(key: str, factor: float, available, table: dict | None = None) -> str:
    """The available weight set with the larger measured gain for model ``key`` at the table's
    factor nearest to ``factor``; bundled when the table has no figure for it."""
    table = table if table is not None else load_table()
    available = [w for w in WEIGHT_SETS if w in available]
    fallback = BUNDLED_SET if BUNDLED_SET in available else available[0]
    rows = [r for r in (table or {}).get("rows", []) if r["model"] == key and r["weights"] in available]
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


def best_model(factor: float, available, table: dict | None = None) -> Pick:
    """The model and weight set among ``available`` sets with the largest gain in the quality
    table at its factor nearest to ``factor``; bicubic (gain 0) when no network beats it there,
    so ``auto`` is never worse than bicubic by the table."""
    table = table if table is not None else load_table()
    available = [w for w in WEIGHT_SETS if w in available]
    rows = [r for r in (table or {}).get("rows", []) if r["model"] in MODELS and r["weights"] in available]
    if not rows or factor < RESTORE_FROM:
        return Pick(BICUBIC_KEY, "", 0.0, factor)
    nearest = min({r["factor"] for r in rows}, key=lambda f: (abs(f - factor), f))
    order = {key: i for i, key in enumerate(MODELS)}
    best = max((r for r in rows if r["factor"] == nearest),
               key=lambda r: (r["gain"], -order[r["model"]], -available.index(r["weights"])))
    if best["gain"] <= 0:
        return Pick(BICUBIC_KEY, "", 0.0, nearest)
    return Pick(best["model"], best["weights"], best["gain"], nearest)


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
            f"x{pick.measured:g} on {images} held-out photographs (the largest gain in the quality table).")


def measure(engines: dict[str, object], images, factors=FACTORS, log=print) -> list[dict]:
    """Rows of the table: ``engines`` maps each weight set to the engine running its models."""
    rows = []
    for weights, engine in engines.items():
        for key in (k for k in MODELS if k in engine):  # the official set has no ESPCN x2, x4
            for factor in factors:
                result = gain_over_bicubic(engine, key, images, factor)
                rows.append({"model": key, "weights": weights, "factor": factor, "model_db": round(result["model"], 3),
                             "bicubic_db": round(result["bicubic"], 3), "gain": round(result["gain"], 3)})
                log(f"{weights:8s} {key:14s} x{factor:<4g} {result['model']:.2f} dB vs bicubic {result['bicubic']:.2f}: "
                    f"{result['gain']:+.2f} dB")
    return rows


def measured_sentence(table: dict | None, key: str, sets) -> str:
    """Model ``key``'s measured gain over bicubic in one sentence (for ``auto``: what it picks),
    with the set ``best`` picks among ``sets`` at each factor; "" without figures."""
    if not table or key == BICUBIC_KEY:
        return ""
    factors, gain = gain_grid(table)
    if key in MODELS:
        values = [gain.get((key, best_set(key, f, sets, table), f)) for f in factors]
    else:
        values = [best_model(f, sets, table).gain for f in factors]
    values = [v for v in values if v is not None]
    if not values:
        return ""
    return (f"Measured on {len(table['images'])} held-out photographs: {signed(min(values))} to {signed(max(values))} dB "
            f"over bicubic from ×{factors[0]:g} to ×{factors[-1]:g} (more is sharper; +1 dB shows clearly at 200%).")


def signed(db: float) -> str:
    """+0.74, −0.31, and 0.00 rather than -0.00."""
    text = f"{db:+.2f}"
    return "0.00" if text in ("+0.00", "-0.00") else text.replace("-", "−")


def gain_grid(table: dict) -> tuple[list[float], dict[tuple[str, str, float], float]]:
    """The table's factors, and its gain per (model, weights, factor)."""
    return (sorted({row["factor"] for row in table["rows"]}),
            {(r["model"], r["weights"], r["factor"]): r["gain"] for r in table["rows"]})


def markdown(table: dict, sets=WEIGHT_SETS) -> str:
    """The table as the README and the Models tab print it: one row per model and set among
    ``sets`` (the README: all; the app: those it serves), the better set's figure in bold (what
    "best" picks among them), and what auto runs."""
    factors, gain = gain_grid(table)
    sets = [w for w in WEIGHT_SETS if w in sets]
    lines = ["| model | weights | " + " | ".join(f"×{f:g}" for f in factors) + " |",
             "|---|---|" + "---|" * len(factors)]
    for key in MODELS:
        for weights in sets:
            if (key, weights, factors[0]) not in gain:
                continue
            cells = [f"**{signed(gain[key, weights, f])}**" if len(sets) > 1 and best_set(key, f, sets, table) == weights
                     else signed(gain[key, weights, f]) for f in factors]
            lines.append(f"| `{key}` | {weights} | " + " | ".join(cells) + " |")
    lines.append("| `bicubic` | | " + " | ".join("0.00" for _ in factors) + " |")
    picks = [best_model(f, sets, table) for f in factors]
    lines.append("| **`auto`** | (picks) | " + " | ".join(
        f"**{signed(p.gain)}** (`{p.key}`{', ' + p.weights if p.weights else ''})" for p in picks) + " |")
    return "\n".join(lines)
