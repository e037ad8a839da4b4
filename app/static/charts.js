// Line charts of the training curves (loss, accuracy; train and validation) on a <canvas>: an
// optional log scale, a y axis that can zoom to the data, a marker at the replayed epoch and a
// readout of the values under the pointer.

import { formatTick, niceTicks } from "./boundary.js";
import { HiDpiCanvas } from "./canvas.js";

const MARGIN = { left: 44, right: 12, top: 24, bottom: 24 };
const MARKER_COLOUR = "#111827";

/** Tick values for a log10 axis from `lo` to `hi` (log10 units): decades, or finer inside one. */
function logTicks(lo, hi, count) {
  if (hi - lo >= 1) {
    const step = Math.max(1, Math.ceil((hi - lo) / count));
    const ticks = [];
    for (let t = Math.ceil(lo); t <= hi + 1e-9; t += step) ticks.push(t);
    return ticks;
  }
  return niceTicks(10 ** lo, 10 ** hi, count).map((v) => Math.log10(v));
}

export class LineChart extends HiDpiCanvas {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{yMin?: number, yMax?: number, empty?: string, zoom?: boolean}} options fixed y
   *   limits, if any; `zoom`: the lower limit follows the data (accuracy: the interesting part)
   */
  constructor(canvas, { yMin = null, yMax = null, empty = "No data yet", zoom = false } = {}) {
    super(canvas);
    this.yMin = yMin;
    this.yMax = yMax;
    this.zoom = zoom;
    this.empty = empty;
    this.log = false; // log10 y axis (only positive values are drawn)
    this.series = []; // [{label, colour, dash, points: [[epoch, value], ...]}]
    this.xMax = 10;
    this.marker = null; // the epoch the replay shows, drawn as a vertical line
    this.hover = null; // the epoch under the pointer
    this.watchSize();
    canvas.addEventListener("mousemove", (event) => this.onHover(event));
    canvas.addEventListener("mouseleave", () => this.setHover(null));
  }

  setSeries(series, xMax) {
    this.series = series;
    this.xMax = Math.max(1, xMax);
    this.render();
  }

  setLog(log) {
    this.log = log;
    this.canvas.dataset.scale = log ? "log" : "linear";
    this.render();
  }

  /** A vertical line at `epoch` (null: none). */
  setMarker(epoch) {
    this.marker = epoch;
    if (epoch === null) delete this.canvas.dataset.marker;
    else this.canvas.dataset.marker = String(epoch);
    this.render();
  }

  setHover(epoch) {
    if (this.hover === epoch) return;
    this.hover = epoch;
    this.render();
  }

  onHover(event) {
    const box = this.canvas.getBoundingClientRect();
    const r = this.plotArea(MARGIN);
    const x = ((event.clientX - box.left - r.left) / r.width) * this.xMax;
    const epochs = this.series.flatMap((s) => s.points.map(([e]) => e));
    if (!epochs.length || x < 0 || x > this.xMax * 1.02) {
      this.setHover(null);
      return;
    }
    let best = epochs[0];
    for (const e of epochs) if (Math.abs(e - x) < Math.abs(best - x)) best = e;
    this.setHover(best);
  }

  /** The value drawn for y (its log10 on a log axis; NaN when it cannot be drawn). */
  yValue(y) {
    if (!this.log) return y;
    return y > 0 ? Math.log10(y) : Number.NaN;
  }

  dataRange() {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of this.series) {
      for (const [, y] of s.points) {
        const v = this.yValue(y);
        if (Number.isFinite(v)) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
    }
    return lo <= hi ? [lo, hi] : null;
  }

  yRange() {
    const data = this.dataRange();
    if (this.log) {
      if (!data) return [-2, 0];
      const [lo, hi] = data;
      return hi - lo < 0.3 ? [lo - 0.15, hi + 0.15] : [lo - 0.05, hi + 0.05];
    }
    let lo = this.yMin;
    let hi = this.yMax;
    const [dataLo, dataHi] = data ?? [0, 1];
    if (this.zoom && data && hi !== null) {
      // The lower limit a step of 0.05 below the data (a little room), never under 0.
      lo = Math.max(0, Math.floor((dataLo - Math.max(0.02, (hi - dataLo) * 0.08)) * 20) / 20);
    }
    if (lo === null) lo = Math.min(0, dataLo);
    if (hi === null) hi = dataHi > lo ? dataHi * 1.05 : lo + 1;
    return [lo, hi];
  }

  draw() {
    const r = this.plotArea(MARGIN);
    const [y0, y1] = this.yRange();
    this.canvas.dataset.yMin = String(this.log ? 10 ** y0 : y0);
    const scale = {
      px: (x) => r.left + (x / this.xMax) * r.width,
      py: (y) => r.top + (1 - (y - y0) / (y1 - y0)) * r.height,
    };
    this.drawAxes(r, scale, [y0, y1]);
    const visible = this.series.filter((s) => s.points.length);
    if (!visible.length) {
      const { ctx } = this;
      ctx.fillStyle = "#8a93a6";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(this.empty, r.left + r.width / 2, r.top + r.height / 2);
      return;
    }
    this.drawLines(r, scale, visible);
    this.drawMarker(r, scale, this.marker, MARKER_COLOUR, [3, 3]);
    this.drawLegend(r, visible);
    this.drawHover(r, scale, visible);
  }

  /** Horizontal grid lines with y ticks, x ticks, and the two axis lines. */
  drawAxes(r, { px, py }, [y0, y1]) {
    const { ctx } = this;
    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    ctx.fillStyle = "#566074";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const yCount = Math.max(2, Math.round(r.height / 36));
    const yTicks = this.log ? logTicks(y0, y1, yCount) : niceTicks(y0, y1, yCount);
    for (const t of yTicks) {
      const y = Math.round(py(t)) + 0.5;
      ctx.strokeStyle = "#e5e9f0";
      ctx.beginPath();
      ctx.moveTo(r.left, y);
      ctx.lineTo(r.left + r.width, y);
      ctx.stroke();
      ctx.fillText(formatTick(this.log ? 10 ** t : t), r.left - 6, y);
    }
    ctx.textBaseline = "top";
    for (const t of niceTicks(0, this.xMax, Math.max(2, Math.round(r.width / 70)))) {
      this.fillTextInside(formatTick(t), px(t), r.top + r.height + 6);
    }
    ctx.strokeStyle = "#c5ccda";
    ctx.beginPath();
    ctx.moveTo(r.left + 0.5, r.top);
    ctx.lineTo(r.left + 0.5, r.top + r.height + 0.5);
    ctx.lineTo(r.left + r.width, r.top + r.height + 0.5);
    ctx.stroke();
  }

  drawLines(r, { px, py }, visible) {
    const { ctx } = this;
    ctx.save();
    ctx.beginPath();
    ctx.rect(r.left, r.top - 2, r.width + 2, r.height + 4);
    ctx.clip();
    for (const s of visible) {
      ctx.beginPath();
      let pen = false;
      for (const [x, y] of s.points) {
        const v = this.yValue(y);
        if (!Number.isFinite(v)) {
          pen = false;
          continue;
        }
        if (pen) ctx.lineTo(px(x), py(v));
        else ctx.moveTo(px(x), py(v));
        pen = true;
      }
      ctx.setLineDash(s.dash ?? []);
      ctx.lineWidth = 2;
      ctx.lineJoin = "round";
      ctx.strokeStyle = s.colour;
      ctx.stroke();
    }
    ctx.restore();
    ctx.setLineDash([]);
  }

  drawMarker(r, { px }, epoch, colour, dash) {
    if (epoch === null || epoch === undefined) return;
    const { ctx } = this;
    const x = Math.round(px(Math.min(epoch, this.xMax))) + 0.5;
    ctx.save();
    ctx.setLineDash(dash);
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x, r.top);
    ctx.lineTo(x, r.top + r.height);
    ctx.stroke();
    ctx.restore();
  }

  /** The values at the hovered epoch in a small box, next to a line at that epoch. */
  drawHover(r, scale, visible) {
    if (this.hover === null) {
      delete this.canvas.dataset.readout;
      return;
    }
    const epoch = this.hover;
    this.drawMarker(r, scale, epoch, "#94a3b8", []);
    const lines = [`epoch ${epoch}`];
    for (const s of visible) {
      const point = s.points.find(([e]) => e === epoch);
      if (point) lines.push(`${s.label} ${formatTick(point[1])}`);
    }
    const text = lines.join(" · ");
    this.canvas.dataset.readout = text;
    const { ctx } = this;
    ctx.font = "11px system-ui, sans-serif";
    const width = Math.min(r.width, ctx.measureText(text).width + 12);
    let x = scale.px(epoch) + 8;
    if (x + width > r.left + r.width) x = Math.max(r.left, scale.px(epoch) - 8 - width);
    ctx.fillStyle = "rgb(17 24 39 / 88%)";
    ctx.fillRect(x, r.top + 2, width, 18);
    ctx.fillStyle = "#ffffff";
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(text, x + 6, r.top + 11, width - 12);
  }

  /** The series' names with a line sample each, top right. */
  drawLegend(r, visible) {
    const { ctx } = this;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    let x = r.left + r.width;
    for (const s of [...visible].reverse()) {
      const textWidth = ctx.measureText(s.label).width;
      x -= textWidth + 30;
      ctx.strokeStyle = s.colour;
      ctx.lineWidth = 2;
      ctx.setLineDash(s.dash ?? []);
      ctx.beginPath();
      ctx.moveTo(x, 11);
      ctx.lineTo(x + 18, 11);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#374151";
      ctx.fillText(s.label, x + 22, 11);
    }
  }
}
