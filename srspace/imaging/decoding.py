"""Image files in: decoding with clear errors, and every mode a user may bring.

Gray stays gray, alpha is kept (and upscaled), 16-bit stays 16-bit, EXIF orientation is
applied, and animations give their first frame, each adjustment reported as a notice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..contract import MAX_INPUT_PIXELS, MIN_SIDE
from ..errors import NO_IMAGE, ImageInputError, say, shorten, shorten_name


@dataclass
class InputImage:
    pixels: np.ndarray  # H x W x C, C = 1 (gray) or 3 (RGB): uint8 as decoded, or float32 in [0,1] (16-bit, float)
    alpha_pixels: np.ndarray | None  # H x W x 1 uint8, or None
    sixteen_bit: bool
    notices: list[str] = field(default_factory=list)

    @property
    def color(self) -> np.ndarray:
        """The colour planes as float32 in [0,1] (a full-size copy for 8-bit images)."""
        return _as_float(self.pixels)

    @property
    def alpha(self) -> np.ndarray | None:
        return None if self.alpha_pixels is None else _as_float(self.alpha_pixels)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


def _as_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32)
        out *= np.float32(1 / 255.0)
        return out
    return arr


_GRAY_16 = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


def peek_size(path: str | Path | None) -> tuple[int, int]:
    """(W, H) of an image file from its header, with every check ``load_image`` makes before decoding."""
    return peek(path)[0]


def peek(path: str | Path | None) -> tuple[tuple[int, int], int | None]:
    """``peek_size`` and ``jpeg_quality`` from one read of the header."""
    if not path or Path(path).is_dir():
        raise ImageInputError(NO_IMAGE)
    with _open(Path(path), decode=False) as img:
        return img.size, _quality(img)


# The JPEG standard's luminance quantization table (Annex K), which libjpeg scales by quality.
ANNEX_K_LUMA_SUM = sum((
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99))


def quality_from_luma_table(table) -> int:
    """libjpeg's quality (1-100) that scales the standard luminance table to ``table`` (64 values,
    any order): the scale is the sum's ratio, quality = 100 - scale/2 above 50, 5000/scale below.
    Encoders with tables of their own get the quality whose tables quantize as coarsely."""
    scale = 100.0 * sum(table) / ANNEX_K_LUMA_SUM
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return int(min(100, max(1, round(quality))))


def jpeg_quality(path: str | Path) -> int | None:
    """The estimated quality of a JPEG file (from its luminance quantization table, as read from the
    header; nothing is decoded), or None for any other format: what ``auto`` decides the weights by."""
    with _open(Path(path), decode=False) as img:
        return _quality(img)


def _quality(img: Image.Image) -> int | None:
    tables = getattr(img, "quantization", None) if img.format == "JPEG" else None
    return quality_from_luma_table(tables[0]) if tables and 0 in tables else None


def _open(path: Path, decode: bool = True) -> Image.Image:
    if not path.exists():
        raise ImageInputError(NO_IMAGE)
    if path.stat().st_size == 0:
        raise ImageInputError(say("emptyFile", name=shorten_name(path)))
    try:
        img = Image.open(path)
        # sizes come from the header: nothing is decoded for an image that would be refused
        if img.width * img.height > MAX_INPUT_PIXELS:
            raise ImageInputError(say("inputTooLarge", name=shorten_name(path), width=img.width, height=img.height,
                                      limit=f"{MAX_INPUT_PIXELS / 1e6:.0f}"))
        if decode:
            img.load()
    except Image.DecompressionBombError as exc:
        raise ImageInputError(f"'{shorten_name(path)}' has too many pixels to decode safely. Downscale it first.") from exc
    except UnidentifiedImageError as exc:
        raise ImageInputError(say("notAnImage", name=shorten_name(path))) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageInputError):
            raise
        raise ImageInputError(say("damaged", name=shorten_name(path), why=str(exc)[:80])) from exc
    return img


def load_image(path: str | Path) -> InputImage:
    """Decode an image file into color and alpha planes, or raise ImageInputError. A request's
    sizes are checked from the header first (``srspace.runtime.job``): nothing too large is decoded."""
    if not path or Path(path).is_dir():
        raise ImageInputError(NO_IMAGE)
    img = _open(Path(path))
    notices = []
    # is_animated looks one frame ahead; n_frames would walk every page of the file (a tiny
    # TIFF of 50,000 pages took 11.5 s just to be counted, before any check could stop it)
    if getattr(img, "is_animated", False):
        notices.append(say("animated"))
        img.seek(0)
    orientation = img.getexif().get(0x0112, 1)
    if orientation in range(2, 9):
        img = ImageOps.exif_transpose(img)
        notices.append(say("orientation", orientation=orientation))
    elif orientation != 1:  # 1-8 are the orientations EXIF defines
        notices.append(f"EXIF orientation {shorten(orientation)} is not one EXIF defines (1-8); the image was used as stored.")
    mode = img.mode
    alpha = None
    sixteen = False
    if mode in _GRAY_16:
        arr = np.asarray(img, dtype=np.float64)
        sixteen = arr.max() > 255 or mode != "I"
        color = (arr / (65535.0 if sixteen else 255.0)).clip(0, 1)[..., None].astype(np.float32)
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:  # NaN would make every output pixel 0, reported as fine
            raise ImageInputError(f"'{shorten_name(Path(path))}' has {bad} pixel(s) that are not numbers (NaN or "
                                  "infinite); replace them in the file first.")
        color = (arr / max(float(arr.max()), 1.0)).clip(0, 1)[..., None].astype(np.float32)
        sixteen = True
    else:
        has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)
        gray = mode in ("1", "L", "LA", "La") or (mode in ("P", "PA") and _palette_is_gray(img))
        target = ("LA" if gray else "RGBA") if has_alpha else ("L" if gray else "RGB")
        arr = np.asarray(img if img.mode == target else img.convert(target))  # uint8, as decoded
        if arr.ndim == 2:
            arr = arr[..., None]
        color, alpha = (np.ascontiguousarray(arr[..., :-1]), np.ascontiguousarray(arr[..., -1:])) if has_alpha else (arr, None)
    del img
    if min(color.shape[:2]) < MIN_SIDE:
        raise ImageInputError(say("tooSmall", width=color.shape[1], height=color.shape[0], side=MIN_SIDE))
    return InputImage(pixels=color, alpha_pixels=alpha, sixteen_bit=sixteen, notices=notices)


def _palette_is_gray(img: Image.Image) -> bool:
    rgb = np.asarray(img.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
