"""The models folder's manifest: its layout, as the exporter writes it and every reader relies
on, and reading it (a damaged manifest of any shape reads as none: the exporter then re-exports)."""
from __future__ import annotations

import json
from pathlib import Path

from ..contract import MANIFEST_NAME, MODELS_DIR, WEIGHT_SETS, set_models

# The manifest's layout, as the exporter writes it and every reader relies on: a key
# with a type, a nested layout, or a list of one layout ([layout]). float accepts ints too.
_DIMS = [{"name": str, "dtype": str, "shape": list}]
_ENTRY = {"file": str, "sha256": str, "bytes": int, "opset": int, "inputs": _DIMS, "outputs": _DIMS,
          "weights": {"source": str, "file": str, "sha256": str},
          "parity": {"rtol": float, "atol": float, "cases": [{"case": str, "max_abs_diff": float}]}}
_MANIFEST = {"fingerprint": str, "weights": str, "sets": dict, "unavailable": dict}


def _fits(value, layout) -> bool:
    if isinstance(layout, dict):
        return isinstance(value, dict) and all(k in value and _fits(value[k], v) for k, v in layout.items())
    if isinstance(layout, list):
        return isinstance(value, list) and all(_fits(item, layout[0]) for item in value)
    if layout is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, layout) and not (layout is int and isinstance(value, bool))


def manifest_fits(manifest) -> bool:
    """True when ``manifest`` has the layout every reader relies on: known weight sets, each
    with an entry for every model it holds (contract.set_models), values of the right types (a damaged manifest of any other shape
    means a re-export, never a crash at start)."""
    if not _fits(manifest, _MANIFEST) or not set(manifest["sets"]) <= set(WEIGHT_SETS):
        return False
    if not all(isinstance(v, str) for v in manifest["unavailable"].values()):
        return False
    for name, entries in manifest["sets"].items():
        if not isinstance(entries, dict) or set(entries) != set(set_models(name)):
            return False
        for entry in entries.values():
            if not _fits(entry, _ENTRY) or entry["weights"]["source"] not in WEIGHT_SETS:
                return False
            gain = entry["weights"].get("residual_gain")
            if gain is not None and not (_fits(gain, [float]) and isinstance(entry["weights"].get("gain_from"), str)):
                return False
    return True


def read_manifest(models_dir: Path = MODELS_DIR) -> dict | None:
    """The manifest, or None when it is missing, unreadable or not of this layout."""
    try:
        manifest = json.loads((Path(models_dir) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return manifest if manifest_fits(manifest) else None
