"""The shipped weights against plain bicubic: a real quality test, not a smoke test.

The gallery images are downscaled again (PIL bicubic, 8-bit) and upscaled back through the
exported ONNX models; Y-PSNR with `factor` pixels shaved is compared with bicubic's.
"""
from __future__ import annotations

import pytest

from srspace.evaluation import gain_over_bicubic, load_rgb
from srspace.ui import EXAMPLES_DIR

# Minimum gain in dB over bicubic, per model and factor (measured figures are in the README).
MIN_GAIN = {
    ("srcnn_dynamic", 1.5): 0.4,
    ("srcnn_dynamic", 2.0): 0.5,
    ("srcnn_dynamic", 3.0): 0.4,
    ("srcnn_dynamic", 4.0): 0.1,
    ("srcnn_x3", 3.0): 0.4,
    ("espcn_x3", 3.0): 0.8,
}


@pytest.fixture(scope="module")
def images():
    return [load_rgb(p) for p in sorted(EXAMPLES_DIR.glob("*.png"))]


@pytest.mark.parametrize("key,factor", list(MIN_GAIN))
def test_shipped_weights_beat_bicubic(ort_engine, images, key, factor):
    result = gain_over_bicubic(ort_engine, key, images, factor)
    assert result["gain"] >= MIN_GAIN[key, factor], result
