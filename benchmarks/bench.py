"""Speed: ONNX Runtime vs PyTorch eager per model, against the machine's SGEMM ceiling.

    python benchmarks/bench.py [--threads N] [--runs 5] [--json]

Each latency is the median of --runs runs after a warm-up, both engines on the same
number of threads. GFLOP/s counts the nominal work of each network per output pixel.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from srspace.contract import MODELS, MODELS_DIR  # noqa: E402
from srspace.engines import OrtEngine, TorchEngine, default_threads  # noqa: E402
from srspace.export import export_all, read_manifest  # noqa: E402
from srspace.weights import recorded_state_dicts  # noqa: E402

# Nominal multiply-adds x 2 per output pixel.
KFLOP_PER_OUTPUT_PIXEL = {
    "srcnn": 2 * (9 * 9 * 3 * 64 + 64 * 32 + 5 * 5 * 32 * 3) / 1000,  # 40.0
    "espcn": 2 * (5 * 5 * 64 + 9 * 64 * 64 + 9 * 64 * 32 + 9 * 32 * 9) / 9 / 1000,  # 13.2
}
OUTPUT_MEGAPIXELS = (0.25, 1.0)
FACTOR = 3.0


def median_seconds(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sgemm_gflops(threads: int, n: int = 2048, runs: int = 7) -> float:
    """The machine's SGEMM rate on ``threads`` threads: the better of PyTorch's and NumPy's BLAS."""
    torch.set_num_threads(threads)
    a, b = torch.rand(n, n), torch.rand(n, n)
    an, bn = a.numpy(), b.numpy()
    best = max(median_seconds(lambda: torch.mm(a, b), runs) ** -1, median_seconds(lambda: an @ bn, runs) ** -1)
    return 2 * n**3 * best / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    export_all(MODELS_DIR, weights=os.environ.get("SRSPACE_WEIGHTS", "auto"), log=lambda *_: None)
    manifest = read_manifest(MODELS_DIR)
    ort_engine = OrtEngine(MODELS_DIR, threads=args.threads)
    torch.set_num_threads(args.threads)
    torch_engine = TorchEngine.from_state_dicts(recorded_state_dicts(manifest))
    rows = []
    rng = np.random.default_rng(0)
    for key, spec in MODELS.items():
        for mp in OUTPUT_MEGAPIXELS:
            side = round((mp * 1e6) ** 0.5 / FACTOR)
            x = rng.random((1, spec.channels, side, side), dtype=np.float32)
            out_pixels = int(np.prod(ort_engine.run(key, x, FACTOR).shape[2:]))
            t_ort = median_seconds(lambda: ort_engine.run(key, x, FACTOR), args.runs)
            t_torch = median_seconds(lambda: torch_engine.run(key, x, FACTOR), args.runs)
            gflop = KFLOP_PER_OUTPUT_PIXEL[spec.network] * 1e3 * out_pixels / 1e9
            rows.append({
                "model": key, "input": f"{side}x{side}", "output_mp": round(out_pixels / 1e6, 3),
                "ort_ms": t_ort * 1e3, "torch_ms": t_torch * 1e3, "speedup": t_torch / t_ort,
                "ort_gflops": gflop / t_ort, "torch_gflops": gflop / t_torch,
            })
    ceiling = sgemm_gflops(args.threads)  # after the models, as close as possible to their timings
    for r in rows:
        r["ort_pct_sgemm"] = 100 * r["ort_gflops"] / ceiling
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__, "onnxruntime": ort_engine.sessions[key].get_providers()[0]},
        "sgemm_gflops": ceiling, "factor": FACTOR, "runs": args.runs, "rows": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"SGEMM ceiling: {ceiling:.1f} GFLOP/s on {args.threads} threads; factor x{FACTOR:g}; median of {args.runs} runs")
    print(f"{'model':14s} {'input':>9s} {'out MP':>7s} {'ORT ms':>8s} {'torch ms':>9s} {'speed-up':>8s} {'ORT GF/s':>9s} {'% SGEMM':>8s}")
    for r in rows:
        print(f"{r['model']:14s} {r['input']:>9s} {r['output_mp']:7.2f} {r['ort_ms']:8.1f} {r['torch_ms']:9.1f} "
              f"{r['speedup']:7.2f}x {r['ort_gflops']:9.1f} {r['ort_pct_sgemm']:7.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
