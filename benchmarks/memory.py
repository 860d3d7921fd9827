"""Memory: the running app's peak RSS on a large request, and RSS growth over many requests.

    python benchmarks/memory.py [--requests 50]

Starts `python app.py` on a free loopback port, then through gradio_client:
1. one 3000x2000 image at x2 with srcnn_dynamic (a 6000x4000 result): the server's peak RSS;
2. --requests requests of mixed sizes, models and factors: RSS after warm-up and at the end.
Linux only (reads /proc/PID/status).
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from gradio_client import Client, handle_file
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photo(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 127 + 100 * np.sin(xx / 37.0) * np.cos(yy / 23.0)
    rgb = np.stack([base, np.roll(base, 7, 1), 255 - base], -1) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)

    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        client = Client(url, verbose=False)
        idle = status_mb(server.pid, "VmRSS")
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / "big.png"
            photo(3000, 2000, 0).save(big)
            start = time.perf_counter()
            result = client.predict(handle_file(str(big)), "srcnn_dynamic", 2.0, api_name="/upscale")
            seconds = time.perf_counter() - start
            size = Image.open(result[0]).size
            peak = status_mb(server.pid, "VmHWM")
            print(f"idle server RSS: {idle:.0f} MB")
            print(f"3000x2000 x2 srcnn_dynamic -> {size[0]}x{size[1]} in {seconds:.1f} s; server peak RSS {peak:.0f} MB")

            rng = np.random.default_rng(1)
            keys = ["srcnn_dynamic", "srcnn_x3", "espcn_x3", "bicubic"]
            rss = []
            for i in range(args.requests):
                w, h = int(rng.integers(40, 700)), int(rng.integers(40, 700))
                path = Path(tmp) / f"r{i}.png"
                photo(w, h, i).save(path)
                factor = round(float(rng.uniform(1.0, 4.0)), 1)
                client.predict(handle_file(str(path)), keys[i % len(keys)], factor, api_name="/upscale")
                rss.append(status_mb(server.pid, "VmRSS"))
            after_warmup, end = rss[args.warmup - 1], rss[-1]
            print(f"{args.requests} mixed requests: RSS after {args.warmup} (warm-up) {after_warmup:.0f} MB, "
                  f"at the end {end:.0f} MB, growth {end - after_warmup:+.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
