// From planes of pixels to an upscaled image, tile by tile: srspace/runtime/pipeline.py and
// srspace/runtime/tiling.py in the browser. Pure functions of arrays; the network is passed in.
//
// Everything the Python side decides (factor as p/q, each model's halo and tile side, the
// bicubic coefficients, the limits) comes from the config the site build writes
// (srspace/web/config.py: browser_config); nothing here retypes it. Planes are planar float32
// (C x H x W) as in a [1, C, H, W] tensor.

/** Output length for input length n at `factor`: floor(n * s) in float32, srspace.contract.output_size. */
export function outputSize(n, factor) {
  return Math.floor(Math.fround(Math.fround(n) * Math.fround(factor)));
}

/** The config's key for a factor: two decimals, as the factor is checked (1.00 ... 4.00). */
/** A factor's key in cfg.factors: written with the contract's decimals. */
export const factorKey = (cfg, factor) => Number(factor).toFixed(cfg.limits.factorDecimals);

/** Keys' cubic kernel (srspace.models.networks.cubic_kernel). */
function cubic(t, a) {
  t = Math.abs(t);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/** Per output index, the input indices it reads and their weights (pipeline.resample_taps):
 * four cubic taps enlarging, the kernel stretched to the output pixel (antialiasing) shrinking. */
export function resampleTaps(nIn, nOut, scale, kernel) {
  const stretch = Math.max(1, 1 / scale);
  const a = stretch === 1 ? kernel.cubicA : kernel.antialiasA;
  const taps = Math.ceil(4 * stretch) + 1;
  const index = new Int32Array(nOut * taps), weight = new Float32Array(nOut * taps), w = new Float64Array(taps);
  for (let i = 0; i < nOut; i++) {
    const centre = (i + 0.5) / scale - 0.5, first = Math.floor(centre - 2 * stretch) + 1;
    let sum = 0;
    for (let k = 0; k < taps; k++) sum += (w[k] = cubic((first + k - centre) / stretch, a));
    for (let k = 0; k < taps; k++) {
      index[i * taps + k] = Math.min(Math.max(first + k, 0), nIn - 1);
      weight[i * taps + k] = w[k] / sum;
    }
  }
  return { index, weight, taps };
}

/** Separable resample of C x H x W planes to outH x outW with the coordinate map of `scale`
 * (pipeline.resample: rows first, then columns; an axis at scale 1 and unchanged size is skipped). */
export function resample(src, c, h, w, scale, outH, outW, kernel) {
  let cur = src;
  if (!(outH === h && scale === 1)) {
    const { index, weight, taps } = resampleTaps(h, outH, scale, kernel);
    const out = new Float32Array(c * outH * w);
    for (let p = 0; p < c; p++) {
      for (let i = 0; i < outH; i++) {
        const o = (p * outH + i) * w;
        for (let k = 0; k < taps; k++) {
          const wt = weight[i * taps + k], s = (p * h + index[i * taps + k]) * w;
          for (let x = 0; x < w; x++) out[o + x] += wt * cur[s + x];
        }
      }
    }
    cur = out;
  }
  if (!(outW === w && scale === 1)) {
    const { index, weight, taps } = resampleTaps(w, outW, scale, kernel);
    const out = new Float32Array(c * outH * outW);
    for (let r = 0; r < c * outH; r++) {
      const s = r * w, o = r * outW;
      for (let j = 0; j < outW; j++) {
        let acc = 0;
        for (let k = 0; k < taps; k++) acc += weight[j * taps + k] * cur[s + index[j * taps + k]];
        out[o + j] = acc;
      }
    }
    cur = out;
  }
  return cur;
}

/** Float RGB planes to full-range BT.601 YCbCr planes (colour.rgb_to_ycbcr). */
export function rgbToYcbcr(rgb, n) {
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const r = rgb[i], g = rgb[n + i], b = rgb[2 * n + i];
    out[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    out[n + i] = 0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b;
    out[2 * n + i] = 0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b;
  }
  return out;
}

/** Y planes (clipped to [0,1]) and Cb/Cr planes back to RGB planes (colour.ycbcr_to_rgb). */
function ycbcrToRgb(y, cbcr, n) {
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const Y = y[i], cb = cbcr[i] - 0.5, cr = cbcr[n + i] - 0.5;
    out[i] = Y + 1.402 * cr;
    out[n + i] = Y - 0.344136 * cb - 0.714136 * cr;
    out[2 * n + i] = Y + 1.772 * cb;
  }
  return out;
}

