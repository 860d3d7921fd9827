"""The contract shared by the exporter, the runtime, the app and the tests.

Model keys, file names, tensor names, value ranges, weight-set names, the factor's range and
resolution, the size rule and limits of images, each network's receptive field and the
parity tolerance are defined here once and imported everywhere else.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"
EXAMPLES_DIR = ROOT / "examples"
MANIFEST_NAME = "manifest.json"

INPUT_NAME = "input"
FACTOR_NAME = "factor"
OUTPUT_NAME = "output"

# ONNX opset of every exported graph (Col2Im needs 18; onnxruntime-web runs it too).
OPSET = 18

# The PyTorch ONNX Runtime tutorial's tolerance, used by the exporter and the tests.
PARITY_RTOL = 1e-3
PARITY_ATOL = 1e-5

MIN_FACTOR = 1.0
MAX_FACTOR = 4.0
FACTOR_STEP = 0.1  # the sliders' step
FACTOR_DECIMALS = 2  # the resolution of a factor anyone may ask for (API, MCP, batch): 0.01

# Images: what is read, and the limits every input and result is checked against.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MIN_SIDE = 8  # pixels; smaller inputs carry too little for a network to work on
MAX_FILE_MB = 100  # an upload, or an image fetched from a URL; a 25 MP photograph as PNG is far smaller
MAX_INPUT_PIXELS = 40_000_000
MAX_OUTPUT_PIXELS = 25_000_000  # about 6100 x 4100; tiling keeps the server's memory bounded
# Results up to this size are small: a lane of their own on the server, and smaller network tiles
# (tiling.SMALL_TILE_OUTPUT_SIDE), so that small requests beside a large one add little memory.
SMALL_RESULT_PIXELS = 2_000_000


# Limits and defaults of a shared server, one home for all of them (each module that applies one says how).
# Requests: the before/after preview, and the reference runs of the Compare and Browser tabs (both engines run)
PREVIEW_SIDE = 2048  # the before/after view is downsized past this; the download never is
# The most detailed spot of a result (the quality check's crops, the page's zoom view opens there):
# the DETAIL_SIDE-square window of largest luma variance, windows every side / windowsPerSide px
# (minStep at least), the variance over every (side / samplesPerSide)-th pixel of a window.
DETAIL_SIDE = 96
DETAIL_SEARCH = {"windowsPerSide": 2, "minStep": 4, "samplesPerSide": 16}
# A result stays 16-bit only where its input is 16-bit gray without alpha (PNG's I;16, as PIL
# writes it); every other result is 8-bit.
SIXTEEN_BIT_RESULT = {"channels": 1, "alpha": False}


def keeps_sixteen_bit(sixteen_bit: bool, channels: int, has_alpha: bool) -> bool:
    """Whether the result of an input so made is written 16-bit (SIXTEEN_BIT_RESULT)."""
    return (sixteen_bit and channels == SIXTEEN_BIT_RESULT["channels"]
            and has_alpha == SIXTEEN_BIT_RESULT["alpha"])


COMPARE_MAX_OUTPUT_PIXELS = 4_000_000  # the server's reference runs (Compare, Browser tabs): both engines run
# The quality check: every model runs once on the image
QUALITY_CHECK_MAX_PIXELS = 4_000_000  # every model runs once on the image
# Gradio's queue
UPSCALE_WAITING = 16  # upscale requests Gradio lets in at once: our lanes decide what runs, this bounds the waiting
# Connections
HEADER_TIMEOUT_S = 20.0  # a request's head must arrive within this (Apache's mod_reqtimeout gives 20-40 s)
# Images given as a URL (serving/downloads.py)
URL_DEADLINE_S = 60.0  # the whole download, redirects included
URL_MAX_REDIRECTS = 5
# Admission lanes (serving/admission.py): what runs at once, what may wait, per client
SMALL_SLOTS = 2
LARGE_SLOTS = 1
SMALL_BESIDE_LARGE = 1  # small requests that run while a large one does: the whole server stays under 2 GB
LARGE_WAITING = 3  # large requests that may wait behind the running ones, from all clients together
LARGE_PER_CLIENT = 1  # large requests one client may have running or waiting
SMALL_PER_CLIENT = 2  # small requests one client may have running or waiting: a flood from one visitor is refused
SECONDS_PER_MP = 0.6  # the first guess of a large request's time per result MP (2 cores, SRCNN); then measured
# The temp folder of uploads and results (serving/tempfolder.py)
TEMP_CAP_BYTES = 2 << 30  # 2 GiB: a flood of 100 MB uploads is cut back to this within one sweep
TEMP_LIFETIME_S = 1800  # a result can be downloaded for half an hour
TEMP_SWEEP_S = 10
TEMP_GRACE_S = 120  # what a request is still working on (or waiting with, in a lane) is never removed
TEMP_CLIENT_SHARE = 0.25  # of the cap: what one client may upload per lifetime (512 MB per half hour)

# Each network's convolution kernel sides, first layer first: its receptive field (networks.py builds them).
KERNELS = {"srcnn": (9, 1, 5), "espcn": (5, 3, 3, 3)}

# The sub-pixel network is exported natively at each of these factors (one model, one weights file each).
ESPCN_FACTORS = (2, 3, 4)

# Bicubic as PyTorch does it (align_corners=False, half-pixel centres): Keys' kernel with a = -0.75.
CUBIC_A = -0.75


@dataclass(frozen=True)
class ModelSpec:
    """One exported model: its file, its network and how it is fed."""

    key: str
    filename: str
    network: str  # "srcnn" or "espcn": which weights it takes
    fixed_factor: int | None  # None: the factor is a run-time input
    channels: int  # 3: RGB in [0,1]; 1: the Y of PIL's YCbCr in [0,1]
    subpixel: bool  # True: upsamples last (features at input resolution); False: upsamples first
    title: str
    description: str

    @property
    def input_names(self) -> tuple[str, ...]:
        return (INPUT_NAME,) if self.fixed_factor else (INPUT_NAME, FACTOR_NAME)

    @property
    def weights_name(self) -> str:
        """The weights it takes: SRCNN's two models share one set of weights, each ESPCN factor has its own."""
        return self.network if self.network == "srcnn" else self.key

    @property
    def dynamic(self) -> bool:
        return self.fixed_factor is None

    @property
    def luma(self) -> bool:
        """True when the network sees the Y channel only (colour is upscaled bicubically and merged back)."""
        return self.channels == 1

    @property
    def reach(self) -> int:
        """Pixels of context the convolutions read on each side, at the network's input resolution, plus
        one for rounding: the stacked kernels' half-sides."""
        return sum(k // 2 for k in KERNELS[self.network]) + 1

    def network_factor(self, factor: float) -> float:
        """The factor the network itself applies: fixed for the x3 models, the request's for the dynamic one."""
        return self.fixed_factor or factor


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            key="srcnn_x3",
            filename="srcnn_x3.onnx",
            network="srcnn",
            fixed_factor=3,
            channels=3,
            subpixel=False,
            title="SRCNN ×3",
            description="SRCNN 9-1-5 with a fixed bicubic ×3 upsample inside the graph; RGB in [0,1].",
        ),
        ModelSpec(
            key="srcnn_dynamic",
            filename="srcnn_dynamic.onnx",
            network="srcnn",
            fixed_factor=None,
            channels=3,
            subpixel=False,
            title="SRCNN, any factor",
            description="The same SRCNN; the factor is a graph input [1,1,s,s] from which the graph builds its cubic interpolation matrices (applied by MatMul) and the correction's gain.",
        ),
        *(
            ModelSpec(
                key=f"espcn_x{f}",
                filename=f"espcn_x{f}.onnx",
                network="espcn",
                fixed_factor=f,
                channels=1,
                subpixel=True,
                title=f"ESPCN ×{f} (sub-pixel)",
                description=f"ESPCN of PyTorch's ONNX Runtime tutorial at upscale_factor {f}: Y channel, PixelShuffle({f}).",
            )
            for f in ESPCN_FACTORS
        ),
    )
}

