"""Inference backends with one interface: ``run(key, batch, factor) -> batch``.

Each engine is built once (sessions or modules keyed by model key) and holds no
per-request state, so one instance serves concurrent requests.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from .contract import FACTOR_NAME, INPUT_NAME, MODELS, OUTPUT_NAME, factor_tensor_value
from .networks import build_network

PROVIDERS = ["CPUExecutionProvider"]


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """ORT options for a server: full graph optimisation, no busy-spinning when idle,
    and no CPU arena or memory pattern, so memory does not grow with every new input shape."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


class OrtEngine:
    """ONNX Runtime sessions for the exported models, created once."""

    name = "onnxruntime"

    def __init__(self, models_dir: Path, keys=tuple(MODELS), threads: int | None = None):
        opts = session_options(threads)
        self.sessions = {
            key: ort.InferenceSession(str(Path(models_dir) / MODELS[key].filename), opts, providers=PROVIDERS)
            for key in keys
        }

    def run(self, key: str, batch: np.ndarray, factor: float | None = None) -> np.ndarray:
        feeds = {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}
        if MODELS[key].dynamic:
            feeds[FACTOR_NAME] = factor_tensor_value(factor)
        return self.sessions[key].run([OUTPUT_NAME], feeds)[0]


class TorchEngine:
    """PyTorch eager modules for the same models."""

    name = "pytorch"

    def __init__(self, modules: dict[str, nn.Module]):
        self.modules = {key: module.eval() for key, module in modules.items()}

    @classmethod
    def from_state_dicts(cls, state_dicts: dict[str, dict], keys=tuple(MODELS)) -> "TorchEngine":
        """Build the modules of ``keys`` from per-network state dicts ({"srcnn": ..., "espcn": ...})."""
        modules = {}
        for key in keys:
            spec = MODELS[key]
            module = build_network(spec.network, spec.fixed_factor)
            module.load_state_dict(state_dicts[spec.network])
            modules[key] = module
        return cls(modules)

    def run(self, key: str, batch: np.ndarray, factor: float | None = None) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        with torch.inference_mode():
            if MODELS[key].dynamic:
                return self.modules[key](x, torch.from_numpy(factor_tensor_value(factor))).numpy()
            return self.modules[key](x).numpy()
