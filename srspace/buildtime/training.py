"""Training SRCNN and ESPCN on a folder of images: seedable, resumable, measured."""
from __future__ import annotations

import copy
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from ..contract import output_size
from ..runtime.engines import TorchEngine
from ..contract import ESPCN_FACTORS
from ..quality.heldout import as_jpeg, centre_crop, downscale, gain_over_bicubic, image_paths, load_rgb, split_holdout
from ..imaging.colour import rgb_to_ycbcr, to_uint8
from ..models.networks import ESPCN, SRCNN, init_srcnn_as_bicubic
from ..models.weights import load_weights, save_weights

SRCNN_FACTORS = [round(1.5 + 0.1 * i, 1) for i in range(26)]  # the slider's steps in [1.5, 4]
GAIN_START = (0.0, 1.2, 0.0)  # SRCNN's residual gain g(s) = 1.2 ln s, see Trainer


@dataclass
class TrainConfig:
    model: str  # "srcnn" or "espcn"
    data: Path | list[Path]  # one folder or several: every image under them is a training image
    out: Path  # the weights file written at the end, in the official checkpoint layout
    checkpoint: Path | None = None  # resumable state; default: out + ".ckpt"
    steps: int = 4000
    batch: int = 16
    patch: int = 72  # HR patch side
    lr: float = 2e-4
    seed: int = 0
    val_every: int = 250
    val_crop: int = 192  # HR centre crop used for the quick validation PSNR
    holdout_every: int = 8
    threads: int = 0
    max_images: int = 0  # 0: all
    init: Path | None = None  # start from these weights (any checkpoint layout) instead of from scratch
    balance: float = 1.0  # SRCNN: divide each factor group's MSE by its bicubic MSE to this power (1: every factor counts in dB; 0: plain MSE)
    factor_groups: int = 4  # SRCNN: factors per step, each on batch / factor_groups patches
    anchor: float = 3.0  # SRCNN: the first group of every step uses this factor (the fixed model's); 0: none
    gain_lr_ratio: float = 20.0  # SRCNN: learning rate of the residual gain, relative to lr
    report_factors: list[float] = field(default_factory=list)
    factor: int = 3  # ESPCN: its native factor (one of contract.ESPCN_FACTORS), one network per factor
    val_data: Path | None = None  # a folder held out whole for validation; None: every holdout_every-th image of data
    last_lr_ratio: float = 0.1  # ESPCN: the last layer's learning rate relative to lr (Shi et al. use 0.1)
    jpeg_quality: tuple[int, int] | None = None  # LR saved as JPEG at a quality drawn from this range (the photo set)
    jpeg_share: float = 0.85  # the share of LR patches that are JPEG-encoded when jpeg_quality is set
    ema: float = 0.0  # validate and write an exponential moving average of the weights with this decay (0: off)

    def __post_init__(self):
        folders = self.data if isinstance(self.data, (list, tuple)) else [self.data]
        self.data, self.out = [Path(f) for f in folders], Path(self.out)
        self.val_data = Path(self.val_data) if self.val_data else None
        if self.model == "espcn" and self.factor not in ESPCN_FACTORS:
            raise ValueError(f"ESPCN is trained at x{'/x'.join(map(str, ESPCN_FACTORS))}, not x{self.factor}")
        if self.jpeg_quality and not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"JPEG qualities must be 1 <= low <= high <= 100, got {self.jpeg_quality}")
        self.checkpoint = Path(self.checkpoint) if self.checkpoint else self.out.with_suffix(self.out.suffix + ".ckpt")


JPEG_CONTEXT = 16  # LR pixels around a photo-set patch that are JPEG-encoded with it (two 8x8 blocks)


