"""Result files: their names, their bytes (lossless PNG, WebP or TIFF) and writing them, for the
app's downloads and the batch command alike, so both give the same bytes for the same input."""
from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .png import encode_png

FORMATS = {"png": "PNG", "webp": "WEBP", "tiff": "TIFF"}
# PNG comes from srspace.imaging.png (bands deflated on every core, 2-5x faster than PIL at level 1);
# the other formats from PIL with these options.
SAVE_OPTIONS = {"webp": {"lossless": True}, "tiff": {"compression": "tiff_deflate"}}
PNG_MODES = {"L", "LA", "RGB", "RGBA", "I;16"}  # what srspace.imaging.png writes: every mode a result can have
UNNAMED = "image"  # the stem of a result whose input had no usable name (a data: URL, an empty file name)


STEM_BYTES = 150  # a result's name, with the ".NAME.lock" and ".NAME.XXXXXXXX.part" written beside it, stays under 255 bytes
# Characters a file name must not carry into a download: controls, and the direction overrides that
# make "evil\u202egnp.exe" look like "evilexe.png".
HIDDEN_NAME_CHARACTERS = re.compile("[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def result_name(source: Path | str, key: str, factor: float, fmt: str) -> str:
    """``cat_srcnn_dynamic_x2.5.png``: what the file is, from its name alone. The input's stem without
    control or direction characters and leading dots (never a hidden file), cut to STEM_BYTES."""
    stem = HIDDEN_NAME_CHARACTERS.sub("", Path(source).stem if source else "").lstrip(". ")
    stem = stem.encode()[:STEM_BYTES].decode("utf-8", "ignore").rstrip()
    return f"{stem or UNNAMED}_{key}_x{factor:g}.{fmt}"


def encode(image: Image.Image, fmt: str) -> bytes:
    """The result file's bytes (PNG; lossless WebP; deflated TIFF)."""
    if fmt == "png" and image.mode in PNG_MODES:
        return encode_png(np.asarray(image))
    buffer = io.BytesIO()
    image.save(buffer, FORMATS[fmt], **SAVE_OPTIONS.get(fmt, {}))
    return buffer.getvalue()


def write_atomically(data: bytes, target: Path) -> None:
    """Write to a temporary name beside ``target``, then rename: a crash or Ctrl-C leaves the old
    state (no file), never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


@dataclass(frozen=True)
class UpscaleFiles:
    """An upscale's files, as the Upscale tab serves them."""

    result: Path  # the lossless PNG download
    baseline: Path  # bicubic at the preview's size: the before side of the view
    preview: Path  # the result at the preview's size (the result itself when small enough)


def write_upscale_files(result, folder: Path, source_name: str) -> UpscaleFiles:
    """``result`` (an UpscaleResult) as PNG files in ``folder``: the download named after
    ``source_name``, the model that ran and the factor, and the before/after pair."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / result_name(source_name, result.key, result.factor, "png")
    path.write_bytes(encode(result.image, "png"))
    sides = {name: side for name, side in (("bicubic.png", result.baseline), ("preview.png", result.preview))
             if side is not result.image}  # a side that is the result itself is its download
    written = dict(zip(sides, write_pngs(folder, sides)))
    return UpscaleFiles(path, written.get("bicubic.png", path), written.get("preview.png", path))


def write_pngs(folder: Path, images: dict[str, Image.Image]) -> list[Path]:
    """Each image of ``images`` (file name -> image) as a PNG in ``folder``; their paths, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in images.items():
        (folder / name).write_bytes(encode(image, "png"))
        paths.append(folder / name)
    return paths
