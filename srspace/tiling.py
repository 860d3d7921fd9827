"""Seamless tiling: pad -> run overlapping tiles -> paste each tile's centre back.

The design of Real-ESRGAN's ``tile_process``, made exact for non-integer factors.
Coordinate frames: *input* (the low-resolution batch), *tile* (one padded input
tile) and *output* (the full result). A tile starts at an input offset ``a`` that is
a multiple of q, where the factor is p/q; its output then starts at the integer
``a * p / q``, and every output pixel maps to the same input coordinate as in an
untiled run. The padding covers the bicubic support and the convolutions'
receptive field, so tiled and untiled results agree up to float rounding.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

import numpy as np

from .contract import ModelSpec, output_size

# Output pixels per tile at most (about 0.6 MP): SRCNN's 64-channel activations for
# one tile then stay near 150 MB.
TILE_OUTPUT_SIDE = 768

# Receptive-field radius of the convolutions: SRCNN's at output resolution (9-1-5),
# ESPCN's at input resolution (5-3-3-3).
_SRCNN_HALO_OUT = 9 // 2 + 1 // 2 + 5 // 2
_ESPCN_HALO_IN = 5 // 2 + 3 // 2 + 3 // 2 + 3 // 2
_BICUBIC_SUPPORT = 2


def as_fraction(factor: float) -> Fraction:
    """The factor as p/q with a small q (factors come in steps of 0.01 at finest)."""
    return Fraction(float(np.float32(factor))).limit_denominator(100)


def tile_padding(spec: ModelSpec, factor: float) -> int:
    """Input pixels of overlap on each side of a tile, before alignment."""
    if spec.network == "espcn":
        return _ESPCN_HALO_IN + 1
    # bicubic taps reach 2 input pixels; then the convolutions spread 6 output pixels more.
    return math.ceil(_BICUBIC_SUPPORT + (_SRCNN_HALO_OUT + 1) / factor)


def auto_tile(factor: float) -> int:
    """Input tile side that keeps a tile's output near TILE_OUTPUT_SIDE squared."""
    return max(16, int(TILE_OUTPUT_SIDE / factor))


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _spans(length: int, tile: int, pad: int, factor: float) -> list[tuple[int, int, int, int, int, int]]:
    """Per tile along one axis: (core start, core end, padded start, padded end) in the input
    frame, then (core start, core end) in the output frame.

    The last tile must yield exactly the rows an untiled run has past its start: the
    size rule rounds in float32, so its start moves back by q until that holds (at 0 it
    is the untiled computation itself).
    """
    frac = as_fraction(factor)
    p, q = frac.numerator, frac.denominator
    out_len = output_size(length, factor)
    spans = []
    for start in range(0, length, tile):
        end = min(start + tile, length)
        pad_start, pad_end = max(start - pad, 0), min(end + pad, length)
        if end == length:
            while pad_start > 0 and output_size(length - pad_start, factor) != out_len - pad_start * p // q:
                pad_start -= q
        out_end = out_len if end == length else end * p // q
        spans.append((start, end, pad_start, pad_end, start * p // q, out_end))
    return spans


def tile_process(
    fn: Callable[[np.ndarray], np.ndarray],
    batch: np.ndarray,
    factor: float,
    spec: ModelSpec,
    tile: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Run ``fn`` (NCHW in -> NCHW out, scale ``factor``) over ``batch`` in overlapping tiles.

    ``tile`` is the input tile side (None: automatic). A batch that fits in one tile
    runs whole.
    """
    n, _, height, width = batch.shape
    tile = tile or auto_tile(factor)
    if height <= tile and width <= tile:
        out = fn(batch)
        if progress:
            progress(1, 1)
        return out

    frac = as_fraction(factor)
    p, q = frac.numerator, frac.denominator
    tile = _round_up(tile, q)
    pad = _round_up(tile_padding(spec, factor), q)
    rows, cols = _spans(height, tile, pad, factor), _spans(width, tile, pad, factor)
    result = None
    total, done = len(rows) * len(cols), 0
    for _, _, py0, py1, oy0, oy1 in rows:
        for _, _, px0, px1, ox0, ox1 in cols:
            part = fn(np.ascontiguousarray(batch[:, :, py0:py1, px0:px1]))
            if result is None:
                result = np.empty((n, part.shape[1], output_size(height, factor), output_size(width, factor)), part.dtype)
            # the tile's centre in the frame of this tile's output
            ty0, tx0 = oy0 - py0 * p // q, ox0 - px0 * p // q
            result[:, :, oy0:oy1, ox0:ox1] = part[:, :, ty0 : ty0 + oy1 - oy0, tx0 : tx0 + ox1 - ox0]
            done += 1
            if progress:
                progress(done, total)
    return result
