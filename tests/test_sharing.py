"""The Space shared by strangers, tested on the real app on 127.0.0.1: bad arguments get messages,
small requests pass large ones, a cancelled job stops, uploads are bounded, the app keeps its own
temp folder, and every request leaves one log line."""
from __future__ import annotations

import json
import platform
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srspace.buildtime.export import stale_reason
from srspace.imaging.decoding import load_image, peek_size
from srspace.errors import ImageInputError
from srspace.serving.admission import Lanes

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402


def _photo(path: Path, width: int, height: int) -> Path:
    rng = np.random.default_rng(width * height)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server, verbose=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return _photo(tmp_path_factory.mktemp("small") / "small.png", 60, 50)


def _message(exc: BaseException) -> str:
    return str(exc)


@pytest.mark.parametrize("factor", ["abc", None, [2], True, "1e999", 7])
def test_every_bad_factor_gets_a_message_through_the_api(client, small, factor):
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(small)), "srcnn_dynamic", factor, api_name="/upscale")
    text = _message(err.value)
    assert "factor must be" in text, text
    assert "verbose error reporting" not in text


def test_a_huge_model_name_is_cut_short_in_the_message_and_the_log(client, small, app_server):
    name = "x" * 200_000
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(small)), name, 2.0, api_name="/upscale")
    text = _message(err.value)
    assert "Unknown model" in text and len(text) < 1000
    assert _wait_for(lambda: "refused: Unknown model" in app_server.log.read_text(), 10)  # its line, once written
    assert "x" * 100 not in app_server.log.read_text()


def test_one_log_line_per_request_and_no_traceback_for_user_errors(client, small, app_server):
    before = app_server.log.read_text().count("\n")
    client.predict(handle_file(str(small)), "srcnn_dynamic", 2.0, api_name="/upscale")
    with pytest.raises(Exception):
        client.predict(handle_file(str(small)), "srcnn_dynamic", 9.0, api_name="/upscale")
    def upscale_lines() -> list[str]:
        return [line for line in app_server.log.read_text().splitlines()[before:] if " upscale " in line]

    assert _wait_for(lambda: len(upscale_lines()) >= 2, 10)  # both lines, once written
    new = app_server.log.read_text().splitlines()[before:]
    upscales = upscale_lines()
    assert len(upscales) == 2, new
    assert "size=60x50->120x100" in upscales[0] and upscales[0].endswith("ok")
    assert "refused: The factor must be between 1 and 4" in upscales[1]
    assert not any("Traceback" in line for line in new)


def test_the_app_keeps_its_uploads_in_its_own_temp_folder_cleaned_at_start(client, small, app_server):
    assert not app_server.leftover.exists()  # an earlier run's file on this port is gone
    result = client.predict(handle_file(str(small)), "bicubic", 2.0, api_name="/upscale")
    assert Path(result[0]).name.startswith("small_bicubic_x2")
    assert any(app_server.temp.rglob("small*.png")), "uploads and results go to the app's own folder"


def test_uploads_over_the_limit_are_refused_with_a_message(app_server, tmp_path):
    import requests

    big = tmp_path / "huge.png"
    with open(big, "wb") as fh:
        fh.truncate(101 * 1024 * 1024)
    with open(big, "rb") as fh:
        response = requests.post(f"{app_server}gradio_api/upload", files={"files": ("huge.png", fh)}, timeout=60)
    assert response.status_code == 413
    assert "maximum allowed size of 104857600 bytes" in response.text  # Gradio says it, in the UI too


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_small_requests_pass_a_large_job_and_a_cancelled_job_stops_within_a_tile(app_server, small, tmp_path):
    big = _photo(tmp_path / "big.png", 2400, 1600)  # x2.5: a 6000x4000 result, many tiles
    large = Client(app_server, verbose=False).submit(handle_file(str(big)), "srcnn_dynamic", 2.5, api_name="/upscale")
    assert _wait_for(lambda: "network" in str(large.status().progress_data or ""), 60), "the large job never started"
    start = time.perf_counter()
    Client(app_server, verbose=False).predict(handle_file(str(small)), "srcnn_dynamic", 2.0, api_name="/upscale")
    assert time.perf_counter() - start < 15 and not large.done(), "the small request waited for the large one"

    large.cancel()
    stopped = lambda: "size=2400x1600->6000x4000" in app_server.log.read_text()  # noqa: E731
    assert _wait_for(stopped, 20), "the cancelled job went on"
    line = next(l for l in app_server.log.read_text().splitlines() if "size=2400x1600->6000x4000" in l)
    assert line.endswith("cancelled"), line
    # its lane is free again: a second large job starts at once
    again = Client(app_server, verbose=False).submit(handle_file(str(big)), "srcnn_dynamic", 2.5, api_name="/upscale")
    assert _wait_for(lambda: "network" in str(again.status().progress_data or ""), 30)
    again.cancel()


