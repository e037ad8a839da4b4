// Line charts of the training curves (loss, accuracy; train and validation) on a <canvas>.

import { formatTick, niceTicks } from "./boundary.js";
import { HiDpiCanvas } from "./canvas.js";

const MARGIN = { left: 44, right: 12, top: 24, bottom: 24 };

export class LineChart extends HiDpiCanvas {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{yMin?: number, yMax?: number, empty?: string}} options fixed y limits, if any
   */
  constructor(canvas, { yMin = null, yMax = null, empty = "No data yet" } = {}) {
    super(canvas);
    this.yMin = yMin;
    this.yMax = yMax;
    this.empty = empty;
    this.series = []; // [{label, colour, dash, points: [[epoch, value], ...]}]
    this.xMax = 10;
    this.watchSize();
  }

  setSeries(series, xMax) {
    this.series = series;
    this.xMax = Math.max(1, xMax);
    this.render();
  }

  yRange() {
    let lo = this.yMin;
    let hi = this.yMax;
    if (lo === null || hi === null) {
      let dataLo = Infinity;
      let dataHi = -Infinity;
      for (const s of this.series) {
        for (const [, y] of s.points) {
          if (Number.isFinite(y)) {
            dataLo = Math.min(dataLo, y);
            dataHi = Math.max(dataHi, y);
          }
        }
      }
      if (dataLo > dataHi) [dataLo, dataHi] = [0, 1];
      if (lo === null) lo = Math.min(0, dataLo);
      if (hi === null) hi = dataHi > lo ? dataHi * 1.05 : lo + 1;
    }
    return [lo, hi];
  }

  draw() {
    const r = this.plotArea(MARGIN);
    const [y0, y1] = this.yRange();
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
    this.drawLegend(r, visible);
  }

  /** Horizontal grid lines with y ticks, x ticks, and the two axis lines. */
  drawAxes(r, { px, py }, [y0, y1]) {
    const { ctx } = this;
    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    ctx.fillStyle = "#566074";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of niceTicks(y0, y1, Math.max(2, Math.round(r.height / 36)))) {
      const y = Math.round(py(t)) + 0.5;
      ctx.strokeStyle = "#e5e9f0";
      ctx.beginPath();
      ctx.moveTo(r.left, y);
      ctx.lineTo(r.left + r.width, y);
      ctx.stroke();
      ctx.fillText(formatTick(t), r.left - 6, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of niceTicks(0, this.xMax, Math.max(2, Math.round(r.width / 70)))) {
      ctx.fillText(formatTick(t), px(t), r.top + r.height + 6);
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
      s.points.forEach(([x, y], k) => {
        if (k === 0) ctx.moveTo(px(x), py(y));
        else ctx.lineTo(px(x), py(y));
      });
      ctx.setLineDash(s.dash ?? []);
      ctx.lineWidth = 2;
      ctx.lineJoin = "round";
      ctx.strokeStyle = s.colour;
      ctx.stroke();
    }
    ctx.restore();
    ctx.setLineDash([]);
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
