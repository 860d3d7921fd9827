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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(models_dir):
    """`python app.py` on a free loopback port, as a user starts it; yields its URL."""
    import os
    import subprocess
    import time

    import requests

    port = _free_port()
    env = dict(os.environ, SRSPACE_WEIGHTS="bundled", GRADIO_ANALYTICS_ENABLED="False")
    log = open(ROOT / ".pytest_cache" / "app_server.log", "w") if (ROOT / ".pytest_cache").exists() else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("app.py did not start within 120 s")
        time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=20)
