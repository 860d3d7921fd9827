"""Image quality figures."""
from __future__ import annotations

import math

import numpy as np

from ..contract import DETAIL_SEARCH, DETAIL_SIDE
from .colour import rgb_to_y


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB between two same-shape float arrays; inf when identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def _y_planes(sr: np.ndarray, hr: np.ndarray, shave: int) -> tuple[np.ndarray, np.ndarray]:
    """The Y channels of HxWx3 RGB floats in [0,1], ``shave`` pixels cropped from each border;
    ``sr`` clipped and rounded to 8 bits first, as a saved image would be."""
    sr = np.round(np.clip(sr, 0.0, 1.0) * 255.0) / 255.0
    ys, yh = rgb_to_y(sr), rgb_to_y(hr)
    if shave:
        ys, yh = ys[shave:-shave, shave:-shave], yh[shave:-shave, shave:-shave]
    return ys, yh


def psnr_y(sr: np.ndarray, hr: np.ndarray, shave: int) -> float:
    """Y-channel PSNR of HxWx3 RGB floats in [0,1] (``sr`` as saved), ``shave`` px from each border."""
    return psnr(*_y_planes(sr, hr, shave))


def ssim_y(sr: np.ndarray, hr: np.ndarray, shave: int) -> float:
    """SSIM of the Y channels (as ``psnr_y`` takes them), by scikit-image's reference implementation."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(*_y_planes(sr, hr, shave), data_range=1.0))


def detailed_spot(img: np.ndarray, side: int = DETAIL_SIDE) -> tuple[int, int]:
    """(y, x) of the ``side``-square window (cut to the image) with the most detail, as
    contract.DETAIL_SEARCH searches (browser/viewer.js's detailedSpot the same way): where the
    methods differ, not a patch of sky."""
    side = min(side, *img.shape[:2])
    gray = img[..., :3].astype(np.float64).sum(axis=2)  # R+G+B: luma's order, the page's sum
    step = max(DETAIL_SEARCH["minStep"], side // DETAIL_SEARCH["windowsPerSide"])
    stride = max(1, side // DETAIL_SEARCH["samplesPerSide"])
    best, spot = -1.0, (0, 0)
    for y in range(0, gray.shape[0] - side + 1, step):
        for x in range(0, gray.shape[1] - side + 1, step):
            v = float(gray[y : y + side : stride, x : x + side : stride].var())
            if v > best:
                best, spot = v, (y, x)
    return spot
