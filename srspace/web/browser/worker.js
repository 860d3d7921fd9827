// The Web Worker that runs the networks: onnxruntime-web sessions, made once per model, and
// the tile loop. It speaks a small message protocol with srspace.js:
//   in:  {type: "init", config, threads, engine}   {type: "upscale", id, file, key, factor, weights, baseline}
//        {type: "cancel", id}
//        {type: "tensor", id, weights, key, dims, data, factor}
//   out: {type: "ready", engine, threads, fallback} {type: "progress", id, phase, done, total}
//        {type: "result", id, ...}   {type: "error", id, message, name}
// The file is decoded, upscaled and encoded here, so the page never freezes; pixel buffers
// travel back as transferables, never copied.
import { loadImage } from "./decode.js";
import { chainTile, cutTile, outputSize, storeTile, tilePlan } from "./pipeline.js";
import { encodePng } from "./png.js";

let config = null;
let runtime = null; // {ort, engine: "webgpu" | "wasm", threads, fallback}
const sessions = new Map();
const cancelled = new Set();
let queue = Promise.resolve();

class Cancelled extends Error {
  constructor() { super("cancelled"); this.name = "AbortError"; }
}

/** The module of onnxruntime-web: the site's own copy, or (the Gradio app without npm ci) the
 * pinned file from a CDN, checked against its SHA-384 before it runs. */
