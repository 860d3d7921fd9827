"""PyTorch -> ONNX export that proves its output: onnx.checker, then parity with PyTorch.

Writes the three models of the contract and ``manifest.json`` describing them.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from .. import contract
from ..models import networks
from ..contract import (BUNDLED_SET, OFFICIAL_SET, MANIFEST_NAME, MODELS, MODELS_DIR, OPSET, OUTPUT_NAME, PARITY_ATOL, PARITY_RTOL, WEIGHT_SETS, ModelSpec, SET_WEIGHTS, set_models,
                       factor_tensor_value, model_path)
from ..runtime.engines import OrtEngine, TorchEngine
from ..models.manifest import read_manifest
from ..models.networks import SRCNN
from ..models.weights import (OFFICIAL, OFFICIAL_GAIN_PATH, SOURCES, LoadedWeights, WeightsError, cache_dir, official_gain_record,
                      recorded_intact, recorded_weights, resolve, sha256_file)

DYNAMIC_FACTORS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.3, 4.0)


class ExportError(RuntimeError):
    """An export failed one of its own checks."""


def code_fingerprint() -> str:
    """Hash of the code that defines the graphs: a change re-exports the models."""
    digest = hashlib.sha256()
    for module in (contract, networks):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(OFFICIAL_GAIN_PATH.read_bytes() if OFFICIAL_GAIN_PATH.exists() else b"")  # the official SRCNN's fitted gain
    digest.update(torch.__version__.encode())
    return digest.hexdigest()[:16]


# The accepted domain the parity contract is proven on (tests/test_parity_sweep.py): every side
# from 8 px to 64 px, as height and as width, paired non-square (odd with even), at every slider
# factor; batch 2 for one orientation, batch 1 for the other.
SWEEP_FACTORS = tuple(round(1.0 + 0.1 * i, 1) for i in range(31))
SWEEP_SHAPES = [(2, h, h + 1) for h in range(8, 64)] + [(2, 64, 8)] + [(1, h + 1, h) for h in range(8, 64)] + [(1, 8, 64)]


def sweep_cases(spec: ModelSpec) -> list[tuple[int, int, int, float | None]]:
    """(batch, height, width, factor) of the whole sweep for one model."""
    factors = SWEEP_FACTORS if spec.dynamic else (None,)
    return [(b, h, w, f) for b, h, w in SWEEP_SHAPES for f in factors]


def parity_cases(spec: ModelSpec) -> list[tuple[int, int, int, float | None]]:
    """(batch, height, width, factor) inputs on which ORT must match PyTorch at export: batch 1 and 2,
    odd sizes, and the edge the sweep found (an output side equal to the input side: 8x9 at x1.1)."""
    if spec.dynamic:
        return ([(1, 37, 53, f) for f in DYNAMIC_FACTORS] + [(2, 24, 31, 2.5), (2, 17, 16, 3.3)]
                + [(1, 8, 9, 1.1), (2, 9, 8, 1.1), (1, 8, 64, 4.0)])
    return [(1, 37, 53, None), (2, 24, 31, None), (1, 1, 7, None), (1, 8, 9, None)]


def compare_engines(spec: ModelSpec, expected_engine, actual_engine, cases) -> list[dict]:
    """Run ``cases`` through both engines; raise ExportError on a shape mismatch or a difference
    beyond the contract's tolerance. Per case: its name, output shape and max abs difference."""
    results = []
    for batch, height, width, factor in cases:
        x = parity_input(spec, batch, height, width)
        expected = expected_engine.run(spec.key, x, factor)
        actual = actual_engine.run(spec.key, x, factor)
        case = f"{batch}x{spec.channels}x{height}x{width}" + (f" @ {factor}" if factor is not None else "")
        if expected.shape != actual.shape:
            raise ExportError(f"{spec.key} {case}: {actual_engine.name} shape {actual.shape} != {expected_engine.name} {expected.shape}")
        try:
            np.testing.assert_allclose(actual, expected, rtol=PARITY_RTOL, atol=PARITY_ATOL)
        except AssertionError as exc:
            raise ExportError(f"{spec.key} {case}: {actual_engine.name} differs from {expected_engine.name}\n{exc}") from exc
        results.append({"case": case, "output_shape": list(actual.shape), "max_abs_diff": float(np.abs(actual - expected).max())})
    return results


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
    props = {f"srspace.weights.{k}": str(v) for k, v in _weights_record(weights).items()}
    onnx.helper.set_model_props(onnx_model, {"srspace.model": spec.key, **props})
    onnx.save(onnx_model, str(path))


