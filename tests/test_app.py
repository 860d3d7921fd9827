"""The app: each tab's handler, and the real server driven through gradio_client."""
from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from srspace.contract import BEST_WEIGHTS, EXAMPLES_DIR, MODELS, PARITY_ATOL, model_path, output_size
from srspace.service.engine_compare import compare
from srspace.service.quality_check import check_quality
from srspace.ui.modelinfo import model_card
from srspace.errors import ImageInputError
from srspace.quality.table import best_set
from srspace.ui import build_demo
from srspace.contract import UPSCALE_WAITING
from srspace.ui.upscale_tab import factor_help

FACE = EXAMPLES_DIR / "astronaut_face.png"



def test_upscale_handler_every_model(upscaler):
    w, h = Image.open(FACE).size
    for key in ("srcnn_dynamic", "srcnn_x3", "espcn_x3", "bicubic"):
        result = upscaler.upscale(FACE, key, 2.5)
        assert result.image.size == (output_size(w, 2.5), output_size(h, 2.5)) == result.baseline.size
        assert result.image.mode == "RGB" and result.seconds > 0
        differs = np.abs(np.asarray(result.image, float) - np.asarray(result.baseline, float)).mean()
        assert (differs == 0) == (key == "bicubic"), key
    fixed = upscaler.upscale(FACE, "srcnn_x3", 2.5)
    assert any("x3 by the network" in n for n in fixed.notices)


@pytest.mark.parametrize("factor", [1.0, 2.0, 3.3, 4.0])
def test_auto_runs_the_tables_best_for_the_factor_and_says_so(upscaler, factor):
    from srspace.quality.table import best_model

    pick = best_model(factor, upscaler.engines, upscaler.quality)
    result = upscaler.upscale(FACE, "auto", factor)
    assert (result.key, result.weights) == (pick.key, pick.weights)
    expected = upscaler.upscale(FACE, pick.key, factor, pick.weights or None)
    assert np.array_equal(np.asarray(result.image), np.asarray(expected.image))
    note = result.notices[0]
    assert note.startswith("Auto: ") and (f"x{pick.measured:g}" in note or "nothing" in note), note
    if pick.key != "bicubic":
        assert f"{pick.gain:+.2f} dB over bicubic" in note.replace("−", "-")


def test_client_check_quality_returns_plain_values(app_server):
    crops, table = Client(app_server, verbose=False).predict(handle_file(str(EXAMPLES_DIR / "chelsea.png")), 2.0,
                                                             api_name="/check_quality")
    assert "__type__" not in table  # a value, not a component update
    assert table["headers"] == ["method", "gain (dB)", "PSNR-Y (dB)", "SSIM-Y", "weights"]
    assert [row[0] for row in table["data"]] == ["bicubic", *MODELS]
    assert len(crops) == 2 + len(MODELS)  # the original, bicubic, every model


def test_weight_sets_are_chosen_per_request(upscaler):
    best = upscaler.upscale(FACE, "srcnn_dynamic", 2.0)
    assert best.weights == best_set("srcnn_dynamic", 2.0, upscaler.engines, upscaler.quality)
    assert upscaler.upscale(FACE, "bicubic", 2.0, "official" if "official" in upscaler.engines else None).weights == ""
    for weights in (w for w in upscaler.engines if "srcnn_dynamic" in upscaler.engines[w]["onnxruntime"]):
        result = upscaler.upscale(FACE, "srcnn_dynamic", 2.0, weights)
        assert result.weights == weights
        assert result.image.size == best.image.size
    if "official" in upscaler.engines:  # two different networks give two different images
        a, b = (np.asarray(upscaler.upscale(FACE, "espcn_x3", 3.0, w).image, float) for w in ("bundled", "official"))
        assert np.abs(a - b).mean() > 0.5
    with pytest.raises(ImageInputError, match="Unknown weights 'mine'; choose one of: best, bundled, official"):
        upscaler.upscale(FACE, "srcnn_dynamic", 2.0, "mine")
    with pytest.raises(ImageInputError, match=r"Unknown model 'xxxxxxxx.*…"):  # user strings come back cut short
        upscaler.upscale(FACE, "x" * 10_000, 2.0)