WEIGHT_NAMES = tuple(dict.fromkeys(spec.weights_name for spec in MODELS.values()))  # srcnn, espcn_x2, ...


def weights_spec(name: str) -> ModelSpec:
    """The first model that takes weights ``name``: its network and native factor (a bare "espcn",
    the tutorial's own name, is its x3)."""
    name = "espcn_x3" if name == "espcn" else name
    for spec in MODELS.values():
        if spec.weights_name == name:
            return spec
    raise KeyError(f"unknown weights {name!r}; choose one of {', '.join(WEIGHT_NAMES)}")


# The weight sets a model can be exported with; each set's models live in models/<set>/.
BUNDLED_SET = "bundled"
OFFICIAL_SET = "official"
PHOTO_SET = "photo"
WEIGHT_SETS = {
    BUNDLED_SET: "trained by this project (its own SRCNN and ESPCN, shipped with it)",
    OFFICIAL_SET: "the tutorials' original checkpoints: OpenMMLab SRCNN trained at ×4, PyTorch's ESPCN",
    PHOTO_SET: "trained by this project on JPEG-compressed inputs (ESPCN at ×2, ×3, ×4): removes JPEG blocks while it upscales",
}
BEST_WEIGHTS = "best"  # what a user gets by default: per network, the set that measured best
# The weights each set holds (weights_name): the tutorials published SRCNN and ESPCN x3 only; the
# photo set is ESPCN trained on JPEG-compressed inputs.
SET_WEIGHTS = {BUNDLED_SET: WEIGHT_NAMES, OFFICIAL_SET: ("srcnn", "espcn_x3"),
               PHOTO_SET: tuple(f"espcn_x{f}" for f in ESPCN_FACTORS)}
