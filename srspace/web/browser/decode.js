// Image files in, as srspace/imaging/decoding.py takes them on the server: sizes checked from the header
// before decoding, gray kept gray, 16-bit gray kept 16-bit, alpha kept, EXIF orientation applied,
// animations give their first frame; every adjustment is reported as a notice, every refusal is
// an ImageInputError whose message says what to do (the server's words).
import { decodePng, isPng, pngHeader, PngError } from "./png.js";
import { outputSize } from "./pipeline.js";

export class ImageInputError extends Error {
  constructor(message) { super(message); this.name = "ImageInputError"; }
}

/** The config's message `name` (errors.MESSAGES, the server's words) with its {placeholders} filled, as errors.say does. */
export function say(config, name, values = {}) {
  return config.messages[name].replace(/\{(\w+)\}/g, (_, key) => String(values[key]));
}

const shorten = (name, limit = 60) => (name.length <= limit ? name : name.slice(0, limit - 1) + "…");
const mp = (pixels) => (pixels / 1e6).toFixed(0);
/** A value the user sent, quoted as errors.shorten quotes it (Python's repr, cut to 40 characters). */
const quoted = (value, limit = 40) => {
  const text = typeof value === "string" && !value.includes("'") ? `'${value}'`
    : value === null || value === undefined ? "None" : typeof value === "string" ? JSON.stringify(value) : String(value);
  return text.length <= limit ? text : text.slice(0, limit - 1) + "…";
};

/** The checks job.check_output_size makes: the result's (W, H), or a refusal. */
export function checkOutputSize(config, width, height, factor) {
  const outW = outputSize(width, factor), outH = outputSize(height, factor), limits = config.limits;
  if (outW * outH > limits.maxOutputPixels) {
    throw new ImageInputError(say(config, "outputTooLarge", { width, height, factor, outWidth: outW, outHeight: outH,
      megapixels: (outW * outH / 1e6).toFixed(1), limit: mp(limits.maxOutputPixels) }));
  }
  return [outW, outH];
}

/** The factor as job.check_factor checks it: a number from MIN to MAX, rounded to limits.factorDecimals decimals (with a notice). */
export function checkFactor(config, factor) {
  const limits = config.limits, range = { low: limits.minFactor, high: limits.maxFactor };
  const value = typeof factor === "string" && factor.trim() !== "" ? Number(factor) : factor;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new ImageInputError(say(config, "factorNotNumber", { ...range, value: quoted(factor) }));
  }
  if (value < limits.minFactor || value > limits.maxFactor) {
    throw new ImageInputError(say(config, "factorOutOfRange", { ...range, value }));
  }
  const scale = 10 ** limits.factorDecimals;
  const rounded = Math.round(value * scale) / scale;
  const step = (1 / scale).toFixed(limits.factorDecimals);
  return [rounded, rounded !== value ? [say(config, "factorRounded", { value, rounded, step })] : []];
}

/** An unknown model's refusal, in job.check_key's words. */
export function unknownModel(config, model) {
  return new ImageInputError(say(config, "unknownModel", { model: quoted(model), choices: config.choices.join(", ") }));
}

/**
 * A JPEG's estimated quality (decoding.jpeg_quality on the server): libjpeg's quality that scales the
 * standard luminance table to the file's table 0, from its DQT segments; null for any other file.
 * `bytes`: the file's start (the tables come before the image data); `lumaSum`: config.jpeg.lumaSum.
 */
export function jpegQuality(bytes, lumaSum) {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  for (let pos = 2; pos + 4 <= bytes.length;) {
    if (bytes[pos] !== 0xff) { pos++; continue; }
    const marker = bytes[pos + 1], length = (bytes[pos + 2] << 8) | bytes[pos + 3];
    if (marker === 0xda || marker === 0xd9) return null; // image data reached with no table 0
    if (marker === 0xdb) {
      for (let t = pos + 4; t < pos + 2 + length && t < bytes.length;) {
        const wide = bytes[t] >> 4, id = bytes[t] & 15, size = wide ? 128 : 64;
        if (t + 1 + size > bytes.length) return null;
        if (id === 0) {
          let sum = 0;
          for (let i = 0; i < 64; i++) sum += wide ? (bytes[t + 1 + 2 * i] << 8) | bytes[t + 2 + 2 * i] : bytes[t + 1 + i];
          const scale = 100 * sum / lumaSum;
          const quality = scale <= 100 ? (200 - scale) / 2 : 5000 / scale;
          return Math.min(100, Math.max(1, Math.round(quality)));
        }
        t += 1 + size;
      }
    }
    pos += 2 + length;
  }
  return null;
}

/** The EXIF orientation in the TIFF block at [tiff, end) of `view`; 1 when the block is truncated or
 * malformed (as PIL ignores a broken EXIF): every read is checked against the block's end. */
function exifOrientation(view, tiff, end) {
  if (tiff + 8 > end) return 1;
  const little = view.getUint8(tiff) === 0x49;
  const ifd = tiff + view.getUint32(tiff + 4, little);
  if (ifd < tiff || ifd + 2 > end) return 1;
  for (let i = 0, count = view.getUint16(ifd, little); i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 10 > end) return 1;
    if (view.getUint16(entry, little) === 0x0112) return view.getUint16(entry + 8, little);
  }
  return 1;
}

