"""Tiled and untiled runs agree up to float rounding, for every model and both engines."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srspace.contract import MODELS, output_size
from srspace.models.networks import BicubicUpsample
from srspace.runtime.pipeline import upscale_array
from srspace.runtime.pipeline import drain, halo, resample
from srspace.imaging.colour import rgb_to_ycbcr, ycbcr_to_rgb
from srspace.runtime.tiling import as_fraction, tile_steps


def _image(h, w, c=3, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.4 * np.sin(xx / 4.0 + yy / 7.0)
    return np.clip(base[..., None] * 0.7 + 0.3 * rng.random((h, w, c)), 0, 1).astype(np.float32)


@pytest.mark.parametrize("key", list(MODELS))
@pytest.mark.parametrize("factor", [1.3, 2.5, 3.0, 3.3, 4.0])
def test_tiled_equals_untiled_onnx_runtime(ort_engine, key, factor):
    img = _image(37, 53)
    whole = upscale_array(ort_engine, key, img, factor)
    calls = []
    tiled = upscale_array(ort_engine, key, img, factor, tile=16, progress=lambda d, t: calls.append((d, t)))
    assert tiled.shape == whole.shape == (output_size(37, factor), output_size(53, factor), 3)
    np.testing.assert_allclose(tiled, whole, rtol=1e-4, atol=2e-5)
    assert len(calls) > 4 and calls[-1][0] == calls[-1][1]


@pytest.mark.parametrize("key", ["srcnn_dynamic", "espcn_x3"])
def test_tiled_equals_untiled_pytorch(torch_engine, key):
    img = _image(41, 30, seed=1)
    whole = upscale_array(torch_engine, key, img, 2.7)
    tiled = upscale_array(torch_engine, key, img, 2.7, tile=13)
    np.testing.assert_allclose(tiled, whole, rtol=1e-4, atol=2e-5)


def test_tiles_at_unaligned_borders_and_batches(ort_engine):
    x = np.stack([_image(23, 61, seed=s).transpose(2, 0, 1) for s in (2, 3)])
    for factor in (1.7, 2.5, 3.3):
        run = lambda t: ort_engine.run("srcnn_dynamic", t, factor)  # noqa: E731
        tiled = drain(tile_steps(run, x, factor, halo("srcnn_dynamic", factor), tile=11))
        np.testing.assert_allclose(tiled, run(x), rtol=1e-4, atol=2e-5)


def test_last_tile_follows_the_float32_size_rule(ort_engine):
    # 100 x 1.3 rounds to 130 but 90 x 1.3 to 116, one short of 130 - 13: the last tile must start elsewhere
    assert output_size(100, 1.3) - output_size(90, 1.3) == 14
    x = _image(100, 90).transpose(2, 0, 1)[None].copy()
    run = lambda t: ort_engine.run("srcnn_dynamic", t, 1.3)  # noqa: E731
    np.testing.assert_allclose(drain(tile_steps(run, x, 1.3, halo("srcnn_dynamic", 1.3), tile=30)), run(x), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("height,width,factor", [(2000, 3000, 2.0), (1001, 777, 2.5), (500, 401, 1.3)])
def test_tiles_are_of_few_shapes_and_cover_the_image_with_little_waste(height, width, factor):
    # few shapes keep ONNX Runtime's arena from growing per shape (one at integer factors; at p/q
    # tiles start at multiples of q, so the last may be up to q - 1 longer); the tiles' cores split
    # each side evenly, so the work done is the image plus the halos, not a last tile's worth more
    shapes = []

    def network(tile: np.ndarray) -> np.ndarray:
        shapes.append(tile.shape)
        return np.zeros((1, 1, output_size(tile.shape[2], factor), output_size(tile.shape[3], factor)), np.float32)

    pad = halo("srcnn_dynamic", factor)
    batch = np.zeros((1, 1, height, width), np.uint8)
    tile = 384 if factor == 2.0 else 100
    drain(tile_steps(network, batch, factor, pad, tile=tile))
    q = as_fraction(factor).denominator
    for side in ({s[2] for s in shapes}, {s[3] for s in shapes}):
        assert len(side) == 1 if q == 1 else max(side) - min(side) < q
    rows, cols = -(-height // tile), -(-width // tile)
    assert len(shapes) == rows * cols
    work = sum(s[2] * s[3] for s in shapes)
    assert work <= 1.05 * (height + 2 * (pad + q) * rows) * (width + 2 * (pad + q) * cols)


@pytest.mark.parametrize("height,width,factor", [(8, 5000, 1.0), (5000, 8, 2.5), (40, 3000, 1.3), (3000, 50, 3.0)])
def test_strips_run_in_long_tiles_of_a_square_tiles_area(height, width, factor):
    # a strip has no halo across it: square tiles would pay a run's fixed cost thousands of times
    shapes = []

    def network(tile: np.ndarray) -> np.ndarray:
        shapes.append(tile.shape[2:])
        return np.zeros((1, 1, output_size(tile.shape[2], factor), output_size(tile.shape[3], factor)), np.float32)

    side, pad = 100, halo("srcnn_x3", factor)
    q = as_fraction(factor).denominator
    drain(tile_steps(network, np.zeros((1, 1, height, width), np.uint8), factor, pad, tile=side))
    short, long = min(height, width), max(height, width)
    assert len(shapes) == -(-long // (side * side // short))  # not -(-long // side)
    assert {min(h, w) for h, w in shapes} == {short}  # each tile spans the strip's short side
    assert sum(h * w for h, w in shapes) <= 1.05 * (long + 2 * (pad + q) * len(shapes)) * short


def test_a_dense_matrix_upsample_keeps_square_tiles_on_strips():
    # srcnn_dynamic's graph builds an output x input matrix per axis: long tiles would cost its square
    from srspace.runtime.pipeline import long_tiles

    shapes = []
    network = lambda t: shapes.append(t.shape[2:]) or np.zeros((1, 1, *(2 * n for n in t.shape[2:])), np.float32)  # noqa: E731
    assert not long_tiles("srcnn_dynamic") and long_tiles("srcnn_x3") and long_tiles("bicubic")
    drain(tile_steps(network, np.zeros((1, 1, 8, 5000), np.uint8), 2.0, 8, tile=100, long_tiles=long_tiles("srcnn_dynamic")))
    assert max(w for _, w in shapes) <= 100 + 2 * 8


@pytest.mark.parametrize("key", list(MODELS))
def test_strips_tiled_equal_untiled(ort_engine, key):
    for height, width in ((5, 300), (300, 7)):
        img = _image(height, width, seed=4)
        for factor in (1.3, 3.0):
            whole = upscale_array(ort_engine, key, img, factor)
            np.testing.assert_allclose(upscale_array(ort_engine, key, img, factor, tile=16), whole, rtol=1e-4, atol=2e-5)


def test_integer_bicubic_upsample_is_exactly_pytorch_bicubic():
    x = torch.rand(2, 3, 19, 26)
    for factor in (2, 3, 4):
        expected = F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False)
        torch.testing.assert_close(BicubicUpsample(factor)(x), expected, rtol=0, atol=3e-6)


def test_resample_is_pytorch_bicubic_on_planes_of_any_shape():
    """The pipeline's resample (a tile's chroma, a fixed-factor network's output) against PyTorch:
    enlarging as its bicubic, shrinking as its antialiased bicubic, on planes taller than wide and
    wider than tall, so a pass that resized the wrong axis or swapped them could not pass."""
    for h, w in ((14, 30), (32, 6)):  # even: every size below is exactly scale x the side, as PyTorch maps it
        x = torch.rand(1, 2, h, w)
        for scale in (2, 3, 4, 0.5):
            size = (int(h * scale), int(w * scale))
            expected = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=scale < 1)
            got = resample(x.numpy(), scale, size)
            assert got.shape == expected.shape and got.flags.c_contiguous, (h, w, scale)
            inside = slice(2, -2) if scale < 1 else slice(None)  # shrinking, PyTorch drops the taps past the
            # border where the pipeline reads the edge pixel: the two agree two pixels in
            np.testing.assert_allclose(got[..., inside, inside], expected.numpy()[..., inside, inside], rtol=0, atol=1e-4,
                                       err_msg=f"{h}x{w} at x{scale}")
    x = np.random.default_rng(0).random((1, 3, 5, 9), dtype=np.float32)
    assert np.array_equal(resample(x, 1.0, (5, 9)), x)


def test_ycbcr_to_rgb_inverts_rgb_to_ycbcr_on_either_layout():
    rgb = np.random.default_rng(1).random((1, 3, 6, 11), dtype=np.float32)
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb, axis=1), axis=1)
    assert back.dtype == np.float32 and back.shape == rgb.shape
    np.testing.assert_allclose(back, rgb, rtol=0, atol=2e-6)
    hwc = rgb[0].transpose(1, 2, 0)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(hwc)), hwc, rtol=0, atol=2e-6)


def test_small_results_get_smaller_network_tiles():
    from srspace.contract import SMALL_RESULT_PIXELS
    from srspace.runtime.pipeline import tile_side

    for key in ("srcnn_dynamic", "srcnn_x3", "espcn_x3"):
        full = tile_side(key, 2.5)
        small = tile_side(key, 2.5, SMALL_RESULT_PIXELS)
        assert small**2 <= full**2 / 2  # at most half the activations' memory
        assert tile_side(key, 2.5, SMALL_RESULT_PIXELS + 1) == full
    assert tile_side("bicubic", 2.5, 100) is None
