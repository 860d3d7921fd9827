"""Shared fixtures: the exported models (built once per run, offline, from the bundled weights)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from srspace.contract import MODELS_DIR  # noqa: E402
from srspace.export import export_all  # noqa: E402


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The project's models/, exported if missing or stale (bundled weights: tests are offline)."""
    export_all(MODELS_DIR, weights="bundled", log=lambda *_: None)
    return MODELS_DIR


@pytest.fixture(scope="session")
def ort_engine(models_dir):
    from srspace.engines import OrtEngine

    return OrtEngine(models_dir)


@pytest.fixture(scope="session")
def torch_engine():
    from srspace.engines import TorchEngine
    from srspace.weights import resolve

    return TorchEngine.from_state_dicts({n: resolve(n, "bundled").state_dict for n in ("srcnn", "espcn")})
