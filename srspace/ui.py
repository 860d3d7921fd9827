"""The Gradio interface: thin wiring from components to ``srspace.service``."""
from __future__ import annotations

import functools
import inspect
import time
import uuid
from pathlib import Path

import gradio as gr

from .contract import (AUTO_KEY, BEST_WEIGHTS, BICUBIC_KEY, CHOICES, EXAMPLES_DIR, FACTOR_STEP, GALLERY, MAX_FACTOR, MIN_FACTOR, MODELS,
                       WEIGHT_SETS, model_path)
from .batch import encode, result_name
from .images import MAX_OUTPUT_PIXELS, ImageInputError, peek_size, shorten
from .graphview import GraphViewError, render_svg
from .modelinfo import model_card
from .quality import markdown
from .service import COMPARE_MAX_OUTPUT_PIXELS, Upscaler
from .sharing import SMALL_PIXELS, Lanes, Ticket, request_log
from .inputs import Choice, Factor, UploadedImage
from .web import BROWSER_MAX_DIFF_LEVELS, MODEL_HELP, MODEL_LABELS

UPSCALE_WAITING = 16  # upscale requests Gradio lets in at once: our lanes decide what runs, this bounds the waiting


FACTOR_HELP = {
    AUTO_KEY: MODEL_HELP[AUTO_KEY] + " The note says which ran and why.",
    "dynamic": "The network upsamples by exactly this factor (one ONNX file, factor as a graph input).",
    "fixed": "This network always upsamples x3; the result is then resized bicubically to the chosen factor.",
    BICUBIC_KEY: "Plain bicubic interpolation at this factor: the baseline the networks are measured against.",
}


WEIGHT_CHOICES = [
    ("Best measured for the model", BEST_WEIGHTS),
    ("Trained by this project", "bundled"),
    ("The tutorials' original checkpoints", "official"),
]


def weights_help(upscaler: Upscaler) -> str:
    """What each weight set is, what "best" picks, and why a set is missing."""
    lines = [f"**{name}**: {text}." for name, text in WEIGHT_SETS.items()]
    lines.append("**best** picks, for the model and factor, the set that measured the larger gain over bicubic "
                 "on held-out photographs (the table in the Models tab).")
    lines += [f"⚠ {reason}" for reason in upscaler.unavailable.values()]
    return "<br>".join(lines)


def weights_input(help_text: str, elem_id: str | None = None) -> Choice:
    """The weights choice of a tab, with what each set is written under it."""
    dropdown = Choice(WEIGHT_CHOICES, value=BEST_WEIGHTS, label="Weights", elem_id=elem_id)
    gr.Markdown(help_text, elem_classes=["weights-help"])
    return dropdown


def quality_frame(table: dict):
    """The quality table as rows for a line plot: one line per model and weight set."""
    import pandas as pd

    return pd.DataFrame([{"factor": r["factor"], "gain over bicubic (dB)": r["gain"],
                          "model, weights": f"{r['model']}, {r['weights']}"} for r in table["rows"]])


def quality_text(table: dict | None) -> str:
    """The quality table of the shipped figures, as Markdown."""
    if table is None:
        return "No quality table is shipped with this copy (run `python benchmarks/quality.py --write`)."
    return (f"### Gain over bicubic, dB, on {len(table['images'])} held-out photographs\n"
            "Y-PSNR of each model minus bicubic's at the same factor; the ×3 models run ×3 and are then resized. "
            "In bold, the set **best** picks for that model and factor (the nearest column).\n\n" + markdown(table))


def format_stat(name: str, value) -> str:
    """A Compare-tab figure as people read it: 2,150 ms, 3.8e-06, 118.4 dB, 1.21×, ✓."""
    if isinstance(value, bool):
        return "✓ yes" if value else "✗ no"
    if not isinstance(value, float):
        return str(value)
    if "(ms)" in name:
        return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
    if "diff" in name or "peak" in name:
        return f"{value:.1e}"
    if "(dB)" in name:
        return "∞ (identical)" if value == float("inf") else f"{value:.1f}"
    if "speed-up" in name:
        return f"{value:.2f}×"
    return f"{value:g}"


