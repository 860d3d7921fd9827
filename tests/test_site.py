"""The static edition: built by `python -m srspace site`, served by a plain static server on
127.0.0.1 with exactly the headers its README declares, run in Debian's Chromium, and held to
the server pipeline's results."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srspace.contract import BICUBIC_KEY, CHOICES, EXAMPLES_DIR, MODELS, set_models
from srspace.web.serve import serve_in_thread, site_headers
from srspace.web.site import HEADERS, build_site, front_matter
from srspace.runtime.tiling import tile_steps
from srspace.runtime.pipeline import halo, long_tiles, tile_side
from srspace.web.config import BROWSER_MAX_DIFF_LEVELS
from srspace.errors import ImageInputError
from srspace.web.ort import BROWSER_DIR, PIN, SiteError

ROOT = Path(__file__).resolve().parent.parent
# a temporary folder unless SRSPACE_SCREENSHOTS names one (docs/screenshots refreshes the README's)
SCREENSHOTS = Path(os.environ.get("SRSPACE_SCREENSHOTS") or tempfile.mkdtemp(prefix="srspace-screenshots-"))


@pytest.fixture(scope="module")
def site(models_dir, ort_web, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "out"
    result = subprocess.run([sys.executable, "-m", "srspace", "site", str(out), "--models-dir", str(models_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Built the static site" in result.stdout
    return out


@pytest.fixture(scope="module")
def served(site):
    server, url = serve_in_thread(site)  # sends the headers of the site's README, nothing else
    yield url
    server.shutdown()



@pytest.fixture(scope="module")
def site_page(browser, served):
    """One page of the site for the module; every request it makes is recorded."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.requests = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(served)
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    yield page
    page.close()


def test_the_site_is_self_contained_static_files_and_a_static_space(site, models_dir):
    from srspace.models.manifest import read_manifest

    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    for name in ("index.html", "config.json", "quality.json", "README.md", "_headers", "js/srspace.js",
                 "js/worker.js", "js/app.js", "js/style.css", *(f"ort/{f}" for f in PIN["files"])):
        assert name in names, name
    for weights in read_manifest(models_dir)["sets"]:
        for spec in (MODELS[key] for key in set_models(weights)):
            assert f"models/{weights}/{spec.filename}" in names
            assert (site / "models" / weights / spec.filename).read_bytes() == (models_dir / weights / spec.filename).read_bytes()
    assert {f"examples/{p.name}" for p in EXAMPLES_DIR.glob("*.png")} <= names
    meta = front_matter(site / "README.md")
    assert meta["sdk"] == "static" and meta["app_file"] == "index.html" and meta["short_description"]
    assert meta["custom_headers"] == {"cross-origin-opener-policy": "same-origin",
                                      "cross-origin-embedder-policy": "require-corp",
                                      "cross-origin-resource-policy": "cross-origin"} == HEADERS
    assert len(meta["short_description"]) <= 60  # the Hub's limit
    assert "".join(f"  {k}: {v}\n" for k, v in HEADERS.items()) in (site / "_headers").read_text()
    for path in site.rglob("*"):  # nothing from a CDN: the page's own code names no other origin
        if path.suffix in (".html", ".css") or path.parent.name == "js":
            assert "https://cdn" not in path.read_text() and "http://" not in path.read_text(), path
    config = json.loads((site / "config.json").read_text())
    assert config["ort"]["base"] == "ort/" and config["ort"]["integrity"] is None


