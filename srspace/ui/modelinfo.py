"""What the Models tab shows about each ONNX file."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx

from ..contract import BUNDLED_SET, OFFICIAL_SET, PHOTO_SET, MODELS


def graph_stats(path: Path) -> dict:
    """Operator counts and parameter count of an ONNX file."""
    model = onnx.load(str(path))
    ops = Counter(node.op_type for node in model.graph.node)
    params = sum(int(np.prod(init.dims)) for init in model.graph.initializer)
    return {"ops": dict(sorted(ops.items())), "params": params}


def _dims(values: list[dict]) -> str:
    return "<br>".join(f"`{v['name']}`: `{v['dtype']} [{', '.join(str(d) for d in v['shape'])}]`" for v in values)


def weights_sentence(weights: dict) -> str:
    """Where a model's weights came from, in one plain sentence."""
    origin = {OFFICIAL_SET: "the tutorial's original checkpoint", BUNDLED_SET: "this project's own training",
              PHOTO_SET: "this project's own training on JPEG-compressed inputs"}[weights["source"]]
    text = f"From {origin}, `{weights['file']}` (sha256 `{weights['sha256'][:16]}…`)."
    if "residual_gain" in weights:
        text += f" Residual gain g(s) = {gain_formula(weights['residual_gain'])}, {weights['gain_from']}."
    return text


def gain_formula(coeffs) -> str:
    """SRCNN's residual gain as people write it: max(0, 0.56·ln s + 0.62·ln² s)."""
    terms = [f"{abs(c):.3g}{unit}" for c, unit in zip(coeffs, ("", "·ln s", "·ln² s")) if c]
    signs = ["−" if c < 0 else "+" for c in coeffs if c]
    body = "".join(f"{sign}{term}" if i == 0 else f" {sign} {term}" for i, (sign, term) in enumerate(zip(signs, terms)))
    return f"max(0, {body.removeprefix('+') or '0'})"


def model_card(path: Path, key: str, entry: dict) -> str:
    """Markdown describing one exported model from its file and manifest entry."""
    spec = MODELS[key]
    stats = graph_stats(path)
    weights = entry["weights"]
    cases = entry["parity"]["cases"]
    parity_rows = "\n".join(f"| {c['case']} | {c['max_abs_diff']:.2e} |" for c in cases)
    return f"""### `{key}`: {spec.title}
{spec.description}

| property | value |
|---|---|
| inputs | {_dims(entry['inputs'])} |
| outputs | {_dims(entry['outputs'])} |
| opset | {entry['opset']} |
| operators | {', '.join(f'{op} x{n}' for op, n in stats['ops'].items())} |
| parameters | {stats['params']:,} |
| file | `{entry['file']}`, {entry['bytes'] / 1024:.1f} KiB |
| sha256 | `{entry['sha256']}` |
| weights | {weights_sentence(weights)} |

Export parity, ONNX Runtime vs PyTorch (rtol {entry['parity']['rtol']:g}, atol {entry['parity']['atol']:g}):

| case | max abs diff |
|---|---|
{parity_rows}
"""
