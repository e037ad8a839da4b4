// A dataset's (or model's) input columns as the page uses them: names and kinds from the
// metadata's `features` (tables), or x0, x1, ... for older X/y metadata without them. Pure
// functions, no knowledge of the page.

/** `[{name, type: "numeric"|"categorical", missing, categories?}]`, one per input column. */
export function featureList(meta) {
  if (Array.isArray(meta?.features) && meta.features.length) return meta.features;
  const n = meta?.n_features ?? 2;
  return Array.from({ length: n }, (_, f) => ({ name: `x${f}`, type: "numeric", missing: 0 }));
}

export const featureNames = (meta) => featureList(meta).map((feature) => feature.name);

export const isCategorical = (feature) => feature?.type === "categorical";

/**
 * A table: named columns (a CSV or a JSON table), maybe categorical ones. The page then speaks
 * to the API in column names (`instances`, `features=a,b`, `fixed=a:1`); X/y datasets keep
 * positions (`X`, `features=0,1`, `fixed=0.5,1`), which every server version takes.
 */
export const isTable = (meta) => Boolean(meta?.label) || featureList(meta).some(isCategorical);

/** Indices of the columns that can be a map axis: numeric ones with finite bounds. */
export function numericFeatures(meta) {
  const { min = [], max = [] } = meta?.bounds ?? {};
  return featureList(meta).flatMap((feature, f) =>
    !isCategorical(feature) && Number.isFinite(min[f]) && Number.isFinite(max[f]) ? [f] : [],
  );
}

/**
 * A dataset's `/data` answer as `{X: rows of cells in feature order, y}`: X/y datasets send
 * that already; tables send `{columns, data, y}` (cells: number, string or null = missing).
 */
export function normaliseData(meta, data) {
  if (!Array.isArray(data?.columns)) return data;
  const at = featureNames(meta).map((name) => data.columns.indexOf(name));
  const sameOrder = at.length === data.columns.length && at.every((c, f) => c === f);
  const X = sameOrder ? data.data : data.data.map((row) => at.map((c) => (c < 0 ? null : row[c])));
  return { X, y: data.y };
}

/** The most frequent present value of column `f` (ties: the first seen), or null. */
function mostFrequent(rows, f) {
  const counts = new Map();
  let best = null;
  let bestCount = 0;
  for (const row of rows) {
    const value = row[f];
    if (value === null || value === undefined || value === "") continue;
    const count = (counts.get(value) ?? 0) + 1;
    counts.set(value, count);
    if (count > bestCount) [best, bestCount] = [value, count];
  }
  return best === null ? null : String(best);
}

/**
 * The value a column off the map's axes is held at. X/y datasets: the middle of its range (a
 * number, as before). Tables: numeric columns null, i.e. missing, which the model imputes with
 * its training median, the boundary's own default too; categorical columns their most frequent
 * value in the rows drawn (else the first category), sent explicitly to both predict and the
 * boundary so the map and the answers agree.
 */
export function heldValue(meta, data, f) {
  const feature = featureList(meta)[f];
  if (isCategorical(feature)) {
    return (data ? mostFrequent(data.X, f) : null) ?? feature.categories?.[0] ?? null;
  }
  if (isTable(meta)) return null;
  const lo = meta?.bounds?.min?.[f];
  const hi = meta?.bounds?.max?.[f];
  return Number.isFinite(lo) && Number.isFinite(hi) ? (lo + hi) / 2 : 0;
}
