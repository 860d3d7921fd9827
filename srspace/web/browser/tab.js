// The Gradio app's page: the Browser tab runs the static site's engine (srspace.js) on the
// visitor's image, beside the server's ONNX Runtime and PyTorch results for the same input,
// model, factor and weights, with the largest difference of every pair; the Upscale tab's
// result also opens in the zoomable before/after view of the static site.
import * as srspace from "./srspace.js";
import { decodePng } from "./png.js";
import { CompareViewer, detailedSpot } from "./viewer.js";

const cfg = window.SRSPACE_WEB;
srspace.configure(cfg);
window.srspace = srspace; // for the console, embedding and the tests

const message = (text) => `<div id="browser-message" class="srspace-browser">${text}</div>`;

async function serverPixels(image) {
  const bytes = new Uint8Array(await (await fetch(image.url)).arrayBuffer());
  const png = await decodePng(bytes);
  return { width: png.width, height: png.height, channels: png.channels, pixels: png.pixels };
}

/** The largest difference over every channel of two images of one layout, in 8-bit levels. */
function maxDiff(a, b) {
  const scale = a.pixels instanceof Uint16Array ? 257 : 1;
  let max = 0;
  for (let i = 0; i < a.pixels.length; i++) max = Math.max(max, Math.abs(a.pixels[i] - b.pixels[i]));
  return Math.round(max / scale);
}

// weights: the set the server resolved for this request; server, torch: its ONNX Runtime and
// PyTorch results (absent past the comparison's size limit); info: its note.
window.srspaceBrowserRun = async (image, key, factor, weights, server, torch, info) => {
  if (!image || !image.url) return [message("Upload an image or pick an example first."), ""];
  // progress in a note of its own: Gradio owns the tab's elements and re-renders them
  const note = document.body.appendChild(Object.assign(document.createElement("div"), {
    id: "browser-progress", textContent: "Running in your browser: loading the model…",
  }));
  note.style.cssText = "position:fixed;bottom:16px;left:50%;transform:translateX(-50%);z-index:1000;padding:8px 14px;" +
    "border-radius:8px;background:#111827;color:#fff;font-size:14px;box-shadow:0 2px 8px #0004";
  try {
    const r = await srspace.upscale(image.url, {
      model: key, factor: Number(factor), weights,
      onProgress: (p) => {
        note.textContent = `Running in your browser: tile ${p.done}/${p.total}, ` +
          (Number.isFinite(p.remaining) ? `about ${Math.ceil(p.remaining)} s left…` : "estimating the time left…");
      },
    });
    const engines = { browser: r };
    if (server && server.url) engines.ort = await serverPixels(server);
    if (torch && torch.url) engines.torch = await serverPixels(torch);
    const names = { browser: "browser", ort: "server ORT", torch: "server PyTorch" };
    const rows = [["browser", "ort"], ["browser", "torch"], ["ort", "torch"]].map(([a, b]) => {
      const id = `browser-maxdiff${a === "browser" && b === "ort" ? "" : `-${a}-${b}`}`;
      if (!engines[a] || !engines[b]) return `| ${names[a]} vs ${names[b]} | not computed | |`;
      const [x, y] = [engines[a], engines[b]];
      if (x.width !== y.width || x.height !== y.height || x.channels !== y.channels) {
        return `| ${names[a]} vs ${names[b]} | differ: ${x.width}x${x.height}x${x.channels} vs ${y.width}x${y.height}x${y.channels} | ✗ |`;
      }
      const d = maxDiff(x, y);
      return `| ${names[a]} vs ${names[b]} | <span id="${id}">${d}</span>/255 | ${d <= cfg.maxDiffLevels ? "✓" : "✗"} |`;
    });
    const url = await new Promise((resolve, reject) => { // Gradio's HTML keeps data: URLs (not blob: ones)
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(r.blob);
    });
    const html = `<figure style="margin:0"><figcaption><b>In your browser</b> (onnxruntime-web)</figcaption>` +
      `<img id="browser-result" alt="browser result" src="${url}" style="width:100%;height:auto"></figure>` +
      `<p><a href="${url}" download="${r.name}">Download ${r.name}</a></p>`;
    const where = cfg.ort.source === "local" ? "served by this app" : "from a public CDN, checked against the pinned hash (run `npm ci` to serve it from this app)";
    const stats = [
      `**Browser**: ${r.width}x${r.height} in **${(r.seconds * 1000).toFixed(0)} ms** (${Math.round(r.msPerMP)} ms per output MP, ` +
      `${r.tiles} tile(s)) on ${r.engine}, ${r.threads} thread(s); the first run includes loading the model.`,
      `**Server**: ${info || ""}`,
      `| engines | difference | agree |\n|---|---|---|\n${rows.join("\n")}`,
      `*browser*: onnxruntime-web in this page; *server ORT*: ONNX Runtime on the server; differences in 8-bit ` +
      `levels; two engines agree when they differ by at most ${cfg.maxDiffLevels}/255.`,
      ...r.notices.map((n) => `- ${n}`),
      `Runtime: <span id="browser-ort-source">${cfg.ort.source}</span>, onnxruntime-web ${cfg.ort.version}, ${where}.`,
    ].join("\n\n");
    return [html, stats];
  } catch (e) {
    return [message(`The browser run failed: ${e && e.message ? e.message : e}`), ""];
  } finally {
    note.remove();
  }
};

let zoom = null;

// The Upscale tab's result in the zoom view: `pair` is the before/after view's value (bicubic,
// result), `download` the result file, whose name says which model ran. The page scrolls to it.
window.srspaceShowZoom = async (download, pair) => {
  const root = document.querySelector("#upscale-zoom-view");
  if (!root || !pair || !pair[0] || !pair[1]) return;
  const bitmaps = await Promise.all(pair.map(async (side) => createImageBitmap(await (await fetch(side.url)).blob())));
  const name = (download && (download.orig_name || download.path || "")) || "";
  const key = cfg.choices.find((k) => name.includes(`_${k}_x`));
  const canvas = new OffscreenCanvas(bitmaps[1].width, bitmaps[1].height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmaps[1], 0, 0);
  const spot = detailedSpot(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height,
                            cfg.detailSearch);
  zoom ||= new CompareViewer(root);
  zoom.show(bitmaps[0], bitmaps[1], ["Bicubic", key ? cfg.titles[key] : "Model"], spot, 2);
  root.scrollIntoView({ behavior: "smooth", block: "center" });
};