def check_parity(spec: ModelSpec, torch_engine: TorchEngine, ort_engine: OrtEngine) -> list[dict]:
    """Run every export parity case through both engines; raise if any differs beyond tolerance."""
    return compare_engines(spec, torch_engine, ort_engine, parity_cases(spec))


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
    """Where a model's weights came from; for SRCNN also its residual gain and how that was obtained."""
    record = {"source": w.source, "file": w.path.name, "sha256": w.sha256}
    if w.name == "srcnn":
        record["residual_gain"] = [round(float(v), 6) for v in w.state_dict[SRCNN.GAIN_KEY]]
        fitted = official_gain_record()
        if fitted and fitted["checkpoint_sha256"] == w.sha256:
            record["gain_from"] = f"fitted to this checkpoint: {fitted['method']}; {fitted['images']}"
        else:
            record["gain_from"] = "learnt with the weights" if w.source == BUNDLED_SET else "none in the checkpoint: g = 1"
    return record


def wanted_sets(weights: str) -> tuple[str, ...]:
    """The weight sets a --weight-sets request exports: one set, or every set ("auto")."""
    if weights not in SOURCES:
        raise ValueError(f"unknown weights {weights!r}; choose one of {SOURCES}")
    return tuple(WEIGHT_SETS) if weights == "auto" else (weights,)


def set_problem(models_dir: Path, manifest: dict, name: str, weights_too: bool = True) -> str | None:
    """Why the exported set ``name`` of ``manifest`` cannot be used as it is, or None: every ONNX
    file present and as recorded, and (``weights_too``) the weights its PyTorch twins reload."""
    entries = manifest["sets"][name]
    for key in set_models(name):
        spec = MODELS[key]
        path = model_path(models_dir, name, key)
        if key not in entries or not path.exists():
            return f"{name}/{spec.filename} is missing"
        if sha256_file(path) != entries[key]["sha256"]:
            return f"{name}/{spec.filename} does not match its manifest (corrupt or changed)"
    if weights_too:
        for weights_name, record in recorded_weights(manifest, name):
            if not recorded_intact(weights_name, record):
                return f"the {name} {weights_name} weights changed or are gone"
    return None


def stale_reason(models_dir: Path = MODELS_DIR, weights: str = "auto") -> str | None:
    """Why ``models_dir`` must be (re)built for a ``weights`` request, or None when every model
    asked for is present and intact. Sets not asked for do not make it stale: another process
    may be serving them."""
    manifest = read_manifest(models_dir)
    if manifest is None:
        return "no readable manifest"
    if manifest.get("fingerprint") != code_fingerprint():
        return "the export code changed"
    try:
        wanted = wanted_sets(weights)
        missing = [w for w in wanted if w not in manifest["sets"]]
        if any(w not in manifest.get("unavailable", {}) for w in missing):
            return f"the {', '.join(missing)} models are missing"
        if OFFICIAL_SET in missing and all((cache_dir() / c.filename).exists() for c in OFFICIAL.values()):
            return "the official checkpoints are in the cache now"
        for name in manifest["sets"]:  # the weights behind a set matter to the process that serves it
            problem = set_problem(models_dir, manifest, name, weights_too=name in wanted)
            if problem:
                return problem
    except (KeyError, TypeError, AttributeError):
        return "the manifest is damaged"
    return None


