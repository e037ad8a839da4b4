// Asking the model about a point: click the map, use its keyboard cursor, or type the two axis
// values (and the other columns' values, see held-fields.js).

import { postJSON } from "./api.js";
import { classColour } from "./boundary.js";
import { ui } from "./dom.js";
import { showError } from "./notices.js";
import { renderPredictFields } from "./held-fields.js";
import { map, showModelBoundary } from "./output-panel.js";
import { hasMap, predictBody } from "./plot-view.js";
import { isTraining, state, subscribe } from "./state.js";
import { coordinate, decimal, percent } from "./util.js";

function showCoordinates(x, y) {
  if (x === null) return; // no map: every value comes from the held fields
  ui.predictX.value = coordinate(x);
  ui.predictY.value = coordinate(y);
}

let pending = null; // the AbortController of the prediction on its way, if any

/** Abandon the prediction on its way: a later question (or another model) replaces it. */
function abandonPending() {
  pending?.abort();
  pending = null;
}

/** The request body for the point (x, y); a model shown alone takes its two inputs. */
function bodyFor(x, y) {
  return state.view ? predictBody(state.view, x, y) : { X: [[x, y]] };
}

/** Ask the chosen model about the point (x, y) of the map (null: no map) and show its answer. */
async function predictAt(x, y) {
  showCoordinates(x, y);
  abandonPending();
  if (!state.model) {
    ui.prediction.textContent =
      state.job?.done === false
        ? "The model is still training: predictions open when it finishes."
        : "No model yet: press Train, or pick one under Models.";
    return;
  }
  const controller = new AbortController();
  pending = controller;
  try {
    const result = await postJSON(
      `/v1/models/${encodeURIComponent(state.model.id)}/predict`,
      bodyFor(x, y),
      { signal: controller.signal },
    );
    if (!controller.signal.aborted) showPrediction(x, y, result);
  } catch (error) {
    showError(error, "The prediction failed"); // an abandoned one (AbortError) is not shown
  } finally {
    if (pending === controller) pending = null;
  }
}

function showPrediction(x, y, result) {
  const output = ui.prediction;
  const where = x === null ? "These values" : `(${coordinate(x)}, ${coordinate(y)})`;
  const label = result.predictions[0];
  output.dataset.label = String(label);
  if (result.classes) {
    const index = result.classes.findIndex((c) => c === label);
    const probability = result.probabilities[0][index];
    output.textContent = `${where} → class ${label} with probability ${probability.toFixed(3)}`;
    output.dataset.probability = String(probability);
    const text = `class ${label} · ${percent(probability)}`;
    if (x !== null) map.setMarker({ x, y, colour: classColour(index), text });
  } else {
    output.textContent = `${where} → ${decimal(label)}`;
    delete output.dataset.probability;
    if (x !== null) map.setMarker({ x, y, colour: "#111827", text: decimal(label) });
  }
}

function onMapClick(event) {
  const point = map.toData(event.clientX, event.clientY);
  if (!point) return;
  map.setCursor(point, map.canvas.matches(":focus-visible"));
  predictAt(point.x, point.y);
}

function viewCentre(v) {
  return { x: (v.xMin + v.xMax) / 2, y: (v.yMin + v.yMax) / 2 };
}

/** Arrow keys move the cursor (Shift: in bigger steps); Enter or Space predicts there. */
function onMapKey(event) {
  const v = map.view;
  if (!v) return;
  const cursor = map.cursor ?? viewCentre(v);
  const step = event.shiftKey ? 0.1 : 0.02;
  const dx = (v.xMax - v.xMin) * step;
  const dy = (v.yMax - v.yMin) * step;
  const moves = {
    ArrowLeft: [-dx, 0],
    ArrowRight: [dx, 0],
    ArrowUp: [0, dy],
    ArrowDown: [0, -dy],
  };
  if (event.key in moves) {
    event.preventDefault();
    const [mx, my] = moves[event.key];
    const x = Math.min(v.xMax, Math.max(v.xMin, cursor.x + mx));
    const y = Math.min(v.yMax, Math.max(v.yMin, cursor.y + my));
    map.setCursor({ x, y });
    showCoordinates(x, y);
    readOut({ x, y });
  } else if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    map.setCursor(cursor);
    predictAt(cursor.x, cursor.y);
  }
}

function onPredictSubmit(event) {
  event.preventDefault();
  if (!ui.predictForm.reportValidity()) return;
  if (state.view && !hasMap(state.view)) {
    predictAt(null, null);
    return;
  }
  const x = ui.predictX.valueAsNumber;
  const y = ui.predictY.valueAsNumber;
  map.setCursor({ x, y }, false);
  predictAt(x, y);
}

function onModelChosen(model) {
  abandonPending();
  ui.prediction.textContent = model
    ? "Click the map (or use the fields above) to predict a point."
    : "Train a model, then click the map.";
}

/** A held column changed: the shown model's boundary is redrawn at the new values. */
function onHeldChanged() {
  abandonPending();
  map.setMarker(null);
  if (state.model && !isTraining()) showModelBoundary(state.model.id, ui.mapSource.textContent);
}

/** What the map shows under the pointer, in words under the map. */
function onMapHover(event) {
  readOut(map.toData(event.clientX, event.clientY));
}

/** The map's value at `point` (data coordinates; null: none) in words under the map. */
function readOut(point) {
  const answer = point && map.gridValueAt(point.x, point.y);
  if (!point) {
    ui.mapReadout.textContent = "";
    return;
  }
  const where = `(${coordinate(point.x)}, ${coordinate(point.y)})`;
  const classes = map.grid?.classes ?? [];
  let what = "";
  if (answer?.value !== undefined) what = `: value ${decimal(answer.value)}`;
  else if (answer?.cls !== undefined) {
    what = `: class ${classes[answer.cls]} (${percent(answer.confidence)})`;
  } else if (answer?.p !== undefined) {
    what = `: P(class ${classes[1] ?? 1}) = ${answer.p.toFixed(2)}`;
  }
  ui.mapReadout.textContent = where + what;
}

export function wirePredict() {
  subscribe("model", onModelChosen);
  subscribe("view", renderPredictFields);
  subscribe("held", onHeldChanged);
  const canvas = map.canvas;
  canvas.addEventListener("click", onMapClick);
  canvas.addEventListener("mousemove", onMapHover);
  canvas.addEventListener("mouseleave", () => {
    ui.mapReadout.textContent = "";
  });
  canvas.addEventListener("keydown", onMapKey);
  canvas.addEventListener("focus", () => {
    if (map.view && !map.cursor) map.cursor = viewCentre(map.view);
    map.setCursor(map.cursor, true);
  });
  canvas.addEventListener("blur", () => map.setCursor(map.cursor, false));
  ui.predictForm.addEventListener("submit", onPredictSubmit);
}
