"""What the app does, without the UI: upscale an image file, compare the two engines.

One ``Upscaler`` is built at start (sessions and modules loaded once) and serves every
request; all per-request data stays in locals and return values.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .contract import AUTO_KEY, BEST_WEIGHTS, BICUBIC_KEY, CHOICES, MODELS, MODELS_DIR, PARITY_ATOL, PARITY_RTOL, WEIGHT_SETS, output_size
from .engines import OrtEngine, TorchEngine
from .export import read_manifest
from .images import MAX_OUTPUT_PIXELS, ImageInputError, InputImage, check_factor, load_image, peek_size, shorten, to_pil
from .evaluation import degrade
from .imaging import as_rgb, from_nchw, to_nchw
from .metrics import psnr, psnr_y, ssim_y
from .pipeline import bicubic, drain, network_factor, resample, upscale_array, upscale_steps
from .quality import Pick, best_model, best_set, load_table, pick_note
from .weights import WeightsError, recorded_state_dicts

COMPARE_MAX_OUTPUT_PIXELS = 4_000_000  # both engines run several times: keep the tab responsive
QUALITY_CHECK_MAX_PIXELS = 4_000_000  # every model runs once on the image
ENGINES = ("onnxruntime", "pytorch")

Progress = Callable[[int, int], None]


PREVIEW_SIDE = 2048  # the before/after view is downsized past this; the download never is


@dataclass
class UpscaleResult:
    image: Image.Image
    preview: Image.Image  # the result, at most PREVIEW_SIDE on a side
    baseline: Image.Image  # bicubic, at the preview's size: the other side of the before/after view
    seconds: float
    engine: str
    weights: str  # the weight set the model ran with ("" for bicubic)
    factor: float  # the factor applied (the request's, checked and rounded)
    notices: list[str] = field(default_factory=list)
    key: str = ""  # the model that ran: the request's, or what "auto" picked


@dataclass
class BrowserReference:
    ort_image: Image.Image | None  # None past the comparison's size limit
    torch_image: Image.Image | None
    seconds: float  # ONNX Runtime's network time
    factor: float  # the factor applied (checked and rounded)
    weights: str
    notice: str = ""


@dataclass
class QualityCheck:
    """The visitor's own image as a test: downsized by the factor, upscaled back, compared."""

    factor: float
    rows: list[dict]  # per method: "method", "weights", "PSNR-Y (dB)", "SSIM-Y", "gain (dB)"
    crops: list[tuple[Image.Image, str]]  # zoomed crops of the same spot: original, bicubic, each model


@dataclass
class CompareResult:
    ort_image: Image.Image
    torch_image: Image.Image
    heatmap: Image.Image
    stats: dict[str, float | str | bool]


def check_key(key: str, choices=CHOICES) -> str:
    """``key`` if it is one of ``choices`` (the bicubic baseline included by default), else a message."""
    if not isinstance(key, str) or key not in choices:
        raise ImageInputError(f"Unknown model {shorten(key)} here; choose one of: {', '.join(choices)}.")
    return key


def factor_notice(key: str, factor: float) -> list[str]:
    spec = MODELS.get(key)
    if spec and spec.fixed_factor and factor != spec.fixed_factor:
        return [f"{key} upscales x{spec.fixed_factor} by the network; the result was then resized bicubically to x{factor:g}."]
    return []


def heatmap(diff: np.ndarray) -> tuple[Image.Image, float]:
    """|a - b| (H x W x C) as an 'inferno'-like colour map scaled so the largest difference is brightest."""
    mag = diff.max(axis=2)
    peak = float(mag.max())
    t = mag / peak if peak > 0 else mag
    anchors = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32)
    pos = t * (len(anchors) - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, len(anchors) - 2)
    frac = (pos - lo)[..., None]
    rgb = anchors[lo] * (1 - frac) + anchors[lo + 1] * frac
    return Image.fromarray(rgb.astype(np.uint8)), peak


