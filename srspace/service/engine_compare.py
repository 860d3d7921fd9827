"""PyTorch against ONNX Runtime on the visitor's image: the tutorials' *compare torch_out with
ort_outs*, made visible, with typed figures (the UI gives them labels and formats)."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..imaging.colour import to_pil
from ..contract import MODELS, PARITY_ATOL, PARITY_RTOL
from ..imaging.decoding import load_image
from ..imaging.metrics import psnr
from ..runtime.pipeline import counted, drain, upscale_steps
from ..runtime.job import UpscaleJob
from .upscaler import ENGINES

# The heat map's fixed scale: this many 8-bit levels of difference are its brightest colour, so
# float noise (1e-6) stays black and a real difference shows, whatever the image.
HEAT_FULL_SCALE_LEVELS = 4.0
COMPARE_RUNS = 3  # each engine's runs: its time is their median
HEAT_ANCHORS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32)


@dataclass(frozen=True)
class CompareStats:
    model: str
    weights: str
    factor: float
    network_factor: float
    output: tuple[int, int]  # (W, H)
    max_abs_diff: float  # on [0,1] values
    mean_abs_diff: float
    psnr_db: float  # between the two engines' outputs (inf: identical)
    within_tolerance: bool  # np.allclose with the export's rtol and atol
    rtol: float
    atol: float
    ort_ms: float  # medians of ``runs`` runs, the engines' own time
    torch_ms: float
    runs: int

    @property
    def speedup(self) -> float:
        """PyTorch's time over ONNX Runtime's."""
        return self.torch_ms / self.ort_ms

    @property
    def max_levels(self) -> float:
        """The largest difference in 8-bit levels (of 255)."""
        return self.max_abs_diff * 255.0


@dataclass
class CompareResult:
    ort_image: Image.Image
    torch_image: Image.Image
    heatmap: Image.Image
    stats: CompareStats


def heatmap(diff: np.ndarray, full_scale: float = HEAT_FULL_SCALE_LEVELS / 255.0) -> Image.Image:
    """|a - b| (H x W x C, on [0,1] values) as an 'inferno'-like colour map on a fixed scale:
    0 is black, ``full_scale`` and more the brightest colour."""
    t = np.clip(diff.max(axis=2) / full_scale, 0.0, 1.0)
    pos = t * (len(HEAT_ANCHORS) - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, len(HEAT_ANCHORS) - 2)
    frac = (pos - lo)[..., None]
    rgb = HEAT_ANCHORS[lo] * (1 - frac) + HEAT_ANCHORS[lo + 1] * frac
    return Image.fromarray(rgb.astype(np.uint8))


def compare_cost(job: UpscaleJob, runs: int = COMPARE_RUNS) -> int:
    """The work of a comparison, in result pixels, for the lanes: every engine runs ``runs`` times."""
    return job.out_pixels * len(ENGINES) * runs


def compare_steps(upscaler, job: UpscaleJob, runs: int = COMPARE_RUNS):
    """Both engines on ``job``'s image, ``runs`` times each: yields (runs done, runs in all)
    between tiles, so a caller can stop it there; returns the CompareResult. The medians count
    the engines' own time only."""
    key, factor, weights = job.key, job.factor, job.weights
    x = load_image(job.path).color
    outputs, medians, total = {}, {}, len(ENGINES) * runs
    for i, name in enumerate(ENGINES):
        times = []
        for r in range(runs):
            clock = [0.0]
            steps = upscale_steps(upscaler.engines[weights][name], key, x, factor)
            outputs[name] = yield from counted(steps, i * runs + r, total, clock)
            times.append(clock[0])
        medians[name] = statistics.median(times)
    yield total, total
    a, b = outputs["onnxruntime"], outputs["pytorch"]
    diff = np.abs(a - b)
    stats = CompareStats(
        model=key, weights=weights, factor=factor, network_factor=MODELS[key].network_factor(factor),
        output=(a.shape[1], a.shape[0]), max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
        psnr_db=psnr(np.clip(a, 0, 1), np.clip(b, 0, 1)),
        within_tolerance=bool(np.allclose(a, b, rtol=PARITY_RTOL, atol=PARITY_ATOL)), rtol=PARITY_RTOL, atol=PARITY_ATOL,
        ort_ms=medians["onnxruntime"] * 1000, torch_ms=medians["pytorch"] * 1000, runs=runs,
    )
    return CompareResult(to_pil(a), to_pil(b), heatmap(diff), stats)


def compare(upscaler, job: UpscaleJob, runs: int = COMPARE_RUNS) -> CompareResult:
    """``compare_steps`` run to the end."""
    return drain(compare_steps(upscaler, job, runs))
