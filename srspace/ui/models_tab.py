"""The Models tab: the networks and weights in plain words, their measured gain as a chart and a
table, and, one click away, the engineering record of every exported file (its card, its graph
drawn from the file, the file itself)."""
from __future__ import annotations

import functools
import html
import math

import gradio as gr

from ..contract import MODELS, WEIGHT_SETS, model_path
from .graphview import GraphViewError, render_svg
from .modelinfo import model_card
from ..quality.report import markdown, published_markdown
from ..quality.table import JPEG_CLEAN_FROM, gain_grid, input_kinds
from ..web.texts import MODEL_HELP, WEIGHT_HELP, WEIGHT_LABELS
from .common import Server

SERIES_COLOURS = ("#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599")
DASHES = ("", "6 4", "1.5 3.5")  # a line style per weight set, in WEIGHT_SETS order: solid, dashed, dotted


def quality_text(table: dict | None, sets) -> str:
    """The quality table of the sets this server serves, as Markdown."""
    if table is None:
        return "No quality table is shipped with this copy (run `python benchmarks/quality.py --write`)."
    text = (f"#### The figures, dB over bicubic, on {len(table['images'])} held-out photographs\n"
            "Y-PSNR of each model minus bicubic's at the same factor; a model of a fixed factor runs at it and is then "
            "resized. " + ("In bold, the set **best** picks for that model and factor (the nearest column). "
                           if len(sets) > 1 else "")
            + "\n\n" + markdown(table, sets))
    published = published_markdown(table)
    if published:
        text += ("\n\n#### Beside the papers\nThe sub-pixel network at its own factor, against the published "
                 "figures of SRCNN and FSRCNN on B100 (BSD68 is 68 of its 100 images; same protocol: Y channel, "
                 "`factor` pixels shaved, LR by bicubic):\n\n" + published)
    for inputs in input_kinds(table)[1:]:
        text += (f"\n\n#### Inputs saved as JPEG at quality {inputs[len('jpeg'):]}\nThe same images, their low-resolution "
                 "version saved as JPEG first, as most photographs arrive; **auto** and **best** use these rows for a "
                 f"JPEG input below quality {JPEG_CLEAN_FROM}.\n\n" + markdown(table, sets, inputs))
    return text


def gain_chart(table: dict, sets) -> str:
    """The gain over bicubic per factor, one line per model and weight set, as an SVG that scales
    to its column, with an HTML legend below that wraps on a phone."""
    factors, gain = gain_grid(table)
    series = [(key, w) for key in MODELS for w in WEIGHT_SETS if w in sets and (key, w, factors[0]) in gain]
    values = [gain[k, w, f] for k, w in series for f in factors]
    step = 0.5  # dB between grid lines
    top, bottom = step * math.ceil(max(values) / step), min(0.0, step * math.floor(min(values) / step))
    width, height, left, right, up, down = 480, 260, 50, 14, 12, 40
    x = lambda f: left + (f - factors[0]) / (factors[-1] - factors[0]) * (width - left - right)  # noqa: E731
    y = lambda v: up + (top - v) / (top - bottom) * (height - up - down)  # noqa: E731
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="gain over bicubic by factor" '
             'style="width:100%;max-width:720px;height:auto;font:15px system-ui,sans-serif">']
    tick = bottom
    while tick <= top + 1e-9:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#555">{tick:+.1f}</text>')
        tick += step
    for f in factors:
        parts.append(f'<text x="{x(f):.1f}" y="{height - down + 20}" text-anchor="middle" fill="#555">×{f:g}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 2}" text-anchor="end" fill="#555">factor</text>')
    legend = []
    for key, w in series:
        colour, dash = SERIES_COLOURS[list(MODELS).index(key) % len(SERIES_COLOURS)], DASHES[list(WEIGHT_SETS).index(w) % len(DASHES)]
        points = " ".join(f"{x(f):.1f},{y(gain[key, w, f]):.1f}" for f in factors)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}">'
                     f"<title>{key}, {w}</title></polyline>")
        legend.append(f'<span class="series"><svg width="26" height="10"><line x1="0" x2="26" y1="5" y2="5" stroke="{colour}" '
                      f'stroke-width="3" stroke-dasharray="{dash}"/></svg> {html.escape(key)}, {w}</span>')
    parts.append("</svg>")
    return ('<div id="quality-plot"><p class="chart-title"><b>Gain over bicubic (dB)</b>, by factor: above 0 the '
            "network is sharper than plain interpolation</p>" + "".join(parts)
            + '<div class="chart-legend">' + "".join(legend) + "</div></div>")


def graph_html(path) -> str:
    """The graph of the ONNX file at ``path``, drawn now (Graphviz installed after start is used)."""
    try:
        return render_svg(path)
    except GraphViewError as exc:
        return f"<p>{html.escape(str(exc))}</p>"


def plain_intro(server: Server) -> str:
    lines = [f"{len(MODELS)} models of two networks, each exported from PyTorch to ONNX and served by ONNX Runtime:"]
    lines += [f"- **{spec.title}** (`{key}`): {MODEL_HELP[key]}" for key, spec in MODELS.items()]
    lines.append(f"\n{len(WEIGHT_SETS)} sets of weights:")
    for w in WEIGHT_SETS:
        there = "" if w in server.upscaler.engines else " *Not available on this server.*"
        lines.append(f"- **{WEIGHT_LABELS[w]}** (`{w}`): {WEIGHT_HELP[w]}{there}")
    return "\n".join(lines)


def build(server: Server) -> None:
    upscaler, manifest = server.upscaler, server.upscaler.manifest
    sets = [w for w in WEIGHT_SETS if w in upscaler.engines]
    gr.Markdown(plain_intro(server))
    table = upscaler.quality
    if table:
        gr.HTML(gain_chart(table, sets))
    gr.Markdown(quality_text(table, sets), elem_classes=["quality-table"])
    with gr.Accordion("Engineering details: every exported file, its graph and its proof of parity", open=False,
                      elem_id="models-details"):
        gr.Markdown(f"Exported {manifest.get('created', '?')} with torch {manifest.get('torch')}, onnx "
                    f"{manifest.get('onnx')}, onnxruntime {manifest.get('onnxruntime')}.")
        for reason in upscaler.unavailable.values():
            gr.Markdown(f"⚠ {reason}")
        for weights in sets:
            with gr.Accordion(f"{weights} weights: {WEIGHT_SETS[weights]}", open=False):
                for key, entry in manifest["sets"][weights].items():
                    path = model_path(server.models_dir, weights, key)
                    gr.Markdown(model_card(path, key, entry), elem_classes=["model-card"])
                    with gr.Accordion(f"The graph of {weights}/{MODELS[key].filename}, drawn from the file",
                                      open=False, elem_classes=["model-graph"]) as graph:
                        picture = gr.HTML("<p>Drawing…</p>")
                    graph.expand(functools.partial(graph_html, path), None, picture, queue=False, api_visibility="private")
                    gr.File(value=str(path), interactive=False, label=f"Download {weights}/{MODELS[key].filename}")