/**
 * The whole work of `key` at `factor` on one tile (pipeline.chain): from C x h x w planes in
 * [0,1] to the tile's result planes. `run(key, data, dims, networkFactor)` runs the ONNX graph
 * and resolves to {data, dims}.
 */
export async function chainTile(cfg, key, factor, x, c, h, w, run) {
  const kernel = cfg.kernel;
  const outH = outputSize(h, factor), outW = outputSize(w, factor);
  if (key === cfg.bicubicKey) return { data: resample(x, c, h, w, factor, outH, outW, kernel), c, h: outH, w: outW };
  const spec = cfg.specs[key];
  const net = spec.fixedFactor || factor;
  let out;
  if (!spec.luma) {
    const input = c === 1 ? Float32Array.from({ length: 3 * h * w }, (_, i) => x[i % (h * w)]) : x;
    const res = await run(key, input, [1, 3, h, w], net);
    const [, , rh, rw] = res.dims, m = rh * rw;
    if (c === 1) {
      const mean = new Float32Array(m);
      for (let i = 0; i < m; i++) mean[i] = (res.data[i] + res.data[m + i] + res.data[2 * m + i]) / 3;
      out = { data: mean, c: 1, h: rh, w: rw };
    } else {
      out = { data: res.data, c: 3, h: rh, w: rw };
    }
  } else if (c === 1) {
    const res = await run(key, x, [1, 1, h, w], net);
    out = { data: res.data, c: 1, h: res.dims[2], w: res.dims[3] };
  } else { // ESPCN sees luma only; colour is upscaled bicubically and merged back
    const n = h * w, ycc = rgbToYcbcr(x, n);
    const res = await run(key, ycc.subarray(0, n), [1, 1, h, w], net);
    const [, , rh, rw] = res.dims, m = rh * rw, y = new Float32Array(m);
    for (let i = 0; i < m; i++) y[i] = Math.min(Math.max(res.data[i], 0), 1);
    const cbcr = resample(ycc.subarray(n), 2, h, w, net, rh, rw, kernel);
    out = { data: ycbcrToRgb(y, cbcr, m), c: 3, h: rh, w: rw };
  }
  if (!spec.fixedFactor || factor === spec.fixedFactor) return out;
  // a fixed-factor network, then a resample of its output to the requested size, on the tile
  return { data: resample(out.data, out.c, out.h, out.w, factor / spec.fixedFactor, outH, outW, kernel), c: out.c, h: outH, w: outW };
}

const roundUp = (value, multiple) => Math.ceil(value / multiple) * multiple;

/** tiling._even: the side, a multiple of q, covering `length` in as few equal tiles of about `tile`. */
function even(length, tile, q) {
  const count = Math.ceil(length / tile);
  return roundUp(Math.ceil(length / count), q);
}

/** tiling.tile_shape: square tiles, except that a strip (one side within a tile) gets tiles as
 * long as the same area allows, where `longTiles` allows. */
export function tileShape(height, width, side, longTiles) {
  if (longTiles && height <= side && side < width) return [height, Math.max(side, Math.floor(side * side / height))];
  if (longTiles && width <= side && side < height) return [Math.max(side, Math.floor(side * side / width)), width];
  return [side, side];
}

/** tiling._spans: per tile along one axis [core start, core end, padded start, padded end,
 * output start, output end]. */