def test_building_without_npm_files_or_models_is_a_clear_error(models_dir, tmp_path):
    with pytest.raises(SiteError, match="npm ci"):
        build_site(tmp_path / "out", models_dir, dist=tmp_path / "no-node-modules")
    assert not (tmp_path / "out").exists()  # no half-built site
    result = subprocess.run([sys.executable, "-m", "srspace", "site", str(tmp_path / "out"), "--models-dir",
                             str(tmp_path / "empty")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "export_models.py" in result.stderr
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(SiteError, match="not an earlier site build"):
        build_site(precious, models_dir)
    assert (precious / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("key,factor,height,width", [
    ("srcnn_dynamic", 2.5, 900, 1200), ("srcnn_dynamic", 1.3, 1000, 700), ("srcnn_dynamic", 3.7, 300, 911),
    ("srcnn_x3", 2.0, 600, 902), ("espcn_x3", 3.0, 900, 1200), ("espcn_x3", 1.7, 2000, 1500), (BICUBIC_KEY, 3.0, 800, 800),
    ("srcnn_x3", 1.5, 700, 900), ("espcn_x3", 1.2, 1000, 1000),  # small results: smaller tiles
    ("srcnn_x3", 1.0, 8, 5000), ("espcn_x3", 2.5, 3000, 20), ("srcnn_dynamic", 1.3, 40, 3000),  # strips
    ("bicubic", 2.0, 6, 4000),
])
def test_the_page_cuts_the_same_tiles_as_the_server(site_page, key, factor, height, width):
    """tiling.tile_steps against the page's tilePlan: the same input windows and output shares."""
    windows, shares = [], []

    def network(x):
        windows.append(x.shape[2:])
        return np.zeros((1, 1, *(int(np.floor(np.float32(n) * np.float32(factor))) for n in x.shape[2:])), np.float32)

    out_pixels = int(np.floor(np.float32(height) * np.float32(factor))) * int(np.floor(np.float32(width) * np.float32(factor)))
    steps = tile_steps(network, np.zeros((1, 1, height, width), np.float32), factor, halo(key, factor),
                       tile_side(key, factor, out_pixels), lambda y0, y1, x0, x1, block: shares.append([y0, y1, x0, x1]),
                       long_tiles(key))
    for _ in steps:
        pass
    plan = site_page.evaluate("""async ([key, factor, h, w]) => {
        const { tilePlan } = await import('./js/pipeline.js');
        return tilePlan(srspace.getConfig(), key, factor, h, w); }""", [key, factor, height, width])
    assert [[t["y1"] - t["y0"], t["x1"] - t["x0"]] for t in plan] == [list(s) for s in windows]
    assert [[t["oy0"], t["oy1"], t["ox0"], t["ox1"]] for t in plan] == shares


def _photo(tmp_path: Path) -> Path:
    import skimage.data

    path = tmp_path / "photo.png"  # a real photograph, 1200x900: tiled at x2.5 and at x3
    Image.fromarray(skimage.data.coffee()).resize((1200, 900), Image.BICUBIC).save(path)
    return path


def _rgba(tmp_path: Path) -> Path:
    import skimage.data

    rgb = skimage.data.chelsea()
    alpha = np.broadcast_to(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), rgb.shape[:2])
    path = tmp_path / "cat.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    return path


def _upscale_in_page(page, path: Path, options: dict) -> dict:
    """srspace.upscale on a File made of `path`'s bytes; the result with its PNG's bytes."""
    data = base64.b64encode(path.read_bytes()).decode()
    result = page.evaluate("""async ([name, data, options]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        try {
          const r = await srspace.upscale(new File([bytes], name), options);
          const png = new Uint8Array(await r.blob.arrayBuffer());
          let text = ''; for (let i = 0; i < png.length; i += 32768) text += String.fromCharCode(...png.subarray(i, i + 32768));
          return {name: r.name, width: r.width, height: r.height, tiles: r.tiles, engine: r.engine, threads: r.threads,
                  weights: r.weights, notices: r.notices, png: btoa(text)};
        } catch (e) { return {error: e.message, errorName: e.name}; }
      }""", [path.name, data, options])
    return result


def _jpeg(tmp_path: Path, quality: int = 60) -> Path:
    import skimage.data

    path = tmp_path / f"cat_q{quality}.jpg"
    Image.fromarray(skimage.data.chelsea()).save(path, quality=quality)
    return path


@pytest.mark.parametrize("image,key,factor", [("photo", "srcnn_dynamic", 2.5), ("photo", "espcn_x3", 3.0),
                                              ("rgba", "srcnn_x3", 2.0), ("face", BICUBIC_KEY, 1.7),
                                              ("face", "auto", 2.0), ("face", "auto", 4.0), ("face", "espcn_x2", 2.0),
                                              ("face", "espcn_x4", 4.0), ("jpeg", "auto", 3.0), ("jpeg", "espcn_x2", 2.5)])
def test_the_page_matches_the_server_pipeline(site_page, upscaler, tmp_path, image, key, factor):
    """Every model, and the per-image choice: a JPEG gets the weights the server gives it (the photo
    set, from the quality estimated from the file's own tables), said in the same words."""
    path = {"photo": _photo, "rgba": _rgba, "face": lambda _: EXAMPLES_DIR / "astronaut_face.png",
            "jpeg": _jpeg}[image](tmp_path)
    got = _upscale_in_page(site_page, path, {"model": key, "factor": factor})
    assert "error" not in got, got
    expected = upscaler.upscale(path, key, factor)
    assert got["weights"] == expected.weights
    assert got["name"] == f"{path.stem}_{expected.key}_x{factor:g}.png"  # what ran: auto resolved as the server does
    if key == "auto" or image == "jpeg":
        assert expected.notices[0] in got["notices"], (expected.notices, got["notices"])
    if image == "jpeg":
        assert got["weights"] == "photo" and "A JPEG (quality ≈ 60)" in " ".join(got["notices"])
    import io

    actual = Image.open(io.BytesIO(base64.b64decode(got["png"])))
    assert actual.mode == expected.image.mode and actual.size == expected.image.size
    diff = np.abs(np.asarray(actual, np.int32) - np.asarray(expected.image, np.int32))
    assert diff.max() <= BROWSER_MAX_DIFF_LEVELS, (diff.max(), (diff > 0).mean())
    if image == "photo":
        assert got["tiles"] > 1  # the tiling rule itself is under test
    if image == "rgba":
        assert any("Transparency kept" in n for n in got["notices"])


def test_the_page_is_isolated_and_runs_every_core(site_page):
    info = site_page.evaluate("async () => { const i = await srspace.info(); return {...i, hc: navigator.hardwareConcurrency}; }")
    assert site_page.evaluate("crossOriginIsolated") is True
    assert info["isolated"] is True and info["engine"] == "wasm"  # no WebGPU adapter here: the fallback ran
    assert "WebGPU" in info["fallback"]
    assert info["threads"] == info["hc"]
    if info["hc"] > 1:
        assert info["threads"] > 1
    assert f"{info['threads']} threads" in site_page.locator("#engine").inner_text()


def test_the_page_names_results_by_the_servers_rule(site_page):
    """The result-naming rule is the Python side's (results.result_name), read from the config: the
    same name for ordinary, hidden, overlong and direction-tricked file names."""
    from srspace.imaging.results import result_name

    names = ["cat.png", "photo.final.JPG", ".png", "..png", "a.", "", "dir/sub\\x.png", "  spaced .png",
             "evil\u202egnp.exe.png", "tab\there\x7f.png", "é" * 100 + ".png", "日本語の写真.jpeg", "x" * 300 + ".png"]
    for key, factor in (("espcn_x3", 2.5), ("srcnn_dynamic", 3.0), ("bicubic", 1.25)):
        page = site_page.evaluate("([names, key, factor]) => names.map(n => srspace.resultName(n, key, factor))",
                                  [names, key, factor])
        assert page == [result_name(n, key, factor, "png") for n in names]


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def _png_bytes(samples: np.ndarray, depth: int, color_type: int, interlace: bool = False,
               palette: bytes | None = None, trns: bytes | None = None) -> bytes:
    """A PNG written by the book (RFC 2083), independent of both decoders under test: every row
    filtered with the next of the five filters in turn, Adam7 passes when ``interlace``."""
    import struct
    import zlib

    h, w, c = samples.shape

    def row_bytes(row: np.ndarray) -> np.ndarray:  # one row of samples at `depth`
        if depth == 16:
            return np.frombuffer(row.astype(">u2").tobytes(), np.uint8)
        if depth == 8:
            return row.astype(np.uint8).ravel()
        bits = (row.ravel()[:, None] >> np.arange(depth - 1, -1, -1)) & 1
        return np.packbits(bits.astype(np.uint8).ravel())

    bpp = max(1, c * depth // 8)

    def filtered(image: np.ndarray, count: list) -> bytes:
        out, up = [], None
        for row in image:
            x = row_bytes(row).astype(np.int32)
            b = up if up is not None else np.zeros_like(x)
            a = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])[: len(x)]
            cc = np.concatenate([np.zeros(bpp, np.int32), b[:-bpp]])[: len(x)]
            kind = count[0] % 5
            count[0] += 1
            p = a + b - cc
            pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - cc)
            paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, cc))
            pred = [np.zeros_like(x), a, b, (a + b) // 2, paeth][kind]
            out.append(bytes([kind]) + ((x - pred) % 256).astype(np.uint8).tobytes())
            up = x
        return b"".join(out)

    count = [0]
    if interlace:
        raw = b"".join(filtered(samples[y0::dy, x0::dx], count) for x0, y0, dx, dy in ADAM7
                       if samples[y0::dy, x0::dx].size)
    else:
        raw = filtered(samples, count)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace))
    extra = (chunk(b"PLTE", palette) if palette else b"") + (chunk(b"tRNS", trns) if trns else b"")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