def test_onnx_runtime_and_pytorch_agree_on_a_whole_image(upscaler):
    ort_out = upscaler.upscale(FACE, "espcn_x3", 3.0, engine="onnxruntime").image
    torch_out = upscaler.upscale(FACE, "espcn_x3", 3.0, engine="pytorch").image
    assert np.abs(np.asarray(ort_out, int) - np.asarray(torch_out, int)).max() <= 1


def test_compare_handler(upscaler):
    result = compare(upscaler, upscaler.job(FACE, "srcnn_dynamic", 2.0), runs=2)
    stats = result.stats
    assert stats.max_abs_diff < 1e-3 and stats.mean_abs_diff <= stats.max_abs_diff
    assert stats.within_tolerance is True and (stats.rtol, stats.atol) == (1e-3, 1e-5)
    assert stats.psnr_db > 80 and stats.output == (200, 220) and stats.network_factor == 2.0
    assert stats.ort_ms > 0 and stats.torch_ms > 0 and stats.speedup == stats.torch_ms / stats.ort_ms
    assert result.ort_image.size == result.torch_image.size == result.heatmap.size == (200, 220)


def test_models_tab_cards(upscaler, models_dir):
    expected_ops = {  # the fixed x3 SRCNN upsamples with a depthwise conv + DepthToSpace, the dynamic one with MatMul;
        # SRCNN's last conv is a 1x1 conv and Col2Im
        "srcnn_x3": ["Conv x4", "DepthToSpace x1", "Pad x1", "Col2Im x1"],
        "srcnn_dynamic": ["Conv x3", "MatMul x2", "Col2Im x1"],
        **{f"espcn_x{f}": ["Conv x4", "DepthToSpace x1"] for f in (2, 3, 4)},
    }
    origin = {"bundled": "this project's own training", "official": "the tutorial's original checkpoint",
              "photo": "this project's own training on JPEG-compressed inputs"}
    for weights, entries in upscaler.manifest["sets"].items():
        for key, entry in entries.items():
            card = model_card(model_path(models_dir, weights, key), key, entry)
            assert entry["sha256"] in card and "parameters" in card and origin[weights] in card
            assert ("Residual gain g(s)" in card) == (MODELS[key].network == "srcnn")
            for op in expected_ops[key]:
                assert op in card, (key, op)
    assert "×3" in factor_help("espcn_x3") and "exactly the factor you choose" in factor_help("srcnn_dynamic")
    assert "held-out photographs: +" in factor_help("espcn_x3", upscaler)  # with its measured gain


def test_api_endpoints_are_named_and_ordered(upscaler, models_dir):
    demo = build_demo(upscaler, models_dir)
    info = demo.get_api_info()["named_endpoints"]
    assert set(info) == {"/upscale", "/compare", "/check_quality"}  # the three the README documents
    for name in ("/upscale", "/compare"):
        params = info[name]["parameters"]
        assert [p["parameter_name"] for p in params] == ["image", "model", "factor", "weights"]
        assert params[3]["parameter_has_default"] and params[3]["parameter_default"] == BEST_WEIGHTS
    assert [p["parameter_name"] for p in info["/check_quality"]["parameters"]] == ["image", "factor", "weights"]
    for name, endpoint in info.items():  # every output has a name a client can read (no "value_19")
        labels = [r["label"] for r in endpoint["returns"]]
        assert all(labels) and not any(label.startswith("value_") for label in labels), (name, labels)


# --- end to end: the real server on a free local port ------------------------------------------

