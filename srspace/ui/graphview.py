"""A picture of an exported ONNX graph, drawn from the file itself with Graphviz.

Operators are boxes (with their weight shapes), graph inputs and outputs are ellipses, and
every edge carries its tensor's shape as ONNX shape inference gives it, symbolic dims
included (``batch×3×height×width``). Graphviz's ``dot`` comes from the system (Debian's
``graphviz``; a Space installs it from ``packages.txt``).
"""
from __future__ import annotations

import hashlib
import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import onnx

COLORS = {"Conv": "#dbe4ff", "DepthToSpace": "#ffe8cc", "Relu": "#e6fcf5", "MatMul": "#ffe8cc",
          "Col2Im": "#dbe4ff", "interp": "#fff3bf"}
MATRICES = "interp"  # the collapsed box of every op that builds the interpolation matrices


class GraphViewError(RuntimeError):
    """The picture cannot be drawn here; the message says what to install."""


def _shape(value_info) -> str:
    dims = value_info.type.tensor_type.shape.dim
    return "×".join(d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?") for d in dims)


def to_dot(path: Path) -> str:
    """The DOT source of the ONNX graph in ``path``."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    weights = {init.name: "×".join(map(str, init.dims)) for init in graph.initializer}
    shapes = {v.name: _shape(v) for v in [*graph.input, *graph.value_info, *graph.output]}
    # shape inference names the resized sides itself (u0, unk__1): call them what the output calls them
    out_dims = [d.dim_param for d in graph.output[0].type.tensor_type.shape.dim]
    for name, shape in shapes.items():
        dims = shape.split("×") if shape else []
        if len(dims) == len(out_dims):
            dims = [o if re.fullmatch(r"(u|unk__)\d+", d) and o else d for d, o in zip(dims, out_dims)]
        shapes[name] = "×".join(dims) if dims else "scalar"
    lines = ["digraph onnx {", 'rankdir=TB; bgcolor="transparent";',
             'node [fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    producer = {}
    for v in graph.input:
        lines.append(f'"in:{v.name}" [label="{v.name}\\n{shapes[v.name]}", shape=ellipse, style=filled, fillcolor="#fff3bf"];')
        producer[v.name] = f"in:{v.name}"
    # Ops that see the image only through its Shape compute sizes and interpolation weights from
    # the factor: dozens of scalar ops, drawn as one box so the picture stays readable.
    image_path = {graph.input[0].name}
    collapsed = []
    for node in graph.node:
        if node.op_type != "Shape" and any(name in image_path for name in node.input):
            image_path.update(node.output)
        else:
            collapsed.append(node)
    if len(collapsed) > 3:
        dynamic = len(graph.input) > 1
        what = ("cubic interpolation matrices (a=-0.75),\\nsizes and gain g(s), from factor and input shape" if dynamic
                else "sizes, from the input shape")
        lines.append(f'"{MATRICES}" [label="{what}\\n({len(collapsed)} small ops)", shape=box, style="rounded,filled", '
                     f'fillcolor="{COLORS[MATRICES]}"];')
        for node in collapsed:
            producer.update({name: MATRICES for name in node.output})
    else:
        collapsed = []
    drawn = [(i, node) for i, node in enumerate(graph.node) if node not in collapsed]
    for i, node in drawn:
        params = [weights[name] for name in node.input if name in weights and weights[name]]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        label = node.op_type + "".join(f"\\n{p}" for p in params[:1])
        if node.op_type == "DepthToSpace":
            label += f"\\nblocksize {attrs.get('blocksize')}"
        color = COLORS.get(node.op_type, "#f1f3f5")
        lines.append(f'"n{i}" [label="{label}", shape=box, style="rounded,filled", fillcolor="{color}"];')
        for name in node.output:
            producer[name] = f"n{i}"
    edges = set()
    for node in collapsed:  # what feeds the box: the factor and the input's shape
        edges.update((producer[name], MATRICES, "") for name in node.input if producer.get(name, MATRICES) != MATRICES)
    for i, node in drawn:
        for name in node.input:
            if name in producer:
                edges.add((producer[name], f"n{i}", shapes.get(name, "") if producer[name] != MATRICES else ""))
    lines += [f'"{a}" -> "{b}" [label="{html.escape(label)}"];' for a, b, label in sorted(edges)]
    for v in graph.output:
        lines.append(f'"out:{v.name}" [label="{v.name}\\n{shapes[v.name]}", shape=ellipse, style=filled, fillcolor="#d3f9d8"];')
        lines.append(f'"{producer[v.name]}" -> "out:{v.name}";')
    lines.append("}")
    return "\n".join(lines)


def render_svg(path: Path, cache: Path | None = None) -> str:
    """The graph in ``path`` as SVG text, cached in ``cache`` (default: a folder of the system's
    temp dir; never beside the model, where the app serves files) as ``<hash of the DOT>.svg``."""
    path = Path(path)
    source = to_dot(path)
    folder = Path(cache) if cache is not None else Path(tempfile.gettempdir()) / "srspace-graphs"
    cached = folder / f"{path.stem}.{hashlib.sha256(source.encode()).hexdigest()[:12]}.svg"
    if cached.exists():
        return cached.read_text()
    dot = shutil.which("dot")
    if dot is None:
        raise GraphViewError("Graphviz is not installed here (apt-get install graphviz), so the graph cannot be drawn.")
    run = subprocess.run([dot, "-Tsvg"], input=source, capture_output=True, text=True, timeout=60, check=False)
    if run.returncode != 0:
        raise GraphViewError(f"Graphviz could not draw {path.name}: {run.stderr.strip()[:200]}")
    svg = run.stdout[run.stdout.find("<svg"):]  # no XML prolog: the SVG is inlined in the page
    folder.mkdir(parents=True, exist_ok=True)
    cached.write_text(svg)
    return svg