def detailed_spot(img: np.ndarray, side: int) -> tuple[int, int]:
    """(y, x) of the ``side``-square window with the most detail (largest luminance variance,
    on a coarse grid): where the methods differ, not a patch of sky."""
    gray = img.mean(axis=2)
    step = max(1, side // 2)
    best, spot = -1.0, (0, 0)
    for y in range(0, gray.shape[0] - side + 1, step):
        for x in range(0, gray.shape[1] - side + 1, step):
            v = float(gray[y : y + side, x : x + side].var())
            if v > best:
                best, spot = v, (y, x)
    return spot


def _between_tiles(steps, done: int, total: int, clock: list[float] | None = None):
    """Run one ``upscale_steps`` generator, yielding ``(done, total)`` after each of its tiles (a
    caller may stop there); its result. ``clock[0]`` adds up the time spent computing, not the
    time the caller spends between tiles."""
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


def _fit(size: tuple[int, int]) -> tuple[int, int]:
    """(W, H) scaled down to fit PREVIEW_SIDE, the aspect kept."""
    scale = PREVIEW_SIDE / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


class EngineSet(dict):
    """One weight set's engines: ONNX Runtime's sessions, loaded at start, and the PyTorch twins,
    loaded on first use (the batch command and Ray workers never need them)."""

    def __init__(self, manifest: dict, weights: str, ort_engine: OrtEngine):
        super().__init__(onnxruntime=ort_engine)
        self.manifest, self.weights = manifest, weights

    def __missing__(self, name: str):
        if name != "pytorch":
            raise KeyError(name)
        try:
            engine = TorchEngine.from_state_dicts(recorded_state_dicts(self.manifest, self.weights))
        except WeightsError as exc:  # an exported set kept while its checkpoints are not in this cache
            raise ImageInputError(f"PyTorch cannot run the {self.weights} weights on this server ({exc}); "
                                  "ONNX Runtime can.") from exc
        self[name] = engine
        return engine


class Upscaler:
    """The models, loaded once: ONNX Runtime sessions and their PyTorch twins."""

    def __init__(self, models_dir: Path = MODELS_DIR, threads: int | None = None, weight_sets=None):
        """``weight_sets``: the sets to serve (default: every set the manifest holds)."""
        manifest = read_manifest(models_dir)
        if manifest is None or not manifest["sets"]:
            raise FileNotFoundError(f"no models in {models_dir}: run export_models.py")
        self.manifest = manifest
        self.engines = {
            weights: EngineSet(manifest, weights, OrtEngine(Path(models_dir) / weights, threads=threads))
            for weights in manifest["sets"] if weight_sets is None or weights in weight_sets
        }
        if not self.engines:
            raise FileNotFoundError(f"none of the weight sets {', '.join(weight_sets)} is exported in {models_dir}")
        self.quality = load_table()  # decides "best": per model and factor, the set that measured better

    @property
    def unavailable(self) -> dict[str, str]:
        """Weight sets that could not be had, each with its reason in one line."""
        return self.manifest.get("unavailable", {})

    def weight_set(self, key: str, factor: float, weights=None) -> str:
        """The weight set a request for model ``key`` at ``factor`` runs with: ``weights``, or for
        "best" (or nothing) the set that measured better for that model at the nearest measured factor."""
        if weights in (None, "", BEST_WEIGHTS):
            return best_set(key, factor, self.engines, self.quality or {})
        return self.served(weights)

    def served(self, weights) -> str:
        """``weights`` if it names a set this server serves, else a message saying what is."""
        if not isinstance(weights, str) or weights not in WEIGHT_SETS:
            raise ImageInputError(f"Unknown weights {shorten(weights)}; choose one of: "
                                  f"{', '.join((BEST_WEIGHTS, *WEIGHT_SETS))}.")
        if weights not in self.engines:
            reason = self.unavailable.get(weights, f"The {weights} weights are not loaded on this server.")
            raise ImageInputError(f"{reason} Choose weights '{BEST_WEIGHTS}' or one of: {', '.join(self.engines)}.")
        return weights

    @staticmethod
    def sizes(path, key: str, factor, limit: int = MAX_OUTPUT_PIXELS, choices=CHOICES) -> tuple[tuple[int, int], tuple[int, int]]:
        """(W, H) of the input and of the result, from the image header: the checks ``prepare``
        makes before decoding, for deciding where a request waits before any work is done."""
        check_key(key, choices)
        value, _ = check_factor(factor)
        w, h = peek_size(path, value, limit)
        return (w, h), (output_size(w, value), output_size(h, value))

    def prepare(self, path, key: str, factor, limit: int, choices=CHOICES) -> tuple[InputImage, float, list[str]]:
        """The checked request: model, factor, then the image, refused from its header when too large."""
        check_key(key, choices)
        factor, notices = check_factor(factor)
        img = load_image(path, factor, limit)
        return img, factor, img.notices + notices + factor_notice(key, factor)

    def upscale(self, path, key: str, factor, weights=None, engine: str = "onnxruntime",
                progress: Progress | None = None) -> UpscaleResult:
        return drain(self.upscale_steps(path, key, factor, weights, engine), progress)

    def pick(self, factor: float, weights=None) -> Pick:
        """What ``auto`` runs at ``factor``: the model and weight set (among ``weights``, or every
        set served for "best") with the largest gain in the quality table."""
        sets = self.engines if weights in (None, "", BEST_WEIGHTS) else [self.served(weights)]
        return best_model(factor, sets, self.quality or {})

    def upscale_steps(self, path, key: str, factor, weights=None, engine: str = "onnxruntime"):
        """``upscale`` one tile at a time: yields (tiles done, tiles in all), returns the UpscaleResult.
        Closing the generator between tiles stops the work there."""
        img, factor, notices = self.prepare(path, key, factor, MAX_OUTPUT_PIXELS)
        if key == AUTO_KEY:
            pick = self.pick(factor, weights)
            key, weights = pick.key, pick.weights
            notices.insert(0, pick_note(pick, factor, self.quality))
            notices += factor_notice(key, factor)
        weights = "" if key == BICUBIC_KEY else self.weight_set(key, factor, weights)
        runner = None if key == BICUBIC_KEY else self.engines[weights][engine]
        dtype = np.uint16 if img.sixteen_bit and img.pixels.shape[2] == 1 and img.alpha_pixels is None else np.uint8
        start = time.perf_counter()
        try:
            out = yield from upscale_steps(runner, key, img.pixels, factor, dtype=dtype)
        finally:
            if runner is not None:
                runner.release()
        seconds = time.perf_counter() - start
        alpha = None
        if img.alpha_pixels is not None:  # the same size rule as ``out``
            alpha = upscale_array(None, BICUBIC_KEY, img.alpha_pixels, factor, dtype=np.uint8)
            notices.append("Transparency kept: the alpha channel was upscaled bicubically.")
        image = to_pil(out, alpha)
        del out, alpha
        preview = image if max(image.size) <= PREVIEW_SIDE else image.resize(_fit(image.size), Image.BICUBIC, reducing_gap=2.0)
        return UpscaleResult(
            image=image,
            preview=preview,
            baseline=self.baseline(img, preview.size, factor),
            seconds=seconds,
            engine="bicubic" if key == BICUBIC_KEY else engine,
            weights=weights,
            factor=factor,
            notices=notices,
            key=key,
        )

    @staticmethod
    def baseline(img: InputImage, size: tuple[int, int], factor: float) -> Image.Image:
        """Bicubic of the input at ``size`` (W, H), straight from the input: the other side of the
        before/after view. At the result's own size it is exactly the bicubic result at ``factor``;
        at a preview's smaller size it is resized to the preview directly, cheap at any factor."""
        if size == (output_size(img.width, factor), output_size(img.height, factor)):
            color, alpha = (bicubic(plane, factor) if plane is not None else None for plane in (img.color, img.alpha))
            return to_pil(color, alpha, img.sixteen_bit)
        if not img.sixteen_bit:  # PIL on the 8-bit planes: no full-size float copy of the input
            return to_pil(img.pixels, img.alpha_pixels).resize(size, Image.BICUBIC)
        gray = to_nchw(img.pixels)  # 16-bit: one float plane, no alpha
        return to_pil(from_nchw(resample(gray, size[0] / img.width, (size[1], size[0]))), None, True)

    def browser_reference(self, path, key: str, factor, weights=None,
                          limit: int = COMPARE_MAX_OUTPUT_PIXELS) -> BrowserReference:
        """The server's results for the Browser tab, ONNX Runtime's and PyTorch's, through the same
        pipeline as ``upscale`` (the page runs that pipeline too). Past ``limit`` output pixels
        only the browser runs: the reference then holds no images and a notice saying why."""
        (_, _), (out_w, out_h) = self.sizes(path, key, factor, choices=tuple(MODELS))
        factor, _ = check_factor(factor)
        weights = self.weight_set(key, factor, weights)
        if out_w * out_h > limit:
            return BrowserReference(None, None, 0.0, factor, weights,
                                    notice=f"The result is {out_w}x{out_h}; the server compares up to "
                                           f"{limit / 1e6:.0f} MP, so this time only your browser runs it.")
        ort_result = self.upscale(path, key, factor, weights, "onnxruntime")
        torch_result = self.upscale(path, key, factor, weights, "pytorch")
        return BrowserReference(ort_result.image, torch_result.image, ort_result.seconds, factor, weights)

    def check_quality(self, path, factor, weights=None, crop: int = 96, zoom: int = 3) -> QualityCheck:
        """``check_quality_steps`` run to the end."""
        return drain(self.check_quality_steps(path, factor, weights, crop, zoom))

    def check_quality_steps(self, path, factor, weights=None, crop: int = 96, zoom: int = 3):
        """Why a network beats bicubic, on the visitor's own image: it is downsized by ``factor``
        (PIL bicubic, 8-bit, as the quality table's inputs are made), upscaled back by bicubic and
        by every model, and each result is measured against the original (Y-PSNR and SSIM,
        ``ceil(factor)`` px shaved). The crops show one detailed spot of each, enlarged ``zoom``x.
        Yields (methods done, methods in all) between tiles; returns the QualityCheck."""
        factor, _ = check_factor(factor)
        width, height = peek_size(path)  # refused from its header: nothing decoded yet
        if factor < 1.1:
            raise ImageInputError("The quality check needs a factor of at least 1.1: at x1 there is nothing to restore.")
        if height * width > QUALITY_CHECK_MAX_PIXELS:
            raise ImageInputError(f"The quality check takes images up to {QUALITY_CHECK_MAX_PIXELS / 1e6:.0f} MP; "
                                  f"this one is {width}x{height}. Crop or downscale it first.")
        img = load_image(path)
        lr, hr = degrade(as_rgb(img.color), factor)
        if min(lr.shape[:2]) < 8:
            raise ImageInputError(f"Downsized by {factor:g}, this image is under 8 px on a side; use a larger image or factor.")
        shave = math.ceil(factor)
        side = min(crop, *hr.shape[:2])
        y, x = detailed_spot(hr, side)

        def zoomed(arr: np.ndarray) -> Image.Image:
            window = to_pil(np.clip(arr[y : y + side, x : x + side], 0, 1))
            return window.resize((side * zoom, side * zoom), Image.NEAREST)

        methods = [(BICUBIC_KEY, "", None)] + [(key, w, self.engines[w]["onnxruntime"]) for key in MODELS
                                                 for w in [self.weight_set(key, factor, weights)]]
        results = []
        for i, (key, weights_used, engine) in enumerate(methods):
            out = yield from _between_tiles(upscale_steps(engine, key, lr, factor), i, len(methods))
            results.append((key, weights_used, out))
        rows, crops, base = [], [(zoomed(hr), "original")], None
        for method, weights_used, out in results:
            p, q = psnr_y(out, hr, shave), ssim_y(out, hr, shave)
            base = p if base is None else base  # bicubic comes first: the gain is over its PSNR
            rows.append({"method": method, "weights": weights_used, "PSNR-Y (dB)": round(p, 2), "SSIM-Y": round(q, 4),
                         "gain (dB)": round(p - base, 2)})
            crops.append((zoomed(out), f"{method} {p:.2f} dB"))  # the weights and SSIM are in the rows
        return QualityCheck(factor, rows, crops)

    def compare(self, path, key: str, factor, weights=None, runs: int = 3, progress: Progress | None = None) -> CompareResult:
        """``compare_steps`` run to the end."""
        return drain(self.compare_steps(path, key, factor, weights, runs), progress)

    def compare_steps(self, path, key: str, factor, weights=None, runs: int = 3):
        """Both engines on the same input, ``runs`` times each: yields (runs done, runs in all)
        between tiles, so a caller can stop it there; returns the CompareResult. The medians
        count the engines' own time only."""
        img, factor, _ = self.prepare(path, key, factor, COMPARE_MAX_OUTPUT_PIXELS, tuple(MODELS))
        weights = self.weight_set(key, factor, weights)
        x = img.color
        outputs, medians, total = {}, {}, len(ENGINES) * runs
        for i, name in enumerate(ENGINES):
            times = []
            for r in range(runs):
                clock = [0.0]
                steps = upscale_steps(self.engines[weights][name], key, x, factor)
                outputs[name] = yield from _between_tiles(steps, i * runs + r, total, clock)
                times.append(clock[0])
            medians[name] = statistics.median(times)
        yield total, total
        a, b = outputs["onnxruntime"], outputs["pytorch"]
        diff = np.abs(a - b)
        heat, peak = heatmap(diff)
        passed = bool(np.allclose(a, b, rtol=PARITY_RTOL, atol=PARITY_ATOL))
        stats = {
            "model": key,
            "weights": weights,
            "factor": factor,
            "network factor": network_factor(key, factor),
            "output": f"{a.shape[1]}x{a.shape[0]}",
            "max abs diff": float(diff.max()),
            "mean abs diff": float(diff.mean()),
            "PSNR between engines (dB)": psnr(np.clip(a, 0, 1), np.clip(b, 0, 1)),
            f"within rtol={PARITY_RTOL:g}, atol={PARITY_ATOL:g}": passed,
            "ONNX Runtime median (ms)": medians["onnxruntime"] * 1000,
            "PyTorch median (ms)": medians["pytorch"] * 1000,
            "speed-up (PyTorch / ORT)": medians["pytorch"] / medians["onnxruntime"],
            "runs": runs,
            "heat map peak": peak,
        }
        return CompareResult(to_pil(a), to_pil(b), heat, stats)
