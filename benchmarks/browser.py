"""The in-browser engine against the server's: ms per output megapixel for every model.

    python benchmarks/browser.py [--rounds 3] [--size 512] [--large] [--json]

Builds the static site into a temporary folder, serves it on 127.0.0.1 with its isolation
headers and runs it in Debian's Chromium: WASM on 1 thread, WASM on every core, and WebGPU
when Chromium finds an adapter (headless, without a GPU, it finds none: the row says so).
Beside them, the server's ONNX Runtime on the same image through the same pipeline, on 1
thread and on every core, and the SGEMM rate, all interleaved: one run of each per round,
medians reported, model loading not counted. ``--large`` also runs a 24 MP result in the page
and samples the tab's memory (the RSS of Chromium's renderer processes, from /proc).

The page's own ceiling, in the same rounds: a 1024³ MatMul in onnxruntime-web (the page's pinned
copy, on the page's thread count). Its one-thread rate times the threads is the ceiling each
model's network time (the graphs only, nominal work as bench.py counts it) is a share of; the
server's ORT on the same threads gives the browser's distance from it.
"""
from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from srspace.contract import MODELS_DIR  # noqa: E402
from srspace.runtime.engines import OrtEngine, default_threads  # noqa: E402
from srspace.imaging.decoding import load_image  # noqa: E402
from srspace.runtime.pipeline import upscale_array  # noqa: E402
from srspace.web.serve import serve_in_thread  # noqa: E402
from srspace.web.site import build_site  # noqa: E402
from sgemm import sgemm_gflops  # noqa: E402  (numpy's OpenBLAS in its own process)
from bench import kflop_per_output_pixel  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CASES = (("srcnn_dynamic", 2.5), ("srcnn_x3", 3.0), ("espcn_x2", 2.0), ("espcn_x3", 3.0), ("espcn_x4", 4.0))
GEMM_N = 1024
WEIGHTS = "bundled"


def photo(side: int, path: Path) -> Path:
    import skimage.data

    Image.fromarray(skimage.data.astronaut()).resize((side, side), Image.BICUBIC).save(path)
    return path


UPSCALE_JS = """async ([data, name, options]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const r = await srspace.upscale(new File([bytes], name), options);
  return {seconds: r.seconds, graph: r.graphSeconds, mp: r.width * r.height / 1e6, engine: r.engine, threads: r.threads, tiles: r.tiles};
}"""


GEMM_JS = """async ([threads, repeats, n]) => {
  const cfg = srspace.getConfig();
  if (!window.gemmOrt) {
    const ort = await import(new URL(cfg.ort.wasm, new URL(cfg.ort.base, location.href)).href);
    ort.env.wasm.wasmPaths = new URL(cfg.ort.base, location.href).href;
    ort.env.wasm.numThreads = threads;
    ort.env.logLevel = "error";
    window.gemmOrt = ort;
    window.gemmSession = await ort.InferenceSession.create("gemm.onnx", {executionProviders: ["wasm"]});
  }
  const ort = window.gemmOrt;
  const a = new ort.Tensor("float32", Float32Array.from({length: n * n}, (_, i) => (i % 97) / 97), [n, n]);
  const feeds = {a, b: a};
  await window.gemmSession.run(feeds);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const begun = performance.now();
    await window.gemmSession.run(feeds);
    times.push(performance.now() - begun);
  }
  times.sort((x, y) => x - y);
  return 2 * n ** 3 / (times[times.length >> 1] / 1000) / 1e9;
}"""


def write_gemm_model(path: Path, n: int = GEMM_N) -> None:
    """An ONNX graph of one n x n MatMul, a @ b."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


class Page:
    """One browser context of the site: an engine configuration (threads, WebGPU or not)."""

    def __init__(self, browser, url: str, threads: int, engine: str):
        self.page = browser.new_page()
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        self.info = self.page.evaluate("""async ([threads, engine]) => {
            srspace.configure(srspace.getConfig(), {threads, engine}); return await srspace.info(); }""", [threads, engine])

    def run(self, data: str, name: str, key: str, factor: float) -> dict:
        return self.page.evaluate(UPSCALE_JS, [data, name, {"model": key, "factor": factor, "weights": WEIGHTS}])

    def gemm_gflops(self, threads: int, repeats: int = 3) -> float:
        """A GEMM_N³ MatMul (gemm.onnx beside the page) in onnxruntime-web on ``threads`` threads, on
        this page's main thread (its own onnxruntime-web instance): GFLOP/s of the median run."""
        return self.page.evaluate(GEMM_JS, [threads, repeats, GEMM_N])