class PatchSampler:
    """Random HR patches with flips and 90-degree turns, and their bicubic-downscaled LR (optionally
    saved as JPEG at a random quality, as a photograph's pixels arrive)."""

    def __init__(self, images: list[np.ndarray], rng: np.random.Generator,
                 jpeg_quality: tuple[int, int] | None = None, jpeg_share: float = 0.0):
        self.images = list(images)
        self.rng = rng
        self.jpeg_quality, self.jpeg_share = jpeg_quality, jpeg_share
        self.largest_side = max((min(img.shape[:2]) for img in self.images), default=0)

    def _crop(self, h: int, w: int) -> np.ndarray:
        for _ in range(100):
            img = self.images[self.rng.integers(len(self.images))]
            if img.shape[0] >= h and img.shape[1] >= w:
                y = self.rng.integers(img.shape[0] - h + 1)
                x = self.rng.integers(img.shape[1] - w + 1)
                patch = img[y : y + h, x : x + w]
                if self.rng.random() < 0.5:
                    patch = patch[:, ::-1]
                if h == w:
                    patch = np.rot90(patch, self.rng.integers(4))
                return np.ascontiguousarray(patch)
        raise ValueError(f"no training image is at least {h}x{w}")

    def _jpeg_pair(self, lr_side: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
        """An (LR, HR) pair whose LR was cut from a JPEG of a larger LR region, at a random offset:
        as in a photograph, the 8x8 block grid falls anywhere in the patch and the blocks at its
        edges are whole, where a JPEG of the patch alone would put the grid at its corner every time."""
        margin = JPEG_CONTEXT if (lr_side + JPEG_CONTEXT) * factor <= self.largest_side else 0
        side = lr_side + margin
        region = self._crop(side * factor, side * factor)
        lr = np.asarray(as_jpeg(downscale(region, (side, side)), int(self.rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))))
        y, x = self.rng.integers(margin + 1, size=2)
        hr = region[y * factor : (y + lr_side) * factor, x * factor : (x + lr_side) * factor]
        return np.ascontiguousarray(lr[y : y + lr_side, x : x + lr_side]), np.ascontiguousarray(hr)

    def sample(self, batch: int, lr_side: int, factor: float) -> tuple[np.ndarray, np.ndarray]:
        """(LR, HR) uint8 arrays, N x l x l x 3 and N x L x L x 3 with L = output_size(l, factor)."""
        hr_side = output_size(lr_side, factor)
        lrs, hrs = [], []
        for _ in range(batch):
            if self.jpeg_quality and float(factor).is_integer() and self.rng.random() < self.jpeg_share:
                lr, hr = self._jpeg_pair(lr_side, int(factor))
            else:
                hr = self._crop(hr_side, hr_side)
                lr = np.asarray(downscale(hr, (lr_side, lr_side)))
            lrs.append(lr)
            hrs.append(hr)
        return np.stack(lrs), np.stack(hrs)


def load_training_images(paths: list[Path], min_side: int, log=print, what: str = "training") -> list[np.ndarray]:
    """The images of ``paths`` as uint8 RGB, leaving out (and saying so) files that cannot be read and
    images smaller than ``min_side`` on a side; at least one must remain."""
    images, unreadable, small = [], [], []
    for path in paths:
        try:
            img = to_uint8(load_rgb(path))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            unreadable.append(f"{path.name} ({type(exc).__name__})")
            continue
        if min(img.shape[:2]) >= min_side:
            images.append(img)
        else:
            small.append(path.name)
    if unreadable:
        log(f"{what}: skipped {len(unreadable)} unreadable file(s): {', '.join(unreadable[:5])}{' ...' if len(unreadable) > 5 else ''}")
    if small:
        log(f"{what}: skipped {len(small)} image(s) smaller than the {min_side}-pixel patch: {', '.join(small[:5])}{' ...' if len(small) > 5 else ''}")
    if not images:
        raise ValueError(f"no {what} image is at least {min_side}x{min_side} pixels and readable "
                         f"({len(paths)} file(s) found); add larger images or pass a smaller --patch")
    return images