export function spans(length, tile, pad, factor, p, q) {
  const outLen = outputSize(length, factor), full = tile + 2 * pad, out = [];
  for (let start = 0; start < length; start += tile) {
    const end = Math.min(start + tile, length);
    let padStart = Math.max(start - pad, 0), padEnd = Math.min(end + pad, length);
    if (start === 0) padEnd = Math.min(Math.max(padEnd, full), length);
    if (end === length) {
      while (padStart > 0 && (length - padStart < full
             || outputSize(length - padStart, factor) !== outLen - Math.floor(padStart * p / q))) {
        padStart = Math.max(padStart - q, 0);
      }
    }
    out.push([start, end, padStart, padEnd, Math.floor(start * p / q), end === length ? outLen : Math.floor(end * p / q)]);
  }
  return out;
}

/** The tiles of an H x W image for `key` at `factor`, as tiling.tile_steps cuts them: each with
 * its padded input window (y0, y1, x0, x1), its share of the output (oy0, oy1, ox0, ox1) and
 * where that share starts inside the tile's own output (ty, tx). */
export function tilePlan(cfg, key, factor, height, width) {
  const f = cfg.factors[factorKey(cfg, factor)];
  if (!f) throw new RangeError(`no tiling rule for factor ${factor}`);
  const { p, q } = f, model = f.models[key], { halo } = model;
  const oh = outputSize(height, factor), ow = outputSize(width, factor);
  // pipeline.tile_side: a small result's network tiles are smaller (bicubic's never change)
  const side = oh * ow <= cfg.limits.smallResultPixels ? model.smallTile : model.tile;
  if (height <= side && width <= side) {
    return [{ y0: 0, y1: height, x0: 0, x1: width, oy0: 0, oy1: oh, ox0: 0, ox1: ow, ty: 0, tx: 0 }];
  }
  const [tileH, tileW] = tileShape(height, width, side, cfg.longTiles[key]).map((s) => roundUp(s, q)), pad = roundUp(halo, q);
  const rows = spans(height, even(height, tileH, q), pad, factor, p, q);
  const cols = spans(width, even(width, tileW, q), pad, factor, p, q);
  const plan = [];
  for (const [, , y0, y1, oy0, oy1] of rows) {
    for (const [, , x0, x1, ox0, ox1] of cols) {
      plan.push({ y0, y1, x0, x1, oy0, oy1, ox0, ox1, ty: oy0 - Math.floor(y0 * p / q), tx: ox0 - Math.floor(x0 * p / q) });
    }
  }
  return plan;
}

/** One tile's input window of C x H x W planes (uint8, uint16 or float in [0,1]) as float32 in [0,1],
 * scaled as the server scales (uint8 times float32(1/255); 16-bit divided by 65535). */
export function cutTile(planes, c, height, width, t) {
  const th = t.y1 - t.y0, tw = t.x1 - t.x0, out = new Float32Array(c * th * tw);
  const scale = planes instanceof Uint8Array ? Math.fround(1 / 255) : null;
  for (let p = 0; p < c; p++) {
    for (let y = 0; y < th; y++) {
      const s = (p * height + t.y0 + y) * width + t.x0, o = (p * th + y) * tw;
      if (scale !== null) for (let x = 0; x < tw; x++) out[o + x] = planes[s + x] * scale;
      else if (planes instanceof Uint16Array) for (let x = 0; x < tw; x++) out[o + x] = planes[s + x] / 65535;
      else out.set(planes.subarray(s, s + tw), o);
    }
  }
  return out;
}

/** Put a tile's share of the result into an interleaved integer image (`stride` values a pixel,
 * starting at `offset`): clipped and rounded as the server stores each tile. */
export function storeTile(result, outWidth, stride, offset, maxValue, t, block) {
  const { data, c, w } = block, m = block.h * w;
  for (let y = t.oy0; y < t.oy1; y++) {
    const by = t.ty + y - t.oy0;
    for (let x = t.ox0; x < t.ox1; x++) {
      const b = by * w + t.tx + x - t.ox0, o = (y * outWidth + x) * stride + offset;
      for (let p = 0; p < c; p++) {
        const v = Math.min(Math.max(data[p * m + b], 0), 1);
        result[o + p] = Math.fround(Math.fround(v * maxValue) + 0.5);
      }
    }
  }
}
