"""PyTorch -> ONNX export that proves its output: onnx.checker, then parity with PyTorch.

Writes the three models of the contract and ``manifest.json`` describing them.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from . import contract, networks
from .contract import MANIFEST_NAME, MODELS, MODELS_DIR, OPSET, OUTPUT_NAME, PARITY_ATOL, PARITY_RTOL, ModelSpec, factor_tensor_value
from .engines import OrtEngine, TorchEngine
from .weights import LoadedWeights, recorded_intact, recorded_weights, resolve, sha256_file

DYNAMIC_FACTORS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.3, 4.0)


class ExportError(RuntimeError):
    """An export failed one of its own checks."""


def code_fingerprint() -> str:
    """Hash of the code that defines the graphs: a change re-exports the models."""
    digest = hashlib.sha256()
    for module in (contract, networks):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(torch.__version__.encode())
    return digest.hexdigest()[:16]


def parity_cases(spec: ModelSpec) -> list[tuple[int, int, int, float | None]]:
    """(batch, height, width, factor) inputs on which ORT must match PyTorch: batch 1 and 2, odd sizes."""
    if spec.dynamic:
        return [(1, 37, 53, f) for f in DYNAMIC_FACTORS] + [(2, 24, 31, 2.5), (2, 17, 16, 3.3)]
    return [(1, 37, 53, None), (2, 24, 31, None), (1, 1, 7, None)]


def parity_input(spec: ModelSpec, batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic test image batch: smooth structure plus noise, in [0, 1]."""
    rng = np.random.default_rng(seed + 1000 * height + width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 0.5 + 0.25 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    noise = rng.random((batch, spec.channels, height, width), dtype=np.float32)
    return np.clip(0.6 * base + 0.4 * noise, 0.0, 1.0).astype(np.float32)


@contextlib.contextmanager
def _quiet_logger(name: str):
    """Silence one chatty logger (the exporter's note that torchvision is absent)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def export_onnx(spec: ModelSpec, model: nn.Module, path: Path, weights: LoadedWeights) -> None:
    """Export with the dynamo exporter, batch/height/width dynamic, our tensor names; the file
    records where its weights came from (``metadata_props``)."""
    x = torch.rand(1, spec.channels, 32, 32)
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
    if spec.dynamic:
        args, shapes = (x, torch.from_numpy(factor_tensor_value(2.0))), (dims, None)
    else:
        args, shapes = (x,), (dims,)
    with warnings.catch_warnings(), _quiet_logger("torch.onnx._internal.exporter._registration"):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, args, input_names=list(spec.input_names), output_names=[OUTPUT_NAME], opset_version=OPSET,
            dynamic_shapes=shapes, dynamo=True, optimize=True, verbose=False,
        )
    program.save(str(path), external_data=False)
    onnx_model = onnx.load(str(path))
    out_dims = onnx_model.graph.output[0].type.tensor_type.shape.dim
    for dim, side in ((out_dims[2], "height"), (out_dims[3], "width")):  # readable names for the output dims
        dim.dim_param = f"{spec.fixed_factor}*{side}" if spec.fixed_factor else f"out_{side}"
    props = {f"srspace.weights.{k}": v for k, v in _weights_record(weights).items() if v}
    onnx.helper.set_model_props(onnx_model, {"srspace.model": spec.key, **props})
    onnx.save(onnx_model, str(path))


def check_parity(spec: ModelSpec, torch_engine: TorchEngine, ort_engine: OrtEngine) -> list[dict]:
    """Run every parity case through both engines; raise if any differs beyond tolerance."""
    results = []
    for batch, height, width, factor in parity_cases(spec):
        x = parity_input(spec, batch, height, width)
        expected = torch_engine.run(spec.key, x, factor)
        actual = ort_engine.run(spec.key, x, factor)
        case = f"{batch}x{spec.channels}x{height}x{width}" + (f" @ {factor}" if factor is not None else "")
        if expected.shape != actual.shape:
            raise ExportError(f"{spec.key} {case}: ONNX Runtime shape {actual.shape} != PyTorch {expected.shape}")
        try:
            np.testing.assert_allclose(actual, expected, rtol=PARITY_RTOL, atol=PARITY_ATOL)
        except AssertionError as exc:
            raise ExportError(f"{spec.key} {case}: ONNX Runtime differs from PyTorch\n{exc}") from exc
        results.append({"case": case, "output_shape": list(actual.shape), "max_abs_diff": float(np.abs(actual - expected).max())})
    return results


def _value_info(values) -> list[dict]:
    return [
        {
            "name": v.name,
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
            "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
        }
        for v in values
    ]


def describe(path: Path) -> dict:
    model = onnx.load(str(path), load_external_data=False)
    return {
        "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": _value_info(model.graph.input),
        "outputs": _value_info(model.graph.output),
    }


def _weights_record(w: LoadedWeights) -> dict:
    return {"source": w.source, "file": w.path.name, "sha256": w.sha256, "note": w.note}


def read_manifest(models_dir: Path = MODELS_DIR) -> dict | None:
    try:
        return json.loads((Path(models_dir) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def stale_reason(models_dir: Path = MODELS_DIR) -> str | None:
    """Why ``models_dir`` must be (re)built, or None when every model is present and intact."""
    manifest = read_manifest(models_dir)
    if manifest is None:
        return "no readable manifest"
    if manifest.get("fingerprint") != code_fingerprint():
        return "the export code changed"
    for key, spec in MODELS.items():
        entry = manifest.get("models", {}).get(key)
        path = Path(models_dir) / spec.filename
        if entry is None or not path.exists():
            return f"{spec.filename} is missing"
        if sha256_file(path) != entry["sha256"]:
            return f"{spec.filename} does not match its manifest (corrupt or changed)"
    # the PyTorch twins load these weights again: a changed or vanished file means re-export
    for network, record in recorded_weights(manifest):
        if not recorded_intact(network, record):
            return f"the {record['source']} {network} weights changed or are gone"
    return None


def export_all(models_dir: Path = MODELS_DIR, weights: str = "auto", force: bool = False, log=print) -> dict:
    """Export, check and verify every model; write the manifest. Quick no-op when fresh."""
    models_dir = Path(models_dir)
    reason = "--force" if force else stale_reason(models_dir)
    if reason is None:
        log(f"models in {models_dir} are up to date")
        return read_manifest(models_dir)
    log(f"exporting models to {models_dir} ({reason})")
    models_dir.mkdir(parents=True, exist_ok=True)
    (models_dir / MANIFEST_NAME).unlink(missing_ok=True)  # a half-finished export never looks fresh
    loaded = {net: resolve(net, weights, log=log) for net in sorted({s.network for s in MODELS.values()})}
    for w in loaded.values():
        log(f"{w.network}: {w.source} weights {w.path.name} (sha256 {w.sha256[:12]})")
    torch_engine = TorchEngine.from_state_dicts({n: w.state_dict for n, w in loaded.items()})
    entries = {}
    for key, spec in MODELS.items():
        path = models_dir / spec.filename
        tmp = path.with_suffix(".onnx.tmp")
        export_onnx(spec, torch_engine.modules[key], tmp, loaded[spec.network])
        onnx.checker.check_model(str(tmp), full_check=True)
        os.replace(tmp, path)
        parity = check_parity(spec, torch_engine, OrtEngine(models_dir, keys=(key,)))
        worst = max(r["max_abs_diff"] for r in parity)
        log(f"{key}: checker ok, parity ok on {len(parity)} cases (max abs diff {worst:.2e})")
        entries[key] = {
            "file": spec.filename,
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            **describe(path),
            "weights": _weights_record(loaded[spec.network]),
            "parity": {"rtol": PARITY_RTOL, "atol": PARITY_ATOL, "cases": parity},
        }
    manifest = {
        "fingerprint": code_fingerprint(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "models": entries,
    }
    (models_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
