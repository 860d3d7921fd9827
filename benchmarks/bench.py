"""Speed: ONNX Runtime against every engine a user could pick instead, on every model.

    python benchmarks/bench.py [--rounds 5] [--rounds-large 3] [--sizes 1 16] [--json]
    python benchmarks/bench.py --breakdown [--model auto]   # where a 24 MP request's time goes
    python benchmarks/bench.py --png              # our PNG writer against PIL's and OpenCV's

Peers, all on the same tiles of the same input with the same thread count:
ONNX Runtime (the shipped engine and graphs), PyTorch eager, PyTorch channels-last,
torch.compile (inductor, CPU) and OpenCV's dnn module on the same .onnx file (when it can
load it; the table says why not). Every round runs each peer once, interleaved (A B C ... A B C),
with an SGEMM (numpy's OpenBLAS, ``sgemm.py``) measured in the same round; the table gives medians.
GFLOP/s counts each network's nominal work per output pixel (halo recomputation and the
upsample not counted).
Needs ``pip install -r benchmarks/requirements.txt`` for the OpenCV peer.
"""
from __future__ import annotations

import argparse
import copy
import http.server
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from srspace.contract import MODELS, MODELS_DIR, factor_tensor_value, model_path  # noqa: E402
from srspace.runtime.engines import OrtEngine, TorchEngine, default_threads  # noqa: E402
from srspace.buildtime.export import export_all, read_manifest  # noqa: E402
from srspace.runtime.pipeline import drain, halo, tile_side  # noqa: E402
from sgemm import sgemm_gflops  # noqa: E402  (benchmarks/sgemm.py: numpy's OpenBLAS in its own process)
from srspace.runtime.tiling import tile_steps  # noqa: E402
from srspace.models.weights import recorded_state_dicts  # noqa: E402

FACTORS = {"srcnn_dynamic": 2.5, "srcnn_x3": 3.0, "espcn_x2": 2.0, "espcn_x3": 3.0, "espcn_x4": 4.0}
PEERS = ("onnxruntime", "pytorch eager", "pytorch channels-last", "torch.compile", "opencv dnn")


def kflop_per_output_pixel(key: str, factor: float) -> float:
    """Nominal multiply-adds x 2 per output pixel (halo and upsample not counted): SRCNN works at
    the output's resolution, ESPCN at the input's (its work per output pixel falls with r²)."""
    if MODELS[key].network == "srcnn":
        return 2 * (9 * 9 * 3 * 64 + 64 * 32 + 5 * 5 * 32 * 3) / 1000  # 40.0
    r = MODELS[key].fixed_factor
    return 2 * (5 * 5 * 64 + 9 * 64 * 64 + 9 * 64 * 32 + 9 * 32 * r * r) / (r * r) / 1000  # x3: 13.2


class Peer:
    """One engine's network for one model: ``fn(tile) -> output`` or the reason it cannot run."""

    def __init__(self, name: str, fn=None, reason: str = ""):
        self.name, self.fn, self.reason = name, fn, reason


def torch_fn(module, key: str, factor: float, channels_last: bool = False):
    scales = torch.from_numpy(factor_tensor_value(factor))

    def run(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x)
        if channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = module(t, scales) if MODELS[key].dynamic else module(t)
        return out.contiguous().numpy()

    return run


def opencv_peer(path: Path, key: str, factor: float) -> Peer:
    try:
        import cv2
    except ImportError:
        return Peer("opencv dnn", reason="not installed (pip install -r benchmarks/requirements.txt)")
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        net = cv2.dnn.readNetFromONNX(str(path))
    except cv2.error as exc:  # its new parser has no Col2Im; the older one it falls back to fails on Shape
        text = str(exc)
        why = ("no Col2Im, no shapes computed at run time" if "DynamicShape" in text
               else text.strip().splitlines()[-1].strip("> ")[:90])
        return Peer("opencv dnn", reason=f"cannot load this graph: {why}")

    def run(x: np.ndarray) -> np.ndarray:
        net.setInput(x, "input")
        if MODELS[key].dynamic:
            net.setInput(factor_tensor_value(factor), "factor")
        return net.forward()

    try:
        run(np.zeros((1, MODELS[key].channels, 24, 24), np.float32))
    except cv2.error as exc:
        return Peer("opencv dnn", reason=f"cannot run this graph: {str(exc).strip().splitlines()[-1][:90]}")
    return Peer("opencv dnn", run)


