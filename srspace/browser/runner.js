// In-browser super-resolution with onnxruntime-web: the same .onnx files the server runs,
// with pre- and post-processing that mirror srspace/pipeline.py.
(() => {
  const A = -0.75; // PyTorch's bicubic coefficient, as in the ONNX models
  const sessions = {};
  let ortPromise = null;

  function loadOrt() {
    if (ortPromise) return ortPromise;
    const cfg = window.SRSPACE_WEB.ort;
    ortPromise = new Promise((resolve, reject) => {
      if (window.ort) return resolve(window.ort);
      const s = document.createElement("script");
      s.src = cfg.src;
      s.integrity = cfg.integrity;
      s.crossOrigin = "anonymous";
      s.onload = () => resolve(window.ort);
      s.onerror = () => {
        ortPromise = null;
        reject(new Error(cfg.source === "local"
          ? `could not load onnxruntime-web from this app (${cfg.src})`
          : `could not load onnxruntime-web from ${cfg.src} (offline?). The app serves its own copy when ` +
            "`npm ci` has been run in its folder; run it there, then restart the app"));
      };
      document.head.appendChild(s);
    }).then((ort) => {
      ort.env.wasm.wasmPaths = cfg.wasmBase;
      ort.env.wasm.numThreads = 1; // no cross-origin isolation here, so no WASM threads
      return ort;
    });
    return ortPromise;
  }

  async function session(ort, weights, key) {
    const id = `${weights}/${key}`;
    if (!sessions[id]) {
      sessions[id] = ort.InferenceSession.create(window.SRSPACE_WEB.models[weights][key].url, {
        executionProviders: ["wasm"], graphOptimizationLevel: "all",
      }).catch((e) => { delete sessions[id]; throw e; });
    }
    return sessions[id];
  }

  async function pixels(url) {
    const blob = await (await fetch(url)).blob();
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    return { width: bitmap.width, height: bitmap.height, data: ctx.getImageData(0, 0, bitmap.width, bitmap.height).data };
  }

  function planes(img) { // RGBA bytes -> planar RGB float in [0,1]
    const n = img.width * img.height, out = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = img.data[4 * i + c] / 255;
    return out;
  }

  function cubic(t) { // weights of taps -1, 0, 1, 2 at fraction t
    const c1 = (x) => ((A + 2) * x - (A + 3)) * x * x + 1;
    const c2 = (x) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)];
  }

  function resizeAxis(src, w, h, outW, outH, scale, horizontal) {
    const out = new Float32Array(outW * outH);
    const n = horizontal ? w : h, m = horizontal ? outW : outH;
    for (let j = 0; j < m; j++) {
      const x = (j + 0.5) / scale - 0.5, x0 = Math.floor(x), wts = cubic(x - x0);
      const idx = [-1, 0, 1, 2].map((k) => Math.min(Math.max(x0 + k, 0), n - 1));
      if (horizontal) {
        for (let y = 0; y < outH; y++) {
          let s = 0;
          for (let k = 0; k < 4; k++) s += wts[k] * src[y * w + idx[k]];
          out[y * outW + j] = s;
        }
      } else {
        for (let xx = 0; xx < outW; xx++) {
          let s = 0;
          for (let k = 0; k < 4; k++) s += wts[k] * src[idx[k] * w + xx];
          out[j * outW + xx] = s;
        }
      }
    }
    return out;
  }

  function bicubic(src, w, h, outW, outH, scale) { // PyTorch bicubic, align_corners=False, edge clamp
    const rows = resizeAxis(src, w, h, outW, h, scale, true);
    return resizeAxis(rows, outW, h, outW, outH, scale, false);
  }

  const clip = (v) => Math.min(Math.max(v, 0), 1);

  async function upscale(ort, weights, key, factor, img) {
    const spec = window.SRSPACE_WEB.models[weights][key];
    const sess = await session(ort, weights, key);
    const { width: w, height: h } = img, n = w * h, rgb = planes(img);
    let outW, outH, outRgb;
    if (spec.channels === 1) { // ESPCN: Y through the network, Cb/Cr bicubic
      const y = new Float32Array(n), cb = new Float32Array(n), cr = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const r = rgb[i], g = rgb[n + i], b = rgb[2 * n + i];
        y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
        cb[i] = 0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b;
        cr[i] = 0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b;
      }
      const res = await sess.run({ input: new ort.Tensor("float32", y, [1, 1, h, w]) });
      const out = res.output;
      [outH, outW] = [out.dims[2], out.dims[3]];
      const cbUp = bicubic(cb, w, h, outW, outH, spec.factor), crUp = bicubic(cr, w, h, outW, outH, spec.factor);
      const m = outW * outH;
      outRgb = new Float32Array(3 * m);
      for (let i = 0; i < m; i++) {
        const Y = clip(out.data[i]), Cb = cbUp[i] - 0.5, Cr = crUp[i] - 0.5;
        outRgb[i] = Y + 1.402 * Cr;
        outRgb[m + i] = Y - 0.344136 * Cb - 0.714136 * Cr;
        outRgb[2 * m + i] = Y + 1.772 * Cb;
      }
    } else {
      const feeds = { input: new ort.Tensor("float32", rgb, [1, 3, h, w]) };
      if (!spec.factor) feeds.factor = new ort.Tensor("float32", new Float32Array([1, 1, factor, factor]), [4]);
      const out = (await sess.run(feeds)).output;
      [outH, outW] = [out.dims[2], out.dims[3]];
      outRgb = out.data;
    }
    const m = outW * outH, bytes = new Uint8ClampedArray(4 * m);
    for (let i = 0; i < m; i++) {
      for (let c = 0; c < 3; c++) bytes[4 * i + c] = Math.floor(clip(outRgb[c * m + i]) * 255 + 0.5);
      bytes[4 * i + 3] = 255;
    }
    return { width: outW, height: outH, data: bytes };
  }

  function toDataUrl(img) {
    const canvas = document.createElement("canvas");
    canvas.width = img.width;
    canvas.height = img.height;
    canvas.getContext("2d").putImageData(new ImageData(img.data, img.width, img.height), 0, 0);
    return canvas.toDataURL("image/png");
  }

  const message = (text) => `<div id="browser-message" class="srspace-browser">${text}</div>`;

  function maxDiff(a, b) { // largest |a - b| over the colour channels of two RGBA images of one size
    let max = 0;
    for (let i = 0; i < a.data.length; i++) if (i % 4 !== 3) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
    return max;
  }

  // Raw tensors through a model, for the parity tests: the same sessions the tab uses.
  window.srspaceRunTensor = async (weights, key, dims, data, factor) => {
    const ort = await loadOrt();
    const sess = await session(ort, weights, key);
    const feeds = { input: new ort.Tensor("float32", Float32Array.from(data), dims) };
    if (!window.SRSPACE_WEB.models[weights][key].factor) {
      feeds.factor = new ort.Tensor("float32", new Float32Array([1, 1, factor, factor]), [4]);
    }
    const out = (await sess.run(feeds)).output;
    return { dims: Array.from(out.dims), data: Array.from(out.data) };
  };

  // weights: the weight set the server resolved for this request (its hidden output);
  // serverImage, torchImage: the server's ONNX Runtime and PyTorch results for the same input.
  window.srspaceBrowserRun = async (image, key, factor, weights, serverImage, torchImage, serverInfo) => {
    const cfg = window.SRSPACE_WEB;
    if (!image || !image.url) return [message("Upload an image or pick an example first."), ""];
    try {
      const where = cfg.ort.source === "local"
        ? `onnxruntime-web ${cfg.ort.version}, served by this app`
        : `onnxruntime-web ${cfg.ort.version} from a public CDN (pinned, with Subresource Integrity): the app's own copy is not installed`;
      const img = await pixels(image.url);
      if (img.width * img.height > cfg.maxInputPixels) {
        return [message(`This image is ${img.width}x${img.height}; the browser tab takes at most ${cfg.maxInputPixels.toLocaleString("en")} pixels (about 300x300). Tick "downscale to fit", or use the Upscale tab for larger images.`), ""];
      }
      const ort = await loadOrt();
      const start = performance.now();
      const out = await upscale(ort, weights, key, Number(factor), img);
      const ms = performance.now() - start;
      const engines = { browser: out };
      if (serverImage && serverImage.url) engines.ort = await pixels(serverImage.url);
      if (torchImage && torchImage.url) engines.torch = await pixels(torchImage.url);
      const names = { browser: "browser (onnxruntime-web)", ort: "server ONNX Runtime", torch: "server PyTorch" };
      const rows = [["browser", "ort"], ["browser", "torch"], ["ort", "torch"]].map(([a, b]) => {
        const id = `browser-maxdiff${a === "browser" && b === "ort" ? "" : `-${a}-${b}`}`;
        if (!engines[a] || !engines[b]) return `| ${names[a]} vs ${names[b]} | not available | |`;
        if (engines[a].width !== engines[b].width || engines[a].height !== engines[b].height) {
          return `| ${names[a]} vs ${names[b]} | sizes differ: ${engines[a].width}x${engines[a].height} vs ${engines[b].width}x${engines[b].height} | ✗ |`;
        }
        const d = maxDiff(engines[a], engines[b]);
        return `| ${names[a]} vs ${names[b]} | <span id="${id}">${d}</span>/255 | ${d <= cfg.maxDiffLevels ? "✓" : "✗"} |`;
      });
      const html = `<figure style="margin:0"><figcaption><b>In your browser</b> (onnxruntime-web)</figcaption>` +
        `<img id="browser-result" alt="browser result" src="${toDataUrl(out)}" style="max-width:100%"></figure>`;
      const stats = [
        `**Browser**: ${out.width}x${out.height} in **${ms.toFixed(0)} ms** (WASM, 1 thread; first run includes loading the model).`,
        `**Server**: ${serverInfo || ""}`,
        `| engines | max abs difference | within ${cfg.maxDiffLevels}/255 |\n|---|---|---|\n${rows.join("\n")}`,
        `Runtime: <span id="browser-ort-source">${cfg.ort.source}</span>, ${where}.`,
      ].join("\n\n");
      return [html, stats];
    } catch (e) {
      return [message(`The browser run failed: ${e && e.message ? e.message : e}`), ""];
    }
  };
})();