def test_client_upscale_gallery_image(app_server):
    client = Client(app_server, verbose=False)
    image, pair, info = client.predict(handle_file(str(FACE)), "srcnn_dynamic", 2.5, api_name="/upscale")
    w, h = Image.open(FACE).size
    out = Image.open(image)
    assert out.format == "PNG" and out.size == (output_size(w, 2.5), output_size(h, 2.5)) == (250, 275)
    assert image.endswith("/astronaut_face_srcnn_dynamic_x2.5.png")  # the download says what it is
    assert len(pair) == 2 and "250×275" in info
    bicubic_side, model_side = (Image.open(side) for side in pair)  # our PNGs, not re-encoded by Gradio
    assert bicubic_side.size == model_side.size == out.size and model_side.format == "PNG"
    assert np.array_equal(np.asarray(model_side), np.asarray(out))
    assert not np.array_equal(np.asarray(bicubic_side), np.asarray(out))


def test_client_chooses_weights_and_old_clients_still_work(app_server, official_cache):
    client = Client(app_server, verbose=False)
    old = client.predict(handle_file(str(FACE)), "espcn_x3", 3.0, api_name="/upscale")  # three inputs, as before
    assert "with the **bundled** weights" in old[2]
    assert "'official'" in client.view_api(print_info=False, return_format="str")  # the choices are documented
    if official_cache is None:  # the app started without them: a one-line reason, not a crash
        with pytest.raises(AppError, match="official weights are not available"):
            client.predict(handle_file(str(FACE)), "espcn_x3", 3.0, "official", api_name="/upscale")
        return
    image, _, info = client.predict(handle_file(str(FACE)), "espcn_x3", 3.0, "official", api_name="/upscale")
    assert "with the **official** weights" in info
    assert np.abs(np.asarray(Image.open(image), float) - np.asarray(Image.open(old[0]), float)).mean() > 0.5


def test_client_compare(app_server):
    client = Client(app_server, verbose=False)
    ort_img, torch_img, heat, table = client.predict(handle_file(str(FACE)), "espcn_x3", 3.0, api_name="/compare")
    rows = dict(table["data"])
    assert rows["agree within the export's tolerance"].startswith("✓ yes")
    assert float(rows["largest difference"].split()[0]) <= PARITY_ATOL * 10
    median = rows["ONNX Runtime, median"]
    assert median.endswith(" ms") and "e+" not in median and float(median[:-3].replace(",", "")) > 0
    assert Image.open(ort_img).size == (300, 330)


@pytest.mark.parametrize("content,message", [(b"not an image at all", "not an image"), (b"", "empty file")])
def test_client_gets_a_message_for_a_bad_file(app_server, tmp_path, content, message):
    bad = tmp_path / "photo.png"
    bad.write_bytes(content)
    client = Client(app_server, verbose=False)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(bad)), "srcnn_dynamic", 2.0, api_name="/upscale")


def test_client_gets_a_message_for_a_tiny_image(app_server, tmp_path):
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(dot)
    client = Client(app_server, verbose=False)
    with pytest.raises(AppError, match="at least 8x8"):
        client.predict(handle_file(str(dot)), "srcnn_dynamic", 2.0, api_name="/compare")


def test_app_help_answers_at_once_and_names_the_weights_option():
    import subprocess
    import sys
    import time

    from srspace.contract import ROOT

    start = time.monotonic()
    run = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "--weight-sets {auto,bundled,official,photo}" in run.stdout
    assert "/upscale, /compare and /check_quality" in " ".join(run.stdout.split())  # --mcp names all three tools
    assert time.monotonic() - start < 10  # no export, no model loading, no Gradio import before the arguments
    probe = ("import runpy, sys\nsys.argv = ['app.py', '--help']\ntry:\n    runpy.run_path('app.py', run_name='__main__')\n"
             "except SystemExit:\n    pass\nprint(sorted(m for m in ('torch', 'gradio', 'onnxruntime') if m in sys.modules))")
    imported = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert imported.stdout.strip().splitlines()[-1] == "[]"  # --help imports none of the heavy libraries


