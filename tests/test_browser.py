"""The page in real headless Chromium (Debian's), driven by Playwright.

Skips on a machine without Chromium, saying why; CI sets SRSPACE_REQUIRE_BROWSER=1 and
installs Chromium, so there it must run.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from srspace.web.config import BROWSER_MAX_DIFF_LEVELS

# Where the screenshots go: a temporary folder, so tests never rewrite tracked files; the README's
# pictures are refreshed with SRSPACE_SCREENSHOTS=docs/screenshots python -m pytest tests/test_browser.py
SCREENSHOTS = Path(os.environ.get("SRSPACE_SCREENSHOTS") or tempfile.mkdtemp(prefix="srspace-screenshots-"))


@pytest.fixture()
def page(browser, app_server):
    page = browser.new_page(viewport={"width": 1300, "height": 1400})
    page.goto(app_server)
    page.wait_for_selector("text=Gallery (click one to run it)")
    yield page
    page.close()


def test_gallery_example_runs_and_shows_the_output(page):
    from srspace.contract import MODELS, WEIGHT_SETS
    from srspace.quality.table import best_model, load_table

    pick = best_model(2.5, WEIGHT_SETS, load_table())  # what auto runs at x2.5 on a PNG: the model is not the row's
    page.locator("tr", has_text="2.5").first.click()  # the astronaut at x2.5
    page.wait_for_function(  # the before/after view holds the result
        "() => [...document.querySelectorAll('#upscale-slider img')].some(i => i.complete && i.naturalWidth === 250)",
        timeout=60_000,
    )
    sizes = page.locator("#upscale-slider img").evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
    assert [250, 275] in sizes  # astronaut_face.png, 100x110, at x2.5
    assert "250×275" in page.locator("#upscale-info").inner_text()
    link = page.locator("#upscale-download a[download]").first  # the download says what it is
    assert link.get_attribute("download") == f"astronaut_face_{pick.key}_x2.5.png"
    assert f"astronaut_face_{pick.key}_x2.5" in page.locator("#upscale-download").inner_text()
    # the same spot of both, zoomed and labelled, in view: the gain is visible at 200-400%
    page.locator("#upscale-zoom .viewer-stage").wait_for(state="visible", timeout=30_000)
    assert page.locator("#upscale-zoom .viewer-label").all_inner_texts() == ["Bicubic", MODELS[pick.key].title]
    page.wait_for_timeout(1000)  # the smooth scroll
    box = page.locator("#upscale-zoom .viewer-stage").bounding_box()
    assert 0 <= box["y"] < 1400 and page.locator("#upscale-zoom .viewer-zoom").inner_text().endswith("%")
    page.locator("#upscale-zoom").get_by_role("button", name="400%").click()
    assert page.locator("#upscale-zoom .viewer-zoom").inner_text() == "400%"
    page.screenshot(path=str(SCREENSHOTS / "upscale-zoom.png"))


def test_upscale_button_reports_the_time_the_visitor_waited(page):
    from srspace.contract import EXAMPLES_DIR

    page.locator("#upscale-input input[type=file]").set_input_files(str(EXAMPLES_DIR / "coffee.png"))
    page.wait_for_timeout(500)
    page.locator("#upscale-button").click()
    page.get_by_text("You waited").first.wait_for(timeout=60_000)
    # the default model is auto: at x2.5 the table's best is ESPCN, and the file and the note say so
    assert page.locator("#upscale-download a[download]").first.get_attribute("download") == "coffee_espcn_x3_x2.5.png"
    assert "Auto: ESPCN" in page.locator("#upscale-info").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "upscale-result.png"), full_page=True)


def test_bad_upload_shows_a_message(page, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is text, not a picture")
    page.locator("#upscale-input input[type=file]").set_input_files(str(bad))
    page.locator("#upscale-button").click()
    page.get_by_text("is not an image that can be read").first.wait_for(timeout=30_000)


# --- the in-browser tab: onnxruntime-web in Chromium against the server's ONNX Runtime ----------

@pytest.fixture()
def browser_tab(page, ort_web):
    page.get_by_role("tab", name="Browser").click()
    return page.locator("div[role=tabpanel]:visible")


@pytest.mark.parametrize("row_text", ["ESPCN", "SRCNN ×3", "SRCNN, any factor"])
def test_browser_result_matches_the_server(page, browser_tab, row_text):
    browser_tab.locator("tr", has_text=row_text).first.click()
    page.wait_for_timeout(500)
    page.locator("#browser-button").click()
    page.wait_for_selector("#browser-maxdiff, #browser-message", timeout=120_000)
    stats = page.locator("#browser-stats").inner_text()
    assert page.locator("#browser-message").count() == 0, page.locator("#browser-message").inner_text()
    for pair in ("", "-browser-torch", "-ort-torch"):  # browser, ONNX Runtime and PyTorch: one view, three pairs
        assert int(page.locator(f"#browser-maxdiff{pair}").inner_text()) <= BROWSER_MAX_DIFF_LEVELS, stats
    assert page.locator("#browser-ort-source").inner_text() == "local"  # served by the app, offline
    size = page.locator("#browser-result").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert f"{size[0]}x{size[1]}" in stats


# A sample of the parity sweep's grid (tests/test_parity_sweep.py) through onnxruntime-web: the
# side-equals-input cases (8x9 and 9x8 at x1.1), the largest factor on the extreme shapes, batch 2.
BROWSER_SWEEP = {
    "srcnn_dynamic": [(1, 8, 9, 1.1), (1, 9, 8, 1.1), (1, 8, 64, 4.0), (1, 64, 8, 4.0), (2, 20, 21, 2.5),
                      (1, 33, 34, 1.0), (1, 17, 18, 3.3)],
    "srcnn_x3": [(1, 8, 9, None), (2, 21, 20, None), (1, 64, 8, None)],
    "espcn_x3": [(1, 8, 9, None), (2, 21, 20, None), (1, 8, 64, None)],
    "espcn_x2": [(1, 8, 9, None), (2, 21, 20, None)],
    "espcn_x4": [(1, 8, 9, None), (1, 9, 8, None)],
}


def test_browser_engine_joins_the_parity_contract(page, browser_tab, models_dir):
    import numpy as np

    from srspace.contract import MODELS, PARITY_ATOL, PARITY_RTOL
    from srspace.runtime.engines import OrtEngine
    from srspace.buildtime.export import parity_input, read_manifest

    worst = {}
    for weights in read_manifest(models_dir)["sets"]:
        server = OrtEngine(models_dir / weights)
        for key, cases in BROWSER_SWEEP.items():
            if key not in server:  # the photo set is ESPCN only
                continue
            for batch, height, width, factor in cases:
                x = parity_input(MODELS[key], batch, height, width)
                got = page.evaluate("async ([w, k, dims, data, f]) => { const r = await window.srspace.runTensor(w, k, dims, data, f);"
                                    " return {dims: r.dims, data: Array.from(r.data)}; }",
                                    [weights, key, list(x.shape), x.ravel().tolist(), factor])
                expected = server.run(key, x, factor)
                actual = np.asarray(got["data"], dtype=np.float32).reshape(got["dims"])
                assert actual.shape == expected.shape, (weights, key, batch, height, width, factor)
                np.testing.assert_allclose(actual, expected, rtol=PARITY_RTOL, atol=PARITY_ATOL,
                                           err_msg=f"{weights} {key} {batch}x{height}x{width} @ {factor}")
                worst[weights, key] = max(worst.get((weights, key), 0.0), float(np.abs(actual - expected).max()))
    print("browser vs server, max abs diff:", worst)


def test_browser_tab_runs_a_photo_at_full_size(page, browser_tab, tmp_path):
    """No 300x300 limit any more: a 640x480 photo runs whole, tiled, and matches both server engines."""
    from PIL import Image

    from srspace.contract import EXAMPLES_DIR

    photo = tmp_path / "photo.png"
    Image.open(EXAMPLES_DIR / "chelsea.png").convert("RGB").resize((640, 480)).save(photo)
    page.locator("#browser-input input[type=file]").set_input_files(str(photo))
    page.wait_for_timeout(500)
    page.locator("#browser-button").click()  # the tab's default: espcn_x3 at x3
    page.wait_for_selector("#browser-maxdiff, #browser-message", timeout=180_000)
    stats = page.locator("#browser-stats").inner_text()
    assert page.locator("#browser-message").count() == 0, page.locator("#browser-message").inner_text()
    for pair in ("", "-browser-torch", "-ort-torch"):
        assert int(page.locator(f"#browser-maxdiff{pair}").inner_text()) <= BROWSER_MAX_DIFF_LEVELS, stats
    assert page.locator("#browser-result").evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1920, 1440]
    assert page.locator("#browser-output a[download]").get_attribute("download") == "photo_espcn_x3_x3.png"
    page.screenshot(path=str(SCREENSHOTS / "browser-result.png"), full_page=True)


def test_quality_check_shows_crops_and_figures(page):
    from srspace.contract import EXAMPLES_DIR

    page.locator("#upscale-input input[type=file]").set_input_files(str(EXAMPLES_DIR / "chelsea.png"))
    page.wait_for_timeout(500)
    page.locator("#quality-button").click()
    page.locator("#quality-table").get_by_text("espcn_x3").first.wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('#quality-crops img').length >= 5", timeout=30_000)
    assert "SSIM-Y" in page.locator("#quality-table").inner_text()
    page.locator("#quality-crops").screenshot(path=str(SCREENSHOTS / "quality-check.png"))


def test_models_tab_draws_each_graph_and_the_quality_plot(page):
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (apt-get install graphviz): the graphs cannot be drawn")
    page.get_by_role("tab", name="Models").click()
    page.get_by_text("Engineering details").first.click()
    page.get_by_text("bundled weights:").first.click()
    page.get_by_text("The graph of bundled/srcnn_dynamic.onnx, drawn from the file").first.click()
    graph = page.locator(".model-graph svg").filter(has_text="interpolation matrices").first
    graph.wait_for(state="visible", timeout=30_000)
    text = graph.evaluate("svg => svg.textContent")
    # the factor input builds the upsample's matrices; MatMul applies them
    assert "factor" in text and "cubic" in text and "MatMul" in text and "out_height" in text
    page.locator("#quality-plot").wait_for(state="visible", timeout=30_000)
    assert "srcnn_dynamic, bundled" in page.locator("#quality-plot").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "models-graph.png"), full_page=False)


# Elements that stick out of the page to the right, except inside a horizontal scroller that
# itself fits (a wide table scrolls sideways instead of clipping): what a phone would cut off.
OVERFLOW_JS = """() => {
  const w = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.offsetParent) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= w + 1) continue;
    let p = el.parentElement, scrolls = false;
    for (; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p).overflowX;
      if ((s === 'auto' || s === 'scroll') && p.getBoundingClientRect().right <= w + 1) { scrolls = true; break; }
    }
    if (!scrolls) out.push(`${el.tagName.toLowerCase()}#${el.id}.${String(el.className).slice(0, 40)} right=${Math.round(r.right)}`);
  }
  return out.slice(0, 8);
}"""


def _column_fits(view, table: str, header: str) -> bool:
    """Whether the column ``header`` of the table in ``table`` is wholly inside the area that shows the
    table (no sideways scrolling needed to read it)."""
    return view.evaluate("""([table, header]) => {
      const th = [...document.querySelectorAll(`${table} th`)].find(t => t.offsetParent && t.innerText.trim().startsWith(header));
      if (!th) return false;
      let frame = th.closest('table').parentElement;
      while (frame && frame.clientWidth === 0) frame = frame.parentElement;
      const [c, f] = [th.getBoundingClientRect(), frame.getBoundingClientRect()];
      return c.width > 0 && c.left >= f.left - 1 && c.right <= f.right + 1 && c.right <= window.innerWidth;
    }""", [table, header])


def _in_view(view, selector: str, height: int) -> bool:
    view.wait_for_timeout(1000)  # the smooth scroll
    box = view.locator(selector).first.bounding_box()
    return box is not None and 0 <= box["y"] < height


@pytest.mark.parametrize("width,height", [(1400, 1000), (390, 844)])
def test_every_tab_fits_and_shows_its_result(browser, app_server, ort_web, width, height):
    """Each tab, desktop and phone, before and after its main action: nothing sticks out to the
    right, and the result is in view (the README's pictures come from these screenshots)."""
    view = browser.new_page(viewport={"width": width, "height": height})

    def shot(name: str) -> None:
        assert view.evaluate(OVERFLOW_JS) == [], f"{name}: sticks out at {width} px"
        view.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=False)

    def open_tab(name: str, example: str) -> None:
        """The tab as a visitor first sees it (a screenshot), then one of its gallery's rows picked."""
        view.get_by_role("tab", name=name).click()
        view.wait_for_timeout(700)
        view.evaluate("window.scrollTo(0, 0)")
        shot(name.lower())
        view.locator("div[role=tabpanel]:visible tr", has_text=example).first.click()
        view.wait_for_timeout(500)

    try:
        view.goto(app_server)
        view.wait_for_selector("text=Gallery (click one to run it)")
        view.wait_for_function("() => [...document.querySelectorAll('#upscale-gallery img')]"
                               ".every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
        shot("upscale")
        view.locator("tr", has_text="2.5").first.click()  # a gallery example (the astronaut), far down
        view.locator("#upscale-zoom .viewer-stage").wait_for(state="visible", timeout=60_000)
        assert _in_view(view, "#upscale-zoom .viewer-stage", height), "the result is off-screen after a gallery click"
        shot("upscale-after")
        view.locator("#quality-button").click()
        view.wait_for_function("() => document.querySelectorAll('#quality-crops img').length >= 5", timeout=60_000)
        assert _in_view(view, "#quality-crops img", height), "the quality check's crops are off-screen"
        crop = view.locator("#quality-crops img").first.bounding_box()
        assert crop["width"] >= min(150, width / 3), f"quality crops shrank to {crop['width']:.0f} px"
        shot("quality-after")
        assert _column_fits(view, "#quality-table", "gain"), "the quality check's gain column needs scrolling"

        open_tab("Compare", "ESPCN")
        view.get_by_role("button", name="Compare").click()
        view.wait_for_function("() => document.querySelector('#compare-table').innerText.includes('✓ yes')", timeout=60_000)
        assert view.locator("#heat-scale").is_visible() and "of 255 levels" in view.locator("#heat-scale").inner_text()
        shot("compare-after")

        open_tab("Browser", "ESPCN")
        view.locator("#browser-button").click()
        view.wait_for_selector("#browser-maxdiff", timeout=120_000)
        result = view.locator("#browser-result").bounding_box()
        assert result["width"] >= min(300, width - 60), f"the browser's result is {result['width']:.0f} px wide"
        shot("browser-after")
        assert _column_fits(view, "#browser-stats", "agree"), "the browser table's agree column needs scrolling"

        view.get_by_role("tab", name="Models").click()
        view.wait_for_timeout(700)
        view.evaluate("window.scrollTo(0, 0)")
        assert view.locator("#quality-plot svg polyline").count() >= 3  # every series drawn, legend below
        shot("models")
        if width > 1000:  # the quality table shows every factor on a desktop
            assert _column_fits(view, "div[role=tabpanel]:not([hidden])", "×4"), "the Models tab's table needs scrolling"
        view.get_by_text("Engineering details").first.click()
        view.wait_for_timeout(700)
        shot("models-after")
    finally:
        view.close()


@pytest.mark.parametrize("width,height", [(1400, 900), (390, 844)])
def test_the_image_the_button_and_the_gallery_come_first(browser, app_server, width, height):
    """On a desktop's first screen the image input, the Upscale button and the gallery's first row are
    all in view; on a phone they come in that order, the input and the button on the first screen."""
    view = browser.new_page(viewport={"width": width, "height": height})
    try:
        view.goto(app_server)
        view.wait_for_selector("text=Gallery (click one to run it)")
        view.wait_for_timeout(500)
        boxes = {name: view.locator(selector).first.bounding_box() for name, selector in
                 (("input", "#upscale-input"), ("button", "#upscale-button"), ("gallery", "#upscale-gallery tr"))}
        bottoms = {name: box["y"] + box["height"] for name, box in boxes.items()}
        assert boxes["input"]["y"] < boxes["button"]["y"] < boxes["gallery"]["y"], boxes
        first_screen = ("input", "button", "gallery") if width > 1000 else ("input", "button")
        assert all(bottoms[name] <= height for name in first_screen), (bottoms, height)
    finally:
        view.close()


def test_every_tab_is_reachable_on_a_phone(browser, app_server):
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        phone.goto(app_server)
        phone.wait_for_selector("text=Gallery (click one to run it)")
        tabs = phone.evaluate("() => [...document.querySelectorAll('[role=tab]')]"
                              ".filter(t => t.offsetParent !== null).map(t => t.innerText.trim())")
        assert tabs == ["Upscale", "Compare", "Browser", "Models"]  # none hidden behind an overflow menu
    finally:
        phone.close()


def test_the_page_fetches_nothing_from_outside_the_app(browser, app_server):
    """Fonts included: a system font stack, nothing from a font host (the Space works offline)."""
    view = browser.new_page()
    outside = []
    view.on("request", lambda r: None if r.url.startswith((app_server, "data:", "blob:")) else outside.append(r.url))
    try:
        view.goto(app_server)
        view.wait_for_selector("text=Gallery (click one to run it)")
        view.wait_for_timeout(1000)
        family = view.evaluate("() => getComputedStyle(document.querySelector('#header')).fontFamily")
    finally:
        view.close()
    assert outside == []
    assert "ui-sans-serif" in family or "system-ui" in family, family
