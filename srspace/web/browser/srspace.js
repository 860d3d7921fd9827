// The in-browser upscaler's whole API, for the static site, the Gradio app's Browser tab,
// embedding and tests:
//
//   import * as srspace from "./srspace.js";
//   srspace.configure(config);                       // the site's config.json (srspace/web/config.py)
//   const r = await srspace.upscale(fileOrBlobOrUrl, {model, factor, weights, onProgress, signal});
//   r.blob (PNG), r.name, r.width, r.height, r.engine, r.threads, r.seconds, r.msPerMP, r.notices
//
// The networks run in a Web Worker (worker.js) on tiles, so any size runs in bounded memory
// without freezing the page; `signal` (an AbortSignal) stops the work within one tile.
import { checkFactor, ImageInputError, jpegQuality, say, unknownModel } from "./decode.js";
import { factorKey } from "./pipeline.js";

export { ImageInputError };

let config = null;
let options = { threads: 0, engine: "auto" };
let worker = null;
let ready = null;
let nextId = 1;
const pending = new Map();

/** Set the config (and, optionally, {threads, engine}); a running worker is replaced. `engine`: "auto"
 * (WebGPU when a hardware adapter exists, else WASM), "wasm", or "webgpu" (any adapter, software ones too). */
export function configure(cfg, opts = {}) {
  const baseUrl = cfg.baseUrl || document.baseURI;
  config = { ...cfg, baseUrl, ort: { ...cfg.ort, base: new URL(cfg.ort.base, baseUrl).href } };
  options = { ...options, ...opts };
  if (worker) worker.terminate();
  for (const job of pending.values()) job.reject(new DOMException("the upscaler was reconfigured", "AbortError"));
  pending.clear();
  worker = null;
  ready = null;
}

export const getConfig = () => config;

function start() {
  if (!config) throw new Error("srspace.configure(config) must be called first");
  if (ready) return ready;
  worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  ready = new Promise((resolve, reject) => {
    worker.onerror = (e) => reject(new Error(`the upscaler's worker failed to start: ${e.message || "see the console"}`));
    worker.onmessage = (event) => {
      const msg = event.data, job = pending.get(msg.id);
      if (msg.type === "ready") resolve(msg);
      else if (msg.type === "error" && msg.id === undefined) reject(new Error(msg.message));
      else if (!job) return;
      else if (msg.type === "progress") job.progress(msg);
      else if (msg.type === "result") job.resolve(msg);
      else if (msg.type === "error") {
        job.reject(msg.name === "AbortError" ? new DOMException("The upscale was cancelled.", "AbortError")
          : msg.name === "ImageInputError" ? new ImageInputError(msg.message) : new Error(msg.message));
      }
    };
  });
  ready.catch(() => { ready = null; });
  worker.postMessage({ type: "init", config, threads: options.threads, engine: options.engine });
  return ready;
}

/** What runs here: {engine: "webgpu" | "wasm", threads, isolated, cores, fallback}. */
export const info = () => start();

/** The weight set "best" means for `key` at `factor`: the quality table's choice among the shipped sets. */
export function bestWeights(key, factor) {
  return config.factors[factorKey(config, factor)].best[key];
}

/** The server's result name, by the config's rule (srspace/imaging/results.py: result_name):
 * <stem>_<model>_x<factor>.png, the stem without control or direction characters and leading
 * dots or spaces, cut to `stemBytes` bytes of UTF-8. */