def peers_for(key: str, factor: float, ort_engine: OrtEngine, torch_engine: TorchEngine, path: Path) -> list[Peer]:
    module = torch_engine.modules[key]
    last = copy.deepcopy(module).to(memory_format=torch.channels_last)
    compiled = torch.compile(copy.deepcopy(module), dynamic=False)
    net = MODELS[key].network_factor(factor)
    return [
        Peer("onnxruntime", lambda x: ort_engine.run(key, x, net)),
        Peer("pytorch eager", torch_fn(module, key, net)),
        Peer("pytorch channels-last", torch_fn(last, key, net, channels_last=True)),
        Peer("torch.compile", torch_fn(compiled, key, net)),
        opencv_peer(path, key, net),
    ]


def measure(models_dir: Path, weights: str, sizes, rounds: dict, threads: int) -> dict:
    torch.set_num_threads(threads)
    manifest = read_manifest(models_dir)
    ort_engine = OrtEngine(models_dir / weights, threads=threads)
    torch_engine = TorchEngine.from_state_dicts(recorded_state_dicts(manifest, weights))
    rows, sgemm = [], []
    rng = np.random.default_rng(0)
    for mp in sizes:
        for key, factor in FACTORS.items():
            spec = MODELS[key]
            side = round((mp * 1e6) ** 0.5 / factor)
            batch = rng.random((1, spec.channels, side, side), dtype=np.float32)
            net = MODELS[key].network_factor(factor)
            peers = peers_for(key, factor, ort_engine, torch_engine, model_path(models_dir, weights, key))
            runnable = [p for p in peers if p.fn]

            def run(peer: Peer) -> np.ndarray:
                return drain(tile_steps(peer.fn, batch, net, halo(key, net), tile_side(key, net)))  # the app's tiles

            reference = run(runnable[0])
            for peer in runnable[1:]:  # warm-up (torch.compile compiles here) and a sanity check
                out = run(peer)
                if out.shape != reference.shape or float(np.abs(out - reference).max()) > 1e-3:
                    peer.fn, peer.reason = None, f"differs from ONNX Runtime by {float(np.abs(out - reference).max()):.1e}"
            times = {p.name: [] for p in peers if p.fn}
            for _ in range(rounds[mp]):
                sgemm.append(sgemm_gflops(threads))
                for peer in peers:
                    if peer.fn:
                        start = time.perf_counter()
                        run(peer)
                        times[peer.name].append(time.perf_counter() - start)
            out_pixels = reference.shape[2] * reference.shape[3]
            gflop = kflop_per_output_pixel(key, factor) * out_pixels / 1e6
            row = {"model": key, "factor": factor, "input": f"{side}x{side}", "output_mp": out_pixels / 1e6, "gflop": gflop,
                   "ms": {p.name: (statistics.median(times[p.name]) * 1e3 if p.fn else None) for p in peers},
                   "why_not": {p.name: p.reason for p in peers if not p.fn}}
            rows.append(row)
            print(f"  measured {key} at {mp} MP", file=sys.stderr)
    rate = statistics.median(sgemm)
    for row in rows:
        ort_ms = row["ms"]["onnxruntime"]
        row["ort_gflops"] = row["gflop"] / (ort_ms / 1e3)
        row["ort_pct_sgemm"] = 100 * row["ort_gflops"] / rate
    return {"sgemm_gflops": rate, "rows": rows}


def breakdown(models_dir: Path, key: str = "srcnn_dynamic", factor: float = 2.0, size=(3000, 2000)) -> dict:
    """Where a 24 MP request's time goes, through the app's own code: decode, network, previews
    (the result's and the bicubic one), PNG encode, and the PNG's transfer over loopback HTTP."""
    from PIL import Image

    from srspace.imaging.results import encode
    from srspace.imaging.decoding import load_image
    from srspace.service.upscaler import Upscaler

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from load import photo  # the load script's synthetic photograph

    upscaler = Upscaler(models_dir)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo.png"
        photo(*size, seed=0).save(src)
        start = time.perf_counter()
        load_image(src)
        decode = time.perf_counter() - start
        start = time.perf_counter()
        result = upscaler.upscale(src, key, factor)
        total_upscale = time.perf_counter() - start
        start = time.perf_counter()
        data = encode(result.image, "png")
        encode_s = time.perf_counter() - start
        (Path(tmp) / "out.png").write_bytes(data)
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: Quiet(*a, directory=tmp, **k))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        import requests

        start = time.perf_counter()
        body = requests.get(f"http://127.0.0.1:{server.server_port}/out.png", timeout=60).content
        transfer = time.perf_counter() - start
        server.shutdown()
        assert len(body) == len(data)
        Image.open(io.BytesIO(body)).verify()
    network = result.seconds
    rest = total_upscale - network - decode  # previews, alpha, conversion to PIL
    total = decode + network + rest + encode_s + transfer
    ran = key if key == result.key else f"{key}: {result.key}, {result.weights}"
    return {"model": ran, "factor": factor, "input": f"{size[0]}x{size[1]}", "output": f"{result.image.width}x{result.image.height}",
            "decode_s": decode, "network_s": network, "previews_s": rest, "encode_s": encode_s, "transfer_s": transfer,
            "png_mb": len(data) / 1e6, "total_s": total, "total_over_network": total / network}


