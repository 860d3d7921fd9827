"""The Upscale tab: upscale an image (the app's main use), and check the networks' gain on it.

``handle_upscale`` and ``handle_check_quality`` are the handlers behind the page's buttons, the public API's
/upscale and /check_quality and the MCP tools; each takes the ``Server`` first (bound by
``common.bind``) and can be called by a test as it is."""
from __future__ import annotations

import functools
import time

import gradio as gr

from ..contract import AUTO_KEY, BEST_WEIGHTS, CHOICES, FACTOR_STEP, MAX_FACTOR, MIN_FACTOR, UPSCALE_WAITING
from ..errors import shorten
from ..service.quality_check import check_quality_cost, check_quality_steps, quality_job
from ..quality.report import measured_sentence
from ..imaging.results import write_upscale_files
from ..web.texts import MODEL_HELP, MODEL_LABELS
from .common import (Server, bind, cache_folder, client_of, examples, stepping, upload_name, wait_for_lane, waiting_line,
                     weights_input)
from .components import Choice, Factor
from ..serving.http import request_log

QUALITY_HEADERS = ("method", "gain (dB)", "PSNR-Y (dB)", "SSIM-Y", "weights")  # the gain, the point, fits a phone

def factor_help(key: str, upscaler=None) -> str:
    """Model ``key`` in plain words where it is chosen: what it is, how it applies the factor, and
    (given the ``upscaler`` serving it) how much it gained on the held-out photographs."""
    text = MODEL_HELP[key] + (" The note says which ran and why." if key == AUTO_KEY else "")
    if upscaler is not None:
        text = f"{text} {measured_sentence(upscaler.quality, key, upscaler.engines)}".rstrip()
    return text


def handle_upscale(server: Server, image, model, factor, weights=BEST_WEIGHTS, request: gr.Request = None,
            progress=gr.Progress()):
    """Upscale an image with a super-resolution network (SRCNN or ESPCN) run by ONNX Runtime.

    Returns the upscaled image as a lossless PNG file named after the input, model and factor, a
    bicubic/model pair for comparison, and a note with the output size, times, engine and weights used.

    Args:
        image: the image to upscale (PNG, JPEG, WebP, BMP or TIFF; at least 8x8 pixels).
        model: "auto" (the network and weights with the largest measured gain at this factor; the note says which ran), "srcnn_dynamic" (SRCNN at exactly the factor), "srcnn_x3" (SRCNN x3, then resized), "espcn_x2", "espcn_x3", "espcn_x4" (ESPCN at x2, x3 or x4 on luma, then resized) or "bicubic" (plain interpolation).
        factor: the scale factor, a number from 1 to 4 (the page's slider moves in steps of 0.1; the API takes two decimals); the result is at most 25 MP.
        weights: "best" (the set that measured best for this model, factor and kind of input: a JPEG of ordinary quality gets the photo set), "bundled" (trained by this project), "official" (the tutorials' original checkpoints) or "photo" (ESPCN trained on JPEG inputs, which also removes JPEG blocks).
    """
    start = time.perf_counter()
    with request_log("upscale", model=shorten(model), factor=shorten(factor), weights=shorten(weights)) as record:
        asked = server.upscaler.job(image, model, factor, weights)  # from the header: nothing decoded yet
        (w, h), (out_w, out_h) = asked.size, asked.out_size
        record.update(size=f"{w}x{h}->{out_w}x{out_h}")
        with server.lanes.ticket(asked.out_pixels, client_of(request)) as ticket:
            while not ticket.wait(0.5):  # each yield is a point where a cancelled request stops
                yield gr.skip(), gr.skip(), waiting_line(ticket)
            queued = time.perf_counter() - start
            progress(0.0, desc="decoding the image")
            result = yield from stepping(server.upscaler.upscale_steps(asked), progress,
                                         lambda done, total: f"network, tile: {done}/{total}", 3)
            progress(1.0, desc="encoding the PNG")
            encode_start = time.perf_counter()
            files = write_upscale_files(result, cache_folder("results"), upload_name(asked.path))
            encoded = time.perf_counter() - encode_start
        record.update(ran=result.key, weights=result.weights or "-", network=f"{result.seconds:.2f}s", encode=f"{encoded:.2f}s")
        used = f" with the **{result.weights}** weights" if result.weights else ""
        waited = f", {queued:.1f} s waiting for a free lane" if queued > 1 else ""
        lines = [f"**{out_w}×{out_h}** ({result.image.mode}) on **{result.engine}**{used}: network "
                 f"**{result.seconds * 1000:,.0f} ms**, PNG {encoded * 1000:,.0f} ms, all server work "
                 f"{(time.perf_counter() - start - queued) * 1000:,.0f} ms{waited}."]
        lines += [f"- {n}" for n in result.notices]
        yield str(files.result), (str(files.baseline), str(files.preview)), "\n".join(lines)


