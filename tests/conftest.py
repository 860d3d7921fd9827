"""Shared fixtures: the real official checkpoints (from ../shared), the exported models of both
weight sets (built once per run, offline), engines, and the app on a loopback port."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Nothing leaves loopback: Gradio's analytics off for the apps the tests build in this process, before
# Gradio is imported (the app subprocesses get it in their environment, which they inherit).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from srspace.contract import EXAMPLES_DIR, MODELS_DIR, WEIGHT_NAMES  # noqa: E402
from srspace.buildtime.export import export_all, stale_reason  # noqa: E402
from srspace.models.weights import OFFICIAL  # noqa: E402

# The official checkpoints, byte for byte, and the training images (see their READMEs); CI has
# ../shared beside the clone.
SHARED_CHECKPOINTS = ROOT.parent / "shared" / "checkpoints"
SHARED_DATA = ROOT.parent / "shared" / "data" / "train"


def need_shared(what: str, paths) -> None:
    """Skip where a ../shared path is absent, except in CI (SRSPACE_REQUIRE_SHARED), where it must be there."""
    if all(Path(p).exists() for p in paths):
        return
    reason = f"{what} needs {', '.join(str(p) for p in paths)}"
    if os.environ.get("SRSPACE_REQUIRE_SHARED"):
        pytest.fail(reason + "; SRSPACE_REQUIRE_SHARED is set, so these tests may not skip")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def official_files() -> dict[str, Path]:
    """Per network, the real official checkpoint file."""
    files = {net: SHARED_CHECKPOINTS / c.filename for net, c in OFFICIAL.items()}
    need_shared("this test", files.values())
    return files


@pytest.fixture(scope="session")
def held_out_images():
    """The held-out photographs of training (every 8th of ../shared/data/train), as RGB floats."""
    from srspace.quality.heldout import image_paths, load_rgb, split_holdout

    need_shared("this test", [SHARED_DATA])
    return [load_rgb(p) for p in split_holdout(image_paths(SHARED_DATA))[1]]


@pytest.fixture(scope="session")
def test_env():
    """The environment variables the suite sets for itself and the apps it starts, restored at its end."""
    with pytest.MonkeyPatch.context() as env:
        yield env


@pytest.fixture(scope="session")
def official_cache(tmp_path_factory, test_env) -> Path | None:
    """A download cache already holding the real official checkpoints (as after a first online
    start), set as $SRSPACE_CACHE for the run and the apps it starts; None without them."""
    cache = tmp_path_factory.mktemp("srspace-cache")
    test_env.setenv("SRSPACE_CACHE", str(cache))  # no test may reach the real download hosts
    if not all((SHARED_CHECKPOINTS / c.filename).exists() for c in OFFICIAL.values()):
        if os.environ.get("SRSPACE_REQUIRE_SHARED"):
            pytest.fail(f"the official checkpoints are missing from {SHARED_CHECKPOINTS}")
        return None
    for c in OFFICIAL.values():
        shutil.copy(SHARED_CHECKPOINTS / c.filename, cache / c.filename)
    return cache


@pytest.fixture(scope="session")
def models_dir(official_cache, tmp_path_factory, test_env) -> Path:
    """Both weight sets exported (only the bundled one without ../shared) into a folder of the
    run's own, set as $SRSPACE_MODELS for the commands and apps the tests start; offline: the
    official checkpoints come from the filled cache. The project's models/ is only read: when
    it is up to date it is copied (and checked again by the export), saving the export's minute."""
    weights = "auto" if official_cache else "bundled"
    folder = tmp_path_factory.mktemp("models")
    if stale_reason(MODELS_DIR, weights) is None:
        shutil.copytree(MODELS_DIR, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".export.lock", "*.tmp", "*.svg"))
    export_all(folder, weights=weights, log=lambda *_: None)
    test_env.setenv("SRSPACE_MODELS", str(folder))
    return folder


@pytest.fixture(scope="session")
def ort_engine(models_dir):
    """ONNX Runtime on the bundled set's models."""
    from srspace.runtime.engines import OrtEngine

    return OrtEngine(models_dir / "bundled")


@pytest.fixture(scope="session")
def torch_engine():
    from srspace.runtime.engines import TorchEngine
    from srspace.models.weights import resolve

    return TorchEngine.from_state_dicts({n: resolve(n, "bundled").state_dict for n in WEIGHT_NAMES})


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(folder: Path, env: dict, log_path: Path, args=(), timeout: float = 120, port: int | None = None):
    """`python app.py` in ``folder`` on ``port`` (a free loopback one by default), as a user starts
    it, until the page answers; yields its URL and stops it at the end. Output goes to ``log_path``."""
    import subprocess
    import time

    import requests

    port = port or _free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), *args],
                                cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"app.py exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
                try:
                    if requests.get(url, timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"app.py did not start within {timeout:g} s")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


APP_HEADER_TIMEOUT_S = 8  # the test app's deadline for a request head: past uvicorn's 5 s keep-alive, so
# pooled idle connections are closed by uvicorn as usual, not by the deadline
APP_URL_DEADLINE_S = 4  # the test app's deadline for a whole image download (tests/test_downloads.py's loopback host)


