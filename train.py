"""Train the project's own SRCNN or ESPCN weights: python train.py --model espcn --factor 2"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from srspace.contract import BUNDLED_SET, ESPCN_FACTORS, PHOTO_SET
from srspace.buildtime.training import TrainConfig, Trainer
from srspace.buildtime.official_gain import calibrate_checkpoint
from srspace.models.weights import OFFICIAL_GAIN_PATH, bundled_path

SHARED = Path(__file__).parent.parent / "shared" / "data"
SR_SETS = [SHARED / "sr" / name for name in ("t91", "general100", "bsd200")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=["srcnn", "espcn"], required=True)
    parser.add_argument("--factor", type=int, choices=ESPCN_FACTORS, default=3, help="ESPCN: its native factor")
    parser.add_argument("--data", type=Path, nargs="+", default=SR_SETS,
                        help="training image folders (default: T91, General100, BSD200 under ../shared/data/sr)")
    parser.add_argument("--val", type=Path, default=SHARED / "train" / "bsd68",
                        help="validation folder, held out whole (default: BSD68); 'none': every 8th training image")
    parser.add_argument("--out", type=Path, help="weights file (default: the bundled weights)")
    parser.add_argument("--checkpoint", type=Path, help="resumable state (default: OUT.ckpt)")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=72, help="HR patch side (ESPCN: rounded down to a multiple of the factor)")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--last-lr-ratio", type=float, default=0.1, help="ESPCN: the sub-pixel layer's rate relative to --lr")
    parser.add_argument("--jpeg", type=int, nargs=2, metavar=("LOW", "HIGH"),
                        help="the photo set: LR patches saved as JPEG at a quality in LOW..HIGH")
    parser.add_argument("--jpeg-share", type=float, default=0.85, help="with --jpeg: the share of LR patches so saved")
    parser.add_argument("--ema", type=float, default=0.0,
                        help="validate and write a moving average of the weights with this decay (e.g. 0.999; 0: off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=250)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--max-images", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--init", type=Path, help="start from these weights (fine-tuning; ESPCN: another factor's too)")
    parser.add_argument("--balance", type=float, default=1.0,
                        help="SRCNN: each factor group's MSE is divided by bicubic's MSE to this power (0: plain MSE)")
    parser.add_argument("--factor-groups", type=int, default=4, help="SRCNN: factors per step (the batch is split among them)")
    parser.add_argument("--anchor", type=float, default=3.0,
                        help="SRCNN: the first factor group of each step uses this factor, srcnn_x3's (0: none)")
    parser.add_argument("--calibrate", type=Path, metavar="CHECKPOINT",
                        help="SRCNN: fit only the residual gain of this checkpoint (the official x4 one) and write it "
                             "beside the bundled weights; no training")
    args = parser.parse_args(argv)
    val = None if str(args.val).lower() == "none" else args.val
    if args.calibrate:
        # the gain was fitted on the photographs of ../shared/data/train (its training split), as shipped
        data = SHARED / "train" if args.data == SR_SETS else args.data[0]
        record = calibrate_checkpoint(args.calibrate, data, args.out or OFFICIAL_GAIN_PATH)
        print(json.dumps(record["factors"], indent=1))
        print(f"residual_gain = {record['residual_gain']}")
        return 0
    lr = args.lr or (2e-4 if args.model == "srcnn" else 1e-3)
    name = "srcnn" if args.model == "srcnn" else f"espcn_x{args.factor}"
    if args.jpeg and args.model != "espcn":
        parser.error("--jpeg trains the photo set, which is ESPCN only")
    config = TrainConfig(
        model=args.model, data=args.data, out=args.out or bundled_path(name, PHOTO_SET if args.jpeg else BUNDLED_SET), checkpoint=args.checkpoint,
        steps=args.steps, batch=args.batch, patch=args.patch, lr=lr, seed=args.seed, val_every=args.val_every,
        threads=args.threads, max_images=args.max_images, init=args.init, balance=args.balance,
        factor_groups=args.factor_groups, anchor=args.anchor, factor=args.factor, val_data=val,
        last_lr_ratio=args.last_lr_ratio, jpeg_quality=tuple(args.jpeg) if args.jpeg else None, jpeg_share=args.jpeg_share,
        ema=args.ema,
    )
    try:
        trainer = Trainer(config)
    except ValueError as exc:
        parser.error(str(exc))
    if args.resume:
        trainer.resume()
    report = trainer.fit()
    print(json.dumps(report["validation_psnr_y"], indent=2))
    print(f"wrote {config.out} ({report['train_seconds']:.0f} s of training)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