_PALETTE = bytes(np.random.default_rng(1).integers(0, 256, 16 * 3, dtype=np.uint8))
_GRAY_PALETTE = bytes(np.repeat(np.arange(0, 256, 17, dtype=np.uint8), 3))


@pytest.mark.parametrize("depth,color_type,channels,extra", [
    (1, 0, 1, {}), (2, 0, 1, {}), (4, 0, 1, {}), (8, 0, 1, {}), (16, 0, 1, {}),
    (8, 2, 3, {}), (16, 2, 3, {}), (8, 4, 2, {}), (16, 4, 2, {}), (8, 6, 4, {}), (16, 6, 4, {}),
    (2, 3, 1, {"palette": _PALETTE[:12]}), (4, 3, 1, {"palette": _PALETTE}),
    (8, 3, 1, {"palette": _PALETTE, "trns": bytes([0, 128, 255, 7])}), (4, 3, 1, {"palette": _GRAY_PALETTE}),
], ids=["1-bit gray", "2-bit gray", "4-bit gray", "8-bit gray", "16-bit gray", "8-bit RGB", "16-bit RGB",
        "8-bit gray+alpha", "16-bit gray+alpha", "8-bit RGBA", "16-bit RGBA", "2-bit palette", "4-bit palette",
        "8-bit palette+tRNS", "4-bit gray palette"])
