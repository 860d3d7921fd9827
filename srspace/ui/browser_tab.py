"""The Browser tab: the same ONNX files run in the visitor's browser (onnxruntime-web, in a Web
Worker; ``srspace/web/browser/tab.js``), beside the server's ONNX Runtime and PyTorch results of the
same request, compared pixel by pixel."""
from __future__ import annotations

import functools

import gradio as gr

from ..contract import BEST_WEIGHTS, FACTOR_STEP, MAX_FACTOR, MIN_FACTOR, MODELS
from ..errors import shorten
from ..imaging.results import write_pngs
from ..contract import COMPARE_MAX_OUTPUT_PIXELS
from ..web.config import BROWSER_MAX_DIFF_LEVELS
from ..web.texts import MODEL_LABELS
from .common import Server, bind, cache_folder, client_of, examples, stepping, wait_for_lane, weights_input
from .components import Choice, Factor
from ..serving.http import request_log
from .upscale_tab import factor_help


def handle_browser_reference(server: Server, image, model, factor, weights=BEST_WEIGHTS, request: gr.Request = None,
                      progress=gr.Progress()):
    """The server's two results for the Browser tab, as PNG files the page decodes exactly."""
    with request_log("browser_reference", model=shorten(model), factor=shorten(factor), weights=shorten(weights)):
        asked = server.upscaler.job(image, model, factor, weights, limit=None, choices=tuple(MODELS))
        with server.lanes.ticket(server.upscaler.browser_reference_cost(asked), client_of(request)) as ticket:
            yield from wait_for_lane(ticket, progress, 4)
            ref = yield from stepping(server.upscaler.browser_reference_steps(asked), progress,
                                      lambda done, total: f"server engines: {done}/{total}", 4)
    if ref.ort_image is None:
        yield None, None, ref.notice, ref.weights
        return
    paths = write_pngs(cache_folder("browser"), {"onnxruntime.png": ref.ort_image, "pytorch.png": ref.torch_image})
    w, h = ref.ort_image.size
    info = f"{w}x{h} at x{ref.factor:g}, network **{ref.seconds * 1000:.0f} ms** (ONNX Runtime, server, {ref.weights} weights)"
    yield str(paths[0]), str(paths[1]), info, ref.weights


def build(server: Server) -> None:
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
            b_image = server.image_input(elem_id="browser-input")
            b_model = Choice([(MODEL_LABELS[k], k) for k in MODELS], value="espcn_x3", label="Model", elem_id="browser-model")
            b_factor = Factor(MIN_FACTOR, MAX_FACTOR, value=3.0, step=FACTOR_STEP, label="Factor")
            b_help = gr.Markdown(factor_help("espcn_x3", server.upscaler))
            b_weights = weights_input(server, "browser-weights")
            b_run = gr.Button("Run in browser and on the server", variant="primary", elem_id="browser-button")
        with gr.Column():
            b_stats = gr.Markdown(elem_id="browser-stats")
    with gr.Row(visible=False, elem_id="browser-results") as results:
        b_html = gr.HTML(label="In your browser", elem_id="browser-output", min_width=160)
        b_server = gr.Image(label="Server: ONNX Runtime", type="filepath", format="png", interactive=False, min_width=160)
        b_torch = gr.Image(label="Server: PyTorch", type="filepath", format="png", interactive=False, min_width=160)
    b_info = gr.Markdown(visible=False)
    b_used = gr.Textbox(visible=False)  # the weight set the server resolved, for the page's own run
    gr.Examples(examples(3, with_models=True), inputs=[b_image, b_model, b_factor], label="Gallery")
    b_model.change(functools.partial(factor_help, upscaler=server.upscaler), b_model, b_help, api_visibility="private")
    b_run.click(lambda: gr.Row(visible=True), None, results, queue=False, api_visibility="private").then(
        bind(handle_browser_reference, server), [b_image, b_model, b_factor, b_weights],
        [b_server, b_torch, b_info, b_used], api_visibility="private").success(
        None, [b_image, b_model, b_factor, b_used, b_server, b_torch, b_info], [b_html, b_stats],
        js="(image, model, factor, weights, server, torch, info) => "
           "window.srspaceBrowserRun(image, model, factor, weights, server, torch, info)",
    )
