"""Fit SRCNN's residual gain to weights trained for one factor: the official x4 checkpoint.

OpenMMLab's SRCNN was trained at x4 only; unchanged at x2 it is far worse than bicubic.
Its convolutions stay as they are; only the three gain numbers are fitted, so that at
every factor the network's correction is applied as strongly as it helps:

- for each factor s, on training images degraded by s, the MSE of ``up + g (c - up)`` is a
  quadratic in g (``up``: bicubic, ``c``: the convolutions' output), so its statistics
  (<d,d>, <d,e>, <e,e> with d = c - up, e = hr - up) give the best g and every other g's
  error exactly;
- the curve g(s) = max(0, c0 + c1 ln s + c2 ln^2 s) is held at g(1) = 0 (x1 untouched) and
  g(4) = 1 (at x4 it *is* the tutorial's network), and its one free number minimises the
  sum over factors of MSE(g(s)) / MSE(bicubic), a dB-like scale where every factor counts.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from ..quality.heldout import centre_crop, degrade
from ..imaging.colour import from_nchw, to_nchw
from ..models.networks import SRCNN, gain_polynomial

FACTORS = [round(1.1 + 0.1 * i, 1) for i in range(30)]  # the slider's steps above x1
PIN_FACTOR, PIN_GAIN = 4.0, 1.0  # the factor the checkpoint was trained for: its network unchanged


def gain_statistics(model: SRCNN, images: list[np.ndarray], factors=FACTORS) -> dict[float, dict[str, float]]:
    """Per factor, sums over ``images`` of <d,d>, <d,e> and <e,e> (see the module docstring)."""
    stats = {}
    model.eval()
    for s in factors:
        dd = de = ee = 0.0
        scales = torch.tensor([1.0, 1.0, s, s])
        for hr in images:
            lr, hr = degrade(hr, s)
            with torch.inference_mode():
                up = model.upsample(torch.from_numpy(to_nchw(lr)), scales)
                c = model.correction(up)
            d = from_nchw((c - up).numpy()).astype(np.float64)
            e = hr.astype(np.float64) - from_nchw(up.numpy())
            dd, de, ee = dd + float((d * d).sum()), de + float((d * e).sum()), ee + float((e * e).sum())
        stats[s] = {"dd": dd, "de": de, "ee": ee}
    return stats


def gain_curve(coeffs, s: float) -> float:
    """``SRCNN.gain`` in plain floats: the fit evaluates it a few hundred thousand times."""
    return max(0.0, gain_polynomial(coeffs, math.log(s)))


def relative_mse(stat: dict[str, float], g: float) -> float:
    """MSE of ``up + g d`` relative to bicubic's (1: as good as bicubic)."""
    return (stat["ee"] - 2 * g * stat["de"] + g * g * stat["dd"]) / stat["ee"]


def fit_gain(stats: dict[float, dict[str, float]]) -> list[float]:
    """(0, c1, c2) with g(PIN_FACTOR) = PIN_GAIN, minimising the summed relative MSE with no
    factor worse than bicubic."""
    tp = math.log(PIN_FACTOR)

    def coeffs(c2: float) -> list[float]:
        return [0.0, (PIN_GAIN - c2 * tp * tp) / tp, c2]

    def loss(c2: float) -> float:
        errors = [relative_mse(stat, gain_curve(coeffs(c2), s)) for s, stat in stats.items()]
        return sum(errors) if max(errors) <= 1.0 else math.inf  # no factor worse than bicubic

    grid = np.linspace(-3.0, 3.0, 6001)
    losses = [loss(c) for c in grid]
    if not np.isfinite(min(losses)):
        raise ValueError("no gain curve of this form keeps every factor at least as good as bicubic")
    best = float(grid[int(np.argmin(losses))])
    return [round(v, 6) for v in coeffs(best)]


def calibrate(model: SRCNN, images: list[np.ndarray], checkpoint_sha256: str, provenance: dict) -> dict:
    """Fit the gain for ``model``'s convolutions; the record the loader applies (see weights.py)."""
    stats = gain_statistics(model, images)
    coeffs = fit_gain(stats)
    per_factor = {
        str(s): {
            "best_gain": round(st["de"] / st["dd"], 4),
            "gain": round(gain_curve(coeffs, s), 4),
            "train_gain_db": round(-10 * math.log10(relative_mse(st, gain_curve(coeffs, s))), 3),
            "unit_gain_db": round(-10 * math.log10(relative_mse(st, 1.0)), 3),
        }
        for s, st in stats.items()
    }
    return {
        "checkpoint_sha256": checkpoint_sha256,
        "residual_gain": coeffs,
        "method": "closed-form MSE per factor, curve held at g(1)=0 and g(4)=1, summed MSE relative to bicubic "
                  "minimised over the one free coefficient (srspace/buildtime/official_gain.py)",
        **provenance,
        "factors": per_factor,
    }


def write(record: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(record, indent=2) + "\n")


def calibrate_checkpoint(checkpoint: Path, data: Path, out: Path, crop: int = 192, holdout_every: int = 8) -> dict:
    """Fit the gain of an SRCNN checkpoint on the training split of ``data`` (centre crops) and write it."""
    from ..quality.heldout import image_paths, load_rgb, split_holdout
    from ..models.weights import load_checkpoint, sha256_file

    train, held_out = split_holdout(image_paths(data), holdout_every)
    images = [centre_crop(load_rgb(path), crop) for path in train]
    model = SRCNN(None)
    model.load_state_dict(load_checkpoint(checkpoint, "srcnn"))
    record = calibrate(model, images, sha256_file(checkpoint), {
        "checkpoint": Path(checkpoint).name,
        "data": str(data),
        "images": f"{len(images)} training images ({crop} px centre crops); the {len(held_out)} held-out images unused",
        "command": f"python train.py --model srcnn --calibrate {Path(checkpoint).name}",
    })
    write(record, out)
    return record
