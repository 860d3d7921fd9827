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

from fractions import Fraction
from typing import Callable, Generator

import numpy as np

from ..contract import FACTOR_DECIMALS, output_size

# Output pixels per tile at most (576 squared, 0.33 MP): SRCNN's 64-channel activations for one
# tile then stay near 85 MB, and a whole tile's run near 420 MB; 768 took 700 MB for no gain in
# speed (benchmarks/tiles.py).
TILE_OUTPUT_SIDE = 576
SMALL_TILE_OUTPUT_SIDE = 384  # a small result's tiles (pipeline.tile_side): 177 MB for srcnn_x3


def as_fraction(factor: float) -> Fraction:
    """The factor as p/q with a small q (factors come in steps of 10^-FACTOR_DECIMALS at finest)."""
    return Fraction(float(np.float32(factor))).limit_denominator(10 ** FACTOR_DECIMALS)


def auto_tile(factor: float, output_side: int = TILE_OUTPUT_SIDE) -> int:
    """Input tile side that keeps a tile's output near ``output_side`` squared."""
    return max(16, int(output_side / factor))


def tile_shape(height: int, width: int, side: int, long_tiles: bool = True) -> tuple[int, int]:
    """The input tile (rows, columns) for an image of ``height`` x ``width`` and tiles of about
    ``side`` squared: square, except where one side of the image fits in a tile and
    ``long_tiles`` allows. Such a strip has no halo across it, so its tiles are as long as the
    same area allows: a 1,000,000 x 8 strip in tiles of 192 (srcnn_x3 at x1) runs in 218 tiles
    about 4600 long rather than 5209 of 192, each paying a run's fixed cost. (Not for a graph
    whose upsample is a dense matrix per axis, srcnn_dynamic's: building it costs the square of
    the tile's length.)"""
    if long_tiles and height <= side < width:
        return height, max(side, side * side // height)
    if long_tiles and width <= side < height:
        return max(side, side * side // width), width
    return side, side


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _even(length: int, tile: int, q: int) -> int:
    """The side, a multiple of q, that covers ``length`` in as few tiles of at most about ``tile``
    as possible, all of one size: a 2000-pixel side in tiles of 384 runs 6 tiles of 334, not 5
    of 384 and a last one made full length (25% more work than the image needs)."""
    count = -(-length // tile)
    return _round_up(-(-length // count), q)


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
    full = tile + 2 * pad  # a middle tile's padded length: the last one is made as long, where it can be
    for start in range(0, length, tile):
        end = min(start + tile, length)
        pad_start, pad_end = max(start - pad, 0), min(end + pad, length)
        if start == 0:  # the first tile has no context above it: it takes more below instead
            pad_end = min(max(pad_end, full), length)
        if end == length:
            # and the last more above it: one tile shape for the whole image keeps ONNX Runtime's
            # arena from growing per shape
            while pad_start > 0 and (length - pad_start < full
                                     or output_size(length - pad_start, factor) != out_len - pad_start * p // q):
                pad_start = max(pad_start - q, 0)
        out_end = out_len if end == length else end * p // q
        spans.append((start, end, pad_start, pad_end, start * p // q, out_end))
    return spans


Store = Callable[[int, int, int, int, np.ndarray], None]


def tile_steps(
    fn: Callable[[np.ndarray], np.ndarray],
    batch: np.ndarray,
    factor: float,
    pad: int,
    tile: int | None = None,
    store: Store | None = None,
    long_tiles: bool = True,
) -> Generator[tuple[int, int], None, np.ndarray | None]:
    """Run ``fn`` (NCHW in -> NCHW out, scale ``factor``) over ``batch`` in overlapping tiles,
    yielding ``(done, total)`` after each tile.

    ``pad`` is the context (input pixels) a tile needs on each side, ``tile`` the input tile
    side (None: automatic; a strip's are longer where ``long_tiles`` allows, ``tile_shape``).
    ``store(y0, y1, x0, x1, block)`` receives each tile's exact share of the output; without it
    the NCHW result is assembled and returned. A batch that fits in one tile runs whole.
    """
    n, _, height, width = batch.shape
    tile = tile or auto_tile(factor)
    if height <= tile and width <= tile:
        out = fn(np.ascontiguousarray(batch, dtype=np.float32))
        yield 1, 1
        if store is None:
            return out
        store(0, out.shape[2], 0, out.shape[3], out)
        return None

    frac = as_fraction(factor)
    p, q = frac.numerator, frac.denominator
    tile_h, tile_w = (_round_up(side, q) for side in tile_shape(height, width, tile, long_tiles))
    pad = _round_up(pad, q)
    rows = _spans(height, _even(height, tile_h, q), pad, factor)
    cols = _spans(width, _even(width, tile_w, q), pad, factor)
    result = None
    total, done = len(rows) * len(cols), 0
    for _, _, py0, py1, oy0, oy1 in rows:
        for _, _, px0, px1, ox0, ox1 in cols:
            part = fn(np.ascontiguousarray(batch[:, :, py0:py1, px0:px1], dtype=np.float32))
            # the tile's centre in the frame of this tile's output
            ty0, tx0 = oy0 - py0 * p // q, ox0 - px0 * p // q
            block = part[:, :, ty0 : ty0 + oy1 - oy0, tx0 : tx0 + ox1 - ox0]
            if store is not None:
                store(oy0, oy1, ox0, ox1, block)
            else:
                if result is None:
                    result = np.empty((n, part.shape[1], output_size(height, factor), output_size(width, factor)), part.dtype)
                result[:, :, oy0:oy1, ox0:ox1] = block
            done += 1
            yield done, total
    return result
