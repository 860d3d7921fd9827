"""Colour and layout conversions between PIL images and arrays: pure functions, no model code."""
from __future__ import annotations

import numpy as np
from PIL import Image


def to_float(img: Image.Image) -> np.ndarray:
    """An RGB or L PIL image as float32 HxWxC in [0, 1]."""
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr[..., None] if arr.ndim == 2 else arr


def quantise(arr: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Float in [0, 1] (any range; clipped) to the full range of unsigned ``dtype`` (uint8 or
    uint16) with rounding; one temporary of ``arr``'s size, not three (results are tile-sized)."""
    out = np.clip(arr, 0.0, 1.0)
    out *= float(np.iinfo(dtype).max)
    out += 0.5
    return out.astype(dtype)


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Float in [0, 1] (any range; clipped) to uint8 with rounding."""
    return quantise(arr, np.uint8)


def to_nchw(arr: np.ndarray) -> np.ndarray:
    """HxWxC float32 to a contiguous 1xCxHxW batch."""
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None], dtype=np.float32)


def from_nchw(batch: np.ndarray) -> np.ndarray:
    """1xCxHxW back to HxWxC."""
    return batch[0].transpose(1, 2, 0)


def as_rgb(arr: np.ndarray) -> np.ndarray:
    """HxWx1 gray replicated to HxWx3; RGB as it is."""
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def rgb_to_ycbcr(arr: np.ndarray, axis: int = -1) -> np.ndarray:
    """Float RGB in [0,1] to full-range BT.601 YCbCr in [0,1]: PIL's ``convert("YCbCr")`` without
    rounding. ``axis`` is the channel axis (-1 for HxWxC, 1 for NCHW)."""
    r, g, b = np.moveaxis(arr, axis, 0)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.stack([y, cb, cr], axis=axis).astype(np.float32)


def ycbcr_to_rgb(arr: np.ndarray, axis: int = -1) -> np.ndarray:
    """Inverse of ``rgb_to_ycbcr``, float32. Each plane is computed into the result in place (a
    tile's colour merge is at output resolution: no temporaries of its size beyond two)."""
    y, cb, cr = np.moveaxis(arr, axis, 0)
    out = np.empty(arr.shape, np.float32)
    r, g, b = np.moveaxis(out, axis, 0)
    cb, cr = cb - 0.5, cr - 0.5
    np.add(y, np.multiply(cr, 1.402, out=r), out=r)  # y + 1.402 cr
    np.subtract(y, np.multiply(cb, 0.344136, out=g), out=g)  # y - 0.344136 cb
    np.subtract(g, np.multiply(cr, 0.714136, out=cr), out=g)  # ... - 0.714136 cr (cr is our own temporary)
    np.add(y, np.multiply(cb, 1.772, out=b), out=b)  # y + 1.772 cb
    return out


def rgb_to_y(arr: np.ndarray) -> np.ndarray:
    """Luma of float RGB in [0,1] as the SR literature measures it (MATLAB rgb2ycbcr, [16,235]/255)."""
    return (16.0 + 65.481 * arr[..., 0] + 128.553 * arr[..., 1] + 24.966 * arr[..., 2]) / 255.0


def to_pil(color: np.ndarray, alpha: np.ndarray | None = None, sixteen_bit: bool = False) -> Image.Image:
    """Planes back to a PIL image of the matching mode: floats in [0,1] (clipped), or uint8 planes
    and a uint16 gray plane as they are."""
    if color.dtype == np.uint16 or (sixteen_bit and color.shape[2] == 1 and alpha is None):
        plane = color[..., 0] if color.dtype == np.uint16 else quantise(color[..., 0], np.uint16)
        return Image.fromarray(plane)
    planes = [color] if alpha is None else [color, alpha]
    if all(p.dtype == np.uint8 for p in planes):
        data = planes[0] if len(planes) == 1 else np.concatenate(planes, axis=2)
    else:
        data = np.empty((*color.shape[:2], sum(p.shape[2] for p in planes)), dtype=np.uint8)
        c = 0
        for p in planes:
            for i in range(p.shape[2]):  # one plane at a time: large results need no full-size float temporaries
                data[..., c] = quantise(p[..., i]) if p.dtype != np.uint8 else p[..., i]
                c += 1
    return Image.fromarray(data[..., 0] if data.shape[2] == 1 else data)  # L, LA, RGB or RGBA