def factor_help(key: str) -> str:
    if key in (BICUBIC_KEY, AUTO_KEY):
        return FACTOR_HELP[key]
    return FACTOR_HELP["dynamic" if MODELS[key].dynamic else "fixed"]


def _user_errors(handler):
    """Turn our input errors into gr.Error, which the UI and API clients both show as a message
    (and Gradio does not log as a traceback: the request log has its one line)."""

    def user_error(exc: ImageInputError) -> gr.Error:
        return gr.Error(str(exc), title="Cannot process this image", print_exception=False)

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)  # Gradio reads the signature (and gr.Progress) through __wrapped__
        def steps(*args, **kwargs):
            try:
                return (yield from handler(*args, **kwargs))
            except ImageInputError as exc:
                raise user_error(exc) from exc

        return steps

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except ImageInputError as exc:
            raise user_error(exc) from exc

    return wrapper


def _stepping(steps, progress: gr.Progress, describe, outputs: int):
    """Drive a use case's steps: progress after each, and a yield to Gradio between tiles, where a
    cancelled or abandoned request stops (Gradio closes the generator there); its result."""
    while True:
        try:
            done, total = next(steps)
        except StopIteration as stop:
            return stop.value
        progress(done / total, desc=describe(done, total))
        yield (gr.skip(),) * outputs


def _cache_folder(component, kind: str) -> Path:
    """A new folder of one request's files in Gradio's cache, where they are served, then aged out."""
    folder = Path(component.GRADIO_CACHE) / kind / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def _waiting(ticket: Ticket) -> str:
    ahead = ticket.ahead - ticket.lanes.slots[ticket.lane] + 1
    return (f"⏳ Waiting for the {ticket.lane}-image lane: {ahead} request(s) ahead of yours. Small images have a lane "
            f"of their own (results up to {SMALL_PIXELS / 1e6:.0f} MP) and are not held up by large ones.")