def test_mcp_client_lists_the_tools_and_upscales(app_server):
    import asyncio
    import base64

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    image = "data:image/png;base64," + base64.b64encode(FACE.read_bytes()).decode()

    async def session_calls():
        async with streamable_http_client(app_server + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {tool.name: tool for tool in (await session.list_tools()).tools}
                result = await session.call_tool("upscale", {"image": image, "model": "espcn_x3", "factor": 2.0})
                return tools, result

    tools, result = asyncio.run(session_calls())
    assert {"upscale", "compare"} <= set(tools)
    schema = tools["upscale"].inputSchema["properties"]
    assert set(schema["model"]["enum"]) == {"auto", *MODELS, "bicubic"}
    assert "from 1 to 4" in schema["factor"]["description"] and "tutorials' original" in schema["weights"]["description"]
    assert not result.isError, result.content
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert "**200×220** (RGB)" in text and "with the **bundled** weights" in text
    assert "image_espcn_x3_x2.png" in str(result.content)  # a data: URL has no name: the result says "image"
    assert "<span" not in text  # notes are plain Markdown


def test_quality_check_on_the_visitors_own_image(upscaler):
    result = check_quality(upscaler, EXAMPLES_DIR / "chelsea.png", 2.0)
    methods = [s.method for s in result.scores]
    assert methods == ["bicubic", *MODELS]
    assert result.scores[0].gain == 0 and all(0 < s.ssim_y <= 1 for s in result.scores)
    assert max(s.gain for s in result.scores) > 0.3  # a network beats bicubic on this photo
    assert [label.split()[0] for _, label in result.crops] == ["original", *methods]
    assert len({crop.size for crop, _ in result.crops}) == 1 and len(result.crops) == 2 + len(MODELS)
    with pytest.raises(ImageInputError, match="at least 1.1"):
        check_quality(upscaler, FACE, 1.0)


def test_quality_check_refuses_a_large_image_from_its_header(upscaler, tmp_path):
    # 2100x2000 with its pixel data cut off: refused for its size, so never decoded
    full = tmp_path / "full.png"
    Image.new("RGB", (2100, 2000)).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:2000])
    with pytest.raises(ImageInputError, match="up to 4 MP; this one is 2100x2000"):
        check_quality(upscaler, cut, 2.0)


def test_the_gallery_and_the_button_share_one_waiting_limit(upscaler, models_dir):
    # Gradio keeps the lowest limit of all events of one function: a gallery event left at the
    # default of 1 would make every /upscale wait for the one before it, small behind large
    demo = build_demo(upscaler, models_dir)
    limits = [f.concurrency_limit for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "upscale"]
    assert len(limits) == 2 and set(limits) == {UPSCALE_WAITING}


def _rest_call(url: str, data: list) -> str:
    """A raw REST call (no gradio_client), as curl would make it: the event stream's text."""
    import requests

    event = requests.post(f"{url}gradio_api/call/upscale", json={"data": data}, timeout=30).json()["event_id"]
    return requests.get(f"{url}gradio_api/call/upscale/{event}", timeout=120).text


