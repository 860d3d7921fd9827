"""Inference backends with one interface: ``run(key, batch, factor) -> batch``.

Each engine is built once (sessions or modules keyed by model key) and holds no
per-request state, so one instance serves concurrent requests.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from ..cores import default_threads
from ..contract import FACTOR_NAME, INPUT_NAME, MODELS, OUTPUT_NAME, factor_tensor_value
from ..models.networks import build_network

PROVIDERS = ["CPUExecutionProvider"]


_ARENA_REGISTERED = False


def shared_arena() -> None:
    """One CPU memory arena for every session of the process, registered once.

    The arena makes ONNX Runtime fast (buffers are reused instead of allocated and faulted
    in each run: SRCNN's 1x1 conv 4x faster), but a per-session arena grows to each
    session's peak. One shared arena, extended by exactly what is requested, is bounded by
    the largest single run of any model, and ``OrtEngine.release`` returns its free regions
    when a request ends.
    """
    global _ARENA_REGISTERED
    if not _ARENA_REGISTERED:
        config = ort.OrtArenaCfg({"arena_extend_strategy": 1})  # kSameAsRequested
        ort.create_and_register_allocator(ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                                            ort.OrtMemType.DEFAULT), config)
        _ARENA_REGISTERED = True


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """ORT options for a server: full graph optimisation, the process's shared CPU arena,
    and no busy-spinning when idle."""
    shared_arena()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = True
    opts.enable_mem_pattern = False  # a pattern is planned per input shape: no gain for tiles, memory for each shape
    opts.add_session_config_entry("session.use_env_allocators", "1")
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


_SHRINK = ort.RunOptions()
_SHRINK.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")


class OrtEngine:
    """ONNX Runtime sessions for the exported models, created once."""

    name = "onnxruntime"

    def __init__(self, models_dir: Path, keys=None, threads: int | None = None):
        """Sessions for ``keys`` (default: every model whose file is in ``models_dir``: a set holds
        the models it has weights for)."""
        if keys is None:
            keys = tuple(key for key, spec in MODELS.items() if (Path(models_dir) / spec.filename).exists())
            if not keys:
                raise FileNotFoundError(f"no exported models in {models_dir}: run export_models.py")
        opts = session_options(threads)
        self.sessions = {
            key: ort.InferenceSession(str(Path(models_dir) / MODELS[key].filename), opts, providers=PROVIDERS)
            for key in keys
        }

    def __contains__(self, key: str) -> bool:
        return key in self.sessions

    def run(self, key: str, batch: np.ndarray, factor: float | None = None, shrink: bool = False) -> np.ndarray:
        """The model's output for ``batch``; ``shrink`` hands the arena's free regions back after the run."""
        feeds = {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}
        if MODELS[key].dynamic:
            feeds[FACTOR_NAME] = factor_tensor_value(factor)
        return self.sessions[key].run([OUTPUT_NAME], feeds, _SHRINK if shrink else None)[0]

    def release(self) -> None:
        """Return the shared arena's unused memory to the system (after a request): a tiny run
        with the shrink option, since ONNX Runtime shrinks its arena only at the end of a run."""
        key = next(iter(self.sessions))
        self.run(key, np.zeros((1, MODELS[key].channels, 8, 8), np.float32), 2.0, shrink=True)


class TorchEngine:
    """PyTorch eager modules for the same models."""

    name = "pytorch"

    def __init__(self, modules: dict[str, nn.Module]):
        self.modules = {key: module.eval() for key, module in modules.items()}

    @classmethod
    def from_state_dicts(cls, state_dicts: dict[str, dict], keys=None) -> "TorchEngine":
        """Build the modules of ``keys`` (default: every model whose weights are given) from state
        dicts per weights name ({"srcnn": ..., "espcn_x3": ...})."""
        keys = keys or tuple(key for key, spec in MODELS.items() if spec.weights_name in state_dicts)
        modules = {}
        for key in keys:
            spec = MODELS[key]
            module = build_network(spec.network, spec.fixed_factor)
            module.load_state_dict(state_dicts[spec.weights_name])
            modules[key] = module
        return cls(modules)

    def __contains__(self, key: str) -> bool:
        return key in self.modules

    def run(self, key: str, batch: np.ndarray, factor: float | None = None) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        with torch.inference_mode():
            if MODELS[key].dynamic:
                return self.modules[key](x, torch.from_numpy(factor_tensor_value(factor))).numpy()
            return self.modules[key](x).numpy()

    def release(self) -> None:
        """Nothing to give back: PyTorch frees each run's tensors as the run ends."""
