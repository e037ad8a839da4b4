// The page's elements, looked up once by id: `ui.nSamples` is the element with id "n-samples".
// A missing id throws at start-up (a renamed element in index.html fails loudly, not later).

const IDS = [
  // notices and the top bar
  "status", "error", "error-title", "error-list", "error-close", "api-key",
  // 1 data
  "dataset", "stored-datasets", "generator-options", "noise", "noise-value", "noise-help",
  "n-samples", "n-samples-value", "n-classes", "n-classes-value", "n-classes-field", "data-seed",
  "axes-options", "feature-x", "feature-y", "dataset-info", "generate-note",
  "csv-file", "csv-label", "csv-task", "csv-ignore", "csv-categorical", "csv-name", "csv-upload",
  // 2 network
  "preset-notebook", "preset-fast", "preset-help", "network-sketch", "network-summary", "layers",
  "add-layer", "activation", "output-info", "neurons", "neurons-grid",
  // 3 training
  "setup", "train", "cancel", "epoch", "progress", "epochs", "test-fraction", "test-fraction-value",
  "show-test", "show-test-help", "l1", "crosses", "cancel-choice", "cancel-keep", "cancel-discard",
  "cancel-back", "copy-link",
  "data-fields", "network-fields", "training-fields", "upload-fields",
  // output: map, readouts, charts, prediction
  "boundary", "map-source", "legend", "loss-chart", "accuracy-chart", "loss-summary",
  "accuracy-summary", "metric-loss", "metric-accuracy", "metric-val-loss", "metric-val-accuracy",
  "metric-test-loss", "metric-test-accuracy", "metric-test-loss-name", "metric-test-accuracy-name",
  "confusion", "confusion-table", "confusion-caption", "final-accuracy", "predict-form",
  "predict-x", "predict-y", "predict-x-label", "predict-y-label", "predict-held",
  "predict-held-fields", "predict-held-hint", "prediction", "replay", "replay-play", "replay-back",
  "replay-next", "replay-scrubber", "replay-epoch", "replay-speed", "discretize", "map-readout",
  "loss-log",
  // models and downloads
  "models", "models-empty", "refresh-models", "clear-runs", "show-all", "download-model",
  "download-png", "download-gif",
]; // prettier-ignore

function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`index.html has no element with id "${id}"`);
  return element;
}

const camelCase = (id) => id.replace(/-([a-z])/g, (_, letter) => letter.toUpperCase());

export const ui = Object.freeze(Object.fromEntries(IDS.map((id) => [camelCase(id), byId(id)])));

/** A new element with these properties, e.g. `make("option", {value: 1, textContent: "x1"})`. */
export function make(tag, properties = {}) {
  return Object.assign(document.createElement(tag), properties);
}

/** A small button with an accessible name (`label`) that calls `onClick`. */
export function button(text, label, onClick) {
  const b = make("button", { type: "button", className: "btn btn-small", textContent: text });
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}