class Visitor:
    """Another visitor to the app: every connection from ``address`` (127.0.0.x), speaking Gradio's
    queue protocol as the page does (upload, join, listen, cancel)."""

    def __init__(self, app_server: str, address: str):
        import uuid

        import httpx

        self.url, self.session = app_server, uuid.uuid4().hex[:10]
        self.http = httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)
        config = self.http.get(f"{app_server}config").json()
        self.fn_index = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "upscale")
        self.messages: list[dict] = []

    def submit(self, path: Path, *args) -> str:
        with open(path, "rb") as fh:
            [uploaded] = self.http.post(f"{self.url}gradio_api/upload", files={"files": (path.name, fh)}).json()
        body = {"data": [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}, *args], "fn_index": self.fn_index,
                "session_hash": self.session, "event_data": None, "trigger_id": None}
        self.event = self.http.post(f"{self.url}gradio_api/queue/join", json=body).json()["event_id"]
        threading.Thread(target=self._listen, daemon=True).start()
        return self.event

    def _listen(self) -> None:
        import httpx

        try:
            with self.http.stream("GET", f"{self.url}gradio_api/queue/data", params={"session_hash": self.session},
                                  timeout=None) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        self.messages.append(json.loads(line[5:]))
        except httpx.RemoteProtocolError:
            self.messages.append({"msg": "stream closed by the app"})  # as a page sees it after a cancel

    def cancel(self) -> None:
        self.http.post(f"{self.url}gradio_api/cancel",
                       json={"session_hash": self.session, "fn_index": self.fn_index, "event_id": self.event})


def test_a_job_cancelled_while_it_waits_for_a_lane_never_starts(app_server, tmp_path):
    big = _photo(tmp_path / "big.png", 2400, 1600)  # x2.5: a 6000x4000 result, the large lane's one place
    other = _photo(tmp_path / "other.png", 2000, 1600)  # another visitor's large job: it waits
    visitor = Visitor(app_server, "127.0.0.2")
    running = Client(app_server, verbose=False).submit(handle_file(str(big)), "srcnn_dynamic", 2.5, api_name="/upscale")
    assert _wait_for(lambda: "network" in str(running.status().progress_data or ""), 60), "the first job never started"
    visitor.submit(other, "srcnn_dynamic", 2.5, "best")
    waits = lambda: any("Waiting for the large-image lane" in json.dumps(m) for m in visitor.messages)  # noqa: E731
    assert _wait_for(waits, 30), "\n".join(json.dumps(m)[:400] for m in visitor.messages)
    visitor.cancel()
    line = lambda: next((l for l in app_server.log.read_text().splitlines() if "size=2000x1600->5000x4000" in l), "")  # noqa: E731
    assert _wait_for(lambda: line().endswith("cancelled"), 5), line()  # within its half-second wait, never run
    assert not running.done()  # still running: the waiting job never took its place
    running.cancel()


