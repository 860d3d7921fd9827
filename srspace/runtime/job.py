"""A request, checked once: the model, the factor and the image's header, before any work.

Every entry point (the Upscale, Compare and Browser tabs, the quality check, the API and MCP
tools, the batch command) builds one ``UpscaleJob`` with ``Upscaler.job`` and passes it down;
nothing below re-checks the arguments. ``check_key`` and ``check_factor`` are the rules it
applies, also used alone where there is no image yet (the batch command's settings).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract import CHOICES, FACTOR_DECIMALS, MAX_FACTOR, MIN_FACTOR, MODELS, output_shape
from ..errors import ImageInputError, number_text, say, shorten


@dataclass(frozen=True)
class UpscaleJob:
    """What will run, decided before anything is decoded."""

    path: Path
    asked: str  # the model as asked: a key, "auto" or "bicubic"
    key: str  # the model that runs ("auto" resolved)
    factor: float  # checked and rounded to the contract's resolution
    weights: str  # the weight set it runs with ("" for bicubic)
    size: tuple[int, int]  # (W, H) of the input, from its header
    notices: tuple[str, ...] = ()  # what was adjusted or chosen, in words

    @property
    def out_size(self) -> tuple[int, int]:
        """(W, H) of the result, by the contract's size rule."""
        h, w = output_shape(self.size[1], self.size[0], self.factor)
        return w, h

    @property
    def out_pixels(self) -> int:
        w, h = self.out_size
        return w * h


def check_key(key, choices=CHOICES) -> str:
    """``key`` if it is one of ``choices`` (auto and the bicubic baseline included by default), else a message."""
    if not isinstance(key, str) or key not in choices:
        raise ImageInputError(say("unknownModel", model=shorten(key), choices=", ".join(choices)))
    return key


def check_factor(factor) -> tuple[float, list[str]]:
    """A valid factor (FACTOR_DECIMALS decimals at most) and any notice about adjusting it."""
    low, high = number_text(MIN_FACTOR), number_text(MAX_FACTOR)
    if isinstance(factor, bool) or not isinstance(factor, (int, float, str, np.floating, np.integer)):
        raise ImageInputError(say("factorNotNumber", low=low, high=high,
                                  value=f"{shorten(factor)} ({type(factor).__name__})"))
    try:
        value = float(factor)
    except (TypeError, ValueError) as exc:
        raise ImageInputError(say("factorNotNumber", low=low, high=high, value=shorten(factor))) from exc
    if not math.isfinite(value):
        raise ImageInputError(say("factorNotNumber", low=low, high=high, value=shorten(factor)))
    if not MIN_FACTOR <= value <= MAX_FACTOR:  # every digit shown: 4.0000001 is not "4"
        raise ImageInputError(say("factorOutOfRange", low=low, high=high, value=number_text(value)))
    rounded = round(value, FACTOR_DECIMALS)
    step = f"{10 ** -FACTOR_DECIMALS:.{FACTOR_DECIMALS}f}"
    notices = [say("factorRounded", value=number_text(value), rounded=number_text(rounded), step=step)] if rounded != value else []
    return rounded, notices


def check_output_size(size: tuple[int, int], factor: float, limit: int) -> None:
    """ImageInputError when an input of ``size`` (W, H) would give a result over ``limit`` pixels at ``factor``."""
    width, height = size
    out_h, out_w = output_shape(height, width, factor)
    if out_h * out_w > limit:
        raise ImageInputError(say("outputTooLarge", width=width, height=height, factor=number_text(factor), outWidth=out_w,
                                  outHeight=out_h, megapixels=f"{out_h * out_w / 1e6:.1f}", limit=f"{limit / 1e6:.0f}"))


def factor_notice(key: str, factor: float) -> list[str]:
    """What a fixed-factor model does at another factor, in words."""
    spec = MODELS.get(key)
    if spec and spec.fixed_factor and factor != spec.fixed_factor:
        return [say("resized", model=key, native=number_text(spec.fixed_factor), factor=number_text(factor))]
    return []