def renderer_rss_mb() -> dict[int, float]:
    """RSS of every Chromium renderer process, MB."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            if b"chromium" not in cmd or b"--type=renderer" not in cmd:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[int(proc.name)] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return out


def large_run(browser, url: str, tmp: Path) -> dict:
    """A 24 MP result in the page (srcnn_dynamic x2 of a 2828x2121 photo), the renderers' peak RSS sampled."""
    import skimage.data

    path = tmp / "large.png"
    Image.fromarray(skimage.data.coffee()).resize((2828, 2121), Image.BICUBIC).save(path)
    page = Page(browser, url, 0, "auto")
    before = renderer_rss_mb()
    peak, stop = {}, threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid, mb in renderer_rss_mb().items():
                peak[pid] = max(peak.get(pid, 0.0), mb)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    try:
        result = page.page.evaluate("""async ([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const begun = performance.now();
            const r = await srspace.upscale(new File([bytes], name), {model: 'srcnn_dynamic', factor: 2, baseline: true});
            return {seconds: r.seconds, total: (performance.now() - begun) / 1000, width: r.width, height: r.height,
                    tiles: r.tiles, png_mb: r.blob.size / 1e6, threads: r.threads};
        }""", [base64.b64encode(path.read_bytes()).decode(), path.name])
    finally:
        stop.set()
        sampler.join()
    result["wall"] = time.perf_counter() - start
    grown = {pid: mb - before.get(pid, 0.0) for pid, mb in peak.items()}
    tab = max(grown, key=grown.get)  # the renderer that grew: the tab (its worker runs in it)
    result["tab_peak_rss_mb"] = peak[tab]
    result["tab_rss_before_mb"] = before.get(tab, 0.0)
    page.page.close()
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=512, help="input side (px); the ESPCN/SRCNN outputs are 1.6-2.4 MP")
    parser.add_argument("--large", action="store_true", help="also a 24 MP result, with the tab's peak memory")
    parser.add_argument("--software-webgpu", action="store_true",
                        help="time WebGPU on a software adapter too (SwiftShader: very slow; use --size 128)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        build_site(tmp / "site", MODELS_DIR)
        write_gemm_model(tmp / "site" / "gemm.onnx")
        server, url = serve_in_thread(tmp / "site")
        image_path = photo(args.size, tmp / "photo.png")
        data = base64.b64encode(image_path.read_bytes()).decode()
        arr = load_image(image_path).pixels
        cores = default_threads()
        servers = {"server ORT, 1 thread": OrtEngine(MODELS_DIR / WEIGHTS, threads=1),
                   f"server ORT, {cores} threads": OrtEngine(MODELS_DIR / WEIGHTS, threads=cores)}
        results: dict[str, dict[str, list[float]]] = {}
        graph_rate: dict[str, dict[str, list[float]]] = {}  # GFLOP/s of the page's network time
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            webgpu = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                       args=["--no-sandbox", "--enable-unsafe-webgpu"])
            pages = {"browser WASM, 1 thread": Page(browser, url, 1, "wasm"),
                     f"browser WASM, {cores} threads": Page(browser, url, cores, "wasm")}
            gpu = Page(webgpu, url, cores, "webgpu" if args.software_webgpu else "auto")
            notes = {}
            if gpu.info["engine"] == "webgpu":
                pages["browser WebGPU"] = gpu
            else:  # a software adapter (SwiftShader) is skipped unless --software-webgpu: ~100x slower than WASM
                notes["browser WebGPU"] = gpu.info.get("fallback") or "no adapter"
            for page in pages.values():  # warm-up: sessions made, model loading not counted below
                for key, factor in CASES:
                    page.run(data, image_path.name, key, factor)
            gflops, page_gemm = [], {name: [] for name in pages}
            for _ in range(args.rounds):
                gflops.append(sgemm_gflops(cores))
                for name, page in pages.items():
                    page_gemm[name].append(page.gemm_gflops(page.info["threads"]))
                for key, factor in CASES:
                    for name, page in pages.items():
                        r = page.run(data, image_path.name, key, factor)
                        results.setdefault(name, {}).setdefault(key, []).append(r["seconds"] * 1000 / r["mp"])
                        graph_rate.setdefault(name, {}).setdefault(key, []).append(
                            kflop_per_output_pixel(key, factor) * r["mp"] / r["graph"])
                    for name, engine in servers.items():
                        start = time.perf_counter()
                        out = upscale_array(engine, key, arr, factor, dtype=np.uint8)
                        ms = (time.perf_counter() - start) * 1000
                        results.setdefault(name, {}).setdefault(key, []).append(ms / (out.shape[0] * out.shape[1] / 1e6))
            large = large_run(browser, url, tmp) if args.large else None
            browser.close()
            webgpu.close()
        server.shutdown()
    medians = {name: {key: statistics.median(v) for key, v in per.items()} for name, per in results.items()}
    one = statistics.median(page_gemm["browser WASM, 1 thread"])
    ceiling = {name: {"threads": pages[name].info["threads"], "gemm_gflops": statistics.median(v),
                      "ceiling_gflops": one * pages[name].info["threads"]} for name, v in page_gemm.items()}
    shares = {name: {key: statistics.median(v) / ceiling[name]["ceiling_gflops"] for key, v in per.items()}
              for name, per in graph_rate.items()}
    summary = {"size": args.size, "rounds": args.rounds, "sgemm_gflops": statistics.median(gflops), "ms_per_mp": medians,
               "page_gemm": ceiling, "share_of_page_ceiling": shares, "notes": notes, "large": large}
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"ms per output MP, {args.size}x{args.size} input, median of {args.rounds} rounds "
          f"(SGEMM {summary['sgemm_gflops']:.0f} GFLOP/s on {cores} threads, same rounds)\n")
    print("| engine | " + " | ".join(f"`{k}` ×{f:g}" for k, f in CASES) + " |")
    print("|---|" + "---|" * len(CASES))
    for name, per in medians.items():
        print(f"| {name} | " + " | ".join(f"{per[k]:,.0f}" for k, _ in CASES) + " |")
    for name, note in notes.items():
        print(f"| {name} | " + " | ".join(note for _ in CASES) + " |")
    print(f"\nThe page's ceiling: onnxruntime-web's {GEMM_N}³ MatMul "
          + ", ".join(f"{c['gemm_gflops']:.1f} GFLOP/s on {c['threads']} thread(s)" for c in ceiling.values())
          + "; ceiling = the 1-thread rate x threads. Each network's share of it (graph time only), and the "
          "browser's time over the server ORT's on the same threads:\n")
    print("| page | " + " | ".join(f"`{k}` ×{f:g}" for k, f in CASES) + " |")
    print("|---|" + "---|" * len(CASES))
    for name, per in shares.items():
        threads = ceiling[name]["threads"]
        server = medians.get("server ORT, 1 thread" if threads == 1 else f"server ORT, {threads} threads")
        cells = [f"{100 * per[k]:.0f}%" + (f", {medians[name][k] / server[k]:.1f}× the server" if server else "")
                 for k, _ in CASES]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if large:
        print(f"\n24 MP in the page: {large['width']}x{large['height']} from 2828x2121 (srcnn_dynamic x2, "
              f"{large['tiles']} tiles, {large['threads']} threads): network {large['seconds']:.1f} s, "
              f"all {large['total']:.1f} s (decode, bicubic view, PNG {large['png_mb']:.0f} MB); "
              f"tab peak RSS {large['tab_peak_rss_mb']:.0f} MB (from {large['tab_rss_before_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