def build_demo(upscaler: Upscaler, models_dir: Path, lanes: Lanes | None = None) -> gr.Blocks:
    lanes = lanes or Lanes()
    @_user_errors
    def upscale(image, model, factor, weights=BEST_WEIGHTS, progress=gr.Progress()):
        """Upscale an image with a super-resolution network (SRCNN or ESPCN) run by ONNX Runtime.

        Returns the upscaled image as a lossless PNG file named after the input, model and factor, a
        bicubic/model pair for comparison, and a note with the output size, times, engine and weights used.

        Args:
            image: the image to upscale (PNG, JPEG, WebP, BMP or TIFF; at least 8x8 pixels).
            model: "auto" (the network and weights with the largest measured gain at this factor; the note says which ran), "srcnn_dynamic" (SRCNN at exactly the factor), "srcnn_x3" (SRCNN x3, then resized), "espcn_x3" (ESPCN x3 on luma, then resized) or "bicubic" (plain interpolation).
            factor: the scale factor, a number from 1 to 4 (steps of 0.01); the result is at most 25 MP.
            weights: "best" (the set that measured better for this model and factor), "bundled" (trained by this project) or "official" (the tutorials' original checkpoints).
        """
        start = time.perf_counter()
        with request_log("upscale", model=shorten(model), factor=shorten(factor), weights=shorten(weights)) as record:
            (w, h), (out_w, out_h) = upscaler.sizes(image, model, factor)  # from the header: nothing decoded yet
            record.update(size=f"{w}x{h}->{out_w}x{out_h}")
            with lanes.ticket(out_w * out_h) as ticket:
                while not ticket.wait(0.5):  # each yield is a point where a cancelled request stops
                    yield gr.skip(), gr.skip(), _waiting(ticket)
                queued = time.perf_counter() - start
                progress(0.0, desc="decoding the image")
                result = yield from _stepping(upscaler.upscale_steps(image, model, factor, weights), progress,
                                              lambda done, total: f"network, tile: {done}/{total}", 3)
                progress(1.0, desc="encoding the PNG")
                encode_start = time.perf_counter()
                folder = _cache_folder(download, "results")
                path = folder / result_name(Path(image), result.key, result.factor, "png")  # what ran
                path.write_bytes(encode(result.image, "png"))
                # the before/after pair as files too: Gradio would encode PIL images itself, at PIL's slowest
                sides = []
                for name, side in (("bicubic.png", result.baseline), ("preview.png", result.preview)):
                    if side is result.image:
                        sides.append(str(path))
                    else:
                        (folder / name).write_bytes(encode(side, "png"))
                        sides.append(str(folder / name))
                encoded = time.perf_counter() - encode_start
            record.update(ran=result.key, weights=result.weights or "-", network=f"{result.seconds:.2f}s", encode=f"{encoded:.2f}s")
            w, h = result.image.size
            used = f" with the **{result.weights}** weights" if result.weights else ""
            waited = f", {queued:.1f} s waiting for a free lane" if queued > 1 else ""
            lines = [f"**{w}×{h}** ({result.image.mode}) on **{result.engine}**{used}: network "
                     f"**{result.seconds * 1000:,.0f} ms**, PNG {encoded * 1000:,.0f} ms, all server work "
                     f"{(time.perf_counter() - start - queued) * 1000:,.0f} ms{waited}. "
                     '<span id="upscale-waited"></span>']
            lines += [f"- {n}" for n in result.notices]
            yield str(path), tuple(sides), "\n".join(lines)

    @_user_errors
    def check_quality(image, factor, weights=BEST_WEIGHTS, progress=gr.Progress()):
        """Show why a network beats bicubic on your own image: it is downsized by the factor, upscaled back by bicubic and by every model, and each result is compared with the original.

        Returns zoomed crops of one detailed spot (original, bicubic, each model) and a table of Y-PSNR, SSIM and gain over bicubic.

        Args:
            image: the image (at least 8x8 pixels once downsized; at most 4 MP).
            factor: the factor to downsize by and restore, from 1.1 to 4.
            weights: "best", "bundled" or "official", as for upscale.
        """
        with request_log("check_quality", factor=shorten(factor), weights=shorten(weights)):
            w, h = peek_size(image)
            with lanes.ticket(w * h * (len(MODELS) + 1)) as ticket:  # every method runs once
                while not ticket.wait(0.5):  # each yield is a point where a cancelled request stops
                    progress(0.0, desc="waiting for a free lane")
                    yield gr.skip(), gr.skip()
                progress(0.0, desc="downsizing, then upscaling back with every method")
                result = yield from _stepping(upscaler.check_quality_steps(image, factor, weights), progress,
                                              lambda done, total: f"methods: {done}/{total}", 2)
        headers = list(result.rows[0])  # a plain value, as /compare's table: {"headers": [...], "data": [[...]]}
        yield result.crops, {"headers": headers, "data": [[r[h] for h in headers] for r in result.rows]}

    @_user_errors
    def compare(image, model, factor, weights=BEST_WEIGHTS, progress=gr.Progress()):
        """Run the same image through PyTorch and ONNX Runtime and compare the two outputs.

        Returns both outputs, an amplified difference heat map, and a table with the largest and
        mean difference, whether they agree within the export tolerance, and each engine's time.

        Args:
            image: the image (at least 8x8 pixels; the output at most 4 MP).
            model: "srcnn_dynamic", "srcnn_x3" or "espcn_x3".
            factor: the scale factor, from 1 to 4.
            weights: "best", "bundled" or "official", as for upscale.
        """
        with request_log("compare", model=shorten(model), factor=shorten(factor), weights=shorten(weights)):
            _, (out_w, out_h) = upscaler.sizes(image, model, factor, COMPARE_MAX_OUTPUT_PIXELS, tuple(MODELS))
            with lanes.ticket(out_w * out_h * 6) as ticket:  # 3 runs per engine
                while not ticket.wait(0.5):
                    progress(0.0, desc="waiting for a free lane")
                    yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
                result = yield from _stepping(upscaler.compare_steps(image, model, factor, weights), progress,
                                              lambda done, total: f"runs: {done}/{total}", 4)
        rows = [[k, format_stat(k, v)] for k, v in result.stats.items()]
        yield result.ort_image, result.torch_image, result.heatmap, rows

    @_user_errors
    def browser_reference(image, model, factor, weights):
        """The server's two results for the Browser tab, as PNG files the page decodes exactly."""
        with request_log("browser_reference", model=shorten(model), factor=shorten(factor), weights=shorten(weights)):
            _, (out_w, out_h) = upscaler.sizes(image, model, factor, choices=tuple(MODELS))
            with lanes.ticket(min(out_w * out_h, COMPARE_MAX_OUTPUT_PIXELS) * 2) as ticket:  # one run per engine
                ticket.wait(None)
                ref = upscaler.browser_reference(image, model, factor, weights)
        if ref.ort_image is None:
            return None, None, ref.notice, ref.weights
        folder = _cache_folder(b_server, "browser")
        paths = []
        for name, picture in (("onnxruntime.png", ref.ort_image), ("pytorch.png", ref.torch_image)):
            (folder / name).write_bytes(encode(picture, "png"))
            paths.append(str(folder / name))
        w, h = ref.ort_image.size
        info = f"{w}x{h} at x{ref.factor:g}, network **{ref.seconds * 1000:.0f} ms** (ONNX Runtime, server, {ref.weights} weights)"
        return paths[0], paths[1], info, ref.weights

    manifest = upscaler.manifest
    weights_text = weights_help(upscaler)
    examples = [[str(EXAMPLES_DIR / name), key, factor] for name, key, factor, _ in GALLERY if (EXAMPLES_DIR / name).exists()]
    choices = [(MODEL_LABELS[k], k) for k in CHOICES]
    onnx_choices = [(MODEL_LABELS[k], k) for k in MODELS]

    # results are cached on disk per request: files older than an hour go, checked every 30 min
    with gr.Blocks(title="Super-resolution: PyTorch → ONNX → ONNX Runtime", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "# Super-resolution: PyTorch → ONNX → ONNX Runtime\n"
            "Upscale an image ×1 to ×4 with SRCNN or ESPCN, exported from PyTorch to ONNX, proven equal to PyTorch "
            "and served by ONNX Runtime; see the gain over bicubic on your own image, compare the engines, or run "
            f"the same files in your browser. Lossless PNG out, up to {MAX_OUTPUT_PIXELS / 1e6:.0f} MP. "
            "Call it from code or an AI assistant: [API](?view=api) (and the README's *API* section).",
            elem_id="header",
        )
        with gr.Tab("Upscale", id="upscale"):
            with gr.Row():
                with gr.Column(scale=1):
                    image = UploadedImage(label="Image", type="filepath", sources=["upload", "clipboard"], elem_id="upscale-input")
                    model = Choice(choices, value=AUTO_KEY, label="Model")
                    factor = Factor(MIN_FACTOR, MAX_FACTOR, value=2.5, step=FACTOR_STEP, label="Factor")
                    help_text = gr.Markdown(factor_help(AUTO_KEY))
                    weights = weights_input(weights_text, "upscale-weights")
                    run = gr.Button("Upscale", variant="primary", elem_id="upscale-button")
                    check = gr.Button("Check quality on this image", elem_id="quality-button")
                    gr.Markdown("*Check quality* downsizes your image by the factor, upscales it back with bicubic "
                                "and each model, and measures each against your original: the networks' gain, seen.")
                with gr.Column(scale=2):
                    slider = gr.ImageSlider(label="Bicubic ◀▶ model (drag to compare)", type="pil", format="png",
                                            interactive=False, height=520, elem_id="upscale-slider")
                    gr.HTML('<div id="upscale-zoom-view" hidden></div>', elem_id="upscale-zoom",
                            label="The same spot, zoomed: bicubic ◀▶ model")
                    download = gr.File(label="Download the result (lossless PNG)", interactive=False,
                                       elem_id="upscale-download")
                    info = gr.Markdown(elem_id="upscale-info")
            with gr.Row():
                q_crops = gr.Gallery(label="The same spot, enlarged ×3: original, bicubic, each model", columns=5,
                                     height=290, object_fit="contain", elem_id="quality-crops")
            q_table = gr.Dataframe(label="Against your original (Y channel, border shaved)", interactive=False,
                                   elem_id="quality-table")
            check.click(check_quality, [image, factor, weights], [q_crops, q_table], api_name="check_quality")
            # the visitor's own clock: from the click to the result, queue and transfers included
            run.click(None, js="() => { window.srspaceClicked = performance.now(); }")
            run.click(lambda: (None, None, ""), None, [download, slider, info], queue=False,
                      api_visibility="private").then(
                upscale, [image, model, factor, weights], [download, slider, info], api_name="upscale",
                concurrency_limit=UPSCALE_WAITING,
            ).success(None, [download, slider], js="""(download, pair) => { const el = document.querySelector('#upscale-waited');
                if (el && window.srspaceClicked) el.textContent =
                  `You waited ${((performance.now() - window.srspaceClicked) / 1000).toFixed(1)} s in all.`;
                window.srspaceShowZoom && window.srspaceShowZoom(download, pair); }""")
            model.change(factor_help, model, help_text, api_visibility="private")
            # The gallery runs the same handler with the same limit. Gradio puts every event of one
            # function in one concurrency group and keeps the group's lowest limit, so gr.Examples(fn=...)
            # with its default limit of 1 would serialise every /upscale after the first gallery click.
            gallery = gr.Examples(examples, inputs=[image, model, factor], label="Gallery (click one to run it)",
                                  cache_examples=False)
            gallery.load_input_event.then(upscale, [image, model, factor], [download, slider, info],
                                          concurrency_limit=UPSCALE_WAITING, api_visibility="private").success(
                None, [download, slider], js="(download, pair) => window.srspaceShowZoom && window.srspaceShowZoom(download, pair)")

        with gr.Tab("Compare", id="compare"):
            gr.Markdown(
                "The same image, model and factor through PyTorch eager and ONNX Runtime: the tutorials' "
                "*compare torch_out with ort_outs*, made visible. Each engine runs 3 times; the table gives the median. "
                f"Outputs up to {COMPARE_MAX_OUTPUT_PIXELS / 1e6:.0f} MP."
            )
            with gr.Row():
                with gr.Column():
                    c_image = UploadedImage(label="Image", type="filepath", sources=["upload", "clipboard"])
                    c_model = Choice(onnx_choices, value="srcnn_dynamic", label="Model")
                    c_factor = Factor(MIN_FACTOR, MAX_FACTOR, value=2.0, step=FACTOR_STEP, label="Factor")
                    c_weights = weights_input(weights_text)
                    c_run = gr.Button("Compare", variant="primary")
                c_table = gr.Dataframe(headers=["measure", "value"], label="Comparison", interactive=False,
                                       wrap=True, max_height=1000, column_widths=["55%", "45%"])
            with gr.Row():
                c_ort = gr.Image(label="ONNX Runtime", type="pil", format="png", interactive=False)
                c_torch = gr.Image(label="PyTorch", type="pil", format="png", interactive=False)
                c_heat = gr.Image(label="Difference, amplified", type="pil", format="png", interactive=False)
            gr.Markdown("The heat map shows |ONNX Runtime − PyTorch| per pixel, scaled so that the largest difference "
                        "(the table's *heat map peak*) is the brightest.")
            gr.Examples(examples[:3], inputs=[c_image, c_model, c_factor], label="Gallery")
            c_run.click(compare, [c_image, c_model, c_factor, c_weights], [c_ort, c_torch, c_heat, c_table], api_name="compare")

        with gr.Tab("Browser", id="browser"):
            gr.Markdown(
                "The same ONNX files, tiles and pre- and post-processing run in your browser with **onnxruntime-web** "
                "(WebAssembly, in a Web Worker), any size up to the Upscale tab's limits. The server runs the same "
                "request with ONNX Runtime and with PyTorch (results up to "
                f"{COMPARE_MAX_OUTPUT_PIXELS / 1e6:.0f} MP), and all three are compared pixel by pixel; they agree when "
                f"no pair differs by more than {BROWSER_MAX_DIFF_LEVELS}/255. For that comparison this tab uploads "
                "your image; the static edition (see the README) runs with nothing uploaded at all."
            )
            with gr.Row():
                with gr.Column():
                    b_image = UploadedImage(label="Image", type="filepath", sources=["upload", "clipboard"], elem_id="browser-input")
                    b_model = Choice(onnx_choices, value="espcn_x3", label="Model", elem_id="browser-model")
                    b_factor = Factor(MIN_FACTOR, MAX_FACTOR, value=3.0, step=FACTOR_STEP, label="Factor")
                    b_weights = weights_input(weights_text, "browser-weights")
                    b_run = gr.Button("Run in browser and on the server", variant="primary", elem_id="browser-button")
                with gr.Column():
                    b_stats = gr.Markdown(elem_id="browser-stats")
            with gr.Row():
                b_html = gr.HTML(label="In your browser", elem_id="browser-output")
                b_server = gr.Image(label="Server: ONNX Runtime", type="filepath", format="png", interactive=False)
                b_torch = gr.Image(label="Server: PyTorch", type="filepath", format="png", interactive=False)
            b_info = gr.Markdown(visible=False)
            b_used = gr.Textbox(visible=False)  # the weight set the server resolved, for the page's own run
            gr.Examples(examples[:3], inputs=[b_image, b_model, b_factor], label="Gallery")
            b_run.click(browser_reference, [b_image, b_model, b_factor, b_weights],
                        [b_server, b_torch, b_info, b_used], api_visibility="private").success(
                None, [b_image, b_model, b_factor, b_used, b_server, b_torch, b_info], [b_html, b_stats],
                js="(image, model, factor, weights, server, torch, info) => "
                   "window.srspaceBrowserRun(image, model, factor, weights, server, torch, info)",
            )

        with gr.Tab("Models", id="models"):
            created = manifest.get("created", "?")
            gr.Markdown(f"Exported {created} with torch {manifest.get('torch')}, onnx {manifest.get('onnx')}, "
                        f"onnxruntime {manifest.get('onnxruntime')}.")
            table = upscaler.quality
            gr.Markdown(quality_text(table), elem_classes=["quality-table"])
            if table:
                gr.LinePlot(quality_frame(table), x="factor", y="gain over bicubic (dB)", color="model, weights",
                            title="Gain over bicubic on held-out photographs", x_lim=[1.4, 4.1], height=360,
                            elem_id="quality-plot")
            for reason in upscaler.unavailable.values():
                gr.Markdown(f"⚠ {reason}")
            for weights, entries in manifest["sets"].items():
                with gr.Accordion(f"{weights} weights: {WEIGHT_SETS[weights]}", open=weights == next(iter(manifest["sets"]))):
                    for key, entry in entries.items():
                        path = model_path(models_dir, weights, key)
                        gr.Markdown(model_card(path, key, entry), elem_classes=["model-card"])
                        with gr.Accordion(f"The graph of {weights}/{MODELS[key].filename}, drawn from the file",
                                          open=False, elem_classes=["model-graph"]):
                            try:
                                gr.HTML(render_svg(path))
                            except GraphViewError as exc:
                                gr.Markdown(str(exc))
                        gr.File(value=str(path), interactive=False, label=f"Download {weights}/{MODELS[key].filename}")
    return demo
