"""The in-browser engine's config: every rule the page shares with the Python side, in one JSON object.

The browser code (``srspace/web/browser/*.js``, ES modules) runs the same ONNX files with the
same tiling, pre- and post-processing as ``srspace.runtime.pipeline``. Everything it must agree on
with the Python side (the factor as p/q, each model's halo and tile side at every factor, the
bicubic coefficients, the limits, which weight set ``best`` means) is computed here from the
Python definitions and handed to it as one JSON config: the static site writes it as
``config.json``, the Gradio app puts it in the page.

Where onnxruntime-web comes from is ``ort``'s; what the page says of each choice, ``texts``'.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from ..contract import (AUTO_KEY, BICUBIC_KEY, CHOICES, CUBIC_A, DETAIL_SEARCH, DETAIL_SIDE, EXAMPLES_DIR,
                       FACTOR_DECIMALS, FACTOR_STEP, GALLERY, MAX_FACTOR, MAX_INPUT_PIXELS, MAX_OUTPUT_PIXELS, MIN_FACTOR, MIN_SIDE,
                       MODELS, PHOTO_SET, SIXTEEN_BIT_RESULT, SMALL_RESULT_PIXELS, WEIGHT_SETS, model_path, set_models,
                       INPUT_NAME, FACTOR_NAME, OUTPUT_NAME, factor_tensor_value)

FACTOR_PLACEHOLDER = 7.25  # the factor graph input's layout is read off its value at this factor: null where the factor goes
from ..runtime.pipeline import ANTIALIAS_A, halo, long_tiles, tile_side
from ..errors import MESSAGES
from ..imaging.decoding import ANNEX_K_LUMA_SUM
from ..imaging.results import HIDDEN_NAME_CHARACTERS, STEM_BYTES, UNNAMED
from ..quality.table import (CLEAN, JPEG_CLEAN_FROM, JPEG_NOTES, JPEG_QUALITIES, best_model, best_set, gain_grid,
                            input_kinds, load_table, pick_note, signed)
from ..runtime.tiling import as_fraction, auto_tile
from .ort import BROWSER_DIR, CDN_BASE, DIST_DIR, local_dist_available, ort_config, register_types
from .texts import MODEL_HELP, MODEL_LABELS, WEIGHT_LABELS

# The browser's tolerance: onnxruntime-web, ONNX Runtime and PyTorch agree on every 8-bit
# channel value to this many levels (float rounding can tip a value across a level boundary).
BROWSER_MAX_DIFF_LEVELS = 2
# The static page's modules (the Gradio app serves the whole folder, tab.js included).
SITE_MODULES = ("srspace.js", "worker.js", "pipeline.js", "decode.js", "png.js", "viewer.js", "app.js", "style.css",
                "viewer.css")

def _pick(factor: float, sets, table: dict | None, inputs: str = CLEAN) -> dict:
    pick = best_model(factor, sets, table or {}, inputs)
    return {**vars(pick), "note": pick_note(pick, factor, table)}


def _auto_picks(factor: float, weight_sets, table: dict | None, inputs: str = CLEAN) -> dict:
    """What auto runs at ``factor`` on ``inputs``, for "best" (every set) and for each set alone."""
    return {choice: _pick(factor, sets, table, inputs)
            for choice, sets in (("best", weight_sets), *((w, [w]) for w in weight_sets))}


def jpeg_rules(weight_sets, table: dict | None) -> dict:
    """For JPEG inputs: how the page estimates a file's quality from its DQT segment (as
    decoding.jpeg_quality does), which rows of the table then decide (quality_table.input_kind), and
    per such input and measured factor what "best" and auto pick; the notes that say so."""
    kinds = {}
    for kind in (k for k in input_kinds(table) if k != CLEAN):
        factors, _ = gain_grid(table, kind)
        kinds[kind] = {f"{f:g}": {"best": {key: best_set(key, f, weight_sets, table, kind) for key in MODELS},
                                  "auto": _auto_picks(f, weight_sets, table, kind)} for f in factors}
    return {"lumaSum": ANNEX_K_LUMA_SUM, "cleanFrom": JPEG_CLEAN_FROM, "qualities": list(JPEG_QUALITIES),
            "notes": JPEG_NOTES, "photoSet": PHOTO_SET, "kinds": kinds}


def factor_rules(weight_sets, table: dict | None) -> dict:
    """Per factor in steps of the contract's resolution (0.01): p/q, each choice's halo and tile
    sides (a large and a small result's, as tiling.tile_steps uses them), and the weight set
    ``best`` picks per model among ``weight_sets``."""
    rules = {}
    scale = 10 ** FACTOR_DECIMALS
    for step in range(round(MIN_FACTOR * scale), round(MAX_FACTOR * scale) + 1):
        factor = step / scale
        frac = as_fraction(factor)
        rules[f"{factor:.{FACTOR_DECIMALS}f}"] = {
            "p": frac.numerator, "q": frac.denominator,
            "models": {key: {"halo": halo(key, factor), "tile": tile_side(key, factor) or auto_tile(factor),
                             "smallTile": tile_side(key, factor, SMALL_RESULT_PIXELS) or auto_tile(factor)}
                       for key in (*MODELS, BICUBIC_KEY)},
            "best": {key: best_set(key, factor, weight_sets, table or {}) for key in MODELS},
            "auto": _auto_picks(factor, weight_sets, table),
        }
    return rules


def quality_html(table: dict | None, weight_sets) -> str:
    """The quality table of the shipped sets as an HTML table (gain over bicubic, dB)."""
    if not table:
        return "<p>No quality table is shipped with this copy.</p>"
    factors, gain = gain_grid(table)
    head = "".join(f"<th>×{f:g}</th>" for f in factors)
    rows = "".join(
        f"<tr><td>{html.escape(MODEL_LABELS[key])}, {weights}</td>"
        + "".join(f"<td>{signed(gain[key, weights, f])}</td>" for f in factors) + "</tr>"
        for key in MODELS for weights in weight_sets if (key, weights, factors[0]) in gain)
    picks = [best_model(f, weight_sets, table) for f in factors]
    rows += ("<tr><td><b>auto</b> (what the page runs by default)</td>"
             + "".join(f"<td><b>{signed(p.gain)}</b> {html.escape(p.key)}</td>" for p in picks) + "</tr>")
    return (f"<p>Y-PSNR gain over bicubic in dB on {len(table['images'])} held-out photographs "
            f"(more is better; +1 dB is a clearly visible difference at 200%).</p>"
            f"<table><tr><th>model, weights</th>{head}</tr>{rows}</table>")


def browser_config(model_urls: dict[str, dict[str, str]], ort: dict, examples: list[dict] | None = None) -> dict:
    """The config of the browser engine and page. ``model_urls``: per weight set and model key the
    .onnx file's URL; ``ort``: ``ort_config``; ``examples``: the gallery (url, factor, label)."""
    table = load_table()
    sets = [w for w in WEIGHT_SETS if w in model_urls]
    return {
        "choices": list(CHOICES),
        "bicubicKey": BICUBIC_KEY,
        "autoKey": AUTO_KEY,
        "labels": MODEL_LABELS,
        "titles": {key: spec.title for key, spec in MODELS.items()} | {BICUBIC_KEY: "Bicubic", AUTO_KEY: "Auto"},
        "help": MODEL_HELP,
        "specs": {key: {"channels": s.channels, "fixedFactor": s.fixed_factor, "network": s.network, "luma": s.luma}
                  for key, s in MODELS.items()},
        "longTiles": {key: long_tiles(key) for key in (*MODELS, BICUBIC_KEY)},  # pipeline.long_tiles
        "models": {w: {key: {"url": url} for key, url in model_urls[w].items()} for w in sets},
        "weightSets": {w: {"label": WEIGHT_LABELS[w], "text": WEIGHT_SETS[w][0].upper() + WEIGHT_SETS[w][1:] + "."}
                       for w in sets},
        "limits": {"minSide": MIN_SIDE, "maxInputPixels": MAX_INPUT_PIXELS, "maxOutputPixels": MAX_OUTPUT_PIXELS,
                   "minFactor": MIN_FACTOR, "maxFactor": MAX_FACTOR, "factorStep": FACTOR_STEP,
                   "factorDecimals": FACTOR_DECIMALS, "smallResultPixels": SMALL_RESULT_PIXELS},
        "kernel": {"cubicA": CUBIC_A, "antialiasA": ANTIALIAS_A},
        "factors": factor_rules(sets, table),
        "jpeg": jpeg_rules(sets, table),
        "defaults": {"model": AUTO_KEY, "factor": 2.5},
        "examples": examples or [],
        "qualityHtml": quality_html(table, sets),
        "maxDiffLevels": BROWSER_MAX_DIFF_LEVELS,
        "messages": MESSAGES,  # errors.MESSAGES: what both sides say of the same input
        "detailSearch": {"side": DETAIL_SIDE, **DETAIL_SEARCH},  # metrics.detailed_spot's search
        "sixteenBitResult": SIXTEEN_BIT_RESULT,  # contract.keeps_sixteen_bit
        # the result-naming rule (imaging.results.result_name) and the graph's tensors, as the Python side has them
        "resultName": {"hidden": HIDDEN_NAME_CHARACTERS.pattern, "stemBytes": STEM_BYTES, "unnamed": UNNAMED},
        "tensors": {"input": INPUT_NAME, "factor": FACTOR_NAME, "output": OUTPUT_NAME,
                    "factorValue": [None if v == FACTOR_PLACEHOLDER else float(v) for v in factor_tensor_value(FACTOR_PLACEHOLDER)]},
        "ort": ort,
    }


def file_url(path: Path) -> str:
    """The Gradio app's URL of a file it serves."""
    return f"/gradio_api/file={Path(path).resolve()}"


def app_config(models_dir: Path, weight_sets) -> dict:
    """The config for the Gradio app's page: its own file URLs; onnxruntime-web from this server
    when installed, else from the CDN (checked against the pin)."""
    local = local_dist_available()
    urls = {w: {key: file_url(model_path(models_dir, w, key)) for key in set_models(w)} for w in weight_sets}
    examples = [{"url": file_url(EXAMPLES_DIR / name), "factor": factor, "label": label}
                for name, factor, label in GALLERY if (EXAMPLES_DIR / name).exists()]
    return browser_config(urls, ort_config(file_url(DIST_DIR) + "/" if local else CDN_BASE, local), examples)


def static_paths() -> list[Path]:
    """What the Gradio app must serve for the page: the modules, and onnxruntime-web when installed
    (with the types a module script and WebAssembly must be served with)."""
    register_types()
    return [BROWSER_DIR, *([DIST_DIR] if local_dist_available() else [])]


def head_html(models_dir: Path, weight_sets) -> str:
    """The Gradio page's <head> additions: the config, the zoom view's stylesheet and the page's module."""
    config = json.dumps(app_config(models_dir, weight_sets)).replace("</", "<\\/")
    return (f'<link rel="stylesheet" href="{file_url(BROWSER_DIR / "viewer.css")}">\n'
            f"<script>window.SRSPACE_WEB = {config};</script>\n"
            f'<script type="module" src="{file_url(BROWSER_DIR / "tab.js")}"></script>')
