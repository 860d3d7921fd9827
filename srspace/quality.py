"""The quality table: gain over bicubic per model, weight set and factor on held-out images,
and the default weight set it decides per network.

The table is measured by ``benchmarks/quality.py`` and shipped as data
(``srspace/bundled/quality.json``); it records the sha256 of the weights it measured, so a
test notices when the weights change and the table does not.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from .contract import MODELS, WEIGHT_SETS
from .evaluation import gain_over_bicubic
from .weights import BUNDLED_DIR

QUALITY_PATH = BUNDLED_DIR / "quality.json"
FACTORS = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)


def load_table(path: Path = QUALITY_PATH) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


def mean_gain(table: dict, network: str, weights: str) -> float | None:
    """Mean gain in dB of ``network``'s models with set ``weights`` over the table's factors."""
    gains = [row["gain"] for row in table["rows"]
             if row["weights"] == weights and MODELS[row["model"]].network == network]
    return statistics.fmean(gains) if gains else None


def best_sets(available, table: dict | None = None) -> dict[str, str]:
    """Per network, the available weight set with the larger measured mean gain (bundled when
    the table has no figure for any of them)."""
    table = table if table is not None else load_table()
    available = [w for w in WEIGHT_SETS if w in available]
    best = {}
    for network in sorted({spec.network for spec in MODELS.values()}):
        scored = [(mean_gain(table, network, w), w) for w in available] if table else []
        scored = [(g, w) for g, w in scored if g is not None]
        best[network] = max(scored)[1] if scored else ("bundled" if "bundled" in available else available[0])
    return best


def measure(engines: dict[str, object], images, factors=FACTORS, log=print) -> list[dict]:
    """Rows of the table: ``engines`` maps each weight set to the engine running its models."""
    rows = []
    for weights, engine in engines.items():
        for key in MODELS:
            for factor in factors:
                result = gain_over_bicubic(engine, key, images, factor)
                rows.append({"model": key, "weights": weights, "factor": factor,
                             **{k: round(v, 3) for k, v in result.items()}})
                log(f"{weights:8s} {key:14s} x{factor:<4g} {result['gain']:+.2f} dB")
    return rows


def markdown(table: dict) -> str:
    """The table as the README and the Models tab print it: one row per model and set."""
    factors = sorted({row["factor"] for row in table["rows"]})
    lines = ["| model | weights | " + " | ".join(f"×{f:g}" for f in factors) + " |",
             "|---|---|" + "---|" * len(factors)]
    for key in MODELS:
        for weights in WEIGHT_SETS:
            gains = {row["factor"]: row["gain"] for row in table["rows"] if row["model"] == key and row["weights"] == weights}
            if gains:
                lines.append(f"| `{key}` | {weights} | " + " | ".join(f"{gains[f]:+.2f}" for f in factors) + " |")
    return "\n".join(lines)
