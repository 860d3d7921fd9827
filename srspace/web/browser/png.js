// PNG in and out, exactly: the browser's own decoders premultiply alpha and reduce 16-bit to
// 8-bit, so PNG files are read here, as PIL reads them on the server, and results are written
// here (gray stays gray, 16-bit stays 16-bit, alpha is kept). Deflate is the browser's own
// (CompressionStream), the filter PNG's Average, as srspace/imaging/png.py writes.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes, crc = 0xffffffff) {
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

export class PngError extends Error {}

export const isPng = (bytes) => SIGNATURE.every((b, i) => bytes[i] === b);

async function pipeThrough(bytes, stream) {
  const blob = new Blob([bytes]);
  return new Uint8Array(await new Response(blob.stream().pipeThrough(stream)).arrayBuffer());
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length), view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, (crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff) >>> 0);
  return out;
}

const COLOR_TYPES = { 1: 0, 2: 4, 3: 2, 4: 6 }; // channels -> PNG colour type (L, LA, RGB, RGBA)

/** An interleaved image (`channels` 1-4; Uint8Array, or Uint16Array for 16-bit) as a PNG Blob. */
export async function encodePng(width, height, channels, pixels) {
  const depth = pixels instanceof Uint16Array ? 16 : 8, bpp = channels * depth / 8, row = width * bpp;
  const raw = new Uint8Array(height * (row + 1));
  let bytes = pixels;
  if (depth === 16) { // big-endian samples
    bytes = new Uint8Array(pixels.length * 2);
    for (let i = 0; i < pixels.length; i++) { bytes[2 * i] = pixels[i] >> 8; bytes[2 * i + 1] = pixels[i] & 255; }
  }
  for (let y = 0; y < height; y++) { // filter 3, Average: x - ((left + up) >> 1)
    const o = y * (row + 1) + 1, s = y * row, u = s - row;
    raw[o - 1] = 3;
    if (y === 0) {
      for (let x = 0; x < bpp; x++) raw[o + x] = bytes[s + x];
      for (let x = bpp; x < row; x++) raw[o + x] = bytes[s + x] - (bytes[s + x - bpp] >> 1);
    } else {
      for (let x = 0; x < bpp; x++) raw[o + x] = bytes[s + x] - (bytes[u + x] >> 1);
      for (let x = bpp; x < row; x++) raw[o + x] = bytes[s + x] - ((bytes[s + x - bpp] + bytes[u + x]) >> 1);
    }
  }
  const header = new Uint8Array(13), view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = depth;
  header[9] = COLOR_TYPES[channels];
  const idat = await pipeThrough(raw, new CompressionStream("deflate"));
  return new Blob([new Uint8Array(SIGNATURE), chunk("IHDR", header), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))],
                  { type: "image/png" });
}

/** The header of a PNG: {width, height, depth, colorType, interlaced, frames, orientation}. */
export function pngHeader(bytes) {
  if (!isPng(bytes) || bytes.length < 33) throw new PngError("not a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const info = { width: view.getUint32(16), height: view.getUint32(20), depth: bytes[24], colorType: bytes[25],
                 interlaced: bytes[28] === 1, frames: 1, orientation: 1 };
  for (let pos = 8; pos + 8 <= bytes.length;) {
    const length = view.getUint32(pos), type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (type === "acTL") info.frames = view.getUint32(pos + 8);
    if (type === "eXIf") info.orientation = 0; // EXIF in a PNG: left to the browser's decoder, which applies it
    if (type === "IDAT" || type === "IEND") break;
    pos += 12 + length;
  }
  return info;
}

const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]; // x0, y0, dx, dy

/** Undo the filters of `height` rows of `row` bytes, each after its filter byte, from raw[start]
 * into out (from 0); returns where the next rows start. One loop per filter: no test per byte. */
function unfilter(raw, start, out, height, row, bpp) {
  for (let y = 0; y < height; y++) {
    const filter = raw[start], s = start + 1, o = y * row, u = o - row;
    start += row + 1;
    const first = Math.min(bpp, row);
    if (filter === 0 || (filter === 2 && y === 0)) {
      out.set(raw.subarray(s, s + row), o);
    } else if (filter === 1 || (filter === 4 && y === 0)) { // Paeth on the first row is Sub
      for (let x = 0; x < first; x++) out[o + x] = raw[s + x];
      for (let x = bpp; x < row; x++) out[o + x] = raw[s + x] + out[o + x - bpp];
    } else if (filter === 2) {
      for (let x = 0; x < row; x++) out[o + x] = raw[s + x] + out[u + x];
    } else if (filter === 3) {
      if (y === 0) {
        for (let x = 0; x < first; x++) out[o + x] = raw[s + x];
        for (let x = bpp; x < row; x++) out[o + x] = raw[s + x] + (out[o + x - bpp] >> 1);
      } else {
        for (let x = 0; x < first; x++) out[o + x] = raw[s + x] + (out[u + x] >> 1);
        for (let x = bpp; x < row; x++) out[o + x] = raw[s + x] + ((out[o + x - bpp] + out[u + x]) >> 1);
      }
    } else if (filter === 4) {
      for (let x = 0; x < first; x++) out[o + x] = raw[s + x] + out[u + x]; // Paeth with no left is Up
      for (let x = bpp; x < row; x++) {
        const a = out[o + x - bpp], b = out[u + x], c = out[u + x - bpp];
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - c - c);
        out[o + x] = raw[s + x] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
    } else {
      throw new PngError(`unknown filter ${filter}`);
    }
  }
  return start;
}