async function importOrt(file) {
  const url = new URL(file, config.ort.base).href;
  if (!config.ort.integrity) return import(url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load onnxruntime-web from ${url} (HTTP ${response.status})`);
  const text = await response.arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-384", text));
  const got = "sha384-" + btoa(String.fromCharCode(...digest));
  if (got !== config.ort.integrity[file]) throw new Error(`onnxruntime-web from ${url} is not the pinned file (${got})`);
  return import(URL.createObjectURL(new Blob([text], { type: "text/javascript" })));
}

async function init({ config: cfg, threads, engine }) {
  config = cfg;
  let adapter = null, fallback = "";
  if (engine !== "wasm") {
    if (self.navigator.gpu) {
      try { adapter = await self.navigator.gpu.requestAdapter(); } catch (e) { fallback = `WebGPU: ${e.message}`; }
      if (!adapter && !fallback) fallback = "WebGPU: no adapter on this machine";
      const info = adapter ? adapter.info || {} : {};
      if (adapter && engine !== "webgpu" && (adapter.isFallbackAdapter || info.isFallbackAdapter || /swiftshader/i.test(
        `${info.vendor} ${info.architecture} ${info.description}`))) {
        // a software adapter (SwiftShader) runs these networks about 100x slower than WebAssembly
        fallback = `WebGPU: only a software adapter (${info.architecture || info.vendor || "fallback"}), slower than WASM`;
        adapter = null;
      }
    } else {
      fallback = "WebGPU: not supported by this browser";
    }
  }
  const ort = await importOrt(adapter ? config.ort.webgpu : config.ort.wasm);
  ort.env.wasm.wasmPaths = config.ort.base;
  // WASM threads need cross-origin isolation (SharedArrayBuffer); onnxruntime-web's own default
  // on a 2-core machine is 1, so the count is always set here.
  const cores = self.navigator.hardwareConcurrency || 1;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.max(1, Math.min(threads || cores, cores)) : 1;
  ort.env.wasm.proxy = false; // this is already a worker
  ort.env.logLevel = "error";
  runtime = { ort, engine: adapter ? "webgpu" : "wasm", threads: ort.env.wasm.numThreads, fallback };
  return { engine: runtime.engine, threads: runtime.threads, fallback, isolated: self.crossOriginIsolated, cores };
}

const modelUrl = (weights, key) => new URL(config.models[weights][key].url, config.baseUrl).href;

async function createSession(url, providers) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load the model ${url} (HTTP ${response.status})`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  return runtime.ort.InferenceSession.create(bytes, { executionProviders: providers, graphOptimizationLevel: "all" });
}

/** The session of one model: made once, on WebGPU when there is an adapter, else (or when the
 * graph fails there) on WASM, and the page is told which. */
async function session(weights, key) {
  const id = `${weights}/${key}`;
  if (!sessions.has(id)) {
    const url = modelUrl(weights, key);
    const made = (async () => {
      if (runtime.engine === "webgpu") {
        try {
          return { session: await createSession(url, ["webgpu"]), engine: "webgpu" };
        } catch (e) {
          runtime.fallback = `WebGPU could not run ${key} (${e.message}); WASM instead`;
        }
      }
      return { session: await createSession(url, ["wasm"]), engine: "wasm" };
    })();
    sessions.set(id, made);
    made.catch(() => sessions.delete(id));
  }
  return sessions.get(id);
}

/** The network of one job: `timing.loading` collects the time spent making sessions (first use of a model),
 * `timing.graph` the time in onnxruntime-web itself. */
function runner(weights, engines, timing) {
  return async (key, data, dims, factor) => {
    const asked = performance.now(), fresh = !sessions.has(`${weights}/${key}`);
    let s = await session(weights, key);
    if (fresh) timing.loading += performance.now() - asked;
    const names = config.tensors;  // the graph's tensor names and the factor input's layout, from the contract
    const feeds = { [names.input]: new runtime.ort.Tensor("float32", data, dims) };
    if (!config.specs[key].fixedFactor) {
      const value = names.factorValue.map((v) => (v === null ? factor : v));
      feeds[names.factor] = new runtime.ort.Tensor("float32", new Float32Array(value), [value.length]);
    }
    let out;
    const begun = performance.now();
    try {
      out = (await s.session.run(feeds))[names.output];
    } catch (e) {
      if (s.engine !== "webgpu") throw e;
      runtime.fallback = `WebGPU failed on ${key} (${e.message}); WASM instead`;
      const id = `${weights}/${key}`;
      s = { session: await createSession(modelUrl(weights, key), ["wasm"]), engine: "wasm" };
      sessions.set(id, Promise.resolve(s));
      out = (await s.session.run(feeds))[names.output];
    }
    engines.add(s.engine);
    const result = { data: await out.getData(), dims: out.dims };
    timing.graph += performance.now() - begun;
    out.dispose?.();
    return result;
  };
}

/** Decode `file`, upscale it tile by tile and encode the lossless PNG: the result as an
 * interleaved image of C (+1 alpha) channels, uint16 where contract.keeps_sixteen_bit says (16-bit gray
 * without alpha), else uint8. */
async function upscale(msg) {
  const { id, file, key, factor, weights, baseline } = msg;
  if (cancelled.has(id)) throw new Cancelled(); // cancelled while it waited behind another job
  const image = await loadImage(file, config, factor);
  const { width, height, channels, color, alpha, sixteenBit } = image;
  const outW = outputSize(width, factor), outH = outputSize(height, factor);
  const stride = channels + (alpha ? 1 : 0);
  const deep = sixteenBit && channels === config.sixteenBitResult.channels && !!alpha === config.sixteenBitResult.alpha;
  const result = deep ? new Uint16Array(outW * outH * stride) : new Uint8Array(outW * outH * stride);
  const maxValue = deep ? 65535 : 255;
  const engines = new Set(), timing = { loading: 0, graph: 0 };
  const run = runner(weights, engines, timing);
  const colorPlan = tilePlan(config, key, factor, height, width);
  const bicubicPlan = tilePlan(config, config.bicubicKey, factor, height, width);
  const total = colorPlan.length + (alpha ? bicubicPlan.length : 0) + (baseline ? bicubicPlan.length : 0);
  let done = 0;
  const step = async (phase) => {
    // a macrotask turn between tiles: a "cancel" message waiting in the queue is read here
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (cancelled.has(id)) throw new Cancelled();
    self.postMessage({ type: "progress", id, phase, done: ++done, total });
  };
  // one pass of `chainKey` over `planes` (c channels), tile by tile, into channels offset.. of `target`
  const pass = async (plan, chainKey, planes, c, target, targetStride, offset, top, phase) => {
    for (const t of plan) {
      const block = await chainTile(config, chainKey, factor, cutTile(planes, c, height, width, t), c,
                                    t.y1 - t.y0, t.x1 - t.x0, run);
      storeTile(target, outW, targetStride, offset, top, t, block);
      await step(phase);
    }
  };
  const start = performance.now();
  await pass(colorPlan, key, color, channels, result, stride, 0, maxValue, "network");
  const seconds = (performance.now() - start - timing.loading) / 1000, loadSeconds = timing.loading / 1000;
  if (alpha) { // kept, and upscaled bicubically: the same size rule
    await pass(bicubicPlan, config.bicubicKey, alpha, 1, result, stride, channels, 255, "alpha");
  }
  let before = null;
  if (baseline) { // plain bicubic at the same size: the other side of the before/after view
    before = deep ? new Uint16Array(outW * outH * channels) : new Uint8Array(outW * outH * channels);
    await pass(bicubicPlan, config.bicubicKey, color, channels, before, channels, 0, maxValue, "baseline");
  }
  self.postMessage({ type: "progress", id, phase: "encoding", done, total });
  const blob = await encodePng(outW, outH, stride, result);
  const engine = key === config.bicubicKey ? "bicubic (JavaScript)" : [...engines].join(" + ");
  const buffers = before ? [result.buffer, before.buffer] : [result.buffer];
  self.postMessage({ type: "result", id, name: image.name, notices: image.notices, hasAlpha: Boolean(alpha),
                     colorChannels: channels, width: outW, height: outH, channels: stride, bitDepth: deep ? 16 : 8,
                     blob, pixels: result, baseline: before, seconds, loadSeconds, graphSeconds: timing.graph / 1000,
                     tiles: colorPlan.length, engine, threads: runtime.threads, fallback: runtime.fallback }, buffers);
}

/** One raw tensor through one graph (the parity tests' view of the engine): the same sessions. */
async function tensor({ id, weights, key, dims, data, factor }) {
  const out = await runner(weights, new Set(), { loading: 0, graph: 0 })(key, data, dims, factor);
  self.postMessage({ type: "result", id, dims: out.dims, data: out.data }, [out.data.buffer]);
}

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === "cancel") { cancelled.add(msg.id); return; }
  const tasks = {
    init: () => init(msg).then((info) => self.postMessage({ type: "ready", ...info })),
    upscale: () => upscale(msg),
    tensor: () => tensor(msg),
  };
  const task = tasks[msg.type];
  queue = queue.then(task).catch((e) => {
    self.postMessage({ type: "error", id: msg.id, name: e.name, message: e && e.message ? e.message : String(e) });
  }).finally(() => cancelled.delete(msg.id));
};