export function resultName(name, key, factor) {
  const rule = config.resultName;
  const base = String(name || "").replace(/^.*\//, "");  // as Path(name).name on the server
  const dot = base.lastIndexOf(".");  // Python's Path.stem: ".png" and "a." keep their dots
  let stem = dot > 0 && dot < base.length - 1 ? base.slice(0, dot) : base;
  stem = stem.replace(new RegExp(rule.hidden, "gu"), "").replace(/^[. ]+/, "");
  let bytes = 0, cut = "";
  for (const ch of stem) {
    bytes += new TextEncoder().encode(ch).length;
    if (bytes > rule.stemBytes) break;
    cut += ch;
  }
  return `${cut.trimEnd() || rule.unnamed}_${key}_x${Number(factor)}.png`;
}

/** Interleaved pixels (1-4 channels, 8- or 16-bit) as RGBA bytes for a canvas. */
export function toRgba(pixels, width, height, channels) {
  const n = width * height, out = new Uint8ClampedArray(4 * n), shift = pixels instanceof Uint16Array ? 8 : 0;
  const color = channels === 2 || channels === 1 ? 1 : 3, alpha = channels === 2 || channels === 4;
  for (let i = 0; i < n; i++) {
    const s = i * channels, o = 4 * i;
    if (color === 1) out[o] = out[o + 1] = out[o + 2] = pixels[s] >> shift;
    else { out[o] = pixels[s]; out[o + 1] = pixels[s + 1]; out[o + 2] = pixels[s + 2]; }
    out[o + 3] = alpha ? pixels[s + channels - 1] : 255;
  }
  return out;
}

async function asBlob(source) {
  if (source instanceof Blob) return source;
  if (typeof source === "string" || source instanceof URL) {
    const url = new URL(source, config.baseUrl);
    const response = await fetch(url);
    if (!response.ok) throw new ImageInputError(`Could not fetch ${url.pathname.split("/").pop()} (HTTP ${response.status}).`);
    return new File([await response.blob()], decodeURIComponent(url.pathname.split("/").pop()));
  }
  throw new ImageInputError(say(config, "noImage"));
}

/** Send one job to the worker; its result. `signal` aborts it between tiles. */
function request(message, transfer = [], onProgress = null, signal = null) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const abort = () => worker.postMessage({ type: "cancel", id });
    signal?.addEventListener("abort", abort, { once: true });
    const done = (fn) => (x) => { pending.delete(id); signal?.removeEventListener("abort", abort); fn(x); };
    pending.set(id, { resolve: done(resolve), reject: done(reject), progress: onProgress || (() => {}) });
    worker.postMessage({ ...message, id }, transfer);
  });
}

/** Raw float32 data of shape `dims` through one model's graph: {dims, data}. For parity tests. */
export async function runTensor(weights, key, dims, data, factor = null) {
  await start();
  const input = Float32Array.from(data);
  const out = await request({ type: "tensor", weights, key, dims, data: input, factor }, [input.buffer]);
  return { dims: Array.from(out.dims), data: out.data };
}

/** The rules that decide "best" and auto for this file at `factor`: the factor's own, or for a JPEG
 * below config.jpeg.cleanFrom those of the nearest measured quality and factor (quality_table.input_kind). */
async function inputRules(file, factor) {
  const own = config.factors[factorKey(config, factor)];
  const jpeg = config.jpeg;
  const quality = jpegQuality(new Uint8Array(await file.slice(0, 1 << 16).arrayBuffer()), jpeg.lumaSum);
  const nearest = (values, x) => values.reduce((a, b) => (Math.abs(b - x) < Math.abs(a - x) ? b : a));
  const kind = quality === null || quality >= jpeg.cleanFrom ? null : `jpeg${nearest(jpeg.qualities, quality)}`;
  const byFactor = kind && jpeg.kinds[kind];
  if (!byFactor) return { auto: own.auto, best: own.best, quality };
  const measured = nearest(Object.keys(byFactor).map(Number).sort((a, b) => a - b), factor);
  return { ...byFactor[String(measured)], quality };
}

/** quality_table.jpeg_note: what a JPEG input changed, in the server's words. */
function jpegNote(quality, weights) {
  const kind = quality >= config.jpeg.cleanFrom ? "clean" : weights === config.jpeg.photoSet ? weights : "other";
  return config.jpeg.notes[kind].replace("{q}", quality);
}