/** Decode a PNG, interlaced (Adam7) or not, as PIL opens it: {width, height, channels (1-4),
 * gray, alpha, pixels: interleaved Uint8Array, or Uint16Array for 16-bit gray}. 16-bit colour is
 * reduced to its high byte (PIL's RGB;16B; 16-bit gray with alpha becomes RGBA there), low bit
 * depths are scaled to 0-255, a palette is expanded. */
export async function decodePng(bytes) {
  const head = pngHeader(bytes);
  const { width, height, depth, colorType, interlaced } = head;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts = [];
  let palette = null, transparency = null;
  for (let pos = 8; pos + 8 <= bytes.length;) {
    const length = view.getUint32(pos), type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (type === "PLTE") palette = data;
    else if (type === "tRNS") transparency = data;
    else if (type === "IDAT") parts.push(data);
    else if (type === "IEND") break;
    pos += 12 + length;
  }
  if (!parts.length) throw new PngError("no image data");
  const samples = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
  if (!samples) throw new PngError(`unknown colour type ${colorType}`);
  if (![1, 2, 4, 8, 16].includes(depth) || (depth < 8 && samples > 1) || (depth > 8 && colorType === 3)) {
    throw new PngError(`bit depth ${depth} with colour type ${colorType}`);
  }
  const bpp = Math.max(1, samples * depth / 8), rowBytes = (w) => Math.ceil(w * samples * depth / 8);
  const row = rowBytes(width);
  const packed = (buf, start, i) => { // sample i of the row at buf[start], at a depth below 8
    const bit = i * depth;
    return (buf[start + (bit >> 3)] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
  };
  const passes = interlaced
    ? ADAM7.map(([x0, y0, dx, dy]) => [x0, y0, dx, dy, Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)])
      .filter(([, , , , w, h]) => w > 0 && h > 0)
    : [[0, 0, 1, 1, width, height]];
  const needed = passes.reduce((sum, [, , , , w, h]) => sum + h * (rowBytes(w) + 1), 0);
  let raw;
  try {
    raw = await pipeThrough(new Blob(parts), new DecompressionStream("deflate"));
  } catch (e) {
    throw new PngError(`damaged image data (${e.message})`);
  }
  if (raw.length < needed) throw new PngError("truncated image data");
  const data = new Uint8Array(height * row);
  if (!interlaced) {
    unfilter(raw, 0, data, height, row, bpp);
  } else { // each pass is an image of its own: unfiltered, then put in its place
    let start = 0;
    for (const [x0, y0, dx, dy, w, h] of passes) {
      const prow = rowBytes(w), pass = new Uint8Array(h * prow);
      start = unfilter(raw, start, pass, h, prow, bpp);
      for (let py = 0; py < h; py++) {
        const o = (y0 + py * dy) * row, p = py * prow;
        if (depth >= 8) {
          for (let px = 0; px < w; px++) {
            const to = o + (x0 + px * dx) * bpp, from = p + px * bpp;
            for (let k = 0; k < bpp; k++) data[to + k] = pass[from + k];
          }
        } else {
          for (let px = 0; px < w; px++) {
            const v = packed(pass, p, px);
            const bit = (x0 + px * dx) * depth;
            data[o + (bit >> 3)] |= v << (8 - depth - (bit & 7));
          }
        }
      }
    }
  }
  const n = width * height;
  const sample = (y, i) => packed(data, y * row, i);
  if (colorType === 3) {
    if (!palette) throw new PngError("palette missing");
    const entries = palette.length / 3;
    let gray = true;
    for (let i = 0; i < entries && gray; i++) gray = palette[3 * i] === palette[3 * i + 1] && palette[3 * i + 1] === palette[3 * i + 2];
    const alpha = transparency !== null, channels = (gray ? 1 : 3) + (alpha ? 1 : 0);
    const pixels = new Uint8Array(n * channels);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const k = depth === 8 ? data[y * row + x] : sample(y, x), o = (y * width + x) * channels;
        if (gray) pixels[o] = palette[3 * k];
        else { pixels[o] = palette[3 * k]; pixels[o + 1] = palette[3 * k + 1]; pixels[o + 2] = palette[3 * k + 2]; }
        if (alpha) pixels[o + channels - 1] = k < transparency.length ? transparency[k] : 255;
      }
    }
    return { width, height, channels, gray, alpha, pixels, sixteenBit: false };
  }
  const gray = colorType === 0 || colorType === 4, alpha = colorType === 4 || colorType === 6;
  let pixels = data; // 8-bit: the unfiltered rows are the pixels
  if (depth === 16 && colorType === 0) { // PIL's I;16: kept 16-bit
    pixels = new Uint16Array(n);
    for (let i = 0; i < n; i++) pixels[i] = (data[2 * i] << 8) | data[2 * i + 1];
    return { width, height, channels: 1, gray, alpha, pixels, sixteenBit: true };
  }
  if (depth === 16 && colorType === 4) { // PIL opens 16-bit gray with alpha as RGBA (LA;16B)
    pixels = new Uint8Array(n * 4);
    for (let i = 0; i < n; i++) {
      pixels[4 * i] = pixels[4 * i + 1] = pixels[4 * i + 2] = data[4 * i];
      pixels[4 * i + 3] = data[4 * i + 2];
    }
    return { width, height, channels: 4, gray: false, alpha, pixels, sixteenBit: false };
  }
  if (depth === 16) {
    pixels = new Uint8Array(n * samples);
    for (let i = 0; i < pixels.length; i++) pixels[i] = data[2 * i];
  } else if (depth < 8) {
    pixels = new Uint8Array(n);
    const scale = 255 / ((1 << depth) - 1);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels[y * width + x] = Math.round(sample(y, x) * scale);
  }
  return { width, height, channels: samples, gray, alpha, pixels, sixteenBit: false };
}
