"""The repository as a Hugging Face Space receives and builds it: binaries through LFS/Xet,
the CPU build of torch, a front matter the Hub accepts, weights kept across restarts, two
processes on one models/ folder, and the tracked files alone starting the app offline."""
from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import running_app
from srspace.web.site import front_matter
from srspace.models.weights import cache_dir

pytestmark = pytest.mark.slow  # venvs, package indexes on loopback, clones and a second app process

ROOT = Path(__file__).resolve().parent.parent
BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".pth", ".pt", ".ckpt",
                   ".onnx", ".wasm", ".bin", ".npy", ".npz", ".zip", ".gz"}
# The hardware a Space may suggest (the Spaces configuration reference).
HARDWARE = {"cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "l4x1", "l4x4", "a10g-small", "a10g-large",
            "a10g-largex2", "a10g-largex4", "a100-large", "h100", "h100x8"}


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def is_binary(name: str) -> bool:
    path = ROOT / name
    return path.suffix.lower() in BINARY_SUFFIXES or b"\0" in path.read_bytes()[:8192]


def test_every_binary_file_is_stored_through_lfs():
    binaries = [name for name in tracked_files() if is_binary(name)]
    assert len(binaries) >= 15  # examples, screenshots, bundled weights
    out = subprocess.run(["git", "check-attr", "filter", "--stdin"], cwd=ROOT, input="\n".join(binaries),
                         capture_output=True, text=True, check=True).stdout
    not_lfs = [line for line in out.splitlines() if not line.endswith(": filter: lfs")]
    assert not_lfs == [], "binary files the Hub would refuse: " + ", ".join(not_lfs)