@pytest.mark.parametrize("api_name,args", [("/compare", ("srcnn_x3", 1.0)), ("/check_quality", (2.0,))])
def test_compare_and_quality_check_stop_when_cancelled(app_server, tmp_path, api_name, args):
    """Both run for a minute or more on a 4 MP image; cancelled, each stops within a tile."""
    photo = _photo(tmp_path / "big.png", 2000, 2000)
    endpoint = api_name.strip("/")

    def cancelled() -> int:
        return sum(1 for line in app_server.log.read_text().splitlines()
                   if f" {endpoint} " in line and line.endswith("cancelled"))

    before = cancelled()
    job = Client(app_server, verbose=False).submit(handle_file(str(photo)), *args, api_name=api_name)
    word = "runs" if endpoint == "compare" else "methods"
    assert _wait_for(lambda: word in str(job.status().progress_data or ""), 60), "the job never started"
    job.cancel()
    assert _wait_for(lambda: cancelled() > before, 20), "the cancelled job went on"


def test_every_response_says_nosniff(app_server, models_dir):
    import requests

    onnx = (models_dir / "bundled" / "espcn_x3.onnx").resolve()
    for url in (app_server, f"{app_server}gradio_api/info", f"{app_server}gradio_api/file={onnx}"):
        response = requests.get(url, timeout=10)
        assert response.status_code == 200 and response.headers["x-content-type-options"] == "nosniff", url