def test_raw_rest_calls_get_a_message_for_every_mistake(app_server):
    import requests

    [path] = requests.post(f"{app_server}gradio_api/upload", files={"files": FACE.open("rb")}, timeout=30).json()
    image = {"path": path, "meta": {"_type": "gradio.FileData"}}
    assert "event: complete" in _rest_call(app_server, [image, "espcn_x3", 3, "best"])
    cases = {
        "three values": ([image, "espcn_x3", 3], "needed: 4, got: 3"),
        "a number for the image": ([123, "espcn_x3", 3, "best"], "valid dictionary"),
        "a path never uploaded": ([{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "espcn_x3", 3, "best"],
                                  "not uploaded"),
    }
    for case, (data, message) in cases.items():
        text = _rest_call(app_server, data)
        assert "event: error" in text and '"error": null' not in text and message in text, (case, text[:300])


def test_an_mcp_image_too_large_is_a_message_and_the_session_goes_on(app_server):
    import asyncio
    import base64
    import io

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    noise = np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")  # about 4.3 MB of PNG: over the MCP library's 4 MB as base64
    large = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    small = "data:image/png;base64," + base64.b64encode(FACE.read_bytes()).decode()

    async def calls():
        async with streamable_http_client(app_server + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                refused = await session.call_tool("upscale", {"image": large, "model": "bicubic", "factor": 1.0})
                local = await session.call_tool("upscale", {"image": "/etc/passwd", "model": "bicubic", "factor": 2.0})
                after = await session.call_tool("upscale", {"image": small, "model": "bicubic", "factor": 2.0})
                return refused, local, after

    refused, local, after = asyncio.run(calls())
    said = " ".join(getattr(c, "text", "") for c in local.content)
    assert local.isError and said and "verbose error reporting" not in said, said  # a refused path says why
    text = " ".join(getattr(c, "text", "") for c in refused.content)
    assert refused.isError and "MCP calls here take up to 4 MB" in text and "https:// URL" in text
    assert not after.isError  # the same session, still working


def test_a_line_break_in_an_uploaded_file_name_gets_a_400_that_says_so(app_server):
    import requests

    for name in (b"a\r\nb.png", b"a\rb.png"):
        body = (b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="' + name +
                b'"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--XyZ--\r\n')
        upload = requests.post(f"{app_server}gradio_api/upload", data=body, timeout=30,
                               headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        assert upload.status_code == 400 and "a file name with a line break" in upload.json()["detail"], upload.text
    too_large = requests.post(f"{app_server}gradio_api/upload", files={"files": ("x.png", b"x" * (101 << 20))}, timeout=60)
    assert too_large.status_code == 413  # a real size refusal stays what Gradio says


def test_an_upload_without_a_file_name_works_and_its_result_is_named_image(app_server):
    import io

    import requests

    png = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(png, "PNG")
    body = (b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename=""\r\nContent-Type: image/png\r\n\r\n'
            + png.getvalue() + b"\r\n--XyZ--\r\n")
    upload = requests.post(f"{app_server}gradio_api/upload", data=body, timeout=30,
                           headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert upload.status_code == 200, upload.text
    text = _rest_call(app_server, [{"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}}, "bicubic", 2, "best"])
    assert "event: complete" in text and "/image_bicubic_x2.png" in text, text[:500]


def test_a_server_without_a_weight_set_says_so_in_one_line_and_never_offers_it(models_dir):
    from srspace.ui.common import Server, WEIGHT_CHOICES
    from srspace.ui.models_tab import quality_text
    from srspace.service.upscaler import Upscaler

    bundled_only = Upscaler(models_dir, weight_sets=["bundled"])
    server = Server(bundled_only, None, models_dir)
    line = server.weight_line
    assert "has no official or photo weights" in line and "Models tab" in line and "\n" not in line
    table = quality_text(bundled_only.quality, list(bundled_only.engines))
    assert "official" not in table and "**" not in table.split("| **`auto`**")[0]  # no bold "best" among one set
    demo = build_demo(bundled_only, models_dir)
    weights = [b for b in demo.blocks.values() if getattr(b, "label", None) == "Weights"]
    offered = {value for b in weights for _, value in b.choices}
    assert offered == {"best", "bundled"} and set(WEIGHT_CHOICES) >= offered


def test_every_series_of_the_quality_chart_has_its_own_colour_and_line(upscaler):
    """A visitor tells the chart's lines apart: no two (model, weights) series share colour and line style."""
    import re

    from srspace.ui.models_tab import gain_chart

    chart = gain_chart(upscaler.quality, list(upscaler.engines))
    series = re.findall(r'<polyline points="[^"]*" fill="none" stroke="([^"]+)" stroke-width="[^"]+" '
                        r'stroke-dasharray="([^"]*)"><title>([^<]+)</title>', chart)
    sets = {title.split(", ")[1] for _, _, title in series}
    assert len(series) >= 6 and {"bundled", "photo"} <= sets
    styles = [(colour, dash) for colour, dash, _ in series]
    assert len(set(styles)) == len(styles), sorted(zip(styles, (t for *_, t in series)))
