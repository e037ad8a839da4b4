// The decision-boundary map: a heat map of the model's output on a grid, its decision contour,
// the training points, and the point the user asked about. Drawn on one <canvas>, y axis up.

import { HiDpiCanvas } from "./canvas.js";
import { contourSegments } from "./contour.js";
import { palette } from "./palette.js";

const MARGIN = { left: 40, right: 10, top: 22, bottom: 28 };

/** The colour of class number `index` (style.css --class-N, as in the PNG). */
export function classColour(index) {
  const { classes } = palette();
  return classes[((index % classes.length) + classes.length) % classes.length];
}

function rgb(hex) {
  const n = Number.parseInt(hex.slice(1, 7), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function mix(a, b, t) {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

const WHITE = [255, 255, 255];
const DISCRETE_STEPS = 6; // bands of the regression ramp when the output is discretized

/** The heat map's colour where the model is sure of class `index`. */
function heatTint(index) {
  return mix(WHITE, rgb(classColour(index)), palette().tint);
}

let rampStops = null; // the ramp's stops as [r, g, b]

/** The regression ramp's colour at t in [0, 1] (linear between the stops). */
function rampColour(t) {
  rampStops ??= palette().ramp.map(rgb);
  const stops = rampStops;
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const k = Math.min(stops.length - 2, Math.floor(x));
  return mix(stops[k], stops[k + 1], x - k);
}

/** "Nice" tick values covering [min, max] (about `count` of them). */
export function niceTicks(min, max, count = 5) {
  const span = max - min;
  if (!(span > 0) || !Number.isFinite(span)) return [min];
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => span / s <= count) ?? raw;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return ticks;
}

export function formatTick(value) {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e4 || abs < 1e-3) return value.toExponential(0);
  return String(Number(value.toPrecision(3)));
}

export class BoundaryMap extends HiDpiCanvas {
  constructor(canvas) {
    super(canvas);
    this.view = null; // {xMin, xMax, yMin, yMax}
    this.points = null; // {xs, ys, rows, classIndex | values, valueRange}
    this.testRows = null; // Set of dataset rows the model held out for testing (drawn hollow)
    this.showTest = true; // draw those rows (hollow) or leave them out
    this.discrete = false; // class regions (or ramp bands) instead of the certainty gradient
    this.grid = null; // the boundary JSON
    this.gridImage = null; // an offscreen canvas, one pixel per grid point
    this.segments = [];
    this.marker = null; // {x, y, colour, text}
    this.cursor = null; // {x, y} for keyboard use
    this.showCursor = false;
    this.message = "Loading the dataset…";
    this.draws = 0;
    this.watchSize();
  }

  setView(view) {
    this.view = view;
    this.render();
  }

  setMessage(text) {
    this.message = text;
    this.render();
  }

  /** Points in data coordinates; `classIndex[k]` (classification) or `values[k]` (regression). */
  setPoints(points) {
    this.points = points;
    this.render();
  }

  /** The dataset rows held out for testing (a Set, or null), and whether to draw them. */
  setTestRows(rows, show = this.showTest) {
    this.testRows = rows;
    this.showTest = show;
    this.render();
  }

  /** A boundary JSON answer (or null to show the data alone). */
  setGrid(grid) {
    this.grid = grid;
    this.paintGrid();
    this.segments = grid ? gridContours(grid) : [];
    if (grid && !this.view) {
      this.view = { xMin: grid.x[0], xMax: grid.x.at(-1), yMin: grid.y[0], yMax: grid.y.at(-1) };
    }
    this.draws += 1;
    this.canvas.dataset.boundaryDraws = String(this.draws);
    this.render();
  }

  /** Regression: colour the grid on the training targets' scale, so points and map agree. */
  paintGrid() {
    const range = this.points?.valueRange ?? null;
    this.gridImage = this.grid ? gridToImage(this.grid, range, this.discrete) : null;
  }

  /** Show the class regions (true) or the model's certainty as a gradient (false). */
  setDiscrete(discrete) {
    this.discrete = discrete;
    this.canvas.dataset.discrete = String(discrete);
    this.paintGrid();
    this.render();
  }

  /** The grid's answer nearest to the point (x, y), or null: {p}, {cls, confidence} or {value}. */
  gridValueAt(x, y) {
    const grid = this.grid;
    if (!grid) return null;
    const nearest = (axis, v) => {
      const n = axis.length;
      const k = Math.round(((v - axis[0]) / (axis[n - 1] - axis[0])) * (n - 1));
      return k >= 0 && k < n ? k : -1;
    };
    const i = nearest(grid.x, x);
    const j = nearest(grid.y, y);
    if (i < 0 || j < 0) return null;
    if (grid.values) return { value: grid.values[j][i] };
    if (grid.predicted) return { cls: grid.predicted[j][i], confidence: grid.confidence[j][i] };
    return grid.probabilities ? { p: grid.probabilities[j][i] } : null;
  }

  setMarker(marker) {
    this.marker = marker;
    this.render();
  }

  setCursor(point, visible = true) {
    this.cursor = point;
    this.showCursor = visible;
    this.render();
  }

  /** The plot area in CSS pixels. */
  plotRect() {
    return this.plotArea(MARGIN);
  }

  toPixel(x, y) {
    const r = this.plotRect();
    const v = this.view;
    return [
      r.left + ((x - v.xMin) / (v.xMax - v.xMin)) * r.width,
      r.top + (1 - (y - v.yMin) / (v.yMax - v.yMin)) * r.height,
    ];
  }

  /** Data coordinates of a mouse event's position, or null outside the plot. */
  toData(clientX, clientY) {
    if (!this.view) return null;
    const box = this.canvas.getBoundingClientRect();
    const r = this.plotRect();
    const px = clientX - box.left - r.left;
    const py = clientY - box.top - r.top;
    if (px < 0 || py < 0 || px > r.width || py > r.height) return null;
    const v = this.view;
    return {
      x: v.xMin + (px / r.width) * (v.xMax - v.xMin),
      y: v.yMax - (py / r.height) * (v.yMax - v.yMin),
    };
  }

  draw() {
    const { ctx } = this;
    const r = this.plotRect();
    ctx.fillStyle = "#f8fafc";
    ctx.fillRect(r.left, r.top, r.width, r.height);
    if (!this.view) {
      this.canvas.dataset.testPoints = "0";
      this.drawMessage(r);
      return;
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(r.left, r.top, r.width, r.height);
    ctx.clip();
    this.drawHeatMap();
    this.drawContours();
    this.drawPoints();
    this.drawCursor(r);
    this.drawMarker();
    ctx.restore();
    this.drawAxes(r);
    if (!this.grid && this.message) this.drawMessage(r, true);
  }

  drawHeatMap() {
    const grid = this.grid;
    if (!grid || !this.gridImage) return;
    const nx = grid.x.length;
    const ny = grid.y.length;
    const dx = nx > 1 ? (grid.x[nx - 1] - grid.x[0]) / (nx - 1) : 1;
    const dy = ny > 1 ? (grid.y[ny - 1] - grid.y[0]) / (ny - 1) : 1;
    const [x0, y0] = this.toPixel(grid.x[0] - dx / 2, grid.y[ny - 1] + dy / 2);
    const [x1, y1] = this.toPixel(grid.x[nx - 1] + dx / 2, grid.y[0] - dy / 2);
    this.ctx.imageSmoothingEnabled = true;
    this.ctx.imageSmoothingQuality = "high";
    this.ctx.drawImage(this.gridImage, x0, y0, x1 - x0, y1 - y0);
  }

  drawContours() {
    const grid = this.grid;
    if (!grid || !this.segments.length) return;
    const { ctx } = this;
    const nx = grid.x.length;
    const ny = grid.y.length;
    const gx = (i) => grid.x[0] + (i / (nx - 1)) * (grid.x[nx - 1] - grid.x[0]);
    const gy = (j) => grid.y[0] + (j / (ny - 1)) * (grid.y[ny - 1] - grid.y[0]);
    ctx.beginPath();
    for (const [i0, j0, i1, j1] of this.segments) {
      const [ax, ay] = this.toPixel(gx(i0), gy(j0));
      const [bx, by] = this.toPixel(gx(i1), gy(j1));
      ctx.moveTo(ax, ay);
      ctx.lineTo(bx, by);
    }
    ctx.lineWidth = 2;
    ctx.lineCap = "round";
    ctx.strokeStyle = palette().contour;
    ctx.stroke();
  }

  /**
   * The points in groups of one colour: `[colour, filled ks, hollow ks]`. Rows in `testRows` are
   * hollow (or left out when test data is hidden).
   */
  pointGroups() {
    const points = this.points;
    const test = this.testRows;
    const groups = new Map();
    for (let k = 0; k < points.xs.length; k += 1) {
      const held = Boolean(test && points.rows && test.has(points.rows[k]));
      if (held && !this.showTest) continue;
      const colour = points.classIndex
        ? classColour(points.classIndex[k])
        : `rgb(${rampColour(scaled(points.values[k], points.valueRange)).map(Math.round)})`;
      if (!groups.has(colour)) groups.set(colour, [colour, [], []]);
      groups.get(colour)[held ? 2 : 1].push(k);
    }
    return [...groups.values()];
  }

  /** Trace circles of `radius` around the points `ks` as one path. */
  tracePoints(ks, radius) {
    const { ctx, points } = this;
    ctx.beginPath();
    for (const k of ks) {
      const [px, py] = this.toPixel(points.xs[k], points.ys[k]);
      ctx.moveTo(px + radius, py);
      ctx.arc(px, py, radius, 0, Math.PI * 2);
    }
  }

  /** Training rows filled in their class colour; test rows hollow (outlined in it), on top. */
  drawPoints() {
    const points = this.points;
    let hollow = 0;
    if (points && points.xs.length) {
      const { ctx } = this;
      const n = points.xs.length;
      const radius = n > 1500 ? 2.2 : n > 600 ? 3 : 3.8;
      const groups = this.pointGroups();
      ctx.lineWidth = n > 600 ? 0.6 : 1;
      ctx.strokeStyle = n > 600 ? "rgb(255 255 255 / 75%)" : "#ffffff";
      for (const [colour, filled] of groups) {
        this.tracePoints(filled, radius);
        ctx.fillStyle = colour;
        ctx.fill();
        ctx.stroke();
      }
      ctx.lineWidth = n > 600 ? 1.2 : 1.8;
      for (const [colour, , held] of groups) {
        this.tracePoints(held, radius);
        ctx.strokeStyle = colour;
        ctx.stroke();
        hollow += held.length;
      }
    }
    this.canvas.dataset.testPoints = String(hollow);
  }

  drawCursor(r) {
    if (!this.cursor || !this.showCursor) return;
    const { ctx } = this;
    const [px, py] = this.toPixel(this.cursor.x, this.cursor.y);
    ctx.save();
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = "rgb(37 99 235 / 70%)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(r.left, py);
    ctx.lineTo(r.left + r.width, py);
    ctx.moveTo(px, r.top);
    ctx.lineTo(px, r.top + r.height);
    ctx.stroke();
    ctx.restore();
  }

  drawMarker() {
    const marker = this.marker;
    if (!marker) return;
    const { ctx } = this;
    const [px, py] = this.toPixel(marker.x, marker.y);
    ctx.beginPath();
    ctx.arc(px, py, 8, 0, Math.PI * 2);
    ctx.fillStyle = "#ffffff";
    ctx.fill();
    ctx.lineWidth = 3.5;
    ctx.strokeStyle = marker.colour;
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(px, py, 2.5, 0, Math.PI * 2);
    ctx.fillStyle = "#111827";
    ctx.fill();
    if (!marker.text) return;
    ctx.font = "600 12px system-ui, sans-serif";
    const width = ctx.measureText(marker.text).width + 14;
    const r = this.plotRect();
    let bx = px + 12;
    if (bx + width > r.left + r.width) bx = px - 12 - width;
    let by = py - 24;
    if (by < r.top) by = py + 8;
    ctx.fillStyle = "rgb(17 24 39 / 88%)";
    roundedRect(ctx, bx, by, width, 20, 6);
    ctx.fill();
    ctx.fillStyle = "#ffffff";
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    ctx.fillText(marker.text, bx + 7, by + 10.5);
  }

  drawAxes(r) {
    const { ctx } = this;
    const v = this.view;
    ctx.strokeStyle = "#cbd5e1";
    ctx.lineWidth = 1;
    ctx.strokeRect(r.left + 0.5, r.top + 0.5, r.width - 1, r.height - 1);
    ctx.fillStyle = "#566074";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const xCount = Math.max(2, Math.round(r.width / 80));
    for (const t of niceTicks(v.xMin, v.xMax, xCount)) {
      const [px] = this.toPixel(t, v.yMin);
      ctx.fillRect(px - 0.5, r.top + r.height, 1, 4);
      this.fillTextInside(formatTick(t), px, r.top + r.height + 6);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const yCount = Math.max(2, Math.round(r.height / 80));
    for (const t of niceTicks(v.yMin, v.yMax, yCount)) {
      const [, py] = this.toPixel(v.xMin, t);
      ctx.fillRect(r.left - 4, py - 0.5, 4, 1);
      ctx.fillText(formatTick(t), r.left - 7, py);
    }
    if (this.axisLabels) {
      ctx.textAlign = "right";
      ctx.textBaseline = "bottom";
      ctx.fillText(this.axisLabels[0], r.left + r.width, r.top - 4);
      ctx.textAlign = "left";
      ctx.fillText(this.axisLabels[1], 2, r.top - 4);
    }
  }

  drawMessage(r, subtle = false) {
    const { ctx } = this;
    ctx.save();
    ctx.font = subtle ? "12px system-ui, sans-serif" : "14px system-ui, sans-serif";
    ctx.fillStyle = subtle ? "rgb(86 96 116 / 90%)" : "#566074";
    ctx.textAlign = "center";
    ctx.textBaseline = subtle ? "top" : "middle";
    const y = subtle ? r.top + 8 : r.top + r.height / 2;
    if (subtle) {
      const width = ctx.measureText(this.message).width + 16;
      ctx.fillStyle = "rgb(255 255 255 / 85%)";
      roundedRect(ctx, r.left + r.width / 2 - width / 2, y - 4, width, 22, 6);
      ctx.fill();
      ctx.fillStyle = "#374151";
    }
    ctx.fillText(this.message, r.left + r.width / 2, y);
    ctx.restore();
  }
}

function roundedRect(ctx, x, y, w, h, radius) {
  ctx.beginPath();
  if (ctx.roundRect) ctx.roundRect(x, y, w, h, radius);
  else ctx.rect(x, y, w, h);
}

/** [min, max] of finite numbers (a loop: spreading a large array into Math.min overflows). */
export function valueRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

function scaled(value, [lo, hi]) {
  return hi > lo ? (value - lo) / (hi - lo) : 0.5;
}

/** One RGBA pixel per grid point; row 0 is the top (largest y). */
export function gridToImage(grid, range, discrete) {
  const nx = grid.x.length;
  const ny = grid.y.length;
  const image = new ImageData(nx, ny);
  const colourAt = cellColourer(grid, range, discrete);
  for (let j = 0; j < ny; j += 1) {
    const row = (ny - 1 - j) * nx;
    for (let i = 0; i < nx; i += 1) {
      const [r, g, b] = colourAt(i, j);
      const o = (row + i) * 4;
      image.data[o] = r;
      image.data[o + 1] = g;
      image.data[o + 2] = b;
      image.data[o + 3] = 255;
    }
  }
  const canvas = document.createElement("canvas");
  canvas.width = nx;
  canvas.height = ny;
  canvas.getContext("2d").putImageData(image, 0, 0);
  return canvas;
}

/**
 * The colour of grid cell (i, j). `discrete`: the class regions in full tint (and the regression
 * ramp in DISCRETE_STEPS bands) instead of the gradient of the model's certainty.
 */
function cellColourer(grid, targetRange, discrete) {
  if (grid.values) {
    const range = targetRange ?? valueRange(grid.values.flat());
    const steps = DISCRETE_STEPS;
    const band = (t) => (discrete ? (Math.min(steps - 1, Math.floor(t * steps)) + 0.5) / steps : t);
    return (i, j) => rampColour(band(scaled(grid.values[j][i], range)));
  }
  if (grid.predicted) {
    const k = grid.classes.length;
    const tints = grid.classes.map((_, c) => heatTint(c));
    return (i, j) => {
      const strength = discrete ? 1 : (grid.confidence[j][i] - 1 / k) / (1 - 1 / k);
      return mix(WHITE, tints[grid.predicted[j][i]], Math.min(1, Math.max(0, strength)));
    };
  }
  const low = heatTint(0);
  const high = heatTint(1);
  return (i, j) => {
    const p = grid.probabilities[j][i];
    if (discrete) return p < 0.5 ? low : high;
    return p < 0.5 ? mix(WHITE, low, (0.5 - p) * 2) : mix(WHITE, high, (p - 0.5) * 2);
  };
}

/** The decision contour(s): P = 0.5 (binary) or where the most likely class changes. */
function gridContours(grid) {
  const nx = grid.x.length;
  const ny = grid.y.length;
  if (grid.values || !grid.probabilities) return [];
  if (!grid.predicted) return contourSegments((i, j) => grid.probabilities[j][i] - 0.5, nx, ny);
  const segments = [];
  grid.classes.forEach((_, c) => {
    const margin = (i, j) => {
      const p = grid.probabilities[j][i];
      let other = -Infinity;
      for (let k = 0; k < p.length; k += 1) if (k !== c && p[k] > other) other = p[k];
      return p[c] - other;
    };
    segments.push(...contourSegments(margin, nx, ny));
  });
  return segments;
}

/** The legend under the map: class swatches, the colour ramp and the contour. */
export function renderLegend(element, { task, classes, valueRange }) {
  element.replaceChildren();
  const add = (className, text) => {
    const item = document.createElement("span");
    if (className) {
      const mark = document.createElement("span");
      mark.className = className;
      item.append(mark);
      item.mark = mark;
    }
    item.append(text);
    element.append(item);
    return item;
  };
  if (task === "regression") {
    const [lo, hi] = valueRange ?? [0, 1];
    add(null, formatTick(lo));
    const ramp = document.createElement("span");
    ramp.className = "ramp";
    ramp.style.background = `linear-gradient(to right, ${palette().ramp.join(", ")})`;
    element.append(ramp);
    add(null, formatTick(hi));
    return;
  }
  if (!classes?.length) return;
  classes.forEach((label, c) => {
    const item = add("swatch", `class ${label}`);
    item.mark.style.background = classColour(c);
  });
  if (classes.length === 2) {
    const ramp = document.createElement("span");
    ramp.className = "ramp";
    const low = `rgb(${heatTint(0).map(Math.round)})`;
    const high = `rgb(${heatTint(1).map(Math.round)})`;
    ramp.style.background = `linear-gradient(to right, ${low}, #fff, ${high})`;
    ramp.title = `P(class ${classes[1]}) from 0 to 1`;
    element.insertBefore(ramp, element.lastChild);
    add("contour", `P(class ${classes[1]}) = 0.5`);
  } else {
    add("contour", "decision boundary");
  }
}