ZEN = {(25, False): "Zen 3", (25, True): "Zen 4", (26, True): "Zen 5"}  # AMD family 19h/1Ah, with AVX-512 or not


def cpu_model() -> str:
    """The CPU as the kernel reports it, with what sets its speed here: family and model, AMD's
    core generation, and the widest vector instructions (a VM may call it just "AMD EPYC")."""
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return platform.processor() or platform.machine()
    info = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
    info = {key.strip(): value.strip() for key, value in info.items()}
    flags = set(info.get("flags", "").split())
    simd = ("AVX-512" if "avx512f" in flags else "AVX2 + FMA" if {"avx2", "fma"} <= flags else "SSE")
    simd += "".join(f", {name}" for flag, name in (("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16")) if flag in flags)
    family, model = info.get("cpu family", "?"), info.get("model", "?")
    generation = ZEN.get((int(family), "avx512f" in flags), "") if info.get("vendor_id") == "AuthenticAMD" and family.isdigit() else ""
    return (f"{info.get('model name', platform.machine())} (family {family} model {model}"
            f"{', ' + generation if generation else ''}; {simd})")


def png_writers(rounds: int = 3, threads: int | None = None) -> dict:
    """Our PNG writer (srspace/imaging/png.py) against PIL's and OpenCV's encoders on 24 MP results
    (gallery photographs upscaled bicubically, as smooth as a network's output): median seconds
    over interleaved rounds and file sizes; every file is decoded back and compared."""
    import cv2
    from PIL import Image

    from srspace.contract import EXAMPLES_DIR
    from srspace.imaging.png import encode_png

    threads = threads or default_threads()

    def pil(level):
        def write(rgb):
            out = io.BytesIO()
            Image.fromarray(rgb).save(out, "PNG", compress_level=level)
            return out.getvalue()
        return write

    def opencv(level, strategy=None):
        params = [cv2.IMWRITE_PNG_COMPRESSION, level] + ([cv2.IMWRITE_PNG_STRATEGY, strategy] if strategy is not None else [])

        def write(rgb):
            ok, data = cv2.imencode(".png", rgb[..., ::-1], params)
            assert ok
            return data.tobytes()
        return write

    writers = {"ours, every core": lambda rgb: encode_png(rgb, threads), "ours, 1 thread": lambda rgb: encode_png(rgb, 1),
               "PIL level 1": pil(1), "PIL level 6 (default)": pil(6), "OpenCV level 1": opencv(1),
               "OpenCV level 1, RLE": opencv(1, cv2.IMWRITE_PNG_STRATEGY_RLE), "OpenCV default": opencv(3)}
    images = {}
    for name in ("chelsea.png", "coffee.png", "text.png"):
        with Image.open(EXAMPLES_DIR / name) as img:
            w, h = img.size
            scale = (24e6 / (w * h)) ** 0.5
            images[name] = np.asarray(img.convert("RGB").resize((round(w * scale), round(h * scale)), Image.BICUBIC))
    seconds = {(w, i): [] for w in writers for i in images}
    size = {}
    for _ in range(rounds):
        for image, rgb in images.items():
            for writer, write in writers.items():
                start = time.perf_counter()
                data = write(rgb)
                seconds[writer, image].append(time.perf_counter() - start)
                size[writer, image] = len(data)
                if len(seconds[writer, image]) == 1:
                    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), rgb), writer
    return {"threads": threads, "images": {i: f"{rgb.shape[1]}x{rgb.shape[0]}" for i, rgb in images.items()},
            "rows": [{"writer": w, "seconds": {i: statistics.median(seconds[w, i]) for i in images},
                      "mb": {i: size[w, i] / 1e6 for i in images}} for w in writers]}


