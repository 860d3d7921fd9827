"""Why a network beats bicubic, on the visitor's own image: it is downsized by the factor,
upscaled back by bicubic and by every model, and each result is measured against the original."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..imaging.colour import as_rgb, to_pil
from ..contract import BICUBIC_KEY, DETAIL_SIDE, MIN_SIDE, MODELS, QUALITY_CHECK_MAX_PIXELS
from ..imaging.decoding import load_image
from ..errors import ImageInputError
from ..quality.heldout import degrade
from ..imaging.metrics import detailed_spot, psnr_y, ssim_y
from ..runtime.pipeline import counted, drain, upscale_steps
from ..quality.table import RESTORE_FROM
from ..runtime.job import UpscaleJob

CROP_ZOOM = 3  # the crops: one detailed spot of each result (contract.DETAIL_SIDE square), enlarged


@dataclass(frozen=True)
class MethodScore:
    method: str  # a model key or "bicubic"
    weights: str  # "" for bicubic
    psnr_y: float  # dB, against the original
    ssim_y: float
    gain: float  # dB over bicubic


@dataclass
class QualityCheck:
    factor: float
    scores: list[MethodScore]  # bicubic first, then each model
    crops: list[tuple[Image.Image, str]]  # zoomed crops of the same spot: original, bicubic, each model


def quality_job(upscaler, path, factor, weights=None) -> UpscaleJob:
    """The quality check's job, checked from the header before any work: a factor that
    leaves something to restore, an image of at most QUALITY_CHECK_MAX_PIXELS, MIN_SIDE px once
    downsized, and ``weights`` a choice this server has."""
    job = upscaler.job(path, BICUBIC_KEY, factor, limit=None, choices=(BICUBIC_KEY,))
    for key in MODELS:
        upscaler.weight_set(key, job.factor, weights)
    width, height = job.size
    if job.factor < RESTORE_FROM:
        raise ImageInputError(f"The quality check needs a factor of at least {RESTORE_FROM:g}: at x1 there is nothing to restore.")
    if width * height > QUALITY_CHECK_MAX_PIXELS:
        raise ImageInputError(f"The quality check takes images up to {QUALITY_CHECK_MAX_PIXELS / 1e6:.0f} MP; "
                              f"this one is {width}x{height}. Crop or downscale it first.")
    if min(width, height) / job.factor < MIN_SIDE:
        raise ImageInputError(f"Downsized by {job.factor:g}, this image is under {MIN_SIDE} px on a side; "
                              "use a larger image or factor.")
    return job


def check_quality_cost(job: UpscaleJob) -> int:
    """The work of a quality check, in pixels, for the lanes: bicubic and every model run once at the
    image's own size (the downsized image upscaled back)."""
    width, height = job.size
    return width * height * (len(MODELS) + 1)


def check_quality_steps(upscaler, job: UpscaleJob, weights=None):
    """``job``'s image downsized by its factor (PIL bicubic, 8-bit, as the quality table's
    inputs are made), upscaled back by bicubic and by every model (each with ``weights``, or the
    best set for it), each measured against the original (Y-PSNR and SSIM, ``ceil(factor)`` px
    shaved). Yields (methods done, methods in all) between tiles; returns the QualityCheck."""
    factor = job.factor
    methods = [(BICUBIC_KEY, "")] + [(key, upscaler.weight_set(key, factor, weights)) for key in MODELS]
    lr, hr = degrade(as_rgb(load_image(job.path).color), factor)
    shave = math.ceil(factor)
    side = min(DETAIL_SIDE, *hr.shape[:2])
    y, x = detailed_spot(hr, side)

    def zoomed(arr: np.ndarray) -> Image.Image:
        window = to_pil(np.clip(arr[y : y + side, x : x + side], 0, 1))
        return window.resize((side * CROP_ZOOM, side * CROP_ZOOM), Image.NEAREST)

    outputs = []
    for i, (key, weights_used) in enumerate(methods):
        engine = upscaler.engines[weights_used]["onnxruntime"] if weights_used else None
        outputs.append((yield from counted(upscale_steps(engine, key, lr, factor), i, len(methods))))
    scores, crops, base = [], [(zoomed(hr), "original")], None
    for (method, weights_used), out in zip(methods, outputs):
        p = psnr_y(out, hr, shave)
        base = p if base is None else base  # bicubic comes first: the gain is over its PSNR
        scores.append(MethodScore(method, weights_used, p, ssim_y(out, hr, shave), p - base))
        crops.append((zoomed(out), f"{method} {p:.2f} dB"))
    return QualityCheck(factor, scores, crops)


def check_quality(upscaler, path, factor, weights=None) -> QualityCheck:
    """The whole check on one image file: ``quality_job`` then ``check_quality_steps`` to the end."""
    return drain(check_quality_steps(upscaler, quality_job(upscaler, path, factor, weights), weights))
