"""The parity contract over the whole accepted domain, not only where export samples it: every
side from 8 to 64 px at every slider factor, batch 1 and 2, each model and weight set.

Two layers, so the sweep runs in seconds rather than minutes on two cores:
- geometry, exhaustively: the upsample of each exported ``srcnn_dynamic`` file (its interpolation
  matrices and MatMuls, extracted from the file itself) against PyTorch's at every case of the grid; this is where the
  factor enters, and where an 8x9 input at x1.1 once differed by 0.3;
- the whole models against their PyTorch twins at every shape of the grid at two factors, and at
  every factor on the extreme shapes; the layers after the upsample see only its output, whose
  geometry the first layer has proven everywhere.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from srspace.contract import FACTOR_NAME, INPUT_NAME, MODELS, PARITY_ATOL, PARITY_RTOL, model_path
from srspace.runtime.engines import PROVIDERS, OrtEngine, TorchEngine, session_options
from srspace.buildtime.export import ExportError, SWEEP_FACTORS, SWEEP_SHAPES, compare_engines, parity_input, read_manifest, sweep_cases
from srspace.models.networks import bicubic_resize
from srspace.models.weights import recorded_state_dicts

pytestmark = pytest.mark.slow  # the whole grid of shapes and factors through both engines: minutes

EDGE_SHAPES = [(2, 8, 9), (1, 9, 8), (2, 64, 8), (1, 8, 64)]


@pytest.fixture(scope="module")
def manifest(models_dir):
    return read_manifest(models_dir)


@pytest.fixture(scope="module")
def engine_pairs(models_dir, manifest):
    return {w: (TorchEngine.from_state_dicts(recorded_state_dicts(manifest, w)), OrtEngine(models_dir / w))
            for w in manifest["sets"]}


def _upsample_graph(path) -> bytes:
    """The exported file's own upsample: the graph cut where its first convolution reads."""
    model = onnx.load(str(path))
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    producer = next(n for n in model.graph.node if conv.input[0] in n.output)
    assert producer.op_type in ("MatMul", "FusedMatMul")
    sub = onnx.utils.Extractor(model).extract_model([INPUT_NAME, FACTOR_NAME], [conv.input[0]])
    assert FACTOR_NAME in {n for node in sub.graph.node for n in node.input}  # the factor builds the matrices
    for value in (sub.graph.input[0], sub.graph.output[0]):  # channels resample alike: sweep one, not three
        value.type.tensor_type.shape.dim[1].dim_param = "channels"
    return sub.SerializeToString()


def test_upsample_geometry_equals_pytorch_on_every_case(models_dir, manifest):
    cases = sweep_cases(MODELS["srcnn_dynamic"])
    assert len(cases) == len(SWEEP_SHAPES) * len(SWEEP_FACTORS) == 114 * 31
    assert (2, 8, 9, 1.1) in cases and (1, 9, 8, 1.1) in cases  # the cases that once differed by 0.3
    sides = {h for _, h, _ in SWEEP_SHAPES} | {w for _, _, w in SWEEP_SHAPES}
    assert sides == set(range(8, 65)) and all(h != w for _, h, w in SWEEP_SHAPES)
    # the upsample carries no weights: every set's file holds the very same subgraph, swept once
    graphs = {_upsample_graph(model_path(models_dir, w, "srcnn_dynamic")) for w in manifest["sets"]
              if "srcnn_dynamic" in manifest["sets"][w]}
    assert len(graphs) == 1
    session = ort.InferenceSession(graphs.pop(), session_options(), providers=PROVIDERS)
    worst = 0.0
    for batch, height, width, factor in cases:
        x = np.ascontiguousarray(parity_input(MODELS["srcnn_dynamic"], batch, height, width)[:, :1])
        scales = np.array([1, 1, factor, factor], dtype=np.float32)
        actual = session.run(None, {INPUT_NAME: x, FACTOR_NAME: scales})[0]
        with torch.inference_mode():
            expected = bicubic_resize(torch.from_numpy(x), torch.from_numpy(scales)).numpy()
        assert actual.shape == expected.shape, (batch, height, width, factor)
        np.testing.assert_allclose(actual, expected, rtol=PARITY_RTOL, atol=PARITY_ATOL,
                                   err_msg=f"{batch}x{height}x{width} @ {factor}")
        worst = max(worst, float(np.abs(actual - expected).max()))
    assert worst < PARITY_ATOL


def model_cases(key: str) -> list[tuple[int, int, int, float | None]]:
    """Every shape of the grid at x1.1 and x2.5 (every shape, no factor, for the fixed models), and
    every factor, x4 included, on the extreme shapes."""
    if not MODELS[key].dynamic:
        return sweep_cases(MODELS[key])
    return ([(b, h, w, f) for b, h, w in SWEEP_SHAPES for f in (1.1, 2.5)]
            + [(b, h, w, f) for b, h, w in EDGE_SHAPES for f in SWEEP_FACTORS if f not in (1.1, 2.5)])


@pytest.mark.parametrize("key", list(MODELS))
def test_models_equal_pytorch_across_the_domain(engine_pairs, key):
    cases = model_cases(key)
    having = {w: pair for w, pair in engine_pairs.items() if key in pair[1]}  # the sets that hold the model
    assert "bundled" in having
    for weights, (torch_engine, ort_engine) in having.items():
        try:
            results = compare_engines(MODELS[key], torch_engine, ort_engine, cases)
        except ExportError as exc:
            pytest.fail(f"{weights}: {exc}")
        assert len(results) == len(cases)
