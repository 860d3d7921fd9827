"""The Compare tab: the same request through PyTorch and ONNX Runtime, the figures in words and
the difference as a heat map on a fixed, labelled scale."""
from __future__ import annotations

import gradio as gr

from ..contract import BEST_WEIGHTS, FACTOR_STEP, MAX_FACTOR, MIN_FACTOR, MODELS
from ..service.engine_compare import HEAT_ANCHORS, HEAT_FULL_SCALE_LEVELS, CompareStats, compare_cost, compare_steps
from ..errors import shorten
from ..contract import COMPARE_MAX_OUTPUT_PIXELS
from ..web.texts import MODEL_LABELS
from .common import Server, bind, client_of, examples, stepping, wait_for_lane, weights_input
from .components import Choice, Factor
from ..serving.http import request_log


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def stat_rows(stats: CompareStats) -> list[list[str]]:
    """The figures as the table shows them: a label in words, a value with its unit."""
    w, h = stats.output
    same = "∞ (identical)" if stats.psnr_db == float("inf") else f"{stats.psnr_db:.1f} dB"
    return [
        ["model, weights", f"{stats.model}, {stats.weights}"],
        ["factor (the network's own)", f"×{stats.factor:g} (×{stats.network_factor:g})"],
        ["output", f"{w}×{h}"],
        ["agree within the export's tolerance", ("✓ yes" if stats.within_tolerance else "✗ no")
         + f" (|a − b| ≤ {stats.atol:g} + {stats.rtol:g}·|b|)"],
        ["largest difference", f"{stats.max_abs_diff:.1e} ({stats.max_levels:.4f} of 255 levels)"],
        ["mean difference", f"{stats.mean_abs_diff:.1e}"],
        ["PSNR between the engines", same],
        ["ONNX Runtime, median", _ms(stats.ort_ms)],
        ["PyTorch, median", _ms(stats.torch_ms)],
        ["ONNX Runtime's speed-up", f"{stats.speedup:.2f}×"],
        ["runs per engine", str(stats.runs)],
    ]


def handle_compare(server: Server, image, model, factor, weights=BEST_WEIGHTS, request: gr.Request = None,
            progress=gr.Progress()):
    """Run the same image through PyTorch and ONNX Runtime and compare the two outputs.

    Returns both outputs, a heat map of their difference on a fixed scale (black: equal; brightest: 4 or more of 255 levels), and a table with the largest and mean difference, whether they agree within the export tolerance, and each engine's time.

    Args:
        image: the image (at least 8x8 pixels; the output at most 4 MP).
        model: "srcnn_dynamic", "srcnn_x3" or "espcn_x3".
        factor: the scale factor, from 1 to 4.
        weights: "best", "bundled" or "official", as for upscale.
    """
    with request_log("compare", model=shorten(model), factor=shorten(factor), weights=shorten(weights)):
        asked = server.upscaler.job(image, model, factor, weights, COMPARE_MAX_OUTPUT_PIXELS, tuple(MODELS))
        with server.lanes.ticket(compare_cost(asked), client_of(request)) as ticket:
            yield from wait_for_lane(ticket, progress, 4)
            result = yield from stepping(compare_steps(server.upscaler, asked), progress,
                                         lambda done, total: f"runs: {done}/{total}", 4)
    yield result.ort_image, result.torch_image, result.heatmap, stat_rows(result.stats)


def heat_scale_html() -> str:
    """The heat map's colour bar: black (equal) to the brightest colour (the full scale), labelled."""
    stops = ", ".join(f"rgb({r:.0f},{g:.0f},{b:.0f})" for r, g, b in HEAT_ANCHORS)
    return ('<div id="heat-scale"><div class="heat-bar" style="height:14px;border-radius:3px;'
            f'background:linear-gradient(to right, {stops})"></div>'
            '<div class="heat-labels" style="display:flex;justify-content:space-between;font-size:0.85em">'
            f"<span>0: equal</span><span>{HEAT_FULL_SCALE_LEVELS / 2:g}</span>"
            f"<span>≥ {HEAT_FULL_SCALE_LEVELS:g} of 255 levels</span></div></div>")


def build(server: Server) -> None:
    do_compare = bind(handle_compare, server)
    gr.Markdown(
        "The same image, model and factor through **PyTorch** (the training framework) and **ONNX Runtime** (what "
        "the app serves): the tutorials' *compare torch_out with ort_outs*, made visible. Each engine runs 3 times; "
        f"the table gives the median. Outputs up to {COMPARE_MAX_OUTPUT_PIXELS / 1e6:.0f} MP."
    )
    with gr.Row():
        with gr.Column():
            c_image = server.image_input()
            c_model = Choice([(MODEL_LABELS[k], k) for k in MODELS], value="srcnn_dynamic", label="Model")
            c_factor = Factor(MIN_FACTOR, MAX_FACTOR, value=2.0, step=FACTOR_STEP, label="Factor")
            c_weights = weights_input(server)
            c_run = gr.Button("Compare", variant="primary")
        c_table = gr.Dataframe(headers=["measure", "value"], label="Comparison", interactive=False,
                               wrap=True, max_height=1000, column_widths=["50%", "50%"], elem_id="compare-table")
    with gr.Row(visible=False, elem_id="compare-results") as results:
        c_ort = gr.Image(label="ONNX Runtime", type="pil", format="png", interactive=False, min_width=160)
        c_torch = gr.Image(label="PyTorch", type="pil", format="png", interactive=False, min_width=160)
        with gr.Column(min_width=160):
            c_heat = gr.Image(label="Difference (heat map)", type="pil", format="png", interactive=False)
            gr.HTML(heat_scale_html())
    gr.Markdown("The heat map shows the difference per pixel on a fixed scale: black where both engines give the "
                f"same 8-bit value, the brightest colour at {HEAT_FULL_SCALE_LEVELS:g} levels of 255 or more. "
                "Float rounding (about 1e-6) stays black.")
    gr.Examples(examples(3, with_models=True), inputs=[c_image, c_model, c_factor], label="Gallery")
    c_run.click(lambda: gr.Row(visible=True), None, results, queue=False, api_visibility="private").then(
        do_compare, [c_image, c_model, c_factor, c_weights], [c_ort, c_torch, c_heat, c_table], api_name="compare")
