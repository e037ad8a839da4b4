// The output panel: the boundary map, its source badge, the metric readouts and the training
// curves. Every other panel draws through the objects and functions here.

import { getJSON } from "./api.js";
import { BoundaryMap } from "./boundary.js";
import { LineChart } from "./charts.js";
import { ui } from "./dom.js";
import { clearEvaluation } from "./evaluation.js";
import { showError } from "./notices.js";
import { boundaryAxes, gridView, hasMap } from "./plot-view.js";
import { setView, state } from "./state.js";
import { decimal, percent } from "./util.js";

const FINAL_RESOLUTION = 150; // grid points per axis for a finished model
const TRAIN_COLOUR = "#4338ca";
const VAL_COLOUR = "#e8590c";

export const map = new BoundaryMap(ui.boundary);
const lossChart = new LineChart(ui.lossChart, { empty: "Train to see the loss" });
const accuracyChart = new LineChart(ui.accuracyChart, {
  yMin: 0,
  yMax: 1,
  zoom: true,
  empty: "Train to see the accuracy",
});

/** A marker on both curves at the epoch the map shows (null: none). */
export function setCurveMarker(epoch) {
  lossChart.setMarker(epoch);
  accuracyChart.setMarker(epoch);
}

/** The badge over the map (and the map's accessible name); `source` goes to a data attribute. */
export function setSource(text, tone, source) {
  ui.mapSource.textContent = text;
  ui.mapSource.className = `badge ${tone}`.trim();
  if (source) map.canvas.dataset.boundarySource = source;
  const what = state.dataset ? ` of ${state.dataset.name}` : "";
  const v = state.view;
  const axes = hasMap(v)
    ? ` (horizontal: ${v.names[v.features[0]]}, vertical: ${v.names[v.features[1]]})`
    : "";
  map.canvas.setAttribute("aria-label", `Decision boundary map${what}${axes}: ${text}`);
}

/** The boundary endpoints' query for the plotted region (and held columns) at `resolution`. */
export function boundaryQuery(resolution) {
  const params = new URLSearchParams({ resolution: String(resolution) });
  const v = state.view;
  if (hasMap(v)) {
    params.set("x_min", String(v.xMin));
    params.set("x_max", String(v.xMax));
    params.set("y_min", String(v.yMin));
    params.set("y_max", String(v.yMax));
    for (const [key, value] of Object.entries(boundaryAxes(v))) params.set(key, value);
  }
  return params.toString();
}

/**
 * Draw a stored model's boundary on the map, labelled `label` (no map: nothing to draw).
 * `modelMeta` names the columns when the model is shown without its dataset.
 */
export async function showModelBoundary(modelId, label, modelMeta = null) {
  if (state.view && !hasMap(state.view)) {
    setSource(label, "final", "model");
    return;
  }
  try {
    const grid = await getJSON(
      `/v1/models/${encodeURIComponent(modelId)}/boundary?${boundaryQuery(FINAL_RESOLUTION)}`,
    );
    map.setGrid(grid);
    if (!state.view) showModelAlone(grid, modelMeta);
    setSource(label, "final", "model");
  } catch (error) {
    showError(error, "The model's boundary could not be drawn");
  }
}

/** Name the map's axes after the view's columns (drawn on it when `drawn`; null: no axes). */
export function nameAxes(view, drawn) {
  const [x, y] = hasMap(view) ? view.features.map((f) => view.names[f]) : [null, null];
  map.axisLabels = x !== null && drawn ? [`${x} →`, `↑ ${y}`] : null;
  for (const [key, name] of [["axisX", x], ["axisY", y]]) {
    if (name === null) delete map.canvas.dataset[key];
    else map.canvas.dataset[key] = name;
  }
}

function showModelAlone(grid, modelMeta) {
  setView(gridView(grid, modelMeta));
  nameAxes(state.view, state.view.table);
}

/** Empty readouts and curves for a run of `epochs` epochs. */
export function resetReadouts(epochs) {
  ui.epoch.textContent = `0 / ${epochs}`;
  ui.progress.value = 0;
  for (const cell of [ui.metricLoss, ui.metricAccuracy, ui.metricValLoss, ui.metricValAccuracy]) {
    cell.textContent = "–";
  }
  showValidation(false);
  clearEvaluation();
  setFinalAccuracy(null);
  lossChart.setSeries([], epochs);
  const regression = state.dataset?.task === "regression";
  accuracyChart.empty = regression ? "No accuracy for regression" : "Train to see the accuracy";
  accuracyChart.setSeries([], epochs);
  ui.lossSummary.textContent = "";
  ui.accuracySummary.textContent = "";
}