def _closed_within(sock, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (reading what it sends meanwhile)."""
    import socket

    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except ConnectionError:
            return True
    return False


def test_a_connection_without_a_whole_request_head_is_closed_and_slow_bodies_are_not():
    """uvicorn with the app's protocol, a 1 s deadline: silent and trickling connections are closed;
    a request whose head came in time keeps its connection for a slow body."""
    import socket

    import uvicorn

    from conftest import _free_port
    from srspace.serving.http import HeaderDeadline

    class Quick(HeaderDeadline):
        deadline_s = 1.0

    async def app(scope, receive, send):  # answers with the length of the body it read
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=Quick, lifespan="off",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    opened = []

    def connect() -> socket.socket:
        opened.append(socket.create_connection(("127.0.0.1", port), timeout=5))  # a server that hangs fails the test
        return opened[-1]

    try:
        assert _wait_for(lambda: server.started, 10)
        silent = [connect() for _ in range(20)]
        trickle = connect()
        trickle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        slow_body = connect()
        slow_body.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\n")
        for _ in range(8):  # 8 bytes over 2.4 s: the head came in time, the body is slow but arrives
            time.sleep(0.3)
            slow_body.sendall(b"x")
            try:
                trickle.sendall(b"X-Slow: 1\r\n")  # a header line now and then, never the end of the head
            except OSError:
                pass
        assert all(_closed_within(s, 0.5) for s in [trickle, *silent])
        answer = b""
        while chunk := slow_body.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"8")
        prompt = connect()  # a whole request at once: answered
        prompt.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert prompt.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for sock in opened:
            sock.close()
        server.should_exit = True
        thread.join(10)


@pytest.mark.slow  # waits out the app's deadline
def test_the_app_closes_half_open_connections_and_still_answers(app_server):
    import socket
    from urllib.parse import urlparse

    import requests

    from conftest import APP_HEADER_TIMEOUT_S

    address = urlparse(app_server).hostname, urlparse(app_server).port
    start = time.monotonic()
    half_open = [socket.create_connection(address) for _ in range(200)]
    try:
        for sock in half_open[::2]:
            sock.sendall(b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\n")  # half the heads begun, none ended
        assert all(_closed_within(s, APP_HEADER_TIMEOUT_S + 10) for s in half_open)
        assert APP_HEADER_TIMEOUT_S - 1 < time.monotonic() - start < APP_HEADER_TIMEOUT_S + 10
        assert requests.get(app_server, timeout=10).status_code == 200
    finally:
        for sock in half_open:
            sock.close()


def test_lanes_admit_in_order_and_report_honest_positions():
    lanes = Lanes(small_pixels=100, slots={"small": 2, "large": 1})
    holder = lanes.ticket(10_000)
    first = holder.__enter__()
    with lanes.ticket(10_000) as second, lanes.ticket(50) as tiny:
        assert first.wait(0) and tiny.wait(0)  # the small lane is not behind the large one
        assert not second.wait(0.05) and second.ahead == 1
        done = threading.Event()
        threading.Thread(target=lambda: second.wait(5) and done.set()).start()
        assert not done.wait(0.2)
        holder.__exit__(None, None, None)  # the first job ends (or is cancelled): the second goes in
        assert done.wait(5) and second.ahead == 0


def test_a_flood_of_large_requests_is_refused_with_a_time_and_small_ones_still_pass():
    """40 clients ask for a large result at once: the running one and LARGE_WAITING more get a
    place, every other is refused at once with when to try again; a small request runs at once."""
    from contextlib import ExitStack

    from srspace.contract import LARGE_WAITING
    from srspace.serving.admission import Busy

    lanes = Lanes(small_pixels=100, slots={"small": 2, "large": 1})
    placed, refused, lock = [], [], threading.Lock()
    with ExitStack() as held:
        def flood(i: int) -> None:
            try:
                ticket = held.enter_context(lanes.ticket(10_000_000, client=f"10.0.0.{i}"))
            except Busy as exc:
                with lock:
                    refused.append(str(exc))
                return
            with lock:
                placed.append(ticket)

        threads = [threading.Thread(target=flood, args=(i,)) for i in range(40)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert time.perf_counter() - start < 2  # refused at once, not after waiting
        assert len(placed) == 1 + LARGE_WAITING and len(refused) == 40 - len(placed)
        assert all("busy" in text and "try again in about" in text for text in refused), refused[0]
        with lanes.ticket(50, client="10.0.0.99") as tiny:
            assert tiny.wait(0.1)  # the small lane does not wait behind any of it


def test_one_small_request_runs_beside_a_large_one_two_otherwise():
    """Memory: one small request beside the largest job keeps the server well under 2 GB (two small
    ones and a large one passed it, 2.4 GB, with the 768-pixel tiles of the time)."""
    lanes = Lanes(small_pixels=100, slots={"small": 2, "large": 1})
    with lanes.ticket(10_000) as large, lanes.ticket(50) as first, lanes.ticket(50) as second:
        assert first.wait(0) and not large.admitted  # no large job running yet: two small ones may run
        assert second.wait(0)
    with lanes.ticket(10_000) as large:
        assert large.wait(0)
        with lanes.ticket(50) as first, lanes.ticket(50) as second:
            assert first.wait(0) and not second.wait(0.05)  # beside a large job: one at a time
            assert second.waiting_ahead == 1  # what its waiting line says: the one small request running
    with lanes.ticket(50) as first, lanes.ticket(50) as second:
        assert first.wait(0) and second.wait(0)  # the large job ended: two again


def test_one_client_has_one_large_request_at_a_time():
    from srspace.serving.admission import Busy

    lanes = Lanes(small_pixels=100)
    with lanes.ticket(5_000_000, client="10.0.0.1") as mine:
        assert mine.wait(0)
        with pytest.raises(Busy, match="already have a large image in progress.*try again in about"):
            with lanes.ticket(5_000_000, client="10.0.0.1"):
                pass
        with lanes.ticket(5_000_000, client="10.0.0.2") as theirs:  # another client waits its turn
            assert not theirs.wait(0) and theirs.ahead == 1
        with lanes.ticket(50, client="10.0.0.1") as small:  # small work is never held back
            assert small.wait(0)


def test_one_visitors_flood_of_small_requests_is_refused_and_another_visitor_goes_on():
    """One visitor has at most SMALL_PER_CLIENT small requests running or waiting: the rest of a
    flood is refused at once, and another visitor's request waits only for a running one."""
    from contextlib import ExitStack

    from srspace.contract import SMALL_PER_CLIENT
    from srspace.serving.admission import Busy

    lanes = Lanes(small_pixels=100, slots={"small": 2, "large": 1})
    with ExitStack() as held:
        mine = [held.enter_context(lanes.ticket(50, client="10.0.0.1")) for _ in range(SMALL_PER_CLIENT)]
        start = time.perf_counter()
        for _ in range(200):
            with pytest.raises(Busy, match=f"at most {SMALL_PER_CLIENT} at a time"):
                held.enter_context(lanes.ticket(50, client="10.0.0.1"))
        assert time.perf_counter() - start < 1  # refused at once
        with lanes.ticket(50, client="10.0.0.2") as theirs:
            assert theirs.ahead == SMALL_PER_CLIENT  # behind the flooder's running ones only, not 200
            assert all(t.wait(0) for t in mine[:2])
    with lanes.ticket(50, client="10.0.0.1") as again:  # its requests ended: it may ask again
        assert again.wait(0)


def test_forwarded_addresses_count_only_from_trusted_proxies():
    from srspace.serving.http import Proxies, client_address, trusted_proxies

    local = trusted_proxies({})
    assert local == Proxies() and client_address("6.6.6.6", "127.0.0.5", local) == "127.0.0.5"  # forged: ignored
    space = trusted_proxies({"SPACE_ID": "someone/space"})  # every connection is the Space's proxy
    assert client_address("6.6.6.6, 203.0.113.7", "10.1.2.3", space) == "203.0.113.7"  # what the proxy appended
    assert client_address(None, "10.1.2.3", space) == "10.1.2.3"
    listed = trusted_proxies({"SRSPACE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1", "SPACE_ID": "x"})
    assert client_address("6.6.6.6, 203.0.113.7, 192.0.2.1", "10.9.9.9", listed) == "203.0.113.7"  # past both proxies
    assert client_address("6.6.6.6", "127.0.0.1", listed) == "127.0.0.1"  # a peer that is no trusted proxy
    assert trusted_proxies({"SRSPACE_TRUSTED_PROXIES": "none", "SPACE_ID": "x"}) == Proxies()
    with pytest.raises(SystemExit, match="10.0.0.0/8"):
        trusted_proxies({"SRSPACE_TRUSTED_PROXIES": "proxy.example"})


def test_the_time_to_try_again_follows_the_measured_rate():
    lanes = Lanes(small_pixels=100, slots={"small": 2, "large": 1}, large_waiting=0, seconds_per_mp=0.1)
    with lanes.ticket(20_000_000) as running:
        assert running.wait(0)
        with pytest.raises(Exception, match="try again in about 5 s"):  # 20 MP at 0.1 s/MP, at least 5 s
            with lanes.ticket(20_000_000):
                pass
        lanes.seconds_per_mp = 3.0  # as if the requests before had run slowly
        with pytest.raises(Exception, match="try again in about 60 s"):
            with lanes.ticket(20_000_000):
                pass


def test_size_is_checked_from_the_header_before_decoding(upscaler, tmp_path):
    # a 6300x6300 PNG whose pixel data is cut off: refused for its size, so never decoded
    full = tmp_path / "full.png"
    Image.new("RGB", (6300, 6300)).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:2000])
    assert peek_size(cut) == (6300, 6300)
    with pytest.raises(ImageInputError, match="over the 25 MP limit"):
        upscaler.job(cut, "bicubic", 1.0)
    with pytest.raises(ImageInputError, match="damaged or truncated"):
        load_image(cut)  # decoding it is what would have failed


