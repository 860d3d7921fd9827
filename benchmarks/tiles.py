"""Tiles: how the tile size sets a request's time and memory, and a strip against a square.

    python benchmarks/tiles.py [--rounds 3] [--sides 768 640 576 512] [--weights official]

1. Per case (model, factor, input size) and per output tile side (tiling.TILE_OUTPUT_SIDE's
   candidates): the median time of the whole request's tiles (``upscale_array`` to uint8, as
   the app runs it) and the peak RSS above the process's idle size (sampled every 3 ms; ONNX
   Runtime's arena shrunk and the C heap trimmed before each run, as the app does between
   requests).
2. Per model at x1 (its worst case), the same 1 MP as a 1000 x 1000 square and as a
   125,000 x 8 strip, with the shipped tile rule.

Every round runs every variant once, interleaved, with an SGEMM (numpy's OpenBLAS, 2048^3, sgemm.py) measured
in the same round; medians over the rounds. Linux only (reads /proc/self/status).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from srspace.serving.heap import give_back_heap, limit_heap_arenas  # noqa: E402
from sgemm import sgemm_gflops  # noqa: E402  (numpy's OpenBLAS in its own process)
from srspace.contract import MODELS_DIR  # noqa: E402
from srspace.runtime.engines import OrtEngine, default_threads  # noqa: E402
from srspace.runtime.pipeline import tile_side, upscale_array  # noqa: E402
from srspace.runtime.tiling import TILE_OUTPUT_SIDE  # noqa: E402

CASES = (  # model, factor, input (height, width): SRCNN at and past its factor, ESPCN enlarging and at x1
    ("srcnn_x3", 1.0, (1500, 1500)),
    ("srcnn_x3", 3.0, (600, 600)),
    ("srcnn_dynamic", 2.0, (1000, 1000)),
    ("srcnn_dynamic", 3.3, (500, 500)),
    ("espcn_x3", 1.0, (2000, 2000)),
    ("espcn_x3", 4.0, (500, 500)),
)
SHAPES = {"square": (1000, 1000), "strip": (8, 125_000)}  # the same 1 MP
STRIP_MODELS = ("srcnn_x3", "srcnn_dynamic", "espcn_x3")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise KeyError("VmRSS")


class PeakSampler:
    """The process's RSS, sampled on a thread of its own; ``reset`` starts a new peak."""

    def __init__(self):
        self.peak = 0.0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.003)

    def reset(self) -> float:
        self.peak = rss_mb()
        return self.peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sides", type=int, nargs="+", default=[768, 640, 576, 512], help="output tile sides")
    parser.add_argument("--weights", default="official")
    args = parser.parse_args(argv)

    limit_heap_arenas()
    engine = OrtEngine(MODELS_DIR / args.weights)
    sampler = PeakSampler()
    rng = np.random.default_rng(0)
    images = {size: (rng.random((*size, 3)) * 255).astype(np.uint8) for _, _, size in CASES}
    for shape, size in SHAPES.items():
        images[shape] = (rng.random((*size, 3)) * 255).astype(np.uint8)

    def run(key: str, factor: float, image: np.ndarray, tile: int | None) -> tuple[float, float]:
        engine.release()
        give_back_heap()
        base = sampler.reset()
        start = time.perf_counter()
        upscale_array(engine, key, image, factor, tile=tile, dtype=np.uint8)
        seconds = time.perf_counter() - start
        time.sleep(0.01)
        return seconds, sampler.peak - base

    times: dict[tuple, list[float]] = {}
    peaks: dict[tuple, list[float]] = {}
    sgemm = []
    for _ in range(args.rounds):
        sgemm.append(sgemm_gflops(default_threads()))
        for case in CASES:
            for side in args.sides:
                seconds, peak = run(case[0], case[1], images[case[2]], tile_side(case[0], case[1], output_side=side))
                times.setdefault((case, side), []).append(seconds)
                peaks.setdefault((case, side), []).append(peak)
        for key in STRIP_MODELS:
            for shape in SHAPES:
                seconds, peak = run(key, 1.0, images[shape], None)
                times.setdefault((key, shape), []).append(seconds)
                peaks.setdefault((key, shape), []).append(peak)

    print(f"SGEMM (numpy's OpenBLAS 2048^3, sgemm.py): median {statistics.median(sgemm):.0f} GFLOP/s over {args.rounds} rounds; "
          f"shipped TILE_OUTPUT_SIDE {TILE_OUTPUT_SIDE}")
    print("| model | factor | input | output tile side | input tile | time (s) | peak above idle (MB) |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES:
        for side in args.sides:
            print(f"| {case[0]} | {case[1]:g} | {case[2][1]}x{case[2][0]} | {side} | "
                  f"{tile_side(case[0], case[1], output_side=side)} | {statistics.median(times[case, side]):.2f} | "
                  f"{statistics.median(peaks[case, side]):.0f} |")
    print("\n| model at x1 | " + " | ".join(f"{shape} {w}x{h}" for shape, (h, w) in SHAPES.items()) + " | strip / square |")
    print("|---|---|---|---|")
    for key in STRIP_MODELS:
        square, strip = (statistics.median(times[key, shape]) for shape in SHAPES)
        print(f"| {key} | {square:.2f} s, +{statistics.median(peaks[key, 'square']):.0f} MB | "
              f"{strip:.2f} s, +{statistics.median(peaks[key, 'strip']):.0f} MB | {strip / square:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
