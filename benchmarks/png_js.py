"""The page's PNG code (srspace/web/browser/png.js) against fast-png, the well-kept npm library.

    python benchmarks/png_js.py [--rounds 5] [--side 2000]

In Debian's Chromium, on a page served from 127.0.0.1: each encoder writes the same images
(an 8-bit RGB result and a 16-bit gray one, smooth as an upscaler's output), each decoder
reads both files back; every round runs every variant once (interleaved), medians reported,
file sizes, and every decoded image compared with the original. fast-png (pinned in
package.json's devDependencies, for this benchmark only) deflates with fflate in JavaScript;
png.js uses the browser's own CompressionStream and DecompressionStream.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from srspace.web.ort import BROWSER_DIR  # noqa: E402
from srspace.web.serve import serve_in_thread  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
NODE_MODULES = ROOT / "node_modules"
PAGE = """<!doctype html><meta charset="utf-8">
<script type="importmap">{"imports": {"fflate": "./fflate/esm/browser.js", "iobuffer": "./iobuffer/lib/iobuffer.js"}}</script>
<script type="module">
import * as ours from "./png.js";
import * as fastPng from "./fast-png/lib/index.js";
window.run = async (side, rounds) => {
  const rgb = new Uint8Array(side * side * 3), gray = new Uint16Array(side * side);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {  // smooth, with some texture
    const v = 128 + 60 * Math.sin(x / 37) * Math.cos(y / 23) + 20 * Math.sin((x * y) / 900), i = y * side + x;
    rgb[3 * i] = v; rgb[3 * i + 1] = 255 - v; rgb[3 * i + 2] = (v * 0.7 + x / 20) & 255;
    gray[i] = Math.round(v * 257);
  }
  const images = {"8-bit RGB": [rgb, 3], "16-bit gray": [gray, 1]};
  const encoders = {
    "png.js": async (px, ch) => new Uint8Array(await (await ours.encodePng(side, side, ch, px)).arrayBuffer()),
    "fast-png": async (px, ch) => fastPng.encode({width: side, height: side, data: px, depth: px instanceof Uint16Array ? 16 : 8, channels: ch}),
  };
  const decoders = {"png.js": async (b) => (await ours.decodePng(b)).pixels, "fast-png": async (b) => fastPng.decode(b).data};
  const times = {}, sizes = {}, files = {};
  const time = async (name, fn) => { const t = performance.now(); const r = await fn(); (times[name] ||= []).push(performance.now() - t); return r; };
  for (let round = 0; round < rounds; round++) {
    for (const [image, [px, ch]] of Object.entries(images)) {
      for (const [enc, encode] of Object.entries(encoders)) {
        const file = await time(`encode ${image} ${enc}`, () => encode(px, ch));
        sizes[`${image} ${enc}`] = file.length; files[`${image} ${enc}`] = file;
        for (const [dec, decode] of Object.entries(decoders)) {
          const back = await time(`decode ${image} (${enc}'s file) ${dec}`, () => decode(file));
          if (back.length !== px.length || back.some((v, i) => v !== px[i])) throw new Error(`${dec} misread ${enc}'s ${image}`);
        }
      }
    }
  }
  const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
  return {times: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])), sizes};
};
document.body.dataset.ready = "true";
</script>"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--side", type=int, default=2000, help="image side (px): 2000 is a 4 MP result")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (NODE_MODULES / "fast-png").exists():
        print("fast-png is not installed: run npm ci (it is a devDependency, for this benchmark)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shutil.copy(BROWSER_DIR / "png.js", tmp / "png.js")
        for package, folder in (("fast-png", "lib"), ("fflate", "esm"), ("iobuffer", "lib")):
            shutil.copytree(NODE_MODULES / package / folder, tmp / package / folder)
        (tmp / "index.html").write_text(PAGE)
        server, url = serve_in_thread(tmp, headers={})
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]", state="attached")
            result = page.evaluate("([side, rounds]) => run(side, rounds)", [args.side, args.rounds])
            version = json.loads((NODE_MODULES / "fast-png" / "package.json").read_text())["version"]
            browser.close()
        server.shutdown()
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{args.side}x{args.side} images, median ms of {args.rounds} interleaved rounds (fast-png {version}); "
          "every file read back exactly by both decoders\n")
    print("| step | png.js | fast-png | fast-png / png.js |")
    print("|---|---|---|---|")
    steps = sorted({k.rsplit(" ", 1)[0] for k in result["times"]})
    for step in steps:
        a, b = result["times"][f"{step} png.js"], result["times"][f"{step} fast-png"]
        print(f"| {step} | {a:,.0f} | {b:,.0f} | {b / a:.2f}× |")
    for image in ("8-bit RGB", "16-bit gray"):
        print(f"| file size, {image} | {result['sizes'][f'{image} png.js'] / 1e6:.1f} MB | "
              f"{result['sizes'][f'{image} fast-png'] / 1e6:.1f} MB | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