/**
 * Upscale an image in this browser. `source`: a File, Blob or URL. Options: model (a key of
 * config.choices; "auto": what the quality table measured best at this factor), factor (1-4), weights ("best", or a shipped set), onProgress({phase, done,
 * total, elapsed, remaining}), signal (AbortSignal), baseline (also return bicubic at the same size).
 * Resolves to the lossless PNG and what ran; rejects with ImageInputError for input it refuses.
 */
export async function upscale(source, { model = "auto", factor = 2, weights = "best", onProgress = null,
                                        signal = null, baseline = false } = {}) {
  if (!config) throw new Error("srspace.configure(config) must be called first");
  if (!config.choices.includes(model)) {
    throw unknownModel(config, model);
  }
  const [value, notices] = checkFactor(config, factor);
  const file = await asBlob(source);
  const chosen = !weights || weights === "best";
  const rules = await inputRules(file, value);
  if (model === config.autoKey) { // the quality table's choice for this factor and input, worked out by the site build
    const pick = rules.auto[weights || "best"];
    if (!pick) {
      throw new ImageInputError(`The ${weights} weights are not part of this site. Choose weights 'best' or one of: ${Object.keys(config.models).join(", ")}.`);
    }
    notices.push(pick.note);
    model = pick.key;
    weights = pick.weights || "best";
  }
  const spec = config.specs[model];
  let used = "";
  if (spec) {
    used = weights === "best" || !weights ? rules.best[model] : weights;
    if (!config.models[used]) {
      throw new ImageInputError(`The ${weights} weights are not part of this site. Choose weights 'best' or one of: ${Object.keys(config.models).join(", ")}.`);
    }
    if (!config.models[used][model]) {  // the official set has ESPCN at x3 only
      const having = Object.keys(config.models).filter((w) => config.models[w][model]);
      throw new ImageInputError(`The ${used} weights have no ${model}; choose weights 'best' or ${having.map((w) => `'${w}'`).join(" or ")}.`);
    }
  }
  if (chosen && spec && rules.quality !== null) notices.unshift(jpegNote(rules.quality, used));
  signal?.throwIfAborted();
  const info = await start();
  const begun = performance.now();
  // elapsed: since the call, steady across phases. remaining: the current phase's, from the pace of
  // its own tiles after the first (the first also carries the model's loading), NaN until then.
  let phase = null, firstTileAt = 0;
  const progress = (msg) => {
    if (!onProgress) return;
    const now = performance.now();
    if (msg.phase !== phase) { phase = msg.phase; firstTileAt = 0; }
    if (msg.done === 1 || (msg.done > 1 && !firstTileAt)) firstTileAt = now;
    const pace = msg.done > 1 && firstTileAt < now ? (now - firstTileAt) / 1000 / (msg.done - 1) : NaN;
    onProgress({ phase: msg.phase, done: msg.done, total: msg.total, elapsed: (now - begun) / 1000,
                 remaining: msg.done >= msg.total ? 0 : pace * (msg.total - msg.done) });
  };
  const result = await request({ type: "upscale", file, key: model, factor: value, weights: used, baseline }, [],
                               progress, signal);
  if (spec && spec.fixedFactor && value !== spec.fixedFactor) {
    notices.push(say(config, "resized", { model, native: spec.fixedFactor, factor: value }));
  }
  if (result.hasAlpha) notices.push(say(config, "alphaKept"));
  return {
    blob: result.blob, name: resultName(result.name, model, value), width: result.width, height: result.height,
    channels: result.channels, bitDepth: result.bitDepth, pixels: result.pixels,
    baseline: result.baseline, baselineChannels: result.colorChannels,
    model, weights: used, factor: value, engine: result.engine, threads: result.threads, fallback: result.fallback,
    isolated: info.isolated, tiles: result.tiles, seconds: result.seconds, loadSeconds: result.loadSeconds,
    graphSeconds: result.graphSeconds,
    msPerMP: result.seconds * 1000 / (result.width * result.height / 1e6),
    notices: [...result.notices, ...notices],
  };
}