def test_a_clone_without_git_lfs_gets_the_real_files(tmp_path):
    """The attributes change nothing for a git without git-lfs: people and CI keep real images and weights."""
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")  # no lfs filter configured
    subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(tmp_path / "clone")], env=env, check=True)
    for name in ("examples/coffee.png", "srspace/bundled/srcnn.pth"):
        committed = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=ROOT, capture_output=True, check=True).stdout
        assert (tmp_path / "clone" / name).read_bytes() == committed
    assert (tmp_path / "clone" / "examples/coffee.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_front_matter_is_one_the_hub_accepts():
    meta = front_matter(ROOT / "README.md")
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s#]+)", (ROOT / "requirements.txt").read_text(), re.M))
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == pins["gradio"]
    assert str(meta["python_version"]) == f"{sys.version_info.major}.{sys.version_info.minor}"  # the pins install here
    assert (ROOT / meta["app_file"]).is_file()
    assert 0 < len(meta["short_description"]) <= 60
    assert meta["suggested_hardware"] in HARDWARE
    assert meta["license"] == "mit" and meta["title"]


def test_packages_txt_names_debian_packages_that_exist():
    if not shutil.which("apt-cache"):
        pytest.skip("apt-cache not found: not a Debian machine")
    names = [line.strip() for line in (ROOT / "packages.txt").read_text().splitlines() if line.strip()]
    assert names
    for name in names:
        shown = subprocess.run(["apt-cache", "show", name], capture_output=True, text=True)
        if shown.returncode != 0 and "No packages found" not in shown.stderr + shown.stdout:
            pytest.skip(f"apt-cache has no package lists here ({shown.stderr.strip()[:80]}); run apt-get update")
        assert shown.returncode == 0 and f"Package: {name}" in shown.stdout, name


def test_the_weights_cache_persists_in_a_spaces_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SRSPACE_CACHE", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    assert cache_dir(data) == data / "srspace"  # a Space with persistent storage keeps the downloads
    assert cache_dir(tmp_path / "no-such-folder") == Path.home() / ".cache" / "srspace"
    monkeypatch.setenv("SRSPACE_CACHE", str(tmp_path / "mine"))
    assert cache_dir(data) == tmp_path / "mine"


def _wheel(folder: Path, name: str, version: str, build: str) -> None:
    """A minimal wheel of package `name` whose module says which build it is."""
    module, dist = name.replace("-", "_"), f"{name.replace('-', '_')}-{version}"
    files = {f"{module}/__init__.py": f"BUILD = {build!r}\n",
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{f},,\n" for f in files) + f"{dist}.dist-info/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as whl:
        for path, text in files.items():
            whl.writestr(path, text)


@pytest.fixture
def torch_indexes(tmp_path):
    """Two package indexes on 127.0.0.1, offline: a PyPI-like one with the plain build of a fake
    torch (as PyPI's Linux torch is the CUDA one) and a CPU index with its +cpu build; a venv; and
    this repository's pre-requirements.txt and requirements.txt with the fake package and the
    local CPU index in place of torch and PyTorch's. Yields (pip command, files folder, build())."""
    pre = (ROOT / "pre-requirements.txt").read_text()
    torch_pin = re.search(r"^torch==([^\s#]+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert re.search(rf"^torch=={re.escape(torch_pin)}\+cpu\b", pre, re.M), "pre-requirements.txt must pin the same torch, +cpu"
    index_url = re.search(r"^--extra-index-url (\S+)$", pre, re.M).group(1)
    assert index_url == "https://download.pytorch.org/whl/cpu"

    for index, version, build in (("pypi", "2.0.0", "cuda"), ("cpu", "2.0.0+cpu", "cpu")):
        _wheel(tmp_path / "web" / index / "simple" / "fake-torch", "fake-torch", version, build)
    for index in ("pypi", "cpu"):
        folder = tmp_path / "web" / index / "simple" / "fake-torch"
        links = "".join(f'<a href="{p.name}">{p.name}</a>' for p in folder.glob("*.whl"))
        (folder / "index.html").write_text(f"<html><body>{links}</body></html>")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "web"), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    files = tmp_path / "repo"
    files.mkdir()
    (files / "pre-requirements.txt").write_text(pre.replace(index_url, f"{base}/cpu/simple")
                                                .replace(f"torch=={torch_pin}+cpu", "fake-torch==2.0.0+cpu"))
    (files / "requirements.txt").write_text("fake-torch==2.0.0\n")  # as requirements.txt pins torch==2.13.0
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "env")], check=True)
    python = tmp_path / "env" / "bin" / "python"
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1")
    pip = [str(python), "-m", "pip", "install", "-q", "--index-url", f"{base}/pypi/simple"]

    def run(args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(pip + args, env=env, cwd=files, capture_output=True, text=True, timeout=120)

    def build() -> str:
        return subprocess.run([str(python), "-c", "import fake_torch; print(fake_torch.BUILD)"],
                              capture_output=True, text=True, check=True).stdout.strip()

    try:
        yield run, build
    finally:
        server.shutdown()


def test_pre_requirements_give_a_space_the_cpu_build_of_torch(torch_indexes):
    """As a Space installs: pre-requirements.txt, then requirements.txt, in two pip runs."""
    run, build = torch_indexes
    first = run(["-r", "pre-requirements.txt"])
    assert first.returncode == 0, first.stderr
    second = run(["-r", "requirements.txt"])
    assert second.returncode == 0, second.stderr
    assert build() == "cpu"  # requirements.txt's plain pin was already satisfied by the +cpu build
    again = run(["--force-reinstall", "-r", "requirements.txt"])
    assert again.returncode == 0 and build() == "cuda"  # without pre-requirements.txt: what PyPI gives


def test_the_readmes_install_command_gives_the_cpu_build_of_torch(torch_indexes):
    """The quickstart's own pip command, as the README writes it, run on this Linux x86_64 machine."""
    run, build = torch_indexes
    quickstart = re.search(r"^\s+(pip install [^\n&]+?)\s*&& python app.py$", (ROOT / "README.md").read_text(), re.M)
    assert quickstart, "the README's Run it section has no `pip install ... && python app.py` line"
    args = quickstart.group(1).split()[2:]
    assert args == ["-r", "pre-requirements.txt", "-r", "requirements.txt"], args
    result = run(args)
    assert result.returncode == 0, result.stderr
    assert build() == "cpu"
    # where PyPI's build is already the CPU one (macOS, Windows, Linux on ARM), the +cpu pin is left out
    marker = re.search(r"^torch==\S+\s*;\s*(.+)$", (ROOT / "pre-requirements.txt").read_text(), re.M).group(1)
    from packaging.markers import Marker

    for platform, machine, wanted in (("linux", "x86_64", True), ("win32", "AMD64", False),
                                      ("darwin", "arm64", False), ("linux", "aarch64", False)):
        environment = {"sys_platform": platform, "platform_machine": machine}
        assert Marker(marker).evaluate(environment) is wanted, (platform, machine)


def test_a_second_process_never_pulls_the_apps_models_away(app_server, models_dir, official_cache, tmp_path):
    """The app serves both sets; a batch run in another shell, where the official weights cannot be
    downloaded, re-exports: the app's official models stay, served and working."""
    from gradio_client import Client, handle_file

    from srspace.contract import EXAMPLES_DIR
    from srspace.models.manifest import read_manifest

    if official_cache is None:
        pytest.skip("needs the official checkpoints (../shared/checkpoints)")
    env = dict(os.environ, SRSPACE_CACHE=str(tmp_path / "empty-cache"), SRSPACE_MIRROR="http://127.0.0.1:9/",
               SRSPACE_WEIGHTS="auto")
    for weights in ("auto", "bundled"):
        env["SRSPACE_WEIGHTS"] = weights
        run = subprocess.run([sys.executable, "-m", "srspace", "upscale", str(EXAMPLES_DIR / "coffee.png"), "--out",
                              str(tmp_path / f"out-{weights}"), "--model", "espcn_x3", "--factor", "2"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        assert set(read_manifest(models_dir)["sets"]) == {"bundled", "official", "photo"}, run.stderr
    import requests

    onnx_url = f"{app_server}gradio_api/file={(models_dir / 'official' / 'espcn_x3.onnx').resolve()}"
    assert requests.get(onnx_url, timeout=10).status_code == 200
    client = Client(app_server, verbose=False)
    _, _, info = client.predict(handle_file(str(EXAMPLES_DIR / "coffee.png")), "espcn_x3", 2.0, "official",
                                api_name="/upscale")
    assert "official" in info


def test_the_tracked_files_alone_start_the_app_offline(tmp_path):
    """What a Space receives: exactly the git-tracked files, in an empty folder; the app exports its
    models there (bundled; no download host reachable) and upscales through gradio_client."""
    from gradio_client import Client, handle_file

    space = tmp_path / "space"
    for name in tracked_files():
        (space / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, space / name)
    env = dict(os.environ, SRSPACE_CACHE=str(tmp_path / "cache"), SRSPACE_MIRROR="http://127.0.0.1:9/",
               SRSPACE_TEMP=str(tmp_path / "temp"), GRADIO_ANALYTICS_ENABLED="False")
    for name in ("SRSPACE_WEIGHTS", "SRSPACE_MODELS"):  # the Space's own defaults: models/ inside it
        env.pop(name, None)
    with running_app(space, env, tmp_path / "app.log", timeout=300) as url:
        client = Client(url, verbose=False)
        path, _, info = client.predict(handle_file(str(space / "examples" / "astronaut_face.png")), "srcnn_dynamic",
                                       2.0, api_name="/upscale")
        assert Path(path).name == "astronaut_face_srcnn_dynamic_x2.png" and "200×220" in info
        assert "official weights are not available here" in (tmp_path / "app.log").read_text()
