"""The graph pictures of the Models tab, drawn from the exported files."""
from __future__ import annotations

import shutil

import pytest

from srspace.contract import model_path
from srspace.ui.graphview import render_svg, to_dot


def test_the_factor_input_visibly_feeds_the_upsample(models_dir):
    dot = to_dot(model_path(models_dir, "bundled", "srcnn_dynamic"))
    assert '"in:factor" -> "interp"' in dot  # the graph input builds the interpolation matrices...
    matmuls = [line.split()[0] for line in dot.splitlines() if 'label="MatMul' in line]
    assert len(matmuls) == 2 and all(f'"interp" -> {m}' in dot for m in matmuls)  # ...that both MatMuls apply
    assert dot.count("->") < 40  # its scalar ops are one box: the picture stays readable
    assert 'label="input\\nbatch×3×height×width"' in dot
    assert 'label="batch×64×out_height×out_width"' in dot  # symbolic shapes on the edges
    assert "Conv\\n64×3×9×9" in dot


def test_fixed_models_show_their_depth_to_space(models_dir):
    dot = to_dot(model_path(models_dir, "bundled", "espcn_x3"))
    assert "DepthToSpace\\nblocksize 3" in dot and "Resize" not in dot
    assert 'label="output\\nbatch×1×3*height×3*width"' in dot


def test_svg_is_rendered_and_cached_where_the_app_does_not_serve_files(models_dir, tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (apt-get install graphviz)")
    onnx_file = tmp_path / "models" / "srcnn_x3.onnx"
    onnx_file.parent.mkdir()
    shutil.copy(model_path(models_dir, "bundled", "srcnn_x3"), onnx_file)
    svg = render_svg(onnx_file, cache=tmp_path / "graphs")
    assert svg.startswith("<svg") and "DepthToSpace" in svg
    [cached] = (tmp_path / "graphs").glob("srcnn_x3.*.svg")
    assert cached.read_text() == svg and render_svg(onnx_file, cache=tmp_path / "graphs") == svg
    assert not list(onnx_file.parent.glob("*.svg"))  # nothing beside the model, in the folder the app serves
