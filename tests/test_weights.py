"""Weights: downloads against a real HTTP server on 127.0.0.1, checkpoint layouts, fallback."""
from __future__ import annotations

import hashlib
import io
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from srspace.models.networks import ESPCN, SRCNN
from srspace.models.weights import (Checkpoint, WeightsError, adapt_state_dict, download, load_checkpoint, load_weights,
                             official_gain_record, resolve, sha256_file)


def _mmedit_bytes(model: SRCNN) -> bytes:
    """An SRCNN checkpoint laid out as MMEditing saves it (no residual gain: theirs has none)."""
    obj = {
        "meta": {"mmedit_version": "0.x", "iter": 1000000},
        "state_dict": {f"generator.{k}": v for k, v in model.state_dict().items() if k != SRCNN.GAIN_KEY},
    }
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    routes: dict = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        kind, body = self.routes.get(self.path, ("missing", b""))
        if kind == "missing":
            self.send_error(404)
            return
        if kind == "stall":
            time.sleep(3)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "truncated":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the time-out test)


@pytest.fixture()
def server():
    _Handler.routes = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield _Handler.routes, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SRSPACE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _publish(routes, base, name_stem, body, kind="ok", prefix=None):
    prefix = prefix or hashlib.sha256(body).hexdigest()[:8]
    path = f"/ckpt/{name_stem}-{prefix}.pth"
    routes[path] = (kind, body)
    return base + path, prefix