def print_png_table(result: dict) -> None:
    images = list(result["images"])
    print(f"PNG writers on {', '.join(f'{i} upscaled to {s}' for i, s in result['images'].items())} "
          f"({result['threads']} threads for ours); median seconds, MB")
    print("| writer | " + " | ".join(images) + " | speed, PIL level 1 = 1 | size, PIL level 1 = 1 |")
    print("|---|" + "---|" * len(images) + "---|---|")
    base = next(r for r in result["rows"] if r["writer"] == "PIL level 1")
    for r in result["rows"]:
        speed = statistics.median(base["seconds"][i] / r["seconds"][i] for i in images)
        size = sum(r["mb"].values()) / sum(base["mb"].values())
        cells = [f"{r['seconds'][i]:.2f} s, {r['mb'][i]:.1f} MB" for i in images]
        print(f"| {r['writer']} | " + " | ".join(cells) + f" | {speed:.1f}× | {size:.2f}× |")


def print_table(result: dict, threads: int) -> None:
    print(f"SGEMM (numpy's OpenBLAS, benchmarks/sgemm.py): {result['sgemm_gflops']:.0f} GFLOP/s on {threads} threads "
          "(median over all rounds, measured between runs)")
    print("| model | output | " + " | ".join(PEERS) + " | ORT GFLOP/s | ORT % of SGEMM |")
    print("|---|---|" + "---|" * len(PEERS) + "---|---|")
    for r in result["rows"]:
        best_peer = min((v for k, v in r["ms"].items() if v and k != "onnxruntime"), default=None)
        cells = []
        for peer in PEERS:
            ms = r["ms"].get(peer)
            if ms is None:
                cells.append("– (" + r["why_not"].get(peer, "n/a") + ")")
            else:
                cells.append(f"**{ms:,.0f} ms**" if peer == "onnxruntime" else f"{ms:,.0f} ms")
        lead = f" ({best_peer / r['ms']['onnxruntime']:.2f}× the best peer)" if best_peer else ""
        print(f"| {r['model']} ×{r['factor']:g} | {r['output_mp']:.1f} MP | " + " | ".join(cells)
              + f" | {r['ort_gflops']:.0f}{lead} | {r['ort_pct_sgemm']:.0f}% |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds at 1 MP")
    parser.add_argument("--rounds-large", type=int, default=3, help="interleaved rounds at 16 MP")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0, 16.0], help="output megapixels")
    parser.add_argument("--weights", default="bundled", choices=("bundled", "official"))
    parser.add_argument("--breakdown", action="store_true", help="only the 24 MP request breakdown")
    parser.add_argument("--model", default="srcnn_dynamic", choices=("auto", *MODELS),
                        help="with --breakdown: the model the request asks for (default: srcnn_dynamic)")
    parser.add_argument("--png", action="store_true", help="only the PNG writers (needs benchmarks/requirements.txt)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.png:
        result = png_writers(args.rounds_large, args.threads)
        print(json.dumps(result, indent=2)) if args.json else print_png_table(result)
        return 0
    export_all(MODELS_DIR, weights=os.environ.get("SRSPACE_WEIGHTS", "auto"), log=lambda *_: None)
    info = {"cpu": cpu_model(), "threads": args.threads, "torch": torch.__version__,
            "onnxruntime": ort.__version__}
    if args.breakdown:
        result = breakdown(MODELS_DIR, args.model)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"{result['input']} x{result['factor']:g} {result['model']} -> {result['output']} "
                  f"({result['png_mb']:.0f} MB PNG):")
            for part, label in (("decode", "decode"), ("network", "network"), ("previews", "baseline and previews"),
                                ("encode", "PNG encode"), ("transfer", "transfer")):
                print(f"  {label:21s} {result[part + '_s']:6.2f} s")
            print(f"  {'total':21s} {result['total_s']:6.2f} s = {result['total_over_network']:.2f}x the network's own time")
        return 0
    rounds = {mp: (args.rounds if mp < 4 else args.rounds_large) for mp in args.sizes}
    result = measure(MODELS_DIR, args.weights, args.sizes, rounds, args.threads) | {"machine": info, "rounds": rounds}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"CPU: {info['cpu']}; torch {info['torch']}, onnxruntime {info['onnxruntime']}")
        print_table(result, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
