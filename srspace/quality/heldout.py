"""The held-out photographs and the figure weights are judged by on them: gain over plain bicubic."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from ..contract import BICUBIC_KEY, IMAGE_SUFFIXES, output_size
from ..imaging.colour import to_float, to_uint8
from ..imaging.metrics import psnr_y
from ..runtime.pipeline import upscale_array

def image_paths(folder: Path) -> list[Path]:
    """Every image under ``folder``, sorted, so splits are reproducible."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def split_holdout(paths: list[Path], every: int = 8) -> tuple[list[Path], list[Path]]:
    """(train, validation): every ``every``-th image is held out."""
    return [p for i, p in enumerate(paths) if i % every], [p for i, p in enumerate(paths) if not i % every]


def centre_crop(img: np.ndarray, side: int) -> np.ndarray:
    """The centre ``side`` x ``side`` of an HxWxC image (all of a side that is shorter)."""
    y, x = max(0, (img.shape[0] - side) // 2), max(0, (img.shape[1] - side) // 2)
    return img[y : y + side, x : x + side]


def degrade(hr: np.ndarray, factor: float, jpeg_quality: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR crop): HR cropped so the size rule maps the LR size back onto it, then
    downscaled with PIL's antialiased bicubic and quantised to 8 bits; with ``jpeg_quality``,
    the LR is then saved as a JPEG of that quality (PIL's encoder, 4:2:0) and read back."""
    lh, lw = int(hr.shape[0] / factor), int(hr.shape[1] / factor)
    while output_size(lh, factor) > hr.shape[0]:
        lh -= 1
    while output_size(lw, factor) > hr.shape[1]:
        lw -= 1
    hr = hr[: output_size(lh, factor), : output_size(lw, factor)]
    lr = downscale(to_uint8(hr), (lw, lh))
    return to_float(as_jpeg(lr, jpeg_quality) if jpeg_quality else lr), hr


def downscale(hr: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """uint8 pixels downscaled to ``size`` (W, H) with PIL's antialiased bicubic: the LR of this
    benchmark and of training (buildtime.training) alike, so both see one degradation."""
    return Image.fromarray(hr).resize(size, Image.BICUBIC)


def as_jpeg(img: Image.Image, quality: int) -> Image.Image:
    """``img`` saved as a JPEG of ``quality`` (PIL's encoder, 4:2:0) and read back, as RGB."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def gain_over_bicubic(engine, key: str, images: list[np.ndarray], factor: float,
                      jpeg_quality: int | None = None) -> dict[str, float]:
    """Mean Y-PSNR of ``key`` and of bicubic, ``ceil(factor)`` pixels shaved, over RGB ``images``
    (their LR saved as JPEG of ``jpeg_quality`` when given)."""
    shave = math.ceil(factor)
    model, base = [], []
    for hr in images:
        lr, hr = degrade(hr, factor, jpeg_quality)
        model.append(psnr_y(upscale_array(engine, key, lr, factor), hr, shave))
        base.append(psnr_y(upscale_array(engine, BICUBIC_KEY, lr, factor), hr, shave))
    m, b = float(np.mean(model)), float(np.mean(base))
    return {"model": m, "bicubic": b, "gain": m - b}


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return to_float(img.convert("RGB"))

