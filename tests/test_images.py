"""Image modes and bad input, on tiny real files, through the service the app calls."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from srspace.contract import MAX_OUTPUT_PIXELS
from srspace.imaging.decoding import load_image
from srspace.errors import ImageInputError



def _save(tmp_path, name, img, **kw):
    path = tmp_path / name
    img.save(path, **kw)
    return path


def _gradient(w=12, h=10):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 20, yy * 25, (xx + yy) * 10], axis=-1).astype(np.uint8)


def test_gray_stays_gray(upscaler, tmp_path):
    path = _save(tmp_path, "g.png", Image.fromarray(_gradient()[..., 0]))
    for key in ("srcnn_dynamic", "espcn_x3", "srcnn_x3", "bicubic"):
        out = upscaler.upscale(path, key, 2.0).image
        assert out.mode == "L" and out.size == (24, 20)


def test_rgba_keeps_and_upscales_alpha(upscaler, tmp_path):
    rgba = np.dstack([_gradient(), np.full((10, 12), 255, np.uint8)])
    rgba[:, :6, 3] = 0  # left half transparent
    path = _save(tmp_path, "a.png", Image.fromarray(rgba))
    result = upscaler.upscale(path, "srcnn_dynamic", 3.0)
    out = np.asarray(result.image)
    assert result.image.mode == "RGBA" and result.image.size == (36, 30)
    assert out[:, :12, 3].max() <= 5 and out[:, -12:, 3].min() >= 250
    assert any("alpha" in n for n in result.notices)


def test_gray_alpha_and_palette_transparency(upscaler, tmp_path):
    la = Image.fromarray(np.dstack([_gradient()[..., 0], np.full((10, 12), 128, np.uint8)]))
    assert upscaler.upscale(_save(tmp_path, "la.png", la), "espcn_x3", 2.0).image.mode == "LA"
    p = Image.fromarray(_gradient()).convert("P", palette=Image.ADAPTIVE, colors=8)
    path = _save(tmp_path, "p.png", p, transparency=0)
    assert upscaler.upscale(path, "srcnn_x3", 2.0).image.mode == "RGBA"


def test_sixteen_bit_stays_sixteen_bit(upscaler, tmp_path):
    arr = (np.linspace(0, 65535, 120).reshape(10, 12)).astype(np.uint16)
    path = _save(tmp_path, "g16.png", Image.fromarray(arr))
    assert load_image(path).sixteen_bit
    out = upscaler.upscale(path, "srcnn_dynamic", 2.0).image
    assert out.mode == "I;16" and out.size == (24, 20)
    values = np.asarray(out)
    assert values.max() > 60000 and len(np.unique(values)) > 256  # more levels than 8 bits hold


def test_exif_orientation_is_applied(upscaler, tmp_path):
    img = Image.fromarray(_gradient(16, 10))  # 16 wide, 10 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _save(tmp_path, "rot.jpg", img, exif=exif.tobytes())
    result = upscaler.upscale(path, "bicubic", 2.0)
    assert result.image.size == (20, 32)
    assert any("EXIF orientation" in n for n in result.notices)


def test_animated_image_uses_first_frame(upscaler, tmp_path):
    frames = [Image.fromarray(np.full((10, 12, 3), v, np.uint8)) for v in (200, 30)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = upscaler.upscale(path, "bicubic", 2.0)
    assert np.asarray(result.image.convert("L")).mean() > 150
    assert any("first frame" in n for n in result.notices)


def test_odd_exif_orientation_and_near_limit_factor_are_said_as_they_are(upscaler, tmp_path):
    from srspace.runtime.job import check_factor

    exif = Image.Exif()
    exif[0x0112] = 99
    path = tmp_path / "odd.jpg"
    Image.new("RGB", (16, 12), "gray").save(path, exif=exif)
    result = upscaler.upscale(path, "bicubic", 2.0)
    assert result.image.size == (32, 24) and any("99 is not one EXIF defines" in n for n in result.notices)
    with pytest.raises(ImageInputError, match="got 4.0000001"):
        check_factor(4.0000001)


def test_a_many_page_file_is_not_walked_to_be_counted(upscaler, tmp_path):
    """Only the first page is read: a TIFF whose later pages are cut off still upscales (counting
    its pages, as Pillow's n_frames does, walks them all: a tiny 50,000-page file stalled 11.5 s)."""
    pages = [Image.new("L", (8, 8), i % 256) for i in range(400)]
    whole = tmp_path / "pages.tif"
    pages[0].save(whole, save_all=True, append_images=pages[1:])
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = upscaler.upscale(cut, "bicubic", 2.0)
    assert result.image.size == (16, 16) and any("only the first frame" in n for n in result.notices)


def test_non_finite_pixels_are_refused_not_zeroed(upscaler, tmp_path):
    plane = np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    plane[3, 4] = np.nan
    path = tmp_path / "nan.tif"
    Image.fromarray(plane, "F").save(path)
    with pytest.raises(ImageInputError, match="1 pixel\\(s\\) that are not numbers"):
        upscaler.upscale(path, "srcnn_dynamic", 2.0)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"hello, I am text", "not an image"),
        (b"", "empty file"),
    ],
)
def test_non_images_get_a_clear_message(upscaler, tmp_path, content, message):
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    with pytest.raises(ImageInputError, match=message):
        upscaler.upscale(path, "srcnn_dynamic", 2.0)


def test_truncated_file_gets_a_clear_message(upscaler, tmp_path):
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageInputError, match="damaged or truncated"):
        upscaler.upscale(path, "srcnn_dynamic", 2.0)


def test_one_pixel_image_is_refused(upscaler, tmp_path):
    path = _save(tmp_path, "dot.png", Image.new("RGB", (1, 1)))
    with pytest.raises(ImageInputError, match="at least 8x8"):
        upscaler.upscale(path, "srcnn_dynamic", 2.0)


def test_output_over_the_pixel_limit_is_refused(upscaler, tmp_path):
    side = int((MAX_OUTPUT_PIXELS / 16) ** 0.5) + 10  # x4 goes over the limit
    path = _save(tmp_path, "big.png", Image.new("RGB", (side, side)))
    with pytest.raises(ImageInputError, match="MP limit"):
        upscaler.upscale(path, "srcnn_dynamic", 4.0)


@pytest.mark.parametrize("factor,message", [(0.5, "between 1 and 4"), (9, "between 1 and 4"), ("abc", "must be a number")])
def test_bad_factor_is_refused(upscaler, tmp_path, factor, message):
    path = _save(tmp_path, "ok.png", Image.fromarray(_gradient()))
    with pytest.raises(ImageInputError, match=message):
        upscaler.upscale(path, "srcnn_dynamic", factor)


def test_unknown_model_is_refused(upscaler, tmp_path):
    path = _save(tmp_path, "ok.png", Image.fromarray(_gradient()))
    with pytest.raises(ImageInputError, match="Unknown model"):
        upscaler.upscale(path, "esrgan", 2.0)


def test_missing_image_is_refused(upscaler):
    with pytest.raises(ImageInputError, match="No image was received"):
        upscaler.upscale(None, "srcnn_dynamic", 2.0)
