"""From an image array to an upscaled image array, for any model key and engine, tile by tile.

Arrays are HxWxC in [0,1] with C = 1 (gray) or 3 (RGB); alpha and file formats are
handled a layer up (``srspace.imaging.decoding``). The whole chain of a model runs per tile: the
network, ESPCN's colour merge and the fixed-x3 models' resize to the requested factor. No
step ever holds a full-size intermediate, so memory is bounded by the tile and the result:
an ``espcn_x3`` request at x1 no longer makes the whole image x3 first.

``upscale_steps`` is a generator that yields ``(tiles done, tiles in all)`` after each tile
and returns the result: a caller can stop it between any two tiles (the app does, when
its client goes away). ``upscale_array`` runs it to the end.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Generator

import numpy as np
import torch

from ..contract import BICUBIC_KEY, CUBIC_A, MODELS, SMALL_RESULT_PIXELS, output_shape
from ..imaging.colour import from_nchw, quantise, rgb_to_ycbcr, to_nchw, ycbcr_to_rgb
from ..models.networks import cubic_kernel
from .tiling import SMALL_TILE_OUTPUT_SIDE, TILE_OUTPUT_SIDE, auto_tile, tile_steps

Progress = Callable[[int, int], None]
Steps = Generator[tuple[int, int], None, np.ndarray]

ANTIALIAS_A = -0.5  # shrinking: the kernel of PIL and PyTorch's antialias, stretched to the new pixel size


def resample_taps(n_in: int, n_out: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per output index along one axis: the input indices it reads and their weights.

    Output i samples input coordinate (i + 0.5) / scale - 0.5 (half-pixel centres). Enlarging,
    four cubic taps (a = -0.75, the graphs' own upsample); shrinking, the kernel is stretched
    to the output pixel's width and normalised (antialiasing, as PIL and PyTorch do). Taps
    past the border read the edge pixel.
    """
    stretch = max(1.0, 1.0 / scale)
    a = CUBIC_A if stretch == 1.0 else ANTIALIAS_A
    centre = (np.arange(n_out, dtype=np.float64) + 0.5) / scale - 0.5
    first = np.floor(centre - 2 * stretch).astype(np.int64) + 1
    offsets = np.arange(int(math.ceil(4 * stretch)) + 1)
    index = first[:, None] + offsets[None, :]
    weight = cubic_kernel((index - centre[:, None]) / stretch, a)
    weight /= weight.sum(axis=1, keepdims=True)
    index = np.clip(index, 0, n_in - 1)
    return torch.from_numpy(index), torch.from_numpy(weight.astype(np.float32))


def resample(batch: np.ndarray, scale: float, size: tuple[int, int]) -> np.ndarray:
    """Separable bicubic resample of NCHW ``batch`` to ``size`` with the coordinate map of ``scale``.

    Both passes gather whole rows: the columns' pass runs on the transposed planes, since a
    gather along the last axis copies one element at a time (2.0-2.7x slower at x2-x4; the sums
    are the same, in the same order, so the result is bit for bit what it was)."""
    x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    with torch.inference_mode():
        for n_out in size:  # rows, then (transposed) columns: each pass leaves its axis last
            if not (n_out == x.shape[2] and scale == 1.0):
                x = x.contiguous()  # rows to gather whole (after the first pass, the transposed planes)
                index, weight = resample_taps(x.shape[2], n_out, scale)
                out = None
                for k in range(index.shape[1]):
                    term = x.index_select(2, index[:, k]).mul_(weight[:, k].reshape(1, 1, n_out, 1))
                    out = term if out is None else out.add_(term)
                x = out
            x = x.transpose(2, 3)
        return x.contiguous().numpy()


def bicubic_batch(batch: np.ndarray, factor: float) -> np.ndarray:
    """Plain bicubic upscale of NCHW ``batch``: the graphs' kernel and the contract's size rule."""
    return resample(batch, factor, output_shape(batch.shape[2], batch.shape[3], factor))


def bicubic(arr: np.ndarray, factor: float) -> np.ndarray:
    """Plain bicubic upscale of an HxWxC array."""
    return from_nchw(bicubic_batch(to_nchw(arr), factor))


def chain(engine, key: str, factor: float, channels: int) -> Callable[[np.ndarray], np.ndarray]:
    """The whole work of model ``key`` at ``factor`` on one NCHW tile of ``channels`` (1 or 3)
    channels: from the input's pixels to the result's, in the tile's own frame."""
    if key == BICUBIC_KEY:
        return lambda x: bicubic_batch(x, factor)
    spec = MODELS[key]
    net = spec.network_factor(factor)

    def network(x: np.ndarray) -> np.ndarray:
        if not spec.luma:
            out = engine.run(key, np.repeat(x, 3, axis=1) if channels == 1 else x, net)
            return out.mean(axis=1, keepdims=True) if channels == 1 else out
        if channels == 1:
            return engine.run(key, x, net)
        ycc = rgb_to_ycbcr(x, axis=1)  # ESPCN sees luma only; colour is upscaled bicubically and merged back
        y_up = np.clip(engine.run(key, ycc[:, :1], net), 0.0, 1.0)
        return ycbcr_to_rgb(np.concatenate([y_up, resample(ycc[:, 1:], net, y_up.shape[2:])], axis=1), axis=1)

    if not spec.fixed_factor or factor == spec.fixed_factor:
        return network
    # a fixed-factor network, then a resample of its output to the requested size, on the tile
    return lambda x: resample(network(x), factor / spec.fixed_factor, output_shape(x.shape[2], x.shape[3], factor))


