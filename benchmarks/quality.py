"""Quality: gain over bicubic per model, weight set and factor on the held-out images.

    python benchmarks/quality.py [--data ../shared/data/train] [--write]

Exports both weight sets (the official checkpoints from the download cache, $SRSPACE_CACHE)
to a temporary folder, runs every model through ONNX Runtime on the full-size held-out
images (every 8th of --data, as in training) at x1.5 ... x4, and prints the table.
--write stores it as srspace/bundled/quality.json, from which the app picks its default
weights per model and factor ("best") and the Models tab draws its table.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from srspace.contract import MODELS  # noqa: E402
from srspace.engines import OrtEngine  # noqa: E402
from srspace.heldout import image_paths, load_rgb, split_holdout  # noqa: E402
from srspace.export import export_all  # noqa: E402
from srspace.quality_table import FACTORS, QUALITY_PATH, markdown, measure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "train")
    parser.add_argument("--write", action="store_true", help=f"store the table as {QUALITY_PATH.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    _, held_out = split_holdout(image_paths(args.data))
    images = [load_rgb(p) for p in held_out]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = export_all(Path(tmp), weights="auto", log=lambda *_: None)
        if manifest["unavailable"]:
            raise SystemExit(" ".join(manifest["unavailable"].values()))
        rows = measure({w: OrtEngine(Path(tmp) / w) for w in manifest["sets"]}, images, FACTORS)
    table = {
        "what": "Y-PSNR gain over bicubic in dB (MATLAB-style Y, ceil(factor) px shaved), full-size images, "
                "LR made with PIL's bicubic (8-bit), through the exported ONNX models",
        "images": [p.name for p in held_out],
        "weights": {w: {MODELS[key].network: entry["weights"]["sha256"] for key, entry in entries.items()}
                    for w, entries in manifest["sets"].items()},
        "command": "python benchmarks/quality.py --write",
        "rows": rows,
    }
    print(markdown(table))
    print(f"bold: the set 'best' picks for that model and factor  ({time.perf_counter() - start:.0f} s)")
    if args.write:
        QUALITY_PATH.write_text(json.dumps(table, indent=1) + "\n")
        print(f"wrote {QUALITY_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
