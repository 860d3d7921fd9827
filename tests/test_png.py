"""The PNG writer: files any reader opens, pixel for pixel, in every mode a result can have."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from srspace.imaging.results import encode
from srspace.imaging.png import BAND_BYTES, adler32_combine, encode_png


def smooth(shape, dtype=np.uint8, seed=0):
    """An upscaled-looking image: gradients plus a little noise."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    top = np.iinfo(dtype).max
    ramp = np.add.outer(np.linspace(0, 0.6, h), np.linspace(0, 0.4, w))
    if len(shape) == 3:
        ramp = np.repeat(ramp[..., None], shape[2], axis=2) * np.linspace(1, 0.5, shape[2])
    return np.clip(ramp * top + rng.normal(0, top / 100, ramp.shape), 0, top).astype(dtype)


def chunks(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        yield kind, body
        pos += 12 + length


@pytest.mark.parametrize("shape,dtype,mode", [
    ((37, 51), np.uint8, "L"),
    ((37, 51, 1), np.uint8, "L"),
    ((40, 33, 2), np.uint8, "LA"),
    ((29, 61, 3), np.uint8, "RGB"),
    ((3, 5, 4), np.uint8, "RGBA"),
    ((45, 38), np.uint16, "I;16"),
    ((1, 1, 3), np.uint8, "RGB"),
])
def test_every_mode_reads_back_exactly(shape, dtype, mode):
    pixels = smooth(shape, dtype, seed=len(shape))
    image = Image.open(io.BytesIO(encode_png(pixels)))
    assert image.mode == mode and image.size == (shape[1], shape[0])
    assert np.array_equal(np.asarray(image).reshape(pixels.shape), pixels)


def test_a_large_image_is_written_in_bands_that_join_into_one_stream():
    pixels = smooth((1200, 1500, 3))  # 5.4 MB of rows: more than one band
    assert pixels.nbytes > BAND_BYTES
    data = encode_png(pixels)
    idat = [body for kind, body in chunks(data) if kind == b"IDAT"]
    assert len(idat) == 2
    raw = zlib.decompress(b"".join(idat))  # checks the combined Adler-32 as well
    assert len(raw) == 1200 * (1500 * 3 + 1) and set(raw[:: 1500 * 3 + 1]) == {3}  # every row: the Average filter
    image = Image.open(io.BytesIO(data))
    assert np.array_equal(np.asarray(image), pixels)
    assert len(data) < 0.6 * pixels.nbytes  # it does compress


def test_sixteen_bit_colour_is_big_endian_under_the_average_filter():
    # PIL reads 16-bit RGB as 8-bit; undo the filter by the PNG specification instead
    pixels = smooth((6, 5, 3), np.uint16)
    parts = dict(chunks(encode_png(pixels)))
    width, height, depth, colour = struct.unpack(">IIBB", parts[b"IHDR"][:10])
    assert (width, height, depth, colour) == (5, 6, 16, 2)
    raw = np.frombuffer(zlib.decompress(parts[b"IDAT"]), np.uint8).reshape(6, 1 + 5 * 6)
    bpp, rows, prior = 6, [], np.zeros(30, np.int64)
    for line in raw:
        assert line[0] == 3
        row = np.zeros(30, np.int64)
        for x in range(30):
            left = row[x - bpp] if x >= bpp else 0
            row[x] = (int(line[1 + x]) + (left + prior[x]) // 2) % 256
        rows.append(row)
        prior = row
    decoded = np.array(rows, np.uint8).view(">u2").reshape(6, 5, 3)
    assert np.array_equal(decoded, pixels)


def test_adler32_combine_equals_zlib_on_the_whole():
    rng = np.random.default_rng(1)
    for n1, n2 in ((0, 5), (7, 0), (65521, 3), (100_000, 70_000), (1, 65520)):
        a, b = rng.bytes(n1), rng.bytes(n2)
        assert adler32_combine(zlib.adler32(a), zlib.adler32(b), n2) == zlib.adler32(a + b)


@pytest.mark.parametrize("pixels", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 5), np.uint8), np.zeros((0, 4, 3), np.uint8)])
def test_what_png_cannot_hold_is_refused(pixels):
    with pytest.raises(ValueError, match="cannot write"):
        encode_png(pixels)


def test_the_download_is_this_writer_and_other_modes_still_save():
    image = Image.fromarray(smooth((20, 30, 3)))
    assert encode(image, "png") == encode_png(np.asarray(image))
    palette = image.convert("P")
    assert Image.open(io.BytesIO(encode(palette, "png"))).mode == "P"