def to_batch(arr: np.ndarray, y_only: bool) -> torch.Tensor:
    x = arr.astype(np.float32) / 255.0
    if y_only:
        x = rgb_to_ycbcr(x)[..., :1]
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class Trainer:
    def __init__(self, config: TrainConfig, log=print):
        self.config, self.log = config, log
        c = config
        if c.threads:
            torch.set_num_threads(c.threads)
        torch.manual_seed(c.seed)
        self.rng = np.random.default_rng(c.seed)
        random.seed(c.seed)
        paths = [p for folder in c.data for p in image_paths(folder)]
        if c.max_images:
            paths = paths[: c.max_images]
        if c.val_data:
            train_paths, val_paths = paths, image_paths(c.val_data)
            if not val_paths:
                raise ValueError(f"no images under the validation folder {c.val_data}")
        else:
            if len(paths) < 2:
                raise ValueError(f"need at least 2 images under {', '.join(map(str, c.data))}, found {len(paths)}")
            train_paths, val_paths = split_holdout(paths, c.holdout_every)
        self.train_paths, self.val_paths = train_paths, val_paths
        min_side = self.hr_side(c.factor) if c.model == "espcn" else c.patch + 2
        self.sampler = PatchSampler(load_training_images(train_paths, min_side, log), self.rng, c.jpeg_quality, c.jpeg_share)
        self.val_images = [img.astype(np.float32) / 255.0
                           for img in load_training_images(val_paths, 2 * c.factor + 8, log, "validation")]
        if c.model == "srcnn":
            self.model = SRCNN(upscale_factor=None)
            init_srcnn_as_bicubic(self.model, seed=c.seed)
            self.key = "srcnn_dynamic"
        elif c.model == "espcn":
            self.model = ESPCN(c.factor)
            for conv in (self.model.conv1, self.model.conv2, self.model.conv3):
                torch.nn.init.orthogonal_(conv.weight, torch.nn.init.calculate_gain("relu"))
            torch.nn.init.orthogonal_(self.model.conv4.weight)
            self.key = f"espcn_x{c.factor}"
            self.model.to(memory_format=torch.channels_last)
        else:
            raise ValueError(f"unknown model {c.model!r}: choose srcnn or espcn")
        if c.init:
            self._load_init(Path(c.init))
        if c.model == "srcnn":
            self._hold_gain_at_zero_for_factor_one()
        gain = [p for n, p in self.model.named_parameters() if n == SRCNN.GAIN_KEY]
        rest = [p for n, p in self.model.named_parameters() if n != SRCNN.GAIN_KEY]
        # Adam moves each weight by about lr per step: the SRCNN gain's coefficients must
        # travel ~0.5, so they get their own, larger rate.
        groups = [{"params": rest}] + ([{"params": gain, "lr": c.lr * c.gain_lr_ratio}] if gain else [])
        if c.model == "espcn":  # the sub-pixel layer learns at a tenth of the rate, as in the paper
            last = list(self.model.conv4.parameters())
            groups = [{"params": [p for p in rest if all(p is not q for q in last)]},
                      {"params": last, "lr": c.lr * c.last_lr_ratio}]
        self.optim = torch.optim.Adam(groups, lr=c.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.optim, T_max=c.steps, eta_min=c.lr * 0.05)
        # the weights validated and written: the running ones, or their moving average (Polyak)
        self.average = {k: v.detach().clone() for k, v in self.model.state_dict().items()} if c.ema else None
        self.step = 0
        self.history: list[dict] = []
        self.seconds = 0.0

    def hr_side(self, factor: float) -> int:
        """ESPCN's HR patch side at its factor: ``patch`` rounded down to a multiple of the factor."""
        return output_size(self.config.patch // factor, factor)

    def _load_init(self, path: Path) -> None:
        """Start from other weights. ESPCN at another factor shares every layer but the sub-pixel one,
        which then keeps its fresh start (FSRCNN's transfer between factors)."""
        c = self.config
        if c.model == "srcnn":
            self.model.load_state_dict(load_weights(path, "srcnn"))
            return
        source = torch.load(path, map_location="cpu", weights_only=True)
        source = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in source.items()}
        own = self.model.state_dict()
        fits = {k: v.float() for k, v in source.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
        if not any(k.startswith("conv1.") for k in fits):
            raise ValueError(f"{path} does not hold ESPCN weights")
        self.model.load_state_dict({**own, **fits})
        if len(fits) < len(own):
            self.log(f"started from {path} except {', '.join(sorted(set(own) - set(fits)))} (another factor)")

    def _hold_gain_at_zero_for_factor_one(self) -> None:
        """Train SRCNN's residual gain with its constant term held at 0: g(1) = 0, so x1 is an
        exact pass-through and small factors get a gentle correction. Weights that still have a
        constant term (fresh, official) start from g(s) = 1.2 ln s, about the strength a network
        trained without a gain wanted at each factor (0.5 at x1.5 up to 1.5 at x4)."""
        gain = self.model.residual_gain
        with torch.no_grad():
            if float(gain[0]) != 0.0:
                gain.copy_(torch.tensor(GAIN_START))
        gain.register_hook(lambda grad: grad * torch.tensor([0.0, 1.0, 1.0]))

    # checkpoints -----------------------------------------------------------------
    def save_checkpoint(self) -> None:
        path = self.config.checkpoint
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "step": self.step,
            "model": self.model.state_dict(),
            "optim": self.optim.state_dict(),
            "sched": self.sched.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "np_rng": json.dumps(self.rng.bit_generator.state),
            "history": json.dumps(self.history),
            "seconds": self.seconds,
            **({"average": self.average} if self.average is not None else {}),
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def resume(self) -> bool:
        path = self.config.checkpoint
        if not path.exists():
            return False
        state = torch.load(path, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["torch_rng"])
        self.rng.bit_generator.state = json.loads(state["np_rng"])
        self.history = json.loads(state["history"])
        self.step = int(state["step"])
        self.seconds = float(state["seconds"])
        if self.average is not None:
            self.average = state.get("average") or {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.log(f"resumed from {path} at step {self.step}")
        return True

    # training --------------------------------------------------------------------
    def train_step(self) -> float:
        c = self.config
        if c.model == "espcn":
            # The loss counts every pixel, the patch's outer ring too (whose context is partly the
            # zero padding): leaving that ring out cost 0.12 dB at x4 (BSD68 crops, 2,000 steps), whose images are
            # small enough that their own borders weigh in the benchmark.
            lr, hr = self.sampler.sample(c.batch, c.patch // c.factor, c.factor)
            x = to_batch(lr, True).contiguous(memory_format=torch.channels_last)  # ~20% faster on CPU
            return self._update(F.mse_loss(self.model(x), to_batch(hr, True)))
        # Several factors per step (groups of patches), so each update pulls the one network
        # towards every factor at once rather than lurching from one factor to the next.
        groups = max(1, min(c.factor_groups, c.batch))
        sizes = [c.batch // groups + (i < c.batch % groups) for i in range(groups)]
        factors = [float(self.rng.choice(SRCNN_FACTORS)) for _ in sizes]
        if c.anchor:  # these weights are also srcnn_x3's, which only ever runs at x3
            factors[0] = c.anchor
        losses = [self._srcnn_loss(size, factor) for size, factor in zip(sizes, factors)]
        return self._update(sum(losses) / groups)

    def _srcnn_loss(self, size: int, factor: float) -> torch.Tensor:
        c = self.config
        lr, hr = self.sampler.sample(size, max(8, round(c.patch / factor)), factor)
        x, y = to_batch(lr, False), to_batch(hr, False)
        scales = torch.tensor([1.0, 1.0, factor, factor])
        upsampled = self.model.upsample(x, scales)
        err = F.mse_loss(self.model.refine(upsampled, scales), y)
        if not c.balance:
            return err
        # One network serves every factor: plain MSE favours the large factors' large errors
        # and over-sharpens small ones. MSE relative to bicubic's is a dB scale. The ratio is
        # taken per group of patches that share a factor: per patch, flat patches (tiny bicubic
        # error) would get huge weights and destabilise training.
        base = F.mse_loss(upsampled, y).detach().clamp(min=1e-6)
        return err / base**c.balance

    def _update(self, loss: torch.Tensor) -> float:
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        self.sched.step()
        if self.average is not None:
            with torch.no_grad():
                for key, value in self.model.state_dict().items():
                    self.average[key].lerp_(value, 1.0 - self.config.ema)
        return loss.item()

    def served_model(self) -> torch.nn.Module:
        """The network validation measures and ``report`` writes: with ``ema``, one holding the averaged weights."""
        if self.average is None:
            return self.model
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.average)
        return model

    def validate(self, factor: float | None = None, full: bool = False, jpeg_quality: int | None = None) -> dict[str, float]:
        self.model.eval()
        images = self.val_images if full else [centre_crop(img, self.config.val_crop) for img in self.val_images]
        factor = factor or self.native_factor
        result = gain_over_bicubic(TorchEngine({self.key: self.served_model().eval()}), self.key, images, factor, jpeg_quality)
        self.model.train()
        return result

    @property
    def native_factor(self) -> float:
        """The factor the quick validation measures: ESPCN's own, SRCNN's fixed model's (x3)."""
        return float(self.config.factor) if self.config.model == "espcn" else 3.0

    @property
    def val_jpeg(self) -> int | None:
        """The photo set is validated on JPEG inputs at quality 60 (benchmarks/quality.py's protocol)."""
        return 60 if self.config.jpeg_quality else None

    def fit(self) -> dict:
        c = self.config
        self.model.train()
        bar = tqdm(total=c.steps, initial=self.step, desc=f"train {c.model}", dynamic_ncols=True)
        val = self.history[-1] if self.history else {}
        losses: list[float] = []
        while self.step < c.steps:
            start = time.perf_counter()
            losses.append(self.train_step())
            self.step += 1
            self.seconds += time.perf_counter() - start
            if self.step % c.val_every == 0 or self.step == c.steps:
                v = self.validate(jpeg_quality=self.val_jpeg)
                val = {"step": self.step, "loss": float(np.mean(losses[-c.val_every :])), "psnr": v["model"], "gain": v["gain"]}
                self.history.append(val)
                self.save_checkpoint()
            bar.set_postfix(loss=f"{losses[-1]:.5f}", val_psnr=f"{val.get('psnr', float('nan')):.2f}", gain=f"{val.get('gain', float('nan')):+.2f}")
            bar.update(1)
        bar.close()
        return self.report()

    def report(self) -> dict:
        c = self.config
        factors = c.report_factors or ([2.0, 3.0, 4.0] if c.model == "srcnn" else [self.native_factor])
        table = {str(f): self.validate(f, full=True) for f in factors}
        provenance = {
            "model": c.model,
            "key": self.key,
            "data": [str(f) for f in c.data],
            "train_images": len(self.train_paths),
            "validation": str(c.val_data) if c.val_data else f"every {c.holdout_every}th image of data",
            "validation_images": [p.name for p in self.val_paths],
            "steps": self.step,
            "batch": c.batch,
            "patch": c.patch,
            "lr": c.lr,
            "schedule": "cosine to 0.05 lr",
            "seed": c.seed,
            "init": str(c.init) if c.init else None,
            "train_seconds": round(self.seconds, 1),
            "torch": torch.__version__,
            "validation_psnr_y": table,
        }
        if c.model == "srcnn":
            provenance.update(balance=c.balance, factor_groups=c.factor_groups, anchor=c.anchor)
        else:
            provenance.update(factor=c.factor, last_lr_ratio=c.last_lr_ratio)
        if c.ema:
            provenance["ema_decay"] = c.ema
        if c.jpeg_quality:
            provenance["degradation"] = (f"bicubic, then {round(c.jpeg_share * 100)}% of LR patches saved as JPEG "
                                         f"at a quality in {c.jpeg_quality[0]}-{c.jpeg_quality[1]}, each cut at a random offset from a JPEG "
                                         f"of a region {JPEG_CONTEXT} LR px larger")
            provenance["validation_psnr_y_jpeg"] = {
                f"{f} q{q}": self.validate(f, full=True, jpeg_quality=q) for f in factors for q in (60, 80)}
        else:
            provenance["degradation"] = "bicubic (PIL, antialiased)"
        save_weights(self.served_model().state_dict(), c.model, c.out, provenance)
        return provenance