@pytest.mark.parametrize("damage", [
    "[]", '{"sets": []}', '{"sets": {"bundled": []}}', '{"sets": {"bundled": {"srcnn_x3": {}}}}', "not json", '"text"',
])
def test_a_damaged_manifest_of_any_shape_is_a_reason_to_rebuild_not_a_crash(tmp_path, damage):
    (tmp_path / "manifest.json").write_text(damage)
    reason = stale_reason(tmp_path, "bundled")
    assert isinstance(reason, str) and reason


def test_a_damaged_model_file_is_a_reason_to_rebuild(models_dir, tmp_path):
    import shutil

    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    weights = manifest["weights"]
    assert stale_reason(copy, weights) is None
    target = copy / "bundled" / "srcnn_x3.onnx"
    target.write_bytes(target.read_bytes()[:100])
    assert "does not match its manifest" in stale_reason(copy, weights)
    target.unlink()
    assert "missing" in stale_reason(copy, weights)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise KeyError("VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's heap: malloc_trim")
def test_the_c_heap_is_limited_to_two_arenas_on_glibc():
    from srspace.serving.heap import limit_heap_arenas

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert limit_heap_arenas() is True


def test_a_request_gives_its_heap_back_when_it_ends():
    # a request's work leaves the C heap full of free pages pinned by a few live blocks (here:
    # 2 KB blocks, past Python's own allocator, one in 500 kept); its end hands them back
    def work(kept: list) -> None:
        blocks = [bytes(2048) for _ in range(150_000)]  # about 300 MB
        kept.extend(blocks[::500])

    kept: list = []
    with Lanes().ticket(1000):
        worker = threading.Thread(target=work, args=(kept,))  # on a thread of its own, as Gradio runs handlers
        worker.start()
        worker.join()
        held = _rss_mb()
    assert held - _rss_mb() > 150