# Sets whose weights ship with the project (srspace/bundled/), as against downloaded ones.
SHIPPED_SETS = (BUNDLED_SET, PHOTO_SET)


def set_models(weights: str) -> tuple[str, ...]:
    """The model keys weight set ``weights`` holds."""
    return tuple(key for key, spec in MODELS.items() if spec.weights_name in SET_WEIGHTS[weights])


def models_folder() -> Path:
    """The models folder the commands use by default: $SRSPACE_MODELS, else models/ of the project."""
    return Path(os.environ.get("SRSPACE_MODELS") or MODELS_DIR)


def model_path(models_dir: Path, weights: str, key: str) -> Path:
    """Where the ONNX file of model ``key`` exported with weight set ``weights`` lives."""
    return Path(models_dir) / weights / MODELS[key].filename


BICUBIC_KEY = "bicubic"
AUTO_KEY = "auto"  # per factor, the model and weights with the largest measured gain (the quality table)
CHOICES = (AUTO_KEY, *MODELS, BICUBIC_KEY)  # what a user may pick: auto, the models, the baseline


def output_size(n: int, factor: float) -> int:
    """Output length for an input length ``n`` at scale ``factor``.

    floor(n * s) with both operands and the product in float32, as ONNX Runtime evaluates
    the graph's own size computation; PyTorch runs the same code, so both engines agree to
    the pixel (a float64 product differs at, e.g., 90 x 1.3).
    """
    return int(np.floor(np.float32(n) * np.float32(factor)))


# Axis order, said once: an image's *size* is (W, H), as PIL and the page give it (``UpscaleJob.size``,
# ``out_size``); an array's *shape* is (H, W) (channels last or first), as numpy and the networks
# take it (``output_shape``).
def output_shape(height: int, width: int, factor: float) -> tuple[int, int]:
    """(H', W') of every result at ``factor``: the size rule on each side."""
    return output_size(height, factor), output_size(width, factor)


def factor_tensor_value(factor: float) -> np.ndarray:
    """The ``factor`` graph input of ``srcnn_dynamic`` for scale ``factor``."""
    return np.array([1.0, 1.0, factor, factor], dtype=np.float32)


# The example gallery of every page: file in examples/, factor, what it shows. A row sets the image
# and the factor; the model stays the visitor's choice (auto by default).
GALLERY = (
    ("astronaut_face.png", 2.5, "A face"),
    ("text.png", 3.0, "Text"),
    ("brick.png", 3.0, "Brick texture"),
    ("chelsea.png", 4.0, "Fur"),
    ("coffee.png", 2.0, "Still life"),
    ("rocket.png", 3.0, "Sky and smoke"),
)
