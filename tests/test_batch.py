"""The batch command: folders, lists, every image mode, resume, failures; the app's bytes; Ray."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srspace.cli import main
from srspace.contract import ROOT
from srspace.models.manifest import read_manifest
from srspace.contract import EXAMPLES_DIR

FACE = EXAMPLES_DIR / "astronaut_face.png"


@pytest.fixture()
def inputs(tmp_path):
    """A folder of mixed images: RGB, RGBA, 16-bit gray, EXIF-rotated JPEG, a corrupt file, a subfolder."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(FACE, folder / "face.png")
    rgba = Image.open(EXAMPLES_DIR / "coffee.png").convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    rgba.save(folder / "sub" / "glass.png")
    ramp = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    Image.fromarray(ramp).save(folder / "depth16.png")
    photo = Image.open(EXAMPLES_DIR / "brick.png").convert("RGB").resize((48, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    photo.save(folder / "phone.jpg", exif=exif)
    (folder / "notes.png").write_bytes(b"not an image")
    return folder


@pytest.fixture()
def weights_env(models_dir, monkeypatch):
    """The models the session exported stay as they are: the command asks for the same weights."""
    monkeypatch.setenv("SRSPACE_WEIGHTS", read_manifest(models_dir)["weights"])


def test_folder_in_results_out_resume_and_failures(inputs, tmp_path, weights_env, capsys):
    out = tmp_path / "out"
    assert main(["upscale", str(inputs), "--out", str(out), "--model", "srcnn_dynamic", "--factor", "2"]) == 1
    said = capsys.readouterr()
    assert "4 done, 0 skipped (already there), 1 failed" in said.out
    assert "notes.png" in said.err and "not an image" in said.err
    assert said.err.count("failed: ") == 1 and "failed: " not in said.out  # each failure said once, on stderr
    results = {p.relative_to(out).as_posix(): Image.open(p) for p in out.rglob("*.png")}
    assert set(results) == {"face_srcnn_dynamic_x2.png", "sub/glass_srcnn_dynamic_x2.png",
                            "depth16_srcnn_dynamic_x2.png", "phone_srcnn_dynamic_x2.png"}
    assert results["sub/glass_srcnn_dynamic_x2.png"].mode == "RGBA"  # alpha kept
    assert results["depth16_srcnn_dynamic_x2.png"].mode == "I;16" and results["depth16_srcnn_dynamic_x2.png"].size == (80, 60)
    assert results["phone_srcnn_dynamic_x2.png"].size == (64, 96)  # EXIF orientation applied: 32x48 upright
    assert not list(out.rglob("*.part"))
    # again: everything done is skipped, the bad file fails again; without it, success
    again = ["upscale", str(inputs), "--out", str(out), "--model", "srcnn_dynamic", "--factor", "2"]
    assert main(again) == 1
    assert "0 done, 4 skipped (already there), 1 failed" in capsys.readouterr().out
    (inputs / "notes.png").unlink()
    assert main(again) == 0


def test_results_inside_an_input_folder_are_never_read_back(inputs, tmp_path, weights_env, capsys):
    (inputs / "notes.png").unlink()
    command = ["upscale", str(inputs), "--out", str(inputs / "results"), "--model", "bicubic", "--factor", "2"]
    assert main(command) == 0 and "4 done" in capsys.readouterr().out
    assert main(command) == 0 and "0 done, 4 skipped" in capsys.readouterr().out  # not 4 more results of results
    names = sorted(p.name for p in (inputs / "results").rglob("*.png"))
    assert names == ["depth16_bicubic_x2.png", "face_bicubic_x2.png", "glass_bicubic_x2.png", "phone_bicubic_x2.png"]


def test_a_glob_that_matches_nothing_says_so_and_fails(inputs, tmp_path, weights_env, capsys):
    assert main(["upscale", str(inputs), "--glob", "[", "--out", str(tmp_path / "out")]) == 2
    assert "matches --glob '['" in capsys.readouterr().err


def test_a_fifo_is_named_as_what_it_is(tmp_path, weights_env, capsys):
    os.mkfifo(tmp_path / "pipe")
    assert main(["upscale", str(tmp_path / "pipe"), "--out", str(tmp_path / "out")]) == 2
    assert "is not a regular file" in capsys.readouterr().err


def test_webp_of_a_16_bit_result_is_refused_not_written_wrong(inputs, tmp_path, weights_env, capsys):
    out = tmp_path / "out"
    assert main(["upscale", str(inputs / "depth16.png"), "--out", str(out), "--model", "bicubic", "--factor", "2",
                 "--format", "webp"]) == 1
    assert "cannot be written as WebP" in capsys.readouterr().err
    assert not out.exists() or not list(out.iterdir())


def test_list_files_globs_and_formats(inputs, tmp_path, weights_env, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("# the two I want\nin/face.png\n\nin/sub/glass.png\n")
    out = tmp_path / "out"
    assert main(["upscale", f"@{listing}", "--out", str(out), "--model", "espcn_x3", "--factor", "3", "--format", "webp"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["face_espcn_x3_x3.webp", "glass_espcn_x3_x3.webp"]
    assert main(["upscale", str(inputs), "--glob", "*.jpg", "--no-recursive", "--out", str(out), "--model", "bicubic"]) == 0
    assert (out / "phone_bicubic_x2.png").exists()
    capsys.readouterr()


@pytest.mark.parametrize("args,message", [
    (["--factor", "9"], "between 1 and 4"),
    (["--format", "gif"], "invalid choice"),
])
def test_bad_arguments_stop_before_any_work(inputs, tmp_path, weights_env, capsys, args, message):
    with pytest.raises(SystemExit) if message == "invalid choice" else _no_raise():
        code = main(["upscale", str(inputs), "--out", str(tmp_path / "out"), *args])
        assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_input_is_named(tmp_path, weights_env, capsys):
    assert main(["upscale", str(tmp_path / "nowhere.png"), "--out", str(tmp_path / "out")]) == 2
    assert "nowhere.png: no such file or folder" in capsys.readouterr().err


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("model,factor", [("srcnn_dynamic", 2.5), ("auto", 2.0), ("auto", 4.0)])
def test_result_is_the_apps_download_byte_for_byte(app_server, tmp_path, weights_env, capsys, model, factor):
    from gradio_client import Client, handle_file

    image, _, _ = Client(app_server, verbose=False).predict(handle_file(str(FACE)), model, factor,
                                                            api_name="/upscale")
    out = tmp_path / "out"
    assert main(["upscale", str(FACE), "--out", str(out), "--model", model, "--factor", str(factor)]) == 0
    (result,) = out.iterdir()
    assert result.name == Path(image).name  # named after what ran: auto is never in the name
    assert "auto" not in result.name and result.name.startswith("astronaut_face_")
    assert result.read_bytes() == Path(image).read_bytes()
    capsys.readouterr()


# --- Ray: a head and a second worker node on this machine, in a network namespace of their own ------

RAY_SCRIPT = """
set -e
ip link set lo up   # a fresh namespace: loopback only, so Ray's nodes can only talk over 127.0.0.1
export RAY_USAGE_STATS_ENABLED=0
trap 'ray stop --force >/dev/null 2>&1' EXIT
ray start --head --node-ip-address 127.0.0.1 --port 6399 --num-cpus 1 --include-dashboard false >/dev/null
ray start --address 127.0.0.1:6399 --node-ip-address 127.0.0.1 --num-cpus 1 >/dev/null
"$PYTHON" -m srspace upscale "$IN" --out "$OUT" --model srcnn_dynamic --factor 2 --ray 127.0.0.1:6399
"""


@pytest.mark.slow  # two Ray nodes in a network namespace of their own
def test_two_node_ray_cluster_gives_the_local_results(inputs, tmp_path, weights_env, capsys):
    if shutil.which("ray") is None or shutil.which("unshare") is None or \
            subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        reason = "needs ray (requirements-ray.txt) and a network namespace (unshare -n, as root)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; in CI this test may not skip")
        pytest.skip(reason)
    local = tmp_path / "local"
    main(["upscale", str(inputs), "--out", str(local), "--model", "srcnn_dynamic", "--factor", "2"])
    capsys.readouterr()
    out = tmp_path / "ray"
    env = dict(os.environ, PYTHON=sys.executable, IN=str(inputs), OUT=str(out))
    run = subprocess.run(["unshare", "-n", "bash", "-c", RAY_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=400)
    assert run.returncode == 1, run.stdout + run.stderr  # 1: the corrupt file failed, as locally
    assert "Ray: 2 node(s), 2 CPU(s), 2 worker actor(s)" in run.stdout
    assert "4 done, 0 skipped (already there), 1 failed" in run.stdout
    nodes = [line for line in run.stdout.splitlines() if line.startswith("node ")]
    assert len(nodes) == 2, run.stdout  # both nodes did work, and the report says which did what
    ray_files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert ray_files == sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file()) and len(ray_files) == 4
    for name in ray_files:
        assert (out / name).read_bytes() == (local / name).read_bytes(), name


def test_two_inputs_that_would_write_one_result_are_refused(inputs, tmp_path, weights_env, capsys):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(FACE, other / "face.png")  # the same name as in/face.png
    code = main(["upscale", str(inputs / "face.png"), str(other / "face.png"), "--out", str(tmp_path / "out")])
    assert code == 2 and "would both write" in capsys.readouterr().err
    assert main(["upscale", "@" + str(tmp_path / "missing.txt"), "--out", str(tmp_path / "out")]) == 2
    assert "no such list file" in capsys.readouterr().err


def test_a_killed_runs_part_files_are_removed_by_the_next(inputs, tmp_path, weights_env, capsys):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".face_bicubic_x2.png.k1ll3d.part"  # what write_atomically leaves when SIGKILLed mid-write
    stale.write_bytes(b"half a png")
    assert main(["upscale", str(inputs / "face.png"), "--out", str(out), "--model", "bicubic", "--factor", "2"]) == 0
    assert not stale.exists() and (out / "face_bicubic_x2.png").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["face_bicubic_x2.png"]  # no lock or part file left either


def test_a_result_another_run_is_writing_is_left_to_it(models_dir, tmp_path):
    """Two runs into one folder: the second finds the result's lock held and skips the image, so
    each image is computed once (the lock is per open file: a second open conflicts, even here)."""
    from srspace.service.batch import Job, process, result_lock
    from srspace.service.upscaler import Upscaler

    job = Job(FACE, tmp_path / "out" / "face_bicubic_x2.png")
    upscaler = Upscaler(models_dir)
    with result_lock(job.target) as first:
        assert first
        outcome = process(upscaler, job, "bicubic", 2.0, "best", "png")
        assert outcome.status == "skipped" and not job.target.exists()  # not computed a second time
    assert process(upscaler, job, "bicubic", 2.0, "best", "png").status == "done"


def test_out_naming_a_file_is_a_bad_argument(tmp_path, weights_env, capsys):
    (tmp_path / "taken").write_text("a file")
    assert main(["upscale", str(FACE), "--out", str(tmp_path / "taken")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_long_hidden_and_disguised_names_give_plain_results_and_the_run_goes_on(tmp_path, weights_env, capsys):
    """A 250-byte name (its lock and part files would pass 255 bytes), names that are only an
    extension, and a right-to-left override: every result is written, named plainly."""
    folder = tmp_path / "in"
    folder.mkdir()
    names = ["é" * 120 + ".png", ".png", "..png", "cat\u202egnp.exe.png"]
    for name in names:
        shutil.copy(FACE, folder / name)
    out = tmp_path / "out"
    assert main(["upscale", *(str(folder / n) for n in names), "--out", str(out), "--model", "bicubic",
                 "--factor", "1.5"]) == 0
    assert "4 done" in capsys.readouterr().out
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 4 and not [n for n in written if n.startswith(".")]  # no hidden files, no leftovers
    assert all(len(n.encode()) <= 255 and "\u202e" not in n for n in written)
    assert "catgnp.exe_bicubic_x1.5.png" in written and "image_bicubic_x1.5.png" in written and "png_bicubic_x1.5.png" in written
