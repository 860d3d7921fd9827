// A before/after view that zooms: bicubic on the left of a draggable divider, the network on
// the right, both drawn from the same spot at the same zoom (fit, 100-800%), labelled on the
// image. These networks gain 0.5-2 dB: visible at 100-400% on detail, not when fitted to a screen.
// It opens at 200% on the most detailed spot of the result.

const ZOOMS = [1, 2, 4];

/** (x, y) centre of the most detailed square of an RGBA image, searched as metrics.detailed_spot searches
 * (the config's detailSearch: windows every side/2 px, variance of R+G+B over every side/16-th pixel). */
export function detailedSpot(rgba, width, height, search) {
  const side = Math.min(search.side, width, height);
  const step = Math.max(search.minStep, Math.floor(side / search.windowsPerSide));
  const stride = Math.max(1, Math.floor(side / search.samplesPerSide));
  let best = -1, spot = [width / 2, height / 2];
  for (let y = 0; y + side <= height; y += step) {
    for (let x = 0; x + side <= width; x += step) {
      let sum = 0, n = 0;
      for (let j = y; j < y + side; j += stride) {
        for (let i = x; i < x + side; i += stride) { const o = 4 * (j * width + i); sum += rgba[o] + rgba[o + 1] + rgba[o + 2]; n++; }
      }
      const mean = sum / n;
      let sq = 0;  // two passes, as numpy's var: the same spot where two windows nearly tie
      for (let j = y; j < y + side; j += stride) {
        for (let i = x; i < x + side; i += stride) { const o = 4 * (j * width + i), d = rgba[o] + rgba[o + 1] + rgba[o + 2] - mean; sq += d * d; }
      }
      const variance = sq / n;
      if (variance > best) { best = variance; spot = [x + side / 2, y + side / 2]; }
    }
  }
  return spot;
}

export class CompareViewer {
  /** `root`: an element to fill; labels: [left, right]. */
  constructor(root) {
    this.root = root;
    root.classList.add("viewer");
    root.innerHTML = `<div class="viewer-stage"><canvas></canvas><span class="viewer-label left"></span>` +
      `<span class="viewer-label right"></span><div class="viewer-divider"></div></div>` +
      `<div class="viewer-tools" role="toolbar" aria-label="Zoom"><button type="button" data-zoom="fit">Fit</button>` +
      ZOOMS.map((z) => `<button type="button" data-zoom="${z}">${z * 100}%</button>`).join("") +
      `<span class="viewer-zoom" aria-live="polite"></span></div>`;
    this.stage = root.querySelector(".viewer-stage");
    this.canvas = root.querySelector("canvas");
    this.labels = root.querySelectorAll(".viewer-label");
    this.divider = root.querySelector(".viewer-divider");
    this.zoomText = root.querySelector(".viewer-zoom");
    this.split = 0.5;
    this.before = this.after = null;
    root.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
      this.setZoom(b.dataset.zoom === "fit" ? this.fitZoom() : Number(b.dataset.zoom));
    }));
    this.bindPointer();
    new ResizeObserver(() => this.draw()).observe(this.stage);
  }

  /** Show two images of one size (ImageBitmaps), with their labels; zoomed to `zoom` at `centre`. */
  show(before, after, labels, centre = null, zoom = 2) {
    this.before?.close?.();
    this.after?.close?.();
    this.before = before;
    this.after = after;
    this.labels[0].textContent = labels[0];
    this.labels[1].textContent = labels[1];
    this.root.hidden = false;
    this.cx = centre ? centre[0] : after.width / 2;
    this.cy = centre ? centre[1] : after.height / 2;
    this.setZoom(Math.max(zoom, this.fitZoom()));
  }

  fitZoom() {
    if (!this.after) return 1;
    const rect = this.stage.getBoundingClientRect();
    return Math.min(rect.width / this.after.width, rect.height / this.after.height);
  }

  setZoom(zoom) {
    this.zoom = Math.min(Math.max(zoom, Math.min(this.fitZoom(), 1)), 8);
    this.zoomText.textContent = `${Math.round(this.zoom * 100)}%`;
    this.draw();
  }

  bindPointer() {
    let drag = null;
    this.stage.addEventListener("pointerdown", (e) => {
      const rect = this.stage.getBoundingClientRect();
      const onDivider = Math.abs(e.clientX - rect.left - this.split * rect.width) < 24;
      drag = { divider: onDivider, x: e.clientX, y: e.clientY, cx: this.cx, cy: this.cy };
      this.stage.setPointerCapture(e.pointerId);
    });
    this.stage.addEventListener("pointermove", (e) => {
      if (!drag || !this.after) return;
      const rect = this.stage.getBoundingClientRect();
      if (drag.divider) this.split = Math.min(Math.max((e.clientX - rect.left) / rect.width, 0), 1);
      else { this.cx = drag.cx - (e.clientX - drag.x) / this.zoom; this.cy = drag.cy - (e.clientY - drag.y) / this.zoom; }
      this.draw();
    });
    const end = () => { drag = null; };
    this.stage.addEventListener("pointerup", end);
    this.stage.addEventListener("pointercancel", end);
    this.stage.addEventListener("wheel", (e) => {
      if (!this.after) return;
      e.preventDefault();
      this.setZoom(this.zoom * (e.deltaY < 0 ? 1.25 : 0.8));
    }, { passive: false });
    this.stage.addEventListener("keydown", (e) => {
      const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      if (moves) { this.cx += moves[0] * 40 / this.zoom; this.cy += moves[1] * 40 / this.zoom; this.draw(); e.preventDefault(); }
    });
    this.stage.tabIndex = 0;
  }

  draw() {
    if (!this.after) return;
    const rect = this.stage.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    const cw = Math.max(1, Math.round(rect.width * dpr)), ch = Math.max(1, Math.round(rect.height * dpr));
    if (this.canvas.width !== cw || this.canvas.height !== ch) { this.canvas.width = cw; this.canvas.height = ch; }
    const ctx = this.canvas.getContext("2d"), { width: iw, height: ih } = this.after;
    const viewW = rect.width / this.zoom, viewH = rect.height / this.zoom;
    // keep the view on the image
    this.cx = viewW >= iw ? iw / 2 : Math.min(Math.max(this.cx, viewW / 2), iw - viewW / 2);
    this.cy = viewH >= ih ? ih / 2 : Math.min(Math.max(this.cy, viewH / 2), ih - viewH / 2);
    const sx = this.cx - viewW / 2, sy = this.cy - viewH / 2;
    ctx.clearRect(0, 0, cw, ch);
    ctx.imageSmoothingEnabled = this.zoom < 1;
    const splitX = Math.round(this.split * cw);
    for (const [image, x0, x1] of [[this.before, 0, splitX], [this.after, splitX, cw]]) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(x0, 0, x1 - x0, ch);
      ctx.clip();
      ctx.drawImage(image, sx, sy, viewW, viewH, 0, 0, cw, ch);
      ctx.restore();
    }
    this.divider.style.left = `${this.split * 100}%`;
  }
}
