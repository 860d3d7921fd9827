"""From an image array to an upscaled image array, for any model key and engine.

Arrays are float32 HxWxC in [0,1] with C = 1 (gray) or 3 (RGB); alpha and file
formats are handled a layer up (``srspace.images``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .contract import BICUBIC_KEY, MODELS, output_size
from .imaging import as_rgb, from_nchw, rgb_to_ycbcr, to_nchw, ycbcr_to_rgb
from .networks import bicubic_resize_by
from .tiling import tile_process

Progress = Callable[[int, int], None]


def target_size(height: int, width: int, factor: float) -> tuple[int, int]:
    """(H', W') of every result at ``factor``: the contract's size rule on each side."""
    return output_size(height, factor), output_size(width, factor)


def bicubic(arr: np.ndarray, factor: float) -> np.ndarray:
    """Plain bicubic upscale, the same kernel and size rule as the models' own upsample."""
    with torch.inference_mode():
        return from_nchw(bicubic_resize_by(torch.from_numpy(to_nchw(arr)), factor).numpy())


def resize_to(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize to an exact (H, W); antialiased when shrinking."""
    if arr.shape[:2] == tuple(size):
        return arr
    shrinking = size[0] < arr.shape[0] or size[1] < arr.shape[1]
    with torch.inference_mode():
        out = F.interpolate(torch.from_numpy(to_nchw(arr)), size=size, mode="bicubic", align_corners=False, antialias=shrinking)
    return from_nchw(out.numpy())


def network_factor(key: str, factor: float) -> float:
    """The factor the network itself applies: fixed for the x3 models, the user's for the dynamic one."""
    return MODELS[key].fixed_factor or factor


def upscale_array(
    engine,
    key: str,
    arr: np.ndarray,
    factor: float,
    tile: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Upscale HxWxC ``arr`` by ``factor`` with model ``key`` on ``engine``; returns unclipped floats.

    Fixed-factor models apply their own factor, then a bicubic resize to the requested
    size. ESPCN sees only Y; Cb and Cr are upscaled bicubically and merged back.
    """
    target = target_size(arr.shape[0], arr.shape[1], factor)
    if key == BICUBIC_KEY:
        return bicubic(arr, factor)
    spec = MODELS[key]
    net_factor = network_factor(key, factor)

    def run(x: np.ndarray) -> np.ndarray:
        batch = tile_process(lambda t: engine.run(key, t, net_factor), to_nchw(x), net_factor, spec, tile, progress)
        return from_nchw(batch)

    gray = arr.shape[2] == 1
    if spec.channels == 1:
        if gray:
            out = run(arr)
        else:
            ycc = rgb_to_ycbcr(arr)
            y = np.clip(run(ycc[..., :1]), 0.0, 1.0)
            chroma = bicubic(ycc[..., 1:], net_factor)
            out = ycbcr_to_rgb(np.concatenate([y, chroma], axis=-1))
    else:
        out = run(as_rgb(arr))
        if gray:
            out = out.mean(axis=2, keepdims=True)
    return resize_to(out, target)