@pytest.mark.parametrize("interlace", [False, True], ids=["plain", "adam7"])
def test_the_page_reads_every_kind_of_png_as_the_server_does(site_page, tmp_path, depth, color_type, channels,
                                                            extra, interlace):
    """The page decodes PNG itself (the browser's decoders premultiply alpha and drop 16-bit):
    every bit depth, colour type, filter and Adam7 interlacing gives the server's pixels exactly."""
    from srspace.imaging.decoding import load_image

    top = 2 ** depth - 1 if color_type != 3 else len(extra["palette"]) // 3 - 1
    h, w = 23, 19  # odd sizes: partial bytes at low depths and Adam7 passes of every width
    samples = np.random.default_rng(depth * 10 + color_type).integers(0, top + 1, (h, w, channels))
    samples[:4] = samples[:1]  # runs of equal rows as well as noise, for every filter
    path = tmp_path / f"kind_{depth}_{color_type}.png"
    path.write_bytes(_png_bytes(samples, depth, color_type, interlace, **extra))
    expected = load_image(path)
    data = base64.b64encode(path.read_bytes()).decode()
    got = site_page.evaluate("""async ([name, data]) => {
        const { loadImage } = await import('./js/decode.js');
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const r = await loadImage(new File([bytes], name), srspace.getConfig());
        return {channels: r.channels, sixteenBit: r.sixteenBit, color: Array.from(r.color),
                alpha: r.alpha ? Array.from(r.alpha) : null};
      }""", [path.name, data])
    assert (got["channels"], got["sixteenBit"]) == (expected.pixels.shape[2], expected.sixteen_bit)
    planes = np.moveaxis(expected.pixels, 2, 0).ravel()
    if expected.sixteen_bit:
        planes = np.round(planes.astype(np.float64) * 65535)
    assert np.array_equal(np.asarray(got["color"]), planes.astype(np.int64))
    if expected.alpha_pixels is None:
        assert got["alpha"] is None
    else:
        assert np.array_equal(np.asarray(got["alpha"]), expected.alpha_pixels.ravel())


