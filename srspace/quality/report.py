"""The quality table in words: Markdown tables for the README and the Models tab, beside the papers'
figures, and the one sentence the Upscale tab says of a model's measured gain."""
from __future__ import annotations

from ..contract import BICUBIC_KEY, BUNDLED_SET, MODELS, WEIGHT_SETS
from .table import CLEAN, PUBLISHED_B100, best_model, best_set, gain_grid, signed, table_rows


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


def published_markdown(table: dict, weights: str = BUNDLED_SET) -> str:
    """Our native ESPCN models at their own factors beside the published figures: gain over
    bicubic, and the Y-PSNR in brackets."""
    factors = sorted(PUBLISHED_B100["bicubic"])
    rows = {(r["model"], r["factor"]): r for r in table_rows(table, CLEAN) if r["weights"] == weights}
    ours = [rows.get((f"espcn_x{f:g}", f)) for f in factors]
    if not all(ours):
        return ""
    base = PUBLISHED_B100["bicubic"]
    lines = ["| | " + " | ".join(f"×{f:g}" for f in factors) + " |", "|---|" + "---|" * len(factors),
             f"| ours: ESPCN at its own factor, {weights} weights, {table.get('data', 'held-out images').upper()} | "
             + " | ".join(f"**{signed(r['gain'])}** ({r['model_db']:.2f})" for r in ours) + " |",
             f"| bicubic, {table.get('data', 'held-out images').upper()} | "
             + " | ".join(f"0.00 ({r['bicubic_db']:.2f})" for r in ours) + " |"]
    for name, figures in PUBLISHED_B100.items():
        if name != "bicubic":
            lines.append(f"| {name}, B100, published | "
                         + " | ".join(f"{signed(figures[f] - base[f])} ({figures[f]:.2f})" for f in factors) + " |")
    lines.append("| bicubic, B100, published | " + " | ".join(f"0.00 ({base[f]:.2f})" for f in factors) + " |")
    return "\n".join(lines)


def markdown(table: dict, sets=WEIGHT_SETS, inputs: str = CLEAN) -> str:
    """The table as the README and the Models tab print it, on ``inputs``: one row per model and
    set among ``sets`` (the README: all; the app: those it serves), the better set's figure in
    bold (what "best" picks among them), and what auto runs."""
    factors, gain = gain_grid(table, inputs)
    sets = [w for w in WEIGHT_SETS if w in sets]
    lines = ["| model | weights | " + " | ".join(f"×{f:g}" for f in factors) + " |",
             "|---|---|" + "---|" * len(factors)]
    for key in MODELS:
        for weights in sets:
            if (key, weights, factors[0]) not in gain:
                continue
            having = [w for w in sets if (key, w, factors[0]) in gain]
            cells = [f"**{signed(gain[key, weights, f])}**" if len(having) > 1 and best_set(key, f, sets, table, inputs) == weights
                     else signed(gain[key, weights, f]) for f in factors]
            lines.append(f"| `{key}` | {weights} | " + " | ".join(cells) + " |")
    lines.append("| `bicubic` | | " + " | ".join("0.00" for _ in factors) + " |")
    picks = [best_model(f, sets, table, inputs) for f in factors]
    lines.append("| **`auto`** | (picks) | " + " | ".join(
        f"**{signed(p.gain)}**<br>`{p.key}`{', ' + p.weights if p.weights else ''}" for p in picks) + " |")  # narrow columns: every factor fits at 1400 px
    return "\n".join(lines)