def halo(key: str, factor: float) -> int:
    """Input pixels of context each tile needs on every side for ``key``'s chain at ``factor``."""
    bicubic_reach = 2
    if key == BICUBIC_KEY:
        return bicubic_reach + 1
    spec = MODELS[key]
    if spec.subpixel:  # the convolutions at input resolution, then the shuffle; chroma's taps fall inside
        reach = spec.reach + 1
    else:  # bicubic taps, then the convolutions' reach at network resolution
        reach = math.ceil(bicubic_reach + spec.reach / spec.network_factor(factor))
    if spec.fixed_factor and factor != spec.fixed_factor:  # the resample's own taps, at most 2 output pixels wide
        reach += math.ceil(2 * max(1.0, spec.fixed_factor / factor) / spec.fixed_factor) + 1
    return reach


def tile_side(key: str, factor: float, out_pixels: int | None = None, output_side: int | None = None) -> int | None:
    """Input tile side for ``key``'s chain at ``factor`` (None: bicubic, which needs no tiles).

    SRCNN's 64-channel activations are at output resolution: its tiles hold about
    ``output_side`` squared output pixels (TILE_OUTPUT_SIDE, or SMALL_TILE_OUTPUT_SIDE for a
    result of ``out_pixels`` up to SMALL_RESULT_PIXELS). ESPCN's are at input resolution, so
    the same memory takes 9x the output; its output-resolution steps (colour merge, resample)
    bound it to half SRCNN's scale instead. Small results get smaller tiles so that small
    requests beside a large one add little to the server's memory (benchmarks/tiles.py).
    """
    if key == BICUBIC_KEY:
        return None
    if output_side is None:
        small = out_pixels is not None and out_pixels <= SMALL_RESULT_PIXELS
        output_side = SMALL_TILE_OUTPUT_SIDE if small else TILE_OUTPUT_SIDE
    spec = MODELS[key]
    scale = max(factor, spec.network_factor(factor))
    return auto_tile(scale / 2 if spec.subpixel else scale, output_side)


def long_tiles(key: str) -> bool:
    """Whether a strip's tiles may be long for ``key`` (``tiling.tile_shape``): not for a graph
    that upsamples by a dense matrix per axis (srcnn_dynamic, whose factor is an input), since
    that matrix grows with the square of the tile's length (benchmarks/tiles.py)."""
    return key == BICUBIC_KEY or not MODELS[key].dynamic


def upscale_steps(engine, key: str, arr: np.ndarray, factor: float, tile: int | None = None,
                  dtype=np.float32) -> Steps:
    """Upscale HxWxC ``arr`` (float32 in [0,1], or uint8) by ``factor`` with model ``key`` on
    ``engine``, one tile per step.

    Returns an HxWxC array of ``dtype``: float32 unclipped, or uint8/uint16 clipped and rounded
    as each tile lands (a 25 MP result is then 75 MB, not 300).
    """
    height, width, channels = arr.shape
    result = np.empty((*output_shape(height, width, factor), channels), dtype)

    def store(y0: int, y1: int, x0: int, x1: int, block: np.ndarray) -> None:
        if result.dtype != np.float32:  # rounded on the tile's contiguous planes
            block = quantise(block, result.dtype)
        target = result[y0:y1, x0:x1]
        for c in range(block.shape[1]):  # plane by plane into HxWxC: 2x faster than one transposed copy
            target[..., c] = block[0, c]

    fn = chain(engine, key, factor, channels)
    if arr.dtype == np.uint8:  # 8-bit input stays 8-bit in memory: each tile becomes float on its own
        work, fn = fn, lambda x: work(np.multiply(x, np.float32(1 / 255.0), out=x))
    batch = arr.transpose(2, 0, 1)[None]  # a view: each tile is copied out on its own
    side = tile or tile_side(key, factor, result.shape[0] * result.shape[1])
    yield from tile_steps(fn, batch, factor, halo(key, factor), side, store, long_tiles(key))
    return result


def drain(steps: Steps, progress: Progress | None = None):
    """Run ``steps`` to the end, reporting each step to ``progress``; its result."""
    while True:
        try:
            done, total = next(steps)
        except StopIteration as stop:
            return stop.value
        if progress:
            progress(done, total)


def counted(steps: Steps, done: int, total: int, clock: list[float] | None = None):
    """Run one ``upscale_steps`` generator as one part of a larger job, yielding ``(done, total)``
    of the job after each of its tiles (a caller may stop there); its result. ``clock[0]`` adds
    up the time spent computing, not the time the caller spends between tiles."""
    while True:
        start = time.perf_counter()
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
        finally:
            if clock is not None:
                clock[0] += time.perf_counter() - start
        yield done, total


def upscale_array(engine, key: str, arr: np.ndarray, factor: float, tile: int | None = None,
                  progress: Progress | None = None, dtype=np.float32) -> np.ndarray:
    """``upscale_steps`` run to the end."""
    return drain(upscale_steps(engine, key, arr, factor, tile, dtype), progress)