def test_a_jpeg_with_a_broken_exif_block_still_upscales(site_page, tmp_path):
    """An EXIF block whose directory lies past its end (a truncated or hostile file) is ignored, as
    PIL ignores it, instead of stopping the page with a RangeError."""
    import struct

    good = _jpeg(tmp_path, 90).read_bytes()
    tiff = b"II*\x00" + struct.pack("<I", 0x7FFFFF00)  # the first directory, far past the block
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    broken = tmp_path / "broken_exif.jpg"
    broken.write_bytes(good[:2] + app1 + good[2:])
    assert Image.open(broken).size == Image.open(tmp_path / "cat_q90.jpg").size  # PIL reads it
    result = _upscale_in_page(site_page, broken, {"model": "bicubic", "factor": 2})
    assert "error" not in result, result
    assert (result["width"], result["height"]) == tuple(2 * v for v in Image.open(broken).size)


def test_odd_jpegs_get_the_servers_weights_and_result_in_the_page(site_page, upscaler, odd_jpegs):
    """The page reads the same quality from the DQT segment as the server from PIL's tables
    (progressive and CMYK files included; none where table 0 is missing), so it runs the same
    weights to the same pixels; a truncated JPEG is refused in the server's words."""
    import io

    for name in ("progressive", "cmyk", "no_luma_table"):
        got = _upscale_in_page(site_page, odd_jpegs[name], {"model": "auto", "factor": 2})
        assert "error" not in got, (name, got)
        expected = upscaler.upscale(odd_jpegs[name], "auto", 2.0)
        assert (got["weights"], got["notices"][0]) == (expected.weights, expected.notices[0]), name
        actual = np.asarray(Image.open(io.BytesIO(base64.b64decode(got["png"]))), np.int32)
        diff = np.abs(actual - np.asarray(expected.image, np.int32))
        assert diff.max() <= BROWSER_MAX_DIFF_LEVELS, (name, diff.max(), (diff > 0).mean())
    got = _upscale_in_page(site_page, odd_jpegs["truncated"], {"model": "auto", "factor": 2})
    with pytest.raises(ImageInputError) as refused:
        upscaler.upscale(odd_jpegs["truncated"], "auto", 2.0)
    server_words = str(refused.value).split(" (")[0]  # the reason in brackets is each decoder's own
    assert got["errorName"] == "ImageInputError" and got["error"].startswith(server_words + " ("), got


def test_refusals_and_notices_have_the_servers_words(site_page, upscaler, tmp_path):
    """Every refusal the page makes is the server's message for the same input, word for word
    (errors.MESSAGES, handed to the page in its config), and so are its notices."""
    notes = tmp_path / "notes.png"
    notes.write_text("this is text, not a picture")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (7, 20)).save(tiny)
    big = tmp_path / "big.png"
    Image.new("L", (6000, 4000)).save(big)  # 24 MP: x1.1 would be 29 MP, refused from the header
    face = EXAMPLES_DIR / "astronaut_face.png"
    cases = [(notes, "srcnn_dynamic", 2), (empty, "bicubic", 2), (tiny, "espcn_x3", 2), (big, "bicubic", 1.1),
             (face, "srcnn_x3", 5), (face, "srcnn_x3", 0.5), (face, "waifu", 2), (face, "espcn_x3", "two")]
    for path, model, factor in cases:
        with pytest.raises(ImageInputError) as refused:
            upscaler.upscale(path, model, factor)
        got = _upscale_in_page(site_page, path, {"model": model, "factor": factor})
        assert got == {"error": str(refused.value), "errorName": "ImageInputError"}, (path.name, model, factor)
    for path, model, factor in [(face, "srcnn_x3", 2.555), (_rgba(tmp_path), "espcn_x3", 2)]:
        expected = upscaler.upscale(path, model, factor).notices
        got = _upscale_in_page(site_page, path, {"model": model, "factor": factor})["notices"]
        assert sorted(got) == sorted(expected), (path.name, got, expected)