def _fill(folder: Path, name: str, size: int, age: float) -> Path:
    import os

    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_the_temp_folder_is_cut_back_to_its_cap_oldest_first_and_young_files_stay(tmp_path):
    from srspace.serving.tempfolder import TempFolder

    bound = TempFolder(tmp_path, cap=3_000, lifetime=3600, grace=60)
    old = [_fill(tmp_path, f"{'abc'[i]}/upload.png", 1000, age=1000 - i) for i in range(3)]  # oldest first
    orphan = _fill(tmp_path, "tmpx1y2z3", 1000, age=1001)  # an aborted upload's temp file, the oldest
    young = _fill(tmp_path, "d/result.png", 1000, age=5)  # a request is working with it
    result = bound.sweep()
    assert result.left <= 3_000 and young.exists() and old[2].exists() and old[1].exists()
    assert not orphan.exists() and not old[0].exists()
    fresh = tmp_path / "results" / "f00d"
    fresh.mkdir(parents=True)  # a request's folder, made a moment ago, its files not written yet
    bound.sweep()
    assert fresh.is_dir() and (tmp_path / "a").is_dir()  # emptied just now: it stays a while
    bound.sweep(now=time.time() + 61)
    assert not (tmp_path / "a").exists() and not fresh.exists() and young.exists()  # empty and old: gone
    assert bound.admit(1).full and bound.used == result.left  # at the cap: the next upload is refused


def test_one_client_uploads_at_most_its_share_and_others_still_can(tmp_path):
    from srspace.serving.tempfolder import TempFolder

    bound = TempFolder(tmp_path, cap=4_000, lifetime=1800, grace=60)  # a client's share: 1000 bytes per 1800 s
    assert not bound.admit(1500, "10.0.0.9", now=0).full  # a first upload larger than the share: refused too
    assert bound.admit(600, "10.0.0.1", now=0) is None
    refused = bound.admit(500, "10.0.0.1", now=100)
    assert refused is not None and not refused.full and refused.retry_s == 1700  # when its first upload expires
    assert bound.admit(500, "10.0.0.2", now=100) is None and bound.admit(500, None, now=100) is None  # others go on
    assert bound.admit(500, "10.0.0.1", now=1801) is None  # its first upload has expired
    full = bound.admit(3_000, "10.0.0.3", now=1801)
    assert full is not None and full.full  # the folder's own cap comes first
    bound.sweep(now=10_000)  # clients whose uploads have all expired are forgotten
    assert bound.admit(900, "10.0.0.1", now=10_000) is None


def test_a_full_folder_makes_room_from_the_visitor_holding_the_most(tmp_path):
    from srspace.serving.tempfolder import TempFolder

    bound = TempFolder(tmp_path, cap=4_000, lifetime=1800, grace=60)  # the lower mark for uploads: 3000 bytes
    heavy = [_fill(tmp_path, f"h{i}/up.png", 500, age=300 - i) for i in range(4)]  # 2000 bytes, one visitor
    light = _fill(tmp_path, "l/up.png", 500, age=400)  # another visitor's, the oldest file
    result = _fill(tmp_path, "r/result.png", 800, age=500)  # a result: nobody's upload
    fresh = _fill(tmp_path, "h9/up.png", 500, age=5)  # the heavy visitor's newest, within the grace
    bound.own(heavy + [fresh], "10.0.0.1")
    bound.own([light], "10.0.0.2")
    assert bound.sweep().left <= 3_000  # 3800 in all: under the cap, over the lower mark
    assert light.exists() and result.exists() and fresh.exists()  # the others' files, and a young one, stay
    assert [p.exists() for p in heavy] == [False, False, True, True]  # the heavy visitor's oldest went
    assert bound.admit(900, "10.0.0.3") is None  # a newcomer has room at once


