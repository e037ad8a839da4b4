// Pure functions about the plotted region: which two features the map shows, the rest held at
// the middle of their range. A view is {xMin, xMax, yMin, yMax, features, nFeatures, fixed}.

import { valueRange } from "./boundary.js";

const MAX_POINTS_DRAWN = 4000;

function widen(lo, hi) {
  const span = hi - lo;
  const pad = span > 0 ? span * 0.1 : Math.max(0.5, Math.abs(lo) * 0.1);
  return [lo - pad, hi + pad];
}

/** The plotted region: the data's bounds plus a margin, with equal axis scales. */
export function computeView(meta, features) {
  const [fx, fy] = features;
  let [x0, x1] = widen(meta.bounds.min[fx], meta.bounds.max[fx]);
  let [y0, y1] = widen(meta.bounds.min[fy], meta.bounds.max[fy]);
  const ratio = (x1 - x0) / (y1 - y0);
  if (ratio > 1 && ratio < 4) {
    const c = (y0 + y1) / 2;
    [y0, y1] = [c - (x1 - x0) / 2, c + (x1 - x0) / 2];
  } else if (ratio < 1 && ratio > 0.25) {
    const c = (x0 + x1) / 2;
    [x0, x1] = [c - (y1 - y0) / 2, c + (y1 - y0) / 2];
  }
  let fixed = null;
  if (meta.n_features > 2) {
    fixed = [];
    for (let f = 0; f < meta.n_features; f += 1) {
      if (f !== fx && f !== fy) fixed.push((meta.bounds.min[f] + meta.bounds.max[f]) / 2);
    }
  }
  return { xMin: x0, xMax: x1, yMin: y0, yMax: y1, features, nFeatures: meta.n_features, fixed };
}

/** The map's points (at most MAX_POINTS_DRAWN, evenly strided) in the two plotted features. */
export function projectPoints(meta, data, [fx, fy]) {
  const n = data.X.length;
  const stride = Math.max(1, Math.ceil(n / MAX_POINTS_DRAWN));
  const count = Math.ceil(n / stride);
  const xs = new Float64Array(count);
  const ys = new Float64Array(count);
  const classOf = new Map((meta.classes ?? []).map((label, index) => [String(label), index]));
  const classIndex = meta.task === "classification" ? new Int32Array(count) : null;
  const values = classIndex ? null : new Float64Array(count);
  for (let k = 0, row = 0; row < n; row += stride, k += 1) {
    xs[k] = data.X[row][fx];
    ys[k] = data.X[row][fy];
    if (classIndex) classIndex[k] = classOf.get(String(data.y[row])) ?? 0;
    else values[k] = data.y[row];
  }
  return { xs, ys, classIndex, values, valueRange: values ? valueRange(values) : null };
}

/** A full feature row for the map point (x, y): the other features at their held values. */
export function featureRow(view, x, y) {
  if (!view?.fixed) return [x, y];
  const row = [];
  let k = 0;
  for (let f = 0; f < view.nFeatures; f += 1) {
    if (f === view.features[0]) row.push(x);
    else if (f === view.features[1]) row.push(y);
    else row.push(view.fixed[k++]);
  }
  return row;
}