/** JPEG header facts: size, components (1: gray) and EXIF orientation, without decoding. */
function jpegHeader(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const info = { orientation: 1 };
  for (let pos = 2; pos + 4 <= bytes.length;) {
    if (bytes[pos] !== 0xff) { pos++; continue; }
    const marker = bytes[pos + 1], length = view.getUint16(pos + 2);
    if (marker === 0xe1 && String.fromCharCode(...bytes.subarray(pos + 4, pos + 8)) === "Exif") {
      info.orientation = exifOrientation(view, pos + 10, Math.min(pos + 2 + length, bytes.length));
    }
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      if (pos + 10 > bytes.length) break;  // a truncated frame header: no size, the caller's message
      info.height = view.getUint16(pos + 5);
      info.width = view.getUint16(pos + 7);
      info.components = bytes[pos + 9];
      return info;
    }
    if (marker === 0xda) break;
    pos += 2 + length;
  }
  return info;
}

/** Whether `bytes` begin as an image format the server reads (JPEG, PNG, WebP, GIF, BMP, TIFF). */
function imageSignature(bytes) {
  const text = (from, to) => String.fromCharCode(...bytes.subarray(from, to));
  return (bytes[0] === 0xff && bytes[1] === 0xd8) || isPng(bytes) || (text(0, 4) === "RIFF" && text(8, 12) === "WEBP")
    || text(0, 4) === "GIF8" || text(0, 2) === "BM" || text(0, 4) === "II*\0" || text(0, 4) === "MM\0*";
}

/** RGBA bytes from the browser's own decoder (EXIF orientation applied; first frame). */
async function browserDecode(blob, name, config, bytes) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { premultiplyAlpha: "none", colorSpaceConversion: "none", imageOrientation: "from-image" });
  } catch (e) {
    // an image format the browser could not finish decoding is damaged, as PIL says; anything else is not an image
    throw new ImageInputError(imageSignature(bytes)
      ? say(config, "damaged", { name, why: "the browser's decoder stopped" }) : say(config, "notAnImage", { name }));
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { width: canvas.width, height: canvas.height, rgba: ctx.getImageData(0, 0, canvas.width, canvas.height).data };
}

/** Interleaved pixels (`channels` a pixel) to planes: colour C x H x W and alpha H x W (or null). */
function toPlanes(pixels, n, channels, colorChannels, hasAlpha, from = null) {
  const Type = pixels instanceof Uint16Array ? Uint16Array : Uint8Array;
  const color = new Type(colorChannels * n), alpha = hasAlpha ? new Uint8Array(n) : null;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < colorChannels; c++) color[c * n + i] = pixels[i * channels + (from ? from[c] : c)];
    if (alpha) alpha[i] = pixels[i * channels + channels - 1];
  }
  return { color, alpha };
}

/**
 * Decode an image file (File or Blob) for the worker, or throw ImageInputError.
 * Returns {name, width, height, channels (1 or 3), color, alpha, sixteenBit, notices}.
 */
export async function loadImage(file, config, factor = null) {
  const name = shorten(file && file.name ? file.name : "image"), limits = config.limits;
  if (!file || typeof file.arrayBuffer !== "function") throw new ImageInputError(say(config, "noImage"));
  if (file.size === 0) throw new ImageInputError(say(config, "emptyFile", { name }));
  const bytes = new Uint8Array(await file.arrayBuffer());
  const notices = [];
  let header = null;
  if (isPng(bytes)) {
    try { header = pngHeader(bytes); } catch (e) { header = null; }
  } else if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    header = jpegHeader(bytes);
  }
  const check = (width, height) => { // from the header: nothing is decoded for an image that would be refused
    if (width * height > limits.maxInputPixels) {
      throw new ImageInputError(say(config, "inputTooLarge", { name, width, height, limit: mp(limits.maxInputPixels) }));
    }
    if (factor !== null) checkOutputSize(config, width, height, factor);
  };
  if (header && header.width) check(header.width, header.height);

  let image;
  if (header && header.colorType !== undefined && header.orientation === 1) {
    try {
      image = await decodePng(bytes);
    } catch (e) {
      if (!(e instanceof PngError)) throw e;
      throw new ImageInputError(say(config, "damaged", { name, why: e.message.slice(0, 80) }));
    }
    if (header.frames > 1) notices.push(say(config, "animated"));
  } else {
    const { width, height, rgba } = await browserDecode(file, name, config, bytes);
    check(width, height);
    const gray = header && header.components === 1;
    let alpha = false;
    if (!header || header.components === undefined) for (let i = 3; i < rgba.length && !alpha; i += 4) alpha = rgba[i] !== 255;
    const channels = (gray ? 1 : 3) + (alpha ? 1 : 0);
    let pixels = rgba;
    if (channels !== 4) {
      const from = gray ? [0] : [0, 1, 2];
      pixels = new Uint8Array(width * height * channels);
      for (let i = 0; i < width * height; i++) {
        for (let c = 0; c < from.length; c++) pixels[i * channels + c] = rgba[4 * i + from[c]];
        if (alpha) pixels[i * channels + channels - 1] = rgba[4 * i + 3];
      }
    }
    image = { width, height, channels, gray, alpha, pixels, sixteenBit: false };
    if (header && header.orientation > 1 && header.orientation <= 8) notices.push(say(config, "orientation", { orientation: header.orientation }));
  }
  const { width, height } = image;
  if (Math.min(width, height) < limits.minSide) {
    throw new ImageInputError(say(config, "tooSmall", { width, height, side: limits.minSide }));
  }
  const colorChannels = image.gray ? 1 : 3;
  const { color, alpha } = toPlanes(image.pixels, width * height, image.channels, colorChannels, image.alpha);
  return { name: file.name || "image", width, height, channels: colorChannels, color, alpha,
           sixteenBit: image.sixteenBit, notices };
}
