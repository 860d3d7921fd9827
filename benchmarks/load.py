"""The Space under strangers' load: latency of small requests beside a 24 MP job, peak memory of
the largest accepted request per model, and memory over many mixed requests from many clients.

    python benchmarks/load.py [--requests 200] [--clients 16] [--small 12]
    python benchmarks/load.py --flood [--large 16]

Starts `python app.py` on a free loopback port and drives it through gradio_client:
1. a 3000x2000 x2 request (a 24 MP result) alone: the client's wall time against the network's
   own; small requests (a 100x110 image at x2) one after another: p50/p95 latency, alone, then
   while the 24 MP request runs again;
2. per model, the largest accepted request (5000x5000 at x1: 25 MP in and out, the fixed-x3
   models' worst case): the server's peak RSS (its high-water mark, reset before each);
3. --requests mixed requests (sizes, models, factors) from --clients concurrent clients: the
   server's idle RSS after the first tenth (warm-up) and at the end, and its peak (up to three
   requests run at once: two small, one large).
With --flood instead: --large clients (each its own address, as behind a Space's proxy) ask
at once for the largest result (5000x5000 at x1, srcnn_x3) while one more client sends small
requests: how many large ones are refused at once and how fast, the small requests' p50/p95,
the server's peak RSS, and its temp folder's size after the flood and after a sweep.
Linux only (reads /proc/PID/status).
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("srcnn_dynamic", "srcnn_x3", "espcn_x3")


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A synthetic photograph: smooth structure plus noise (PNG-compresses like a photo, not like a flat fill)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 127 + 100 * np.sin(xx / 37.0) * np.cos(yy / 23.0)
    rgb = np.stack([base, np.roll(base, 7, 1), 255 - base], -1) + rng.normal(0, 12, (height, width, 3)).astype(np.float32)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def start_server(port: int, temp: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, **({"SRSPACE_TEMP": str(temp)} if temp else {}))
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("the app did not start")


def percentiles(times: list[float]) -> str:
    q = statistics.quantiles(times, n=20, method="inclusive")
    return f"p50 {statistics.median(times):.2f} s, p95 {q[18]:.2f} s (n={len(times)})"


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def flood(url: str, pid: int, tmp: Path, temp: Path, large_count: int, small_count: int) -> None:
    """--large clients ask for the largest result at once; small requests go on beside them."""
    from gradio_client import Client, handle_file

    big, small = tmp / "flood.png", tmp / "small.png"
    photo(5000, 5000, 4).save(big)
    photo(100, 110, 1).save(small)
    small_client = Client(url, verbose=False, headers={"X-Forwarded-For": "10.9.1.1"})
    small_client.predict(handle_file(str(small)), "srcnn_dynamic", 2.0, api_name="/upscale")  # warm-up
    reset_peak(pid)
    outcomes: list[tuple[str, float]] = []

    def large(i: int) -> None:
        start = time.perf_counter()
        try:
            Client(url, verbose=False, headers={"X-Forwarded-For": f"10.9.0.{i}"}).predict(
                handle_file(str(big)), "srcnn_x3", 1.0, api_name="/upscale")
            outcomes.append(("done", time.perf_counter() - start))
        except Exception as exc:  # noqa: BLE001 - the refusal is what is measured
            outcomes.append(("busy" if "try again" in str(exc) else f"error: {str(exc)[:80]}", time.perf_counter() - start))

    threads = [threading.Thread(target=large, args=(i,)) for i in range(large_count)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(3.0)  # the uploads are in, the first large job runs
    beside = []
    while any(t.is_alive() for t in threads) and len(beside) < small_count:
        t0 = time.perf_counter()
        small_client.predict(handle_file(str(small)), "srcnn_dynamic", 2.0, api_name="/upscale")
        beside.append(time.perf_counter() - t0)
    for t in threads:
        t.join()
    total = time.perf_counter() - start
    refused = [s for kind, s in outcomes if kind == "busy"]
    done = [s for kind, s in outcomes if kind == "done"]
    errors = [kind for kind, _ in outcomes if kind.startswith("error")]
    print(f"flood of {large_count} large requests (5000x5000 x1, srcnn_x3) from {large_count} addresses: "
          f"{len(done)} done (slowest {max(done, default=0):.0f} s), {len(refused)} refused as busy "
          f"(answered within {max(refused, default=0):.1f} s), {len(errors)} other errors {errors[:2]}; all in {total:.0f} s")
    print(f"small requests (100x110 x2) during the flood: {percentiles(beside) if len(beside) > 1 else beside}")
    print(f"peak server RSS during the flood: {status_mb(pid, 'VmHWM'):.0f} MB; "
          f"temp folder after it: {folder_mb(temp):.0f} MB")


def main(argv=None) -> int:
    from gradio_client import Client, handle_file

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--small", type=int, default=12, help="small requests per latency measurement")
    parser.add_argument("--skip-largest", action="store_true", help="skip the per-model largest requests")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the mixed requests (idle RSS after each)")
    parser.add_argument("--flood", action="store_true", help="a flood of large requests beside small ones, only")
    parser.add_argument("--large", type=int, default=16, help="--flood: large requests at once")
    args = parser.parse_args(argv)

    port = free_port()
    temp_root = Path(tempfile.mkdtemp(prefix="srspace-load-"))
    server = start_server(port, temp_root)
    url = f"http://127.0.0.1:{port}/"
    pid = server.pid
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            print(f"idle server RSS: {status_mb(pid, 'VmRSS'):.0f} MB")
            if args.flood:
                flood(url, pid, tmp, temp_root / str(port), args.large, args.small)
                return 0
            small = tmp / "small.png"
            photo(100, 110, 1).save(small)
            client = Client(url, verbose=False)

            def small_request() -> float:
                start = time.perf_counter()
                client.predict(handle_file(str(small)), "srcnn_dynamic", 2.0, api_name="/upscale")
                return time.perf_counter() - start

            small_request()  # warm-up
            alone = [small_request() for _ in range(args.small)]
            print(f"small requests (100x110 x2), alone: {percentiles(alone)}")

            big = tmp / "big.png"
            photo(3000, 2000, 0).save(big)
            big_times: list[float] = []

            def big_request():
                start = time.perf_counter()
                _, _, info = Client(url, verbose=False).predict(handle_file(str(big)), "srcnn_dynamic", 2.0,
                                                                api_name="/upscale")
                big_times.append(time.perf_counter() - start)
                return float(re.search(r"network \*\*([\d,]+) ms", info).group(1).replace(",", "")) / 1e3

            network = big_request()
            print(f"a 3000x2000 x2 request alone (24 MP result): {big_times[0]:.1f} s at the client, network "
                  f"{network:.1f} s: {big_times[0] / network:.2f}x the network's own time")
            big_times.clear()
            worker = threading.Thread(target=big_request)
            worker.start()
            time.sleep(2.0)  # the big job is running
            beside = []
            while worker.is_alive() and len(beside) < args.small:
                beside.append(small_request())
            worker.join()
            print(f"small requests beside a 3000x2000 x2 job (24 MP result, {big_times[0]:.1f} s): {percentiles(beside)}")

            if not args.skip_largest:
                largest = tmp / "largest.png"
                photo(5000, 5000, 2).save(largest)
                for key in MODELS:
                    reset_peak(pid)
                    start = time.perf_counter()
                    client.predict(handle_file(str(largest)), key, 1.0, api_name="/upscale")
                    print(f"largest accepted request, {key} 5000x5000 at x1: {time.perf_counter() - start:.1f} s, "
                          f"peak server RSS {status_mb(pid, 'VmHWM'):.0f} MB")

            rng = np.random.default_rng(3)
            jobs = []
            for i in range(args.requests):
                w, h = int(rng.integers(40, 700)), int(rng.integers(40, 700))
                path = tmp / f"r{i}.png"
                photo(w, h, i).save(path)
                jobs.append((path, ("srcnn_dynamic", "srcnn_x3", "espcn_x3", "bicubic")[i % 4],
                             round(float(rng.uniform(1.0, 4.0)), 1)))
            # each client its own address, as a Space's visitors arrive: one large request each at a time
            clients = [Client(url, verbose=False, headers={"X-Forwarded-For": f"10.8.0.{i}"}) for i in range(args.clients)]
            rss, busy = [], [0]
            lock = threading.Lock()

            def mixed(i: int):
                path, key, factor = jobs[i]
                try:
                    clients[i % args.clients].predict(handle_file(str(path)), key, factor, api_name="/upscale")
                except Exception as exc:  # noqa: BLE001 - "busy, try again" is an answer, counted
                    if "try again" not in str(exc):
                        raise
                    with lock:
                        busy[0] += 1
                with lock:
                    rss.append(status_mb(pid, "VmRSS"))

            reset_peak(pid)
            start = time.perf_counter()
            warm_up = max(1, args.requests // 10)
            with ThreadPoolExecutor(args.clients) as pool:  # the first tenth warms up; RSS is read idle after it
                list(pool.map(mixed, range(warm_up)))
                idle = [status_mb(pid, "VmRSS")]
                for _ in range(args.rounds):
                    list(pool.map(mixed, range(warm_up, args.requests)))
                    time.sleep(1.0)
                    idle.append(status_mb(pid, "VmRSS"))
            print(f"{args.rounds} round(s) of {args.requests - warm_up} mixed requests from {args.clients} clients in "
                  f"{time.perf_counter() - start:.0f} s ({busy[0]} answered busy): idle RSS after warm-up and after each "
                  f"round {', '.join(f'{v:.0f}' for v in idle)} MB; highest at a request's end {max(rss):.0f} MB, "
                  f"peak {status_mb(pid, 'VmHWM'):.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
