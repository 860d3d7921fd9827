"""The exported graphs: contract, parity with PyTorch, the run-time factor, the manifest, self-repair."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from srspace.contract import (FACTOR_NAME, MANIFEST_NAME, MODELS, PARITY_ATOL, PARITY_RTOL, ROOT, factor_tensor_value, model_path,
                              output_size, set_models)
from srspace.runtime.engines import PROVIDERS, session_options
from srspace.buildtime.export import export_all, parity_input, read_manifest, stale_reason
from srspace.models.networks import bicubic_resize
from srspace.models.weights import official_gain_record, sha256_file

pytestmark = pytest.mark.slow  # exports every weight set afresh


@pytest.mark.parametrize("key", list(MODELS))
@pytest.mark.parametrize("batch,height,width", [(1, 45, 29), (2, 13, 40)])
def test_onnx_runtime_matches_pytorch(key, batch, height, width, ort_engine, torch_engine):
    spec = MODELS[key]
    x = parity_input(spec, batch, height, width, seed=7)
    for factor in (2.7, 3.0) if spec.dynamic else (None,):
        expected = torch_engine.run(key, x, factor)
        actual = ort_engine.run(key, x, factor)
        assert actual.shape == expected.shape
        np.testing.assert_allclose(actual, expected, rtol=PARITY_RTOL, atol=PARITY_ATOL)


def test_one_dynamic_file_serves_any_factor(models_dir):
    path = model_path(models_dir, "bundled", "srcnn_dynamic")
    model = onnx.load(str(path))
    assert FACTOR_NAME in {v.name for v in model.graph.input}
    assert not [n for n in model.graph.node if n.op_type == "Resize"]  # the single-threaded Resize was replaced
    # the upsample's two MatMul matrices are computed in the graph from the factor input
    feeds = {}
    for node in model.graph.node:
        feeds.update({out: set(node.input) for out in node.output})

    def reaches(name: str, target: str, seen=None) -> bool:
        seen = set() if seen is None else seen
        if name == target:
            return True
        if name in seen or name not in feeds:
            return False
        seen.add(name)
        return any(reaches(parent, target, seen) for parent in feeds[name])

    matmuls = [n for n in model.graph.node if n.op_type in ("MatMul", "FusedMatMul")]
    assert len(matmuls) == 2 and all(any(reaches(i, FACTOR_NAME) for i in n.input) for n in matmuls)
    session = ort.InferenceSession(str(path), session_options(), providers=PROVIDERS)
    x = np.random.default_rng(0).random((1, 3, 37, 53), dtype=np.float32)
    out2 = session.run(None, {"input": x, FACTOR_NAME: factor_tensor_value(2.0)})[0]
    out4 = session.run(None, {"input": x, FACTOR_NAME: factor_tensor_value(4.0)})[0]
    assert out2.shape == (1, 3, 74, 106)
    assert out4.shape == (1, 3, 148, 212)


def test_shipped_srcnn_leaves_factor_one_untouched_and_corrects_above(ort_engine):
    x = parity_input(MODELS["srcnn_dynamic"], 1, 40, 40, seed=3)
    np.testing.assert_array_equal(ort_engine.run("srcnn_dynamic", x, 1.0), x)  # x1: the image as it is
    for factor in (1.1, 2.0, 4.0):  # the gain g(s) > 0: the model moves away from bicubic
        base = bicubic_resize(torch.from_numpy(x), torch.from_numpy(factor_tensor_value(factor))).numpy()
        assert np.abs(ort_engine.run("srcnn_dynamic", x, factor) - base).mean() > 1e-3, factor


def test_size_rule_is_what_both_engines_do(ort_engine, torch_engine):
    # float32 product, floored: 90 x 1.3 gives 116 where exact decimal arithmetic says 117
    assert output_size(90, 1.3) == 116
    assert output_size(37, 2.5) == 92
    x = parity_input(MODELS["srcnn_dynamic"], 1, 37, 53)
    for factor in np.round(np.arange(1.0, 4.01, 0.1), 1):
        want = (1, 3, output_size(37, factor), output_size(53, factor))
        assert ort_engine.run("srcnn_dynamic", x[:, :, :, :], factor).shape == want
        assert torch_engine.run("srcnn_dynamic", x, factor).shape == want


def test_batch_height_width_are_dynamic(models_dir):
    for key, spec in MODELS.items():
        model = onnx.load(str(model_path(models_dir, "bundled", key)))
        dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims[0] and dims[2] and dims[3], f"{key} input dims {dims}"
        assert [i.name for i in model.graph.input] == list(spec.input_names)
        assert [o.name for o in model.graph.output] == ["output"]


def test_manifest_records_files_weights_and_parity(models_dir):
    manifest = read_manifest(models_dir)
    assert "bundled" in manifest["sets"]
    for weights, entries in manifest["sets"].items():
        assert set(entries) == set(set_models(weights))  # official: no ESPCN x2, x4; photo: ESPCN only
        for key, entry in entries.items():
            path = model_path(models_dir, weights, key)
            assert entry["sha256"] == sha256_file(path) and entry["file"] == f"{weights}/{MODELS[key].filename}"
            assert entry["weights"]["source"] == weights and len(entry["weights"]["sha256"]) == 64
            props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
            assert props["srspace.weights.source"] == weights  # the file itself says too
            assert props["srspace.weights.sha256"] == entry["weights"]["sha256"]
            assert entry["opset"] >= 18
            cases = entry["parity"]["cases"]
            assert cases and all(c["max_abs_diff"] <= PARITY_ATOL + PARITY_RTOL for c in cases)
            assert entry["parity"]["rtol"] == PARITY_RTOL and entry["parity"]["atol"] == PARITY_ATOL
        if "srcnn_dynamic" in entries:
            factors = {c["case"].split("@ ")[-1] for c in entries["srcnn_dynamic"]["parity"]["cases"]}
            assert {"1.0", "1.5", "2.0", "2.5", "3.0", "3.3", "4.0"} <= factors


def test_official_models_record_the_fitted_gain(models_dir, official_files):
    entry = read_manifest(models_dir)["sets"]["official"]["srcnn_dynamic"]
    assert entry["weights"]["residual_gain"] == official_gain_record()["residual_gain"]
    assert entry["weights"]["gain_from"].startswith("fitted to this checkpoint")
    props = {p.key: p.value for p in onnx.load(str(model_path(models_dir, "official", "srcnn_dynamic"))).metadata_props}
    assert "fitted to this checkpoint" in props["srspace.weights.gain_from"]


def _export(work, *args):
    """The command line a user runs, on ``work``; returns its stdout."""
    run = subprocess.run([sys.executable, str(ROOT / "export_models.py"), "--models-dir", str(work), *args],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_corrupt_model_is_detected_and_rebuilt(models_dir, tmp_path):
    work = tmp_path / "models"
    shutil.copytree(models_dir / "bundled", work / "bundled")
    manifest = read_manifest(models_dir)
    manifest["sets"] = {"bundled": manifest["sets"]["bundled"]}
    manifest["weights"], manifest["unavailable"] = "bundled", {}
    (work / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert stale_reason(work, "bundled") is None
    target = model_path(work, "bundled", "espcn_x3")
    target.write_bytes(target.read_bytes()[:1000])
    assert "espcn_x3.onnx" in stale_reason(work, "bundled")
    out = _export(work, "--weights", "bundled")  # it notices, rebuilds, and says which weights it used
    assert "does not match its manifest" in out and "weights: bundled" in out
    assert stale_reason(work, "bundled") is None
    assert sha256_file(target) == read_manifest(work)["sets"]["bundled"]["espcn_x3"]["sha256"]
    onnx.checker.check_model(str(target), full_check=True)


def test_the_weights_asked_for_are_exported_and_others_kept_unless_pruned(models_dir, official_cache, tmp_path):
    if official_cache is None:
        pytest.skip("needs the official checkpoints (../shared/checkpoints)")
    work = tmp_path / "models"
    assert "weights: bundled" in _export(work, "--weights", "bundled")
    out = _export(work, "--weights", "official")  # no --force: the missing set makes the models stale
    assert "the official models are missing" in out
    manifest = read_manifest(work)
    assert set(manifest["sets"]) == {"official", "bundled"}  # bundled kept: another process may be serving it
    assert all(e["weights"]["source"] == "official" for e in manifest["sets"]["official"].values())
    assert "up to date" in _export(work, "--weights", "bundled")
    _export(work, "--weights", "bundled", "--prune")  # only when asked: the sets not asked for go
    assert list(read_manifest(work)["sets"]) == ["bundled"] and not (work / "official").exists()
    assert "up to date" in _export(work, "--weights", "bundled")


def test_auto_without_official_weights_serves_bundled_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("SRSPACE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("SRSPACE_MIRROR", "http://127.0.0.1:9/")  # nothing listens on the discard port
    messages = []
    manifest = export_all(tmp_path / "models", weights="auto", log=messages.append)
    assert list(manifest["sets"]) == ["bundled", "photo"]  # the shipped sets; official cannot be had
    reason = manifest["unavailable"]["official"]
    assert reason in messages and "\n" not in reason and "127.0.0.1:9" in reason
    # not retried on every start: fresh until the checkpoints appear in the cache
    assert stale_reason(tmp_path / "models", "auto") is None


def test_vanished_official_weights_make_the_models_stale(models_dir, tmp_path, monkeypatch):
    # the PyTorch twins reload the recorded weights, so an emptied download cache must trigger a re-export
    work = tmp_path / "models"
    shutil.copytree(models_dir, work)
    monkeypatch.setenv("SRSPACE_CACHE", str(tmp_path / "empty-cache"))
    manifest = read_manifest(work)
    manifest["sets"]["bundled"]["srcnn_x3"]["weights"] |= {"source": "official", "file": "srcnn_x4k915-4186f232.pth"}
    (work / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert stale_reason(work, manifest["weights"]) == "the bundled srcnn weights changed or are gone"


@pytest.mark.parametrize("damage", ["[]", '{"sets": 3}', '{"sets": {"bundled": {"srcnn_x3": {}}}}', "{not json"])
def test_a_damaged_manifest_means_a_rebuild_not_a_crash(models_dir, tmp_path, damage):
    work = tmp_path / "models"
    shutil.copytree(models_dir, work)
    manifest = read_manifest(work)
    (work / MANIFEST_NAME).write_text(damage)
    assert stale_reason(work, manifest["weights"]) in ("no readable manifest", "the export code changed")
    broken = dict(manifest, sets={"bundled": {"srcnn_x3": {}}}, weights="bundled")
    (work / MANIFEST_NAME).write_text(json.dumps(broken))
    assert stale_reason(work, "bundled") == "no readable manifest"  # not of the layout: read as none


def test_fresh_export_is_a_quick_no_op(models_dir):
    weights = read_manifest(models_dir)["weights"]
    before = {p.name: p.stat().st_mtime_ns for p in models_dir.rglob("*")}
    messages = []
    export_all(models_dir, weights=weights, log=messages.append)
    assert messages == [f"models in {models_dir} are up to date"]
    assert {p.name: p.stat().st_mtime_ns for p in models_dir.rglob("*")} == before
    assert (models_dir / MANIFEST_NAME).exists()


def test_two_processes_exporting_at_once_agree_on_one_manifest(tmp_path):
    """Replicas of the Space starting together on an empty models/: one exports, the other waits for it."""
    work = tmp_path / "models"
    cmd = [sys.executable, str(ROOT / "export_models.py"), "--models-dir", str(work), "--weights", "bundled"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    said = sorted("exporting models" in out for out, _ in outs)
    assert said == [False, True], [o[0] for o in outs]  # exactly one exported; the other found it fresh
    assert stale_reason(work, "bundled") is None
    manifest = read_manifest(work)
    for key, entry in manifest["sets"]["bundled"].items():
        assert sha256_file(model_path(work, "bundled", key)) == entry["sha256"]
    assert sorted(p.name for p in work.rglob("*") if p.is_file()) == sorted(
        [MANIFEST_NAME, ".export.lock", *(spec.filename for spec in MODELS.values())])


def _damaged(manifest: dict):
    """The manifest with each of its values removed, and each replaced by one of the wrong type
    (one parity case and one input stand for the rest of their lists), plus whole-shape damage."""
    import copy

    def walk(node, path):
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node[:1])) if isinstance(node, list) else []
        for key, value in items:
            yield path + [key], value
            yield from walk(value, path + [key])

    for path, value in walk(manifest, []):
        for variant in ("removed", "mistyped"):
            damaged = copy.deepcopy(manifest)
            parent = damaged
            for key in path[:-1]:
                parent = parent[key]
            if variant == "removed":
                del parent[path[-1]]
            else:
                parent[path[-1]] = 3 if isinstance(value, str) else "x"
            yield f"{variant} {'/'.join(map(str, path))}", damaged
    yield "an unknown weight set", {**manifest, "sets": {**manifest["sets"], "mine": manifest["sets"]["bundled"]}}
    yield "unavailable as a list", {**manifest, "unavailable": ["official"]}
    yield "an entry without parity", {**manifest, "sets": {"bundled": {
        k: {f: v for f, v in e.items() if f != "parity"} for k, e in manifest["sets"]["bundled"].items()}}}


def test_every_shape_of_damaged_manifest_is_rebuilt_or_read_safely(models_dir, tmp_path):
    """Start-up reads the manifest with these readers: any damage either makes it unreadable (a
    re-export) or leaves what they need intact."""
    from srspace.ui.modelinfo import model_card

    work = tmp_path / "models"
    shutil.copytree(models_dir, work)
    manifest = read_manifest(work)
    cards = {}
    variants = list(_damaged(manifest))
    assert len(variants) > 100
    for name, damaged in variants:
        (work / MANIFEST_NAME).write_text(json.dumps(damaged))
        read = read_manifest(work)
        if read is None:
            assert stale_reason(work, "bundled") == "no readable manifest", name
            continue
        for weights, entries in read["sets"].items():  # what the app's Models tab and lanes read
            for key, entry in entries.items():
                card = model_card(model_path(work, weights, key), key, entry)
                cards[name] = card
        assert all(isinstance(reason, str) for reason in read["unavailable"].values()), name
    assert cards  # some damage is harmless (a dropped note such as "created"), and it was read safely
    (work / MANIFEST_NAME).unlink()
    (work / MANIFEST_NAME).mkdir()  # a folder where the file belongs
    assert read_manifest(work) is None


def test_start_up_repairs_a_manifest_of_an_unexpected_shape(models_dir, tmp_path):
    work = tmp_path / "models"
    shutil.copytree(models_dir / "bundled", work / "bundled")
    manifest = read_manifest(models_dir)
    manifest["unavailable"] = ["official"]  # valid JSON, not the layout
    (work / MANIFEST_NAME).write_text(json.dumps(manifest))
    messages = []
    repaired = export_all(work, weights="bundled", log=messages.append)
    assert "no readable manifest" in messages[0] and read_manifest(work) == repaired
    assert repaired["unavailable"] == {} and "bundled" in repaired["sets"]
