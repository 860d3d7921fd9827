"""Quality: gain over bicubic per model, weight set and factor on the held-out images.

    python benchmarks/quality.py [--data ../shared/data/train/bsd68] [--no-jpeg] [--reuse] [--write]

Exports every weight set (the official checkpoints from the download cache, $SRSPACE_CACHE)
to a temporary folder, runs every model through ONNX Runtime on the full-size held-out
images (BSD68, never trained on; a subset of the B100 benchmark) at x1.5 ... x4, and prints
the table: clean inputs (LR by PIL's bicubic, lossless), then the JPEG protocol (the same LR
saved as JPEG at quality 60 and 80, at x2, x3, x4, the ESPCN models of every set), over --jobs processes.
--write stores it as srspace/bundled/quality.json, from which the app picks its default
model and weights per factor and input ("auto", "best") and the Models tab draws its table.
--reuse keeps the stored table's rows of every model whose weights are byte for byte the ones
it measured (same sha256, same images) and measures the rest: after retraining one network,
minutes instead of half an hour.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from srspace.contract import MODELS  # noqa: E402
from srspace.runtime.engines import OrtEngine  # noqa: E402
from srspace.quality.heldout import image_paths, load_rgb  # noqa: E402
from srspace.buildtime.export import export_all  # noqa: E402
from srspace.quality.report import markdown  # noqa: E402
from srspace.quality.table import FACTORS, JPEG_QUALITIES, QUALITY_PATH, input_kinds, measure  # noqa: E402

# On JPEG inputs: the models the photo set has, in every set.
JPEG_KEYS = tuple(key for key, spec in MODELS.items() if spec.network == "espcn")
JPEG_FACTORS = (2.0, 3.0, 4.0)  # the native factors (the others are decided by the nearest of these)

ROOT = Path(__file__).resolve().parent.parent


_WORKER: dict = {}


def _start_worker(models_dir: str, paths: list[Path]) -> None:
    _WORKER.update(models_dir=Path(models_dir), images=[load_rgb(p) for p in paths], engines={})


def _measure_task(task) -> list[dict]:
    weights, key, quality, factors = task
    engines = _WORKER["engines"]
    if weights not in engines:
        engines[weights] = OrtEngine(_WORKER["models_dir"] / weights, threads=1)
    return measure({weights: engines[weights]}, _WORKER["images"], factors, jpeg_quality=quality, keys=(key,),
                   log=lambda line: print(line, flush=True))


def _task_key(task) -> tuple:
    weights, key, quality, _ = task
    return weights, key, "clean" if quality is None else f"jpeg{quality}"


def stored_rows(manifest: dict, held_out: list[Path]) -> dict[tuple, list[dict]]:
    """The stored table's rows by (set, model, input), for the models whose weights in ``manifest``
    are the ones the table measured (sha256), on the same images; {} when there is no table."""
    if not QUALITY_PATH.exists():
        return {}
    table = json.loads(QUALITY_PATH.read_text())
    if table.get("images") != [p.name for p in held_out]:
        return {}
    kept: dict[tuple, list[dict]] = {}
    for row in table["rows"]:
        weights, key = row["weights"], row["model"]
        entry = manifest["sets"].get(weights, {}).get(key)
        if entry and table["weights"].get(weights, {}).get(MODELS[key].weights_name) == entry["weights"]["sha256"]:
            kept.setdefault((weights, key, row["input"]), []).append(row)
    return kept


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "train" / "bsd68",
                        help="held-out images, never trained on (default: BSD68)")
    parser.add_argument("--no-jpeg", action="store_true", help="clean inputs only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes, one thread each (default: the cores)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the stored rows of models whose weights (sha256) and images are unchanged")
    parser.add_argument("--write", action="store_true", help=f"store the table as {QUALITY_PATH.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    held_out = image_paths(args.data)
    if not held_out:
        raise SystemExit(f"no images under {args.data}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = export_all(Path(tmp), weights="auto", log=lambda *_: None)
        if manifest["unavailable"]:
            raise SystemExit(" ".join(manifest["unavailable"].values()))
        tasks = [(w, key, None, FACTORS) for w in manifest["sets"] for key in MODELS if key in manifest["sets"][w]]
        if not args.no_jpeg:
            tasks += [(w, key, q, JPEG_FACTORS) for q in JPEG_QUALITIES for w in manifest["sets"]
                      for key in JPEG_KEYS if key in manifest["sets"][w]]
        # one task per (set, model, input), the slow SRCNN ones first, over --jobs processes of one thread each
        tasks.sort(key=lambda t: MODELS[t[1]].network != "srcnn")
        kept = stored_rows(manifest, held_out) if args.reuse else {}
        todo = [t for t in tasks if _task_key(t) not in kept]
        print(f"{len(tasks) - len(todo)} of {len(tasks)} (set, model, input) rows kept from {QUALITY_PATH.name}: "
              "their weights and images are unchanged" if args.reuse else f"{len(tasks)} (set, model, input) rows to measure")
        # spawned, not forked: a fork of a process whose thread pools (torch, ONNX Runtime) are running can hang
        with ProcessPoolExecutor(max(1, min(args.jobs, len(todo))), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start_worker, initargs=(tmp, held_out)) as pool:
            measured = dict(zip(map(_task_key, todo), pool.map(_measure_task, todo)))
        done = [kept.get(_task_key(t)) or measured[_task_key(t)] for t in tasks]
        rows = [row for task in sorted(zip(tasks, done), key=lambda td: (td[0][2] or 0, list(manifest["sets"]).index(td[0][0]),
                                                                         list(MODELS).index(td[0][1])))
                for row in task[1]]
    table = {
        "what": "Y-PSNR gain over bicubic in dB (MATLAB-style Y, ceil(factor) px shaved), full-size images, "
                "LR made with PIL's bicubic (8-bit; input jpeg<q>: then saved as JPEG of quality q), through the "
                "exported ONNX models",
        "data": str(args.data.name),
        "images": [p.name for p in held_out],
        "weights": {w: {MODELS[key].weights_name: entry["weights"]["sha256"] for key, entry in entries.items()}
                    for w, entries in manifest["sets"].items()},
        "command": "python benchmarks/quality.py --write",
        "rows": rows,
    }
    for inputs in input_kinds(table):
        print(f"\n{inputs}:\n" + markdown(table, inputs=inputs))
    print(f"bold: the set 'best' picks for that model and factor  ({time.perf_counter() - start:.0f} s)")
    if args.write:
        QUALITY_PATH.write_text(json.dumps(table, indent=1) + "\n")
        print(f"wrote {QUALITY_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
