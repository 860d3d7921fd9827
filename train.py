"""Train the project's own SRCNN or ESPCN weights: python train.py --model srcnn --data DIR"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from srspace.training import TrainConfig, Trainer
from srspace.official_gain import calibrate_checkpoint
from srspace.weights import OFFICIAL_GAIN_PATH, bundled_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=["srcnn", "espcn"], required=True)
    parser.add_argument("--data", type=Path, default=Path(__file__).parent.parent / "shared" / "data" / "train")
    parser.add_argument("--out", type=Path, help="weights file (default: the bundled weights)")
    parser.add_argument("--checkpoint", type=Path, help="resumable state (default: OUT.ckpt)")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=72, help="HR patch side")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=250)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--max-images", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--init", type=Path, help="start from these weights (fine-tuning)")
    parser.add_argument("--balance", type=float, default=1.0,
                        help="SRCNN: each factor group's MSE is divided by bicubic's MSE to this power (0: plain MSE)")
    parser.add_argument("--factor-groups", type=int, default=4, help="SRCNN: factors per step (the batch is split among them)")
    parser.add_argument("--anchor", type=float, default=3.0,
                        help="SRCNN: the first factor group of each step uses this factor, srcnn_x3's (0: none)")
    parser.add_argument("--calibrate", type=Path, metavar="CHECKPOINT",
                        help="SRCNN: fit only the residual gain of this checkpoint (the official x4 one) and write it "
                             "beside the bundled weights; no training")
    args = parser.parse_args(argv)
    if args.calibrate:
        record = calibrate_checkpoint(args.calibrate, args.data, args.out or OFFICIAL_GAIN_PATH)
        print(json.dumps(record["factors"], indent=1))
        print(f"residual_gain = {record['residual_gain']}")
        return 0
    lr = args.lr or (2e-4 if args.model == "srcnn" else 1e-3)
    config = TrainConfig(
        model=args.model, data=args.data, out=args.out or bundled_path(args.model), checkpoint=args.checkpoint,
        steps=args.steps, batch=args.batch, patch=args.patch, lr=lr, seed=args.seed, val_every=args.val_every,
        threads=args.threads, max_images=args.max_images, init=args.init, balance=args.balance,
        factor_groups=args.factor_groups, anchor=args.anchor,
    )
    trainer = Trainer(config)
    if args.resume:
        trainer.resume()
    report = trainer.fit()
    print(json.dumps(report["validation_psnr_y"], indent=2))
    print(f"wrote {config.out} ({report['train_seconds']:.0f} s of training)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