def test_the_page_retypes_none_of_the_servers_messages():
    """The page fills errors.MESSAGES from its config: no browser module carries one of their texts."""
    import re

    from srspace.errors import MESSAGES

    # the code without its comments (which may name what a message says)
    sources = {p.name: re.sub(r"(?<![:\\])//.*$", "", re.sub(r"/\*.*?\*/", "", p.read_text(), flags=re.S), flags=re.M)
               for p in BROWSER_DIR.glob("*.js")}
    for name, template in MESSAGES.items():
        for fragment in re.split(r"\{\w+\}", template):
            if len(fragment.strip(" '.;:()")) >= 12:
                assert not any(fragment in text for text in sources.values()), (name, fragment)


def test_the_page_zooms_to_the_spot_the_quality_check_crops(site_page):
    """The zoom view opens where metrics.detailed_spot finds the most detail, searched the same way."""
    from srspace.contract import DETAIL_SIDE
    from srspace.imaging.metrics import detailed_spot

    rng = np.random.default_rng(4)
    for height, width in ((300, 420), (97, 250), (60, 60)):
        img = np.full((height, width, 3), 120, np.uint8)
        y, x = rng.integers(0, height - 40), rng.integers(0, width - 40)
        img[y : y + 40, x : x + 40] = rng.integers(0, 256, (40, 40, 3))  # one patch of detail
        img = (img.astype(np.int16) + rng.integers(-3, 4, img.shape)).clip(0, 255).astype(np.uint8)
        rgba = np.dstack([img, np.full((height, width), 255, np.uint8)])
        page = site_page.evaluate("""async ([data, w, h]) => {
            const { detailedSpot } = await import("./js/viewer.js");
            const rgba = Uint8ClampedArray.from(atob(data), (c) => c.charCodeAt(0));
            return detailedSpot(rgba, w, h, srspace.getConfig().detailSearch);
          }""", [base64.b64encode(rgba.tobytes()).decode(), width, height])
        side = min(DETAIL_SIDE, height, width)
        top, left = detailed_spot(img.astype(np.float32) / 255, DETAIL_SIDE)
        assert page == [left + side / 2, top + side / 2]


def test_cancel_stops_within_a_tile_and_the_engine_stays_usable(site_page, tmp_path):
    photo = _photo(tmp_path)
    data = base64.b64encode(photo.read_bytes()).decode()
    outcome = site_page.evaluate("""async (data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const controller = new AbortController();
        let tiles = 0, abortedAt = 0;
        const started = performance.now();
        try {
          await srspace.upscale(new File([bytes], 'photo.png'), {model: 'srcnn_dynamic', factor: 3.5, signal: controller.signal,
            onProgress: (p) => { tiles = p.done; if (p.done === 1) { abortedAt = performance.now(); controller.abort(); } }});
          return {finished: true};
        } catch (e) {
          return {name: e.name, tiles, total: performance.now() - started, afterAbort: performance.now() - abortedAt};
        }
      }""", data)
    assert outcome.get("name") == "AbortError", outcome
    assert outcome["tiles"] == 1  # no tile ran after the one in flight when Cancel came
    after = _upscale_in_page(site_page, EXAMPLES_DIR / "astronaut_face.png", {"model": "srcnn_dynamic", "factor": 2})
    assert after["width"] == 200


