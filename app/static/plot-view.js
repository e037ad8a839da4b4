// Pure functions about the plotted region: which two numeric columns the map shows, and the
// values the other columns are held at. A view is {xMin, xMax, yMin, yMax, features: [fx, fy],
// nFeatures, names, columns (features.featureList), table, held}: `held[f]` is column f's value
// off the axes (see features.heldValue; null = missing, left to the model's training median).

import { valueRange } from "./boundary.js";
import { featureList, heldValue, isTable } from "./features.js";

const MAX_POINTS_DRAWN = 4000;

function widen(lo, hi) {
  const span = hi - lo;
  const pad = span > 0 ? span * 0.1 : Math.max(0.5, Math.abs(lo) * 0.1);
  return [lo - pad, hi + pad];
}

/** The plotted region: the data's bounds plus a margin, with equal axis scales. */
export function computeView(meta, features, data = null) {
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
  const columns = featureList(meta);
  const names = columns.map((feature) => feature.name);
  const held = names.map((_, f) => (f === fx || f === fy ? undefined : heldValue(meta, data, f)));
  const region = { xMin: x0, xMax: x1, yMin: y0, yMax: y1 };
  const table = isTable(meta);
  return { ...region, features, nFeatures: names.length, names, columns, table, held };
}

/**
 * A view of a model alone (its dataset is gone): the grid's region and axes, the other columns
 * held where the server held them (`fixed_columns`), so predictions match the map.
 */
export function gridView(grid, modelMeta = null) {
  const region = { xMin: grid.x[0], xMax: grid.x.at(-1), yMin: grid.y[0], yMax: grid.y.at(-1) };
  const columns = featureList(modelMeta);
  const names = columns.map((feature) => feature.name);
  const features = grid.features?.length === 2 ? grid.features : [0, 1];
  const fixed = grid.fixed_columns ?? {};
  const held = names.map((name, f) => (features.includes(f) ? undefined : (fixed[name] ?? null)));
  const table = isTable(modelMeta);
  return { ...region, features, nFeatures: names.length, names, columns, table, held };
}

const encodable = (text) => !/[,:]/.test(text);

/** The boundary routes' `features` and `fixed` query values for a view ({} for two inputs). */
export function boundaryAxes(view) {
  if (!view || view.nFeatures <= 2) return {};
  const others = view.held.flatMap((value, f) => (value === undefined ? [] : [[f, value]]));
  if (!view.table) {
    return { features: view.features.join(","), fixed: others.map(([, v]) => v).join(",") };
  }
  // Named form: a column held at null (missing) is left to the server's training median; a name
  // or category with a comma or colon cannot be written in `fixed` and is left to it too.
  const fixed = others
    .filter(([f, v]) => v !== null && v !== "" && encodable(view.names[f]) && !/,/.test(v))
    .map(([f, v]) => `${view.names[f]}:${v}`);
  const axes = view.features.map((f) => view.names[f]);
  const result = { features: axes.every(encodable) ? axes.join(",") : view.features.join(",") };
  if (fixed.length) result.fixed = fixed.join(",");
  return result;
}

/** The view of a table with fewer than two numeric columns: no map, every column held. */
export function heldOnlyView(meta, data) {
  const columns = featureList(meta);
  const names = columns.map((feature) => feature.name);
  const held = names.map((_, f) => heldValue(meta, data, f));
  return { features: [], nFeatures: names.length, names, columns, table: isTable(meta), held };
}

/** The view has two axes, so a map and boundary requests. */
export const hasMap = (view) => view?.features?.length === 2;

/**
 * The map's points (at most MAX_POINTS_DRAWN, evenly strided) in the two plotted features;
 * rows missing either value are left out. `rows[k]` is point k's row in the dataset.
 */
export function projectPoints(meta, data, [fx, fy]) {
  const n = data.X.length;
  const stride = Math.max(1, Math.ceil(n / MAX_POINTS_DRAWN));
  const kept = [];
  for (let row = 0; row < n; row += stride) {
    if (Number.isFinite(data.X[row][fx]) && Number.isFinite(data.X[row][fy])) kept.push(row);
  }
  const rows = Int32Array.from(kept);
  const xs = Float64Array.from(kept, (row) => data.X[row][fx]);
  const ys = Float64Array.from(kept, (row) => data.X[row][fy]);
  const classOf = new Map((meta.classes ?? []).map((label, index) => [String(label), index]));
  if (meta.task === "classification") {
    const classIndex = Int32Array.from(kept, (row) => classOf.get(String(data.y[row])) ?? 0);
    return { xs, ys, rows, classIndex, values: null, valueRange: null };
  }
  const values = Float64Array.from(kept, (row) => data.y[row]);
  return { xs, ys, rows, classIndex: null, values, valueRange: valueRange(values) };
}

/** The model's input for the map point (x, y): a positional row, or a named instance. */
export function predictBody(view, x, y) {
  const value = (f) => (f === view.features[0] ? x : f === view.features[1] ? y : view.held[f]);
  if (view.table) {
    return { instances: [Object.fromEntries(view.names.map((name, f) => [name, value(f)]))] };
  }
  return { X: [view.names.map((_, f) => value(f))] };
}