@pytest.fixture(scope="session")
def loopback_tls(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), as (certificate, key): the app under test
    trusts it alone (SSL_CERT_FILE), so its downloads are tested over real HTTPS on loopback."""
    import subprocess

    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="session")
def app_server(models_dir, official_cache, tmp_path_factory, loopback_tls):
    """`python app.py --mcp` on a free loopback port, as a user starts it; yields its URL, a str
    whose ``log`` is the server's output file and ``temp`` its own temp folder."""
    port = _free_port()
    temp_root = tmp_path_factory.mktemp("srspace-temp")
    leftover = temp_root / str(port) / "leftover-from-an-earlier-run.png"
    leftover.parent.mkdir()
    leftover.write_bytes(b"old")
    log_path = tmp_path_factory.mktemp("app-log") / "app.log"
    env = dict(os.environ, SRSPACE_WEIGHTS="auto" if official_cache else "bundled", GRADIO_ANALYTICS_ENABLED="False",
               SRSPACE_TEMP=str(temp_root), SRSPACE_HEADER_TIMEOUT_S=str(APP_HEADER_TIMEOUT_S),
               SRSPACE_URL_PRIVATE_HOSTS="127.0.0.1", SRSPACE_URL_DEADLINE_S=str(APP_URL_DEADLINE_S),
               SSL_CERT_FILE=str(loopback_tls[0]))  # the app trusts the loopback HTTPS host of tests/test_downloads.py
    with running_app(ROOT, env, log_path, ["--mcp"], port=port) as url:
        served = Served(url)
        served.log, served.temp, served.leftover = log_path, temp_root / str(port), leftover
        yield served


class Served(str):
    """The app's URL, with where its log and temp folder are."""


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def need_browser_part(reason: str) -> None:
    """Skip for a missing browser part, except in CI (SRSPACE_REQUIRE_BROWSER), where it fails."""
    if os.environ.get("SRSPACE_REQUIRE_BROWSER"):
        pytest.fail(reason + "; SRSPACE_REQUIRE_BROWSER is set, so browser tests may not skip")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, driven by Playwright; per module, so that Playwright's event loop
    is gone before another module's test runs one of its own (asyncio.run)."""
    if not os.path.exists(CHROMIUM):
        need_browser_part(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def ort_web():
    """onnxruntime-web's pinned files, installed by npm ci."""
    from srspace.web.ort import SiteError, check_dist

    try:
        check_dist()
    except SiteError as exc:
        need_browser_part(str(exc))


# Markers: `python -m pytest -m "not slow"` runs the fast subset (pure functions, the pipeline,
# the export's checks on the exported models) in well under a minute; CI runs everything.
# A test is slow by what it uses: these fixtures (a browser, a running app, the photographs measured
# through every model), or its module's or its own `pytest.mark.slow`, which says why.
SLOW_FIXTURES = {"browser": "browser", "app_server": "server", "site": "browser", "held_out_images": None}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Chromium (Playwright)")
    config.addinivalue_line("markers", "server: starts the app on a loopback port")
    config.addinivalue_line("markers", "slow: takes seconds to minutes (browser, server, exports, sweeps, Ray)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = [fixture for fixture in SLOW_FIXTURES if fixture in item.fixturenames]
        for kind in {SLOW_FIXTURES[fixture] for fixture in used} - {None}:
            item.add_marker(getattr(pytest.mark, kind))
        if used:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def upscaler(models_dir):
    """The app's models, loaded as the app loads them (every exported set)."""
    from srspace.service.upscaler import Upscaler

    return Upscaler(models_dir)


@pytest.fixture
def odd_jpegs(tmp_path):
    """Hand-made JPEGs of the kinds a quality estimate or a decoder can trip on, each of the same
    photograph at quality 60: baseline, progressive, CMYK, truncated half-way, and one whose tables
    are numbered 2 and 3 (valid JPEG, but no table 0: the luminance table the estimate reads)."""
    from PIL import Image

    rgb = Image.open(EXAMPLES_DIR / "coffee.png").convert("RGB")
    paths = {name: tmp_path / f"{name}.jpg" for name in ("baseline", "progressive", "cmyk", "truncated", "no_luma_table")}
    rgb.save(paths["baseline"], quality=60)
    rgb.save(paths["progressive"], quality=60, progressive=True)
    rgb.convert("CMYK").save(paths["cmyk"], quality=60)
    data = paths["baseline"].read_bytes()
    paths["truncated"].write_bytes(data[: len(data) // 2])
    out, pos = bytearray(data[:2]), 2
    while pos < len(data):  # renumber the tables in DQT and the frame header's components
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment = bytearray(data[pos : pos + 2 + length])
        if marker == 0xDB:
            for i in range(4, len(segment), 65):
                segment[i] += 2
        elif marker == 0xC0:
            for i in range(10, len(segment), 3):
                segment[i + 2] += 2
        out += segment
        pos += 2 + length
        if marker == 0xDA:
            out += data[pos:]
            break
    paths["no_luma_table"].write_bytes(bytes(out))
    return paths