def test_files_past_their_lifetime_go_whatever_the_cap(tmp_path):
    from srspace.serving.tempfolder import TempFolder

    expired = _fill(tmp_path, "r/old.png", 10, age=2000)
    fresh = _fill(tmp_path, "r/new.png", 10, age=100)
    assert TempFolder(tmp_path, cap=10**9, lifetime=1800, grace=60).sweep().removed == 1
    assert not expired.exists() and fresh.exists()


@pytest.mark.server
@pytest.mark.slow  # starts an app of its own
def test_a_flood_of_uploads_is_refused_at_the_cap_and_the_folder_returns_to_its_bound(models_dir, tmp_path):
    """A real app with a 3 MB cap and a 2 s lifetime: 1 MB uploads until refused (503 with a
    message), then, after a sweep, the folder is back under its cap and uploads work again."""
    import os

    import requests

    from conftest import ROOT, running_app

    temp = tmp_path / "temp"
    env = dict(os.environ, SRSPACE_WEIGHTS="bundled", GRADIO_ANALYTICS_ENABLED="False", SRSPACE_TEMP=str(temp),
               SRSPACE_TEMP_CAP_MB="6", SRSPACE_TEMP_LIFETIME_S="2",
               SRSPACE_TRUSTED_PROXIES="127.0.0.1")  # as behind a proxy: its X-Forwarded-For names the visitors
    payload = np.random.default_rng(0).integers(0, 256, 1_000_000, dtype=np.uint8).tobytes()

    def upload(name: str, client: str):
        return requests.post(f"{url}gradio_api/upload", files={"files": (name, payload)},
                             headers={"X-Forwarded-For": client}, timeout=30)

    with running_app(ROOT, env, tmp_path / "app.log") as url:
        folder = next(temp.iterdir())
        # one client: its share is a quarter of the cap (1.5 MB here), so its second upload is refused
        first, second = upload("mine.png", "10.7.0.1"), upload("mine2.png", "10.7.0.1")
        assert first.status_code == 200 and second.status_code == 429
        # a chunked upload declares no size: counted as it arrives, it cannot pass the share either
        body = b"".join([b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"c.png\"\r\n\r\n",
                         payload, payload, b"\r\n--b--\r\n"])
        chunked = requests.post(f"{url}gradio_api/upload", data=(body[i:i + 65536] for i in range(0, len(body), 65536)),
                                headers={"X-Forwarded-For": "10.7.0.2", "Content-Type": "multipart/form-data; boundary=b"},
                                timeout=30)
        assert chunked.status_code == 429 and "Each visitor may upload up to" in chunked.json()["detail"]
        # a new first entry on each request does not make a new visitor: the proxy's last entry counts
        assert upload("forged.png", "10.7.9.9, 10.7.0.1").status_code == 429
        assert "Each visitor may upload up to" in second.json()["detail"] and int(second.headers["retry-after"]) > 0
        codes = [upload(f"f{i}.png", f"10.7.1.{i}") for i in range(8)]  # a flood from many addresses
        assert [c.status_code for c in codes[:2]] == [200, 200]
        refused = [c for c in codes if c.status_code == 503]
        assert refused and "try again in a minute" in refused[0].json()["detail"]

        def used() -> int:
            return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

        assert _wait_for(lambda: used() <= 6 * 2**20, 30), f"{used()} bytes left after the sweeps"
        assert _wait_for(lambda: upload("again.png", "10.7.2.1").status_code == 200, 30)
