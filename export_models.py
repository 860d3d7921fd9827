"""Export the Space's ONNX models (SRCNN x3 and any-factor, ESPCN x2, x3, x4) to models/<weights>/ and prove them equal to PyTorch.

    python export_models.py [--weight-sets auto|official|bundled] [--force] [--prune] [--models-dir DIR]

--weight-sets auto (default) exports every weight set that can be had: the project's own
(bundled) always, the tutorials' official checkpoints when they download or are cached.
Sets already exported are kept, asked for or not (an app may be serving them), and so is an
official set whose checkpoints cannot be downloaded again; --prune removes the sets not asked for.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from srspace.contract import models_folder
from srspace.buildtime.export import ExportError, export_all
from srspace.models.weights import SOURCES, WeightsError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weight-sets", "--weights", dest="weights", choices=SOURCES, default=os.environ.get("SRSPACE_WEIGHTS", "auto"),
                        help="one weight set (official, bundled), or every set that can be had (auto, default)")
    parser.add_argument("--force", action="store_true", help="re-export even when models/ is up to date")
    parser.add_argument("--prune", action="store_true", help="remove the exported sets not asked for")
    parser.add_argument("--models-dir", type=Path, default=models_folder(), help="default: $SRSPACE_MODELS, else models/")
    args = parser.parse_args(argv)
    try:
        manifest = export_all(args.models_dir, weights=args.weights, force=args.force, prune=args.prune)
    except (WeightsError, ExportError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    for weights, entries in manifest["sets"].items():
        for key, entry in entries.items():
            print(f"{key:14s} {entry['file']:30s} {entry['bytes'] / 1024:7.1f} KiB  weights: {weights}")
    for reason in manifest["unavailable"].values():
        print(reason)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