def test_gallery_click_shows_the_result_in_view_with_a_zoomed_comparison(browser, served):
    for width, height in ((1400, 1000), (390, 844)):
        page = browser.new_page(viewport={"width": width, "height": height})
        try:
            page.goto(served)
            page.wait_for_selector("body[data-ready=true]", timeout=60_000)
            page.locator(".example").first.click()  # the astronaut at x2.5, with the model the visitor has: auto
            page.wait_for_selector("#download", timeout=60_000)
            pick = page.evaluate("srspace.getConfig().factors['2.50'].auto.best")
            assert page.locator("#model").input_value() == "auto"  # a gallery row never switches the model
            assert page.locator("#download").get_attribute("download") == f"astronaut_face_{pick['key']}_x2.5.png"
            page.wait_for_timeout(800)  # the smooth scroll
            viewer = page.locator(".viewer-stage").bounding_box()
            assert viewer["y"] < height and viewer["y"] + viewer["height"] > 0  # the result is in view
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing sideways on a phone
            labels = page.locator(".viewer-label").all_inner_texts()
            assert labels == ["Bicubic", page.evaluate(f"srspace.getConfig().titles['{pick['key']}']")]
            page.get_by_role("button", name="400%").click()
            assert page.locator(".viewer-zoom").inner_text() == "400%"
            page.screenshot(path=str(SCREENSHOTS / f"site-{width}.png"))
        finally:
            page.close()


def test_a_hostile_file_name_is_shown_as_text_and_runs_no_script(browser, served):
    """The page builds its result text from DOM nodes: a file named like HTML stays a name."""
    name = '<img src=x onerror="window.pwned=1">.png'
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(served)
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        page.set_input_files("#file", files=[{"name": name, "mimeType": "image/png",
                                              "buffer": (EXAMPLES_DIR / "rocket.png").read_bytes()}])
        page.locator("#model").select_option("bicubic")
        page.locator("#run").click()
        page.wait_for_selector("#download", timeout=60_000)
        assert page.evaluate("window.pwned") is None and not dialogs
        assert page.locator("#result-info img").count() == 0
        assert '<img src=x onerror="window.pwned=1">' in page.locator("#result-info").inner_text()
    finally:
        page.close()


def test_without_the_headers_the_page_runs_on_one_thread_and_says_so(browser, site):
    server, url = serve_in_thread(site, headers={})
    page = browser.new_page()
    try:
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        assert page.evaluate("crossOriginIsolated") is False
        assert "only one thread runs" in page.locator("#engine").inner_text()
        got = _upscale_in_page(page, EXAMPLES_DIR / "coffee.png", {"model": "espcn_x3", "factor": 2})
        assert got["threads"] == 1 and got["width"] == 300
    finally:
        page.close()
        server.shutdown()


def test_the_page_asks_nothing_of_any_other_origin(site_page, served):
    assert site_page.requests, "the recording saw nothing"
    outside = [u for u in site_page.requests if not u.startswith((served, "data:", "blob:"))]
    assert outside == []


def test_the_served_headers_are_the_readmes(served, site):
    import requests

    response = requests.get(served + "ort/" + PIN["entry"]["wasm"], timeout=10)
    assert {k: response.headers[k] for k in HEADERS} == site_headers(site) == HEADERS
    assert response.headers["content-type"].startswith("text/javascript")
    assert set(CHOICES) == set(json.loads((site / "config.json").read_text())["choices"])


def test_the_local_server_serves_the_folder_and_nothing_else(tmp_path):
    """srspace.web.serve: no listing, no symlink out of the folder, nosniff, a clear 400 for a NUL byte."""
    import requests

    folder = tmp_path / "site"
    (folder / "sub").mkdir(parents=True)
    (folder / "index.html").write_text("<p>hello</p>")
    (tmp_path / "secret.txt").write_text("not for the web")
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    server, url = serve_in_thread(folder, headers={})
    try:
        page = requests.get(url, timeout=10)
        assert page.text == "<p>hello</p>" and page.headers["X-Content-Type-Options"] == "nosniff"
        assert requests.get(url + "link.txt", timeout=10).status_code == 404
        assert requests.get(url + "sub/", timeout=10).status_code == 404
        assert requests.get(url + "a%00b.html", timeout=10).status_code == 400
    finally:
        server.shutdown()


def test_the_built_site_is_readable_by_another_user(site):
    assert site.stat().st_mode & 0o755 == 0o755
