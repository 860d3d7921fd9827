"""The command line: upscale files, folders and lists, on this machine or on a Ray cluster;
build the static edition that runs in the browser.

    python -m srspace site OUT [--models-dir models]

    python -m srspace upscale INPUT... --out DIR [--model auto] [--factor 2]
                              [--weights best|bundled|official] [--format png|webp|tiff]
                              [--glob PATTERN] [--no-recursive] [--ray [ADDRESS]]

INPUT: image files, folders (their images, subfolders too, mirrored under --out) or @LIST
(a text file naming one image per line). Results are named <name>_<model>_x<factor>.<format>.
Results that exist are skipped, so an interrupted run continues where it stopped; a bad file
is reported and skipped. Exit status: 0 when every input was done or skipped, 1 when any
failed, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .contract import AUTO_KEY, BEST_WEIGHTS, CHOICES, WEIGHT_SETS, models_folder


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m srspace", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upscale", help="upscale images in batch", description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    up.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or @LIST files")
    up.add_argument("--out", type=Path, required=True, help="folder for the results")
    up.add_argument("--model", choices=CHOICES, default=AUTO_KEY,
                    help="auto (default): per factor, the network and weights with the largest measured gain")
    up.add_argument("--factor", type=float, default=2.0, help="1 to 4, as the app's slider (default 2)")
    up.add_argument("--weights", choices=(BEST_WEIGHTS, *WEIGHT_SETS), default=BEST_WEIGHTS,
                    help="weight set (default: best measured for the model and factor)")
    up.add_argument("--format", choices=("png", "webp", "tiff"), default="png", help="lossless, all of them")
    up.add_argument("--glob", default=None, help="only files matching this pattern inside folders (e.g. '*.jpg')")
    up.add_argument("--no-recursive", dest="recursive", action="store_false", help="do not descend into subfolders")
    up.add_argument("--models-dir", type=Path, default=models_folder(), help="default: $SRSPACE_MODELS, else models/")
    up.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                    help="run on a Ray cluster (ADDRESS, e.g. 10.0.0.5:6379; alone: $RAY_ADDRESS or a local one)")
    up.add_argument("--workers", type=int, default=None, help="Ray: worker actors (default: one per CPU of the cluster)")
    site = commands.add_parser("site", help="build the static edition (runs in the browser) into a folder",
                               description="Write the static site into OUT: the page, its modules, the ONNX files of "
                                           "every exported weight set, onnxruntime-web's files (npm ci) and a README "
                                           "that makes OUT a static Hugging Face Space. Run export_models.py first.")
    site.add_argument("out", type=Path, metavar="OUT", help="folder to write (new, empty, or an earlier build)")
    site.add_argument("--models-dir", type=Path, default=models_folder(), help="default: $SRSPACE_MODELS, else models/")
    return parser.parse_args(argv)


def build_site_command(args) -> int:
    from .web.site import build_site
    from .web.ort import SiteError

    try:
        summary = build_site(args.out, args.models_dir)
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Built the static site in {summary['out']}: {summary['files']} files, {summary['bytes'] / 1e6:.1f} MB, "
          f"weights {', '.join(summary['sets'])}.\n"
          f"Try it: python -m srspace.web.serve {summary['out']}  (a local server sending the isolation headers)\n"
          f"Put it online: hf upload USER/SPACE {summary['out']} . --repo-type space  (see the README)")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.command == "site":
        return build_site_command(args)
    from .service.batch import BatchError, check_settings, plan
    from .buildtime.export import ExportError, export_all, wanted_sets
    from .errors import ImageInputError
    from .models.weights import WeightsError

    served = os.environ.get("SRSPACE_WEIGHTS", "auto")
    try:
        factor = check_settings(args.model, args.factor)
        jobs = plan(args.inputs, args.out, args.model, factor, args.format, args.glob, args.recursive)  # before any export
        manifest = export_all(args.models_dir, weights=served, log=lambda msg: print(msg, file=sys.stderr))
        if args.weights in WEIGHT_SETS and args.weights not in manifest["sets"]:
            raise BatchError(manifest["unavailable"].get(args.weights, f"the {args.weights} weights are not exported"))
        sets = [w for w in manifest["sets"] if w in wanted_sets(served)]
        if args.model == AUTO_KEY:  # the app's choice for this factor: results are named after what ran
            from .quality.table import best_model, load_table, pick_note

            table = load_table()
            pick = best_model(factor, [args.weights] if args.weights in WEIGHT_SETS else sets, table)
            print(pick_note(pick, factor, table), file=sys.stderr)
            args.model, args.weights = pick.key, pick.weights or args.weights
            jobs = plan(args.inputs, args.out, args.model, factor, args.format, args.glob, args.recursive)
    except (BatchError, ImageInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (WeightsError, ExportError) as exc:
        print(f"error: the models could not be prepared: {exc}", file=sys.stderr)
        return 1
    if not jobs:
        print("nothing to do: no images among the inputs", file=sys.stderr)
        return 0
    if args.ray:
        from .service.cluster import run_on_ray

        summary = run_on_ray(jobs, args.models_dir, args.model, factor, args.weights, args.format,
                             None if args.ray == "auto" else args.ray, args.workers)
    else:
        from .service.batch import run_local
        from .service.upscaler import Upscaler

        try:
            summary = run_local(Upscaler(args.models_dir, weight_sets=sets), jobs, args.model, factor, args.weights,
                                args.format)
        except KeyboardInterrupt:
            print("interrupted: finished results are kept; run the same command again to continue", file=sys.stderr)
            return 130
    print(summary.text())  # each failure was printed as it happened
    return 1 if summary.failed else 0