def export_set(models_dir: Path, weights: str, loaded: dict[str, LoadedWeights], log=print) -> dict:
    """Export, check and verify the models of one weight set into ``models_dir/weights``."""
    keys = set_models(weights)
    torch_engine = TorchEngine.from_state_dicts({n: w.state_dict for n, w in loaded.items()}, keys)
    folder = Path(models_dir) / weights
    folder.mkdir(parents=True, exist_ok=True)
    entries = {}
    for key in keys:
        spec = MODELS[key]
        path = model_path(models_dir, weights, key)
        tmp = path.with_suffix(".onnx.tmp")
        export_onnx(spec, torch_engine.modules[key], tmp, loaded[spec.weights_name])
        onnx.checker.check_model(str(tmp), full_check=True)
        os.replace(tmp, path)
        parity = check_parity(spec, torch_engine, OrtEngine(folder, keys=(key,)))
        worst = max(r["max_abs_diff"] for r in parity)
        log(f"{weights}/{key}: checker ok, parity ok on {len(parity)} cases (max abs diff {worst:.2e})")
        entries[key] = {
            "file": f"{weights}/{spec.filename}",
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            **describe(path),
            "weights": _weights_record(loaded[spec.weights_name]),
            "parity": {"rtol": PARITY_RTOL, "atol": PARITY_ATOL, "cases": parity},
        }
    return entries


def export_all(models_dir: Path = MODELS_DIR, weights: str = "auto", force: bool = False, log=print,
               prune: bool = False) -> dict:
    """Export, check and verify every model of the weight sets asked for; write the manifest.

    ``weights``: "bundled", "official" (an error when it cannot be had) or "auto" (every set
    that can be had; a missing official set is recorded with its reason in one line).
    A quick no-op when the models are fresh for that request. Sets that are intact are kept,
    asked for or not (another process may be serving them), and so is an exported official set
    whose checkpoints cannot be had again; ``prune`` removes the sets not asked for.
    """
    models_dir = Path(models_dir)
    if not force and not prune and stale_reason(models_dir, weights) is None:
        log(f"models in {models_dir} are up to date")
        return read_manifest(models_dir)
    with _export_lock(models_dir):  # replicas starting at once: one exports, the others then find it fresh
        reason = "--force" if force else stale_reason(models_dir, weights)
        if reason is None and not prune:
            log(f"models in {models_dir} are up to date")
            return read_manifest(models_dir)
        return _export(models_dir, weights, reason or "--prune", log, force, prune)


@contextlib.contextmanager
def _export_lock(models_dir: Path):
    """One export at a time per models folder, across processes (an advisory file lock)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / ".export.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _usable(models_dir: Path, old: dict, name: str, weights_too: bool = True) -> bool:
    try:
        return name in old.get("sets", {}) and set_problem(models_dir, old, name, weights_too) is None
    except (KeyError, TypeError, AttributeError):
        return False


def _export(models_dir: Path, weights: str, reason: str, log, force: bool = False, prune: bool = False) -> dict:
    log(f"exporting models to {models_dir} ({reason})")
    old = read_manifest(models_dir) or {}
    if old.get("fingerprint") != code_fingerprint():
        old = {}  # made by other code: nothing is carried over
    (models_dir / MANIFEST_NAME).unlink(missing_ok=True)  # a half-finished export never looks fresh
    sets, unavailable = {}, {}
    for name in wanted_sets(weights):
        if not force and _usable(models_dir, old, name):
            sets[name] = old["sets"][name]
            continue
        try:
            loaded = {n: resolve(n, name) for n in SET_WEIGHTS[name]}
        except WeightsError as exc:
            if weights != "auto" or name == BUNDLED_SET:
                raise
            if _usable(models_dir, old, name, weights_too=False):  # exported earlier: kept, not pulled away
                sets[name] = old["sets"][name]
                log(f"The {name} models exported earlier are kept; their checkpoints cannot be had here now: {exc}.")
                continue
            unavailable[name] = f"The {name} weights are not available here: {exc}."
            log(unavailable[name])
            continue
        for w in loaded.values():
            log(f"{name} {w.name}: {w.path.name} (sha256 {w.sha256[:12]})")
        sets[name] = export_set(models_dir, name, loaded, log)
    for name in WEIGHT_SETS:
        if name in sets:
            continue
        if not prune and _usable(models_dir, old, name, weights_too=False):
            sets[name] = old["sets"][name]  # not asked for, but another process may serve it
        else:  # the folder says what it holds: nothing half-made or unasked stays
            shutil.rmtree(models_dir / name, ignore_errors=True)
    manifest = {
        "fingerprint": code_fingerprint(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "weights": weights,
        "sets": sets,
        "unavailable": unavailable,
    }
    tmp = models_dir / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, models_dir / MANIFEST_NAME)  # readers see the old manifest or the new one, never half
    return manifest