def test_official_srcnn_checkpoint_downloads_and_adapts(server, cache):
    routes, base = server
    model = SRCNN(None)
    url, _ = _publish(routes, base, "srcnn_x4k915_1x16_1000k_div2k_20200608", _mmedit_bytes(model))
    weights = resolve("srcnn", "official", checkpoint=Checkpoint("srcnn", url), progress=False)
    assert weights.source == "official"
    assert weights.path.parent == cache and weights.path.name.endswith(".pth")
    assert set(weights.state_dict) == set(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(weights.state_dict[key], value)
    assert list(cache.glob("*.part")) == []


def test_official_espcn_flat_checkpoint(server, cache):
    routes, base = server
    model = ESPCN(3)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    url, _ = _publish(routes, base, "superres_epoch100", buf.getvalue())
    weights = resolve("espcn_x3", "official", checkpoint=Checkpoint("espcn_x3", url), progress=False)
    assert torch.equal(weights.state_dict["conv4.weight"], model.conv4.weight)


def test_404_is_final_and_leaves_nothing(server, tmp_path):
    _, base = server
    with pytest.raises(WeightsError, match="HTTP 404"):
        download(base + "/ckpt/absent-12345678.pth", tmp_path / "absent.pth", "12345678", retries=3, backoff=0, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_truncated_body_is_retried_then_reported(server, tmp_path):
    routes, base = server
    url, prefix = _publish(routes, base, "cut", b"x" * 200_000, kind="truncated")
    with pytest.raises(WeightsError, match="after 2 attempts"):
        download(url, tmp_path / "cut.pth", prefix, retries=2, backoff=0, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_wrong_hash_is_rejected_and_nothing_kept(server, tmp_path):
    routes, base = server
    url, _ = _publish(routes, base, "tampered", b"not the real checkpoint", prefix="deadbeef")
    with pytest.raises(WeightsError, match="does not start with deadbeef"):
        download(url, tmp_path / "tampered.pth", "deadbeef", backoff=0, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_stalled_server_times_out(server, tmp_path):
    routes, base = server
    url, prefix = _publish(routes, base, "slow", b"data", kind="stall")
    start = time.monotonic()
    with pytest.raises(WeightsError, match="(?i)timed? ?out"):
        download(url, tmp_path / "slow.pth", prefix, timeout=0.5, retries=2, backoff=0, progress=False)
    assert time.monotonic() - start < 6
    assert list(tmp_path.iterdir()) == []


def test_unreachable_official_weights_say_so_in_one_line(server, cache, monkeypatch):
    _, base = server
    monkeypatch.setenv("SRSPACE_MIRROR", base + "/nothing-here")
    with pytest.raises(WeightsError) as info:
        resolve("espcn_x3", "official", retries=1, progress=False)
    message = str(info.value)
    assert "\n" not in message and len(message) < 200 and "HTTP 404" in message and "superres_epoch100" in message


def test_unusable_cache_folder_is_a_clear_error(server, tmp_path, monkeypatch):
    _, base = server
    monkeypatch.setenv("SRSPACE_MIRROR", base + "/real")
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("SRSPACE_CACHE", str(tmp_path / "file" / "cache"))
    with pytest.raises(WeightsError, match="cache .* is unusable"):
        resolve("srcnn", "official", progress=False)


# --- the real official checkpoints (../shared/checkpoints), served on 127.0.0.1 --------------------

def _serve_real(routes, files):
    for path in files.values():
        routes[f"/real/{path.name}"] = ("ok", path.read_bytes())


def test_real_checkpoints_download_verify_and_load(server, cache, monkeypatch, official_files):
    routes, base = server
    _serve_real(routes, official_files)
    monkeypatch.setenv("SRSPACE_MIRROR", base + "/real")  # the real file names: their hash prefixes are checked
    srcnn = resolve("srcnn", "official", progress=False)
    espcn = resolve("espcn_x3", "official", progress=False)
    assert srcnn.sha256.startswith("4186f232") and espcn.sha256.startswith("44c6958e")
    # MMEditing's nested generator.* layout and PyTorch's flat one, both onto our networks
    raw = torch.load(official_files["srcnn"], map_location="cpu", weights_only=True)
    assert torch.equal(srcnn.state_dict["conv1.weight"], raw["state_dict"]["generator.conv1.weight"])
    flat = torch.load(official_files["espcn_x3"], map_location="cpu", weights_only=True)
    assert torch.equal(espcn.state_dict["conv4.weight"], flat["conv4.weight"])
    for w in (srcnn, espcn):  # cached for every user of the machine, nothing half-written left
        assert w.path.parent == cache and (w.path.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in cache.iterdir()) == sorted(p.name for p in official_files.values())


def test_official_srcnn_is_the_tutorial_network_at_x4_and_bicubic_at_small_factors(official_files):
    model = SRCNN(None)
    model.load_state_dict(load_weights(official_files["srcnn"], "srcnn"))
    fitted = official_gain_record()
    assert fitted["checkpoint_sha256"] == sha256_file(official_files["srcnn"])
    assert torch.equal(model.residual_gain, torch.tensor(fitted["residual_gain"]))
    x = torch.rand(1, 3, 12, 10)
    x4 = torch.tensor([1.0, 1.0, 4.0, 4.0])
    torch.testing.assert_close(model(x, x4), _plain_srcnn(model, model.upsample(x, x4)), rtol=0, atol=3e-6)
    for s in (1.0, 1.5):  # trained at x4 only: below ~x1.9 its correction is switched off entirely
        scales = torch.tensor([1.0, 1.0, s, s])
        torch.testing.assert_close(model(x, scales), model.upsample(x, scales), rtol=0, atol=0)


def _plain_srcnn(model: SRCNN, x: torch.Tensor) -> torch.Tensor:
    """MMEditing's SRCNNNet.forward after the upsample: three convolutions, nothing else."""
    return model.conv3(model.relu(model.conv2(model.relu(model.conv1(x)))))


def test_official_srcnn_layout_runs_as_mmediting_s_network():
    torch.manual_seed(0)
    official = {f"generator.{k}": v for k, v in SRCNN(3).state_dict().items() if k != SRCNN.GAIN_KEY}
    adapted = adapt_state_dict({"state_dict": official}, "srcnn")
    assert set(adapted) == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias",
                            SRCNN.GAIN_KEY}
    model = SRCNN(None)
    model.load_state_dict(adapted)
    x, factor = torch.rand(1, 3, 11, 13), torch.tensor([1.0, 1.0, 2.5, 2.5])
    torch.testing.assert_close(model(x, factor), _plain_srcnn(model, model.upsample(x, factor)), rtol=0, atol=3e-6)


def test_residual_gain_scales_the_correction_by_factor():
    torch.manual_seed(0)
    model = SRCNN(None)
    with torch.no_grad():
        model.residual_gain.copy_(torch.tensor([0.2, 0.5, 0.0]))  # g(s) = 0.2 + 0.5 ln s
    x = torch.rand(1, 3, 9, 9)
    for s in (1.5, 4.0):
        factor = torch.tensor([1.0, 1.0, s, s])
        up = model.upsample(x, factor)
        g = 0.2 + 0.5 * math.log(s)
        torch.testing.assert_close(model(x, factor), up + g * (_plain_srcnn(model, up) - up), rtol=0, atol=1e-6)
    fixed = SRCNN(3)  # the fixed-factor network evaluates its gain at its own factor
    fixed.load_state_dict(model.state_dict())
    y = torch.rand(1, 3, 5, 5)
    torch.testing.assert_close(fixed(y), model(y, torch.tensor([1.0, 1.0, 3.0, 3.0])), rtol=0, atol=1e-5)


def test_key_adaptation_rejects_a_foreign_checkpoint():
    flat = {f"generator.{k}": v for k, v in SRCNN(3).state_dict().items()}
    with pytest.raises(WeightsError, match="does not fit espcn"):
        adapt_state_dict({"state_dict": flat}, "espcn_x3")
    wrong = dict(ESPCN(2).state_dict())
    with pytest.raises(WeightsError, match="conv4.weight"):
        adapt_state_dict(wrong, "espcn_x3")


def test_unreadable_checkpoint_file_is_reported(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(path, "srcnn")
