"""Upscale an image file: the models, loaded once, and the one use case every entry point runs.

One ``Upscaler`` is built at start (sessions loaded once, PyTorch twins on first use) and serves
every request; all per-request data stays in locals and return values. ``Upscaler.job``
checks a request once (``srspace.runtime.job``); ``upscale_steps`` runs it tile by tile.
The other use cases take the same Upscaler and UpscaleJob: ``srspace.service.engine_compare`` (PyTorch vs
ONNX Runtime) and ``srspace.service.quality_check`` (the gain on the visitor's own image).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..imaging.colour import from_nchw, to_nchw, to_pil
from ..contract import (AUTO_KEY, BEST_WEIGHTS, BICUBIC_KEY, CHOICES, COMPARE_MAX_OUTPUT_PIXELS,
                       MAX_OUTPUT_PIXELS, MODELS_DIR, OFFICIAL_SET, output_size, PREVIEW_SIDE, WEIGHT_SETS,
                       keeps_sixteen_bit)
from ..imaging.decoding import InputImage, load_image, peek
from ..runtime.engines import OrtEngine, TorchEngine
from ..errors import ImageInputError, say, shorten
from ..models.manifest import read_manifest
from ..runtime.pipeline import Progress, bicubic, counted, drain, resample, upscale_array, upscale_steps
from ..quality.table import CLEAN, Pick, best_model, best_set, input_kind, jpeg_note, load_table, pick_note
from ..runtime.job import UpscaleJob, check_factor, check_key, check_output_size, factor_notice
from ..models.weights import WeightsError, recorded_state_dicts

ENGINES = ("onnxruntime", "pytorch")  # an EngineSet's keys: the served engine first
# Why a set lacks a model, said when one is asked for by hand.
WEIGHT_GAPS = {OFFICIAL_SET: "the tutorial published ESPCN at x3 only; "}


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
            weights: EngineSet(manifest, weights, OrtEngine(Path(models_dir) / weights, tuple(manifest["sets"][weights]),
                                                            threads=threads))
            for weights in manifest["sets"] if weight_sets is None or weights in weight_sets
        }
        if not self.engines:
            raise FileNotFoundError(f"none of the weight sets {', '.join(weight_sets)} is exported in {models_dir}")
        self.quality = load_table()  # decides "best": per model and factor, the set that measured better

    @property
    def unavailable(self) -> dict[str, str]:
        """Weight sets that could not be had, each with its reason in one line."""
        return self.manifest.get("unavailable", {})

    def weight_set(self, key: str, factor: float, weights=None, inputs: str = CLEAN) -> str:
        """The weight set a request for model ``key`` at ``factor`` runs with: ``weights``, or for
        "best" (or nothing) the set that measured better for that model at the nearest measured
        factor on inputs like this one (``quality_table.input_kind``)."""
        having = [w for w in self.engines if key in self.engines[w]["onnxruntime"]]
        if weights in (None, "", BEST_WEIGHTS):
            if not having:
                raise ImageInputError(f"No weight set served here has {key}; choose another model.")
            return best_set(key, factor, having, self.quality or {}, inputs)
        weights = self.served(weights)
        if weights not in having:
            raise ImageInputError(f"The {weights} weights have no {key}: {WEIGHT_GAPS.get(weights, '')}"
                                  f"choose weights '{BEST_WEIGHTS}' or {' or '.join(repr(w) for w in having)}.")
        return weights

    def served(self, weights) -> str:
        """``weights`` if it names a set this server serves, else a message saying what is."""
        if not isinstance(weights, str) or weights not in WEIGHT_SETS:
            raise ImageInputError(f"Unknown weights {shorten(weights)}; choose one of: "
                                  f"{', '.join((BEST_WEIGHTS, *WEIGHT_SETS))}.")
        if weights not in self.engines:
            reason = self.unavailable.get(weights, f"The {weights} weights are not loaded on this server.")
            raise ImageInputError(f"{reason} Choose weights '{BEST_WEIGHTS}' or one of: {', '.join(self.engines)}.")
        return weights

    def pick(self, factor: float, weights=None, inputs: str = CLEAN) -> Pick:
        """What ``auto`` runs at ``factor``: the model and weight set (among ``weights``, or every
        set served for "best") with the largest gain in the quality table on inputs like this one."""
        sets = self.engines if weights in (None, "", BEST_WEIGHTS) else [self.served(weights)]
        return best_model(factor, sets, self.quality or {}, inputs)

    def job(self, path, model, factor, weights=None, limit: int | None = MAX_OUTPUT_PIXELS,
                choices=CHOICES) -> UpscaleJob:
        """The job, checked once, before anything is decoded: the model (one of ``choices``),
        the factor, the image's header (a result over ``limit`` pixels is refused; None: no limit)
        and the weight set; ``auto`` resolved to what runs, with the reason as its first notice."""
        key = check_key(model, choices)
        factor, notices = check_factor(factor)
        size, quality = peek(path)  # a JPEG's quality, from its header, picks the rows of the table that decide
        if limit is not None:
            check_output_size(size, factor, limit)
        inputs = input_kind(quality)
        chosen = weights in (None, "", BEST_WEIGHTS)
        if key == AUTO_KEY:
            pick = self.pick(factor, weights, inputs)
            key, weights = pick.key, pick.weights
            notices.insert(0, pick_note(pick, factor, self.quality))
        weights = "" if key == BICUBIC_KEY else self.weight_set(key, factor, weights, inputs)
        if chosen and key != BICUBIC_KEY and quality is not None:
            notices.insert(0, jpeg_note(quality, weights))
        return UpscaleJob(Path(path), model, key, factor, weights, size, tuple(notices + factor_notice(key, factor)))

    def upscale(self, path, model, factor, weights=None, engine: str = "onnxruntime",
                progress: Progress | None = None) -> UpscaleResult:
        """One image file upscaled: ``job`` then ``upscale_steps`` run to the end."""
        return drain(self.upscale_steps(self.job(path, model, factor, weights), engine), progress)

    def upscale_steps(self, job: UpscaleJob, engine: str = "onnxruntime"):
        """``job`` run one tile at a time: yields (tiles done, tiles in all), returns the
        UpscaleResult. Closing the generator between tiles stops the work there."""
        img = load_image(job.path)
        key, factor, weights = job.key, job.factor, job.weights
        notices = [*job.notices, *img.notices]
        runner = None if key == BICUBIC_KEY else self.engines[weights][engine]
        dtype = np.uint16 if keeps_sixteen_bit(img.sixteen_bit, img.pixels.shape[2], img.alpha_pixels is not None) else np.uint8
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
            notices.append(say("alphaKept"))
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

    @staticmethod
    def browser_reference_cost(job: UpscaleJob, limit: int = COMPARE_MAX_OUTPUT_PIXELS) -> int:
        """The work of the Browser tab's reference, in result pixels, for the lanes: every engine runs
        once, up to ``limit`` (past it none does)."""
        return (job.out_pixels if job.out_pixels <= limit else 0) * len(ENGINES)

    def browser_reference_steps(self, job: UpscaleJob, limit: int = COMPARE_MAX_OUTPUT_PIXELS):
        """The server's results for the Browser tab, ONNX Runtime's and PyTorch's, through the same
        pipeline as ``upscale`` (the page runs that pipeline too), yielding (tiles done, tiles in
        all) between tiles so a caller can stop there. Past ``limit`` output pixels only the
        browser runs: the reference then holds no images and a notice saying why."""
        if job.out_pixels > limit:
            (out_w, out_h) = job.out_size
            return BrowserReference(None, None, 0.0, job.factor, job.weights,
                                    notice=f"The result is {out_w}x{out_h}; the server compares up to "
                                           f"{limit / 1e6:.0f} MP, so this time only your browser runs it.")
        results = {}
        for i, engine in enumerate(ENGINES):
            results[engine] = yield from counted(self.upscale_steps(job, engine), i, len(ENGINES))
        return BrowserReference(results["onnxruntime"].image, results["pytorch"].image, results["onnxruntime"].seconds,
                                job.factor, job.weights)
