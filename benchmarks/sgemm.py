"""The SGEMM ceiling every benchmark states its shares of: numpy's OpenBLAS, in a process of its own.

OpenBLAS picks its kernel from the CPU it finds; ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE``
in the environment would override that (a slower kernel, a lower ceiling), so the child process
runs without them; nothing else, tests and CI included, has them changed. The child times a
2048³ single-precision matrix product on ``threads`` threads and prints the GFLOP/s of the
median of a few runs, after one to warm up.

    python benchmarks/sgemm.py [--threads N]     # the figure alone, with the BLAS it came from
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

N = 2048
_CHILD = f"""
import json, statistics, time
import numpy as np
a, b = np.random.default_rng(0).random((2, {N}, {N}), dtype=np.float32)
a @ b
times = []
for _ in range(REPEATS):
    start = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - start)
config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
print(json.dumps({{"gflops": 2 * {N}**3 / statistics.median(times) / 1e9,
                  "blas": f"{{config.get('name')}} {{config.get('version')}}"}}))
"""


def sgemm(threads: int, repeats: int = 3) -> dict:
    """{"gflops", "blas"} of numpy's SGEMM on ``threads`` threads, measured now in a child process."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", _CHILD.replace("REPEATS", str(repeats))], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def sgemm_gflops(threads: int, repeats: int = 3) -> float:
    """numpy's SGEMM rate on ``threads`` threads (GFLOP/s), measured now."""
    return sgemm(threads, repeats)["gflops"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    result = sgemm(args.threads)
    print(f"SGEMM {N}³: {result['gflops']:.0f} GFLOP/s on {args.threads} threads ({result['blas']})")