/** The validation readouts appear only when the job holds out rows. */
function showValidation(visible) {
  for (const card of document.querySelectorAll(".metric-val")) card.hidden = !visible;
}

export function setFinalAccuracy(value) {
  ui.finalAccuracy.textContent = percent(value);
  if (Number.isFinite(value)) ui.finalAccuracy.dataset.value = String(value);
  else delete ui.finalAccuracy.dataset.value;
}

/** A stored model's metrics in the readouts (validation ones when it held rows out). */
export function showMetrics(metrics) {
  setFinalAccuracy(metrics?.accuracy);
  ui.metricLoss.textContent = decimal(metrics?.loss);
  ui.metricAccuracy.textContent = percent(metrics?.accuracy);
  if (Number.isFinite(metrics?.val_loss)) {
    ui.metricValLoss.textContent = decimal(metrics.val_loss);
    ui.metricValAccuracy.textContent = percent(metrics.val_accuracy);
    showValidation(true);
  }
}

/** The curves of a finished run's history (a stored model's job), without the readouts. */
export function renderCurves(history, epochs) {
  lossChart.setSeries(curves(history, "loss", "val_loss"), epochs);
  accuracyChart.setSeries(curves(history, "accuracy", "val_accuracy"), epochs);
}

/** Readouts and curves for a job's history so far. */
export function renderProgress(job) {
  const last = job.history.at(-1);
  if (!last) return;
  ui.epoch.textContent = `${last.epoch} / ${job.epochs}`;
  ui.progress.value = Math.min(1, last.epoch / job.epochs);
  ui.metricLoss.textContent = decimal(last.loss);
  ui.metricAccuracy.textContent = percent(last.accuracy);
  ui.metricValLoss.textContent = decimal(last.val_loss);
  ui.metricValAccuracy.textContent = percent(last.val_accuracy);
  showValidation(Number.isFinite(last.val_loss));
  lossChart.setSeries(curves(job.history, "loss", "val_loss"), job.epochs);
  accuracyChart.setSeries(curves(job.history, "accuracy", "val_accuracy"), job.epochs);
}

function curves(history, key, valKey) {
  const points = (k) => history.filter((r) => Number.isFinite(r[k])).map((r) => [r.epoch, r[k]]);
  return [
    { label: "train", colour: TRAIN_COLOUR, points: points(key) },
    { label: "validation", colour: VAL_COLOUR, dash: [5, 4], points: points(valKey) },
  ];
}

/** The curves in words, for screen readers. */
export function describeCurves(job) {
  const first = job.history[0];
  const last = job.history.at(-1);
  if (!first || !last) return;
  ui.lossSummary.textContent =
    `Training loss went from ${decimal(first.loss)} at epoch ${first.epoch} ` +
    `to ${decimal(last.loss)} at epoch ${last.epoch}.`;
  ui.accuracySummary.textContent = Number.isFinite(last.accuracy)
    ? `Training accuracy went from ${percent(first.accuracy)} to ${percent(last.accuracy)}.`
    : "No accuracy: this is a regression model.";
}

/**
 * Bring the map into view while training, below the sticky top bar: on a narrow screen it is
 * under the controls, on a wide one it may sit under the bar after scrolling to Train.
 */
export function revealMap() {
  const bar = document.querySelector(".topbar").getBoundingClientRect().bottom;
  const box = map.canvas.getBoundingClientRect();
  const room = window.innerHeight - bar;
  const fits = box.height <= room;
  if (box.top >= bar - 1 && (box.bottom <= window.innerHeight + 1 || !fits)) return;
  const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  // The map's top just under the bar (a little room above it for the badge).
  const margin = Math.min(56, Math.max(8, room - box.height));
  window.scrollBy({ top: box.top - bar - margin, behavior: smooth ? "smooth" : "auto" });
}

/** The loss chart's log-scale switch and the map's "discretize output" switch. */
export function wireCharts() {
  ui.lossLog.addEventListener("change", () => lossChart.setLog(ui.lossLog.checked));
  lossChart.setLog(ui.lossLog.checked);
  ui.discretize.addEventListener("change", () => map.setDiscrete(ui.discretize.checked));
  map.setDiscrete(ui.discretize.checked);
}
