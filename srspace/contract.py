"""The contract shared by the exporter, the runtime, the app and the tests.

Model keys, file names, tensor names, value ranges, the output-size rule and the
parity tolerance are defined here once and imported everywhere else.
"""
from __future__ import annotations

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
FACTOR_STEP = 0.1

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
    title: str
    description: str

    @property
    def input_names(self) -> tuple[str, ...]:
        return (INPUT_NAME,) if self.fixed_factor else (INPUT_NAME, FACTOR_NAME)

    @property
    def dynamic(self) -> bool:
        return self.fixed_factor is None


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            key="srcnn_x3",
            filename="srcnn_x3.onnx",
            network="srcnn",
            fixed_factor=3,
            channels=3,
            title="SRCNN ×3",
            description="SRCNN 9-1-5 with a fixed bicubic ×3 upsample inside the graph; RGB in [0,1].",
        ),
        ModelSpec(
            key="srcnn_dynamic",
            filename="srcnn_dynamic.onnx",
            network="srcnn",
            fixed_factor=None,
            channels=3,
            title="SRCNN, any factor",
            description="The same SRCNN; the factor is a graph input [1,1,s,s] from which the graph builds its cubic interpolation matrices (applied by MatMul) and the correction's gain.",
        ),
        ModelSpec(
            key="espcn_x3",
            filename="espcn_x3.onnx",
            network="espcn",
            fixed_factor=3,
            channels=1,
            title="ESPCN ×3 (sub-pixel)",
            description="ESPCN of PyTorch's ONNX Runtime tutorial: Y channel, PixelShuffle(3).",
        ),
    )
}

# The weight sets a model can be exported with; each set's models live in models/<set>/.
WEIGHT_SETS = {
    "bundled": "trained by this project (its own SRCNN and ESPCN, shipped with it)",
    "official": "the tutorials' original checkpoints: OpenMMLab SRCNN trained at ×4, PyTorch's ESPCN",
}
BEST_WEIGHTS = "best"  # what a user gets by default: per network, the set that measured best


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


def factor_tensor_value(factor: float) -> np.ndarray:
    """The ``factor`` graph input of ``srcnn_dynamic`` for scale ``factor``."""
    return np.array([1.0, 1.0, factor, factor], dtype=np.float32)


# The example gallery of every page: file in examples/, model, factor, what it shows.
GALLERY = (
    ("astronaut_face.png", "srcnn_dynamic", 2.5, "A face"),
    ("text.png", "espcn_x3", 3.0, "Text"),
    ("brick.png", "srcnn_x3", 3.0, "Brick texture"),
    ("chelsea.png", "srcnn_dynamic", 4.0, "Fur"),
    ("coffee.png", "espcn_x3", 2.0, "Still life"),
    ("rocket.png", "bicubic", 3.0, "Sky and smoke"),
)