def handle_check_quality(server: Server, image, factor, weights=BEST_WEIGHTS, request: gr.Request = None,
                  progress=gr.Progress()):
    """Show why a network beats bicubic on your own image: it is downsized by the factor, upscaled back by bicubic and by every model, and each result is compared with the original.

    Returns zoomed crops of one detailed spot (original, bicubic, each model) and a table of Y-PSNR, SSIM and gain over bicubic.

    Args:
        image: the image (at least 8x8 pixels once downsized; at most 4 MP).
        factor: the factor to downsize by and restore, from 1.1 to 4.
        weights: "best", "bundled" or "official", as for upscale.
    """
    with request_log("check_quality", factor=shorten(factor), weights=shorten(weights)):
        asked = quality_job(server.upscaler, image, factor, weights)
        with server.lanes.ticket(check_quality_cost(asked), client_of(request)) as ticket:
            yield from wait_for_lane(ticket, progress, 2)
            progress(0.0, desc="downsizing, then upscaling back with every method")
            result = yield from stepping(check_quality_steps(server.upscaler, asked, weights), progress,
                                         lambda done, total: f"methods: {done}/{total}", 2)
    rows = [[s.method, round(s.gain, 2), round(s.psnr_y, 2), round(s.ssim_y, 4), s.weights] for s in result.scores]
    yield result.crops, {"headers": list(QUALITY_HEADERS), "data": rows}  # a plain value, as /compare's table


# the quality check's results (with its progress) in view at once: on a phone they are far below the button
SCROLL_TO_QUALITY = "() => document.querySelector('#quality-results')?.scrollIntoView({behavior: 'smooth', block: 'start'})"
ZOOM_JS = "(download, pair) => window.srspaceShowZoom && window.srspaceShowZoom(download, pair)"
# after the button's run: the zoom view, and the visitor's own wait (click to result) under the note
WAITED_JS = """(download, pair) => {
  window.srspaceShowZoom && window.srspaceShowZoom(download, pair);
  const info = document.querySelector('#upscale-info');
  if (!info || !window.srspaceClicked) return;
  const line = info.querySelector('.upscale-waited') || info.appendChild(Object.assign(document.createElement('p'), { className: 'upscale-waited' }));
  line.textContent = `You waited ${((performance.now() - window.srspaceClicked) / 1000).toFixed(1)} s in all.`;
}"""


def build(server: Server) -> None:
    """The tab's components and events, inside the page's gr.Blocks."""
    do_upscale, do_check = bind(handle_upscale, server), bind(handle_check_quality, server)
    with gr.Row():
        with gr.Column(scale=1):
            # the first screen (1400x900), and first on a phone: the image, the factor, the button, the gallery
            image = server.image_input(elem_id="upscale-input", height=250)
            factor = Factor(MIN_FACTOR, MAX_FACTOR, value=2.5, step=FACTOR_STEP, label="Factor")
            run = gr.Button("Upscale", variant="primary", elem_id="upscale-button")
            # The gallery runs the same handler with the same limit (below). Gradio puts every event of one
            # function in one concurrency group and keeps the group's lowest limit, so gr.Examples(fn=...)
            # with its default limit of 1 would serialise every /upscale after the first gallery click.
            gallery = gr.Examples(examples(), inputs=[image, factor], label="Gallery (click one to run it)",
                                  cache_examples=False, elem_id="upscale-gallery")
            model = Choice([(MODEL_LABELS[k], k) for k in CHOICES], value=AUTO_KEY, label="Model")
            help_text = gr.Markdown(factor_help(AUTO_KEY, server.upscaler))
            weights = weights_input(server, "upscale-weights")
            check = gr.Button("Check quality on this image", elem_id="quality-button")
            gr.Markdown("*Check quality* downsizes your image by the factor, upscales it back with bicubic "
                        "and each model, and measures each against your original: the networks' gain, seen.")
        with gr.Column(scale=2):
            slider = gr.ImageSlider(label="Bicubic ◀▶ model (drag to compare)", type="pil", format="png",
                                    interactive=False, height=520, elem_id="upscale-slider")
            gr.HTML('<div id="upscale-zoom-view" hidden></div>', elem_id="upscale-zoom",
                    label="The same spot, zoomed: bicubic ◀▶ model")
            download = gr.File(label="Download the result (lossless PNG)", interactive=False, elem_id="upscale-download")
            info = gr.Markdown(label="Note", elem_id="upscale-info")
    with gr.Row(visible=False, elem_id="quality-results") as quality_results:
        with gr.Column():
            q_crops = gr.Gallery(label="The same spot, enlarged ×3: original, bicubic, each model", columns=5,
                                 height="auto", object_fit="contain", elem_id="quality-crops")
            q_table = gr.Dataframe(headers=list(QUALITY_HEADERS), label="Against your original (Y channel, border shaved)",
                                   interactive=False, elem_id="quality-table")
            gr.Markdown("**PSNR-Y**: how close each result is to your original, in dB (more is better; +1 dB is a "
                        "clearly visible difference at 200%). **SSIM-Y**: structural similarity, 1 = identical. "
                        "**gain**: PSNR-Y over bicubic's.", elem_classes=["quality-legend"])
    check.click(lambda: gr.Row(visible=True), None, quality_results, queue=False, api_visibility="private").then(
        None, js=SCROLL_TO_QUALITY).then(do_check, [image, factor, weights], [q_crops, q_table], api_name="check_quality")
    # the visitor's own clock: from the click to the result, queue and transfers included
    run.click(None, js="() => { window.srspaceClicked = performance.now(); }")
    run.click(lambda: (None, None, ""), None, [download, slider, info], queue=False, api_visibility="private").then(
        do_upscale, [image, model, factor, weights], [download, slider, info], api_name="upscale",
        concurrency_limit=UPSCALE_WAITING,
    ).success(None, [download, slider], js=WAITED_JS)
    model.change(functools.partial(factor_help, upscaler=server.upscaler), model, help_text, api_visibility="private")
    gallery.load_input_event.then(do_upscale, [image, model, factor], [download, slider, info],
                                  concurrency_limit=UPSCALE_WAITING, api_visibility="private").success(
        None, [download, slider], js=ZOOM_JS)
