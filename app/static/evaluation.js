// A model's honest figures: the test split's loss and accuracy beside the training readouts, and
// a confusion matrix as a small table, both from the model's `evaluation` document
// ({train, validation, test}: metrics on each split, API.md "Honest metrics").

import { make, ui } from "./dom.js";
import { subscribe } from "./state.js";
import { decimal, percent } from "./util.js";

/** The readouts of the test split, or null when the model held no rows out. */
function testFigures(task, test) {
  if (!test) return null;
  if (task === "regression") {
    return [
      ["Test MSE", decimal(test.mse), test.mse],
      ["Test R²", decimal(test.r2), test.r2],
    ];
  }
  return [
    ["Test loss", decimal(test.log_loss), test.log_loss],
    ["Test accuracy", percent(test.accuracy), test.accuracy],
  ];
}

function showTestFigures(task, test) {
  const figures = testFigures(task, test);
  for (const card of document.querySelectorAll(".metric-test")) card.hidden = !figures;
  const cells = [
    [ui.metricTestLossName, ui.metricTestLoss],
    [ui.metricTestAccuracyName, ui.metricTestAccuracy],
  ];
  cells.forEach(([name, value], k) => {
    const [label, text, number] = figures?.[k] ?? [name.textContent, "–", null];
    name.textContent = label;
    value.textContent = text;
    if (Number.isFinite(number)) value.dataset.value = String(number);
    else delete value.dataset.value;
  });
}

/** `<tr>` of header cells: an empty corner, then `labels` as column headers. */
function headerRow(labels) {
  const row = make("tr");
  const corner = make("td", { className: "confusion-corner" });
  corner.textContent = "true ↓ predicted →";
  row.append(corner, ...labels.map((label) => make("th", { scope: "col", textContent: label })));
  return row;
}

/** One row per true class; the diagonal (right answers) is marked for the eye and for tests. */
function bodyRows(labels, matrix) {
  return matrix.map((counts, i) => {
    const total = counts.reduce((sum, n) => sum + n, 0);
    const row = make("tr");
    row.append(make("th", { scope: "row", textContent: labels[i] }));
    counts.forEach((n, j) => {
      const cell = make("td", { textContent: String(n) });
      const share = total ? n / total : 0;
      cell.className = i === j ? "hit" : n ? "miss" : "";
      cell.style.setProperty("--share", share.toFixed(3));
      cell.title = `true ${labels[i]}, predicted ${labels[j]}: ${n} of ${total}`;
      row.append(cell);
    });
    return row;
  });
}

/** The confusion matrix of `metrics` ({labels, matrix}) with `caption`; hidden when absent. */
export function renderConfusion(metrics, caption) {
  const confusion = metrics?.confusion_matrix;
  const valid =
    Array.isArray(confusion?.labels) &&
    Array.isArray(confusion?.matrix) &&
    confusion.matrix.length === confusion.labels.length;
  ui.confusion.hidden = !valid;
  if (!valid) {
    ui.confusionTable.replaceChildren(ui.confusionCaption);
    return;
  }
  const labels = confusion.labels.map(String);
  const head = make("thead");
  head.append(headerRow(labels));
  const body = make("tbody");
  body.append(...bodyRows(labels, confusion.matrix));
  ui.confusionCaption.textContent = caption;
  ui.confusionTable.replaceChildren(ui.confusionCaption, head, body);
}

/**
 * Show a model's evaluation: the test figures, and the confusion matrix of its test rows (else
 * of its training rows, said in the caption). `meta` is the model's metadata document.
 */
export function showEvaluation(meta) {
  const evaluation = meta?.evaluation ?? null;
  const test = evaluation?.test ?? null;
  showTestFigures(meta?.task, test);
  const split = test ? "test" : "train";
  const metrics = evaluation?.[split];
  const n = metrics?.confusion_matrix?.matrix?.flat().reduce((sum, k) => sum + k, 0);
  const rows = Number.isFinite(n) ? ` (${n} rows)` : "";
  const caption = `Confusion matrix, ${test ? "test" : "training"} rows${rows}`;
  renderConfusion(meta?.task === "classification" ? metrics : null, caption);
  ui.confusion.dataset.split = split;
}

/** No model shown: no test figures, no matrix. */
export function clearEvaluation() {
  showEvaluation(null);
}

/** A model no longer chosen (another dataset, a new run) takes its evaluation with it. */
export function wireEvaluation() {
  subscribe("model", (model) => {
    if (!model) clearEvaluation();
  });
}
