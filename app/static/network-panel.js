// The network panel: hidden layers, activation, and the sketch of the whole network.

import { ui } from "./dom.js";
import { featureList, isCategorical, numericFeatures } from "./features.js";
import { LayerEditor, drawNetwork, parameterCount } from "./network.js";
import { state } from "./state.js";

const layers = new LayerEditor({
  list: ui.layers,
  add: ui.addLayer,
  onChange: () => updateNetwork(),
});

/** The network as the API takes it: `{hidden_layers, activation}`. */
export function architecture() {
  return { hidden_layers: layers.layers, activation: ui.activation.value };
}

export function setArchitecture({ hidden, activation }) {
  layers.layers = hidden;
  ui.activation.value = activation;
}

function outputUnits(meta) {
  if (!meta || meta.task === "regression") return 1;
  return meta.classes.length <= 2 ? 1 : meta.classes.length;
}

/** The inputs the ticked feature crosses add inside the model for `meta`'s numeric columns. */
function crossedInputs(meta) {
  const k = meta ? numericFeatures(meta).length : 2;
  const per = { square: k, product: (k * (k - 1)) / 2, sin: k };
  const ticked = [...ui.crosses.querySelectorAll("input:checked")].map((box) => box.value);
  return ticked.reduce((sum, kind) => sum + (per[kind] ?? 0), 0);
}

/** Redraw the sketch and its summary for the current layers and dataset. */
export function updateNetwork() {
  const meta = state.dataset;
  const crossed = crossedInputs(meta);
  const sizes = [(meta?.n_features ?? 2) + crossed, ...layers.layers, outputUnits(meta)];
  drawNetwork(ui.networkSketch, sizes);
  const categorical = featureList(meta).filter(isCategorical).length;
  // A categorical column becomes one input per category inside the model: the sketch shows
  // the columns, the model's own `layers` the true width.
  ui.networkSummary.textContent = categorical
    ? `${sizes.join(" → ")} · inputs are columns; the ${categorical} categorical ` +
      `one${categorical === 1 ? " is" : "s are"} one-hot encoded inside the model`
    : `${sizes.join(" → ")} · ${parameterCount(sizes).toLocaleString()} parameters`;
  if (crossed && !categorical) {
    ui.networkSummary.textContent += ` · ${crossed} of the inputs are feature crosses`;
  }
  let output = "Output: one sigmoid unit, binary cross-entropy.";
  if (meta?.task === "regression") output = "Output: one linear unit, squared error.";
  else if (outputUnits(meta) > 1) {
    output = `Output: ${outputUnits(meta)} softmax units, cross-entropy.`;
  }
  ui.outputInfo.textContent = output;
}

export function wireNetwork() {
  ui.activation.addEventListener("change", updateNetwork);
  ui.crosses.addEventListener("change", updateNetwork);
  new ResizeObserver(() => updateNetwork()).observe(ui.networkSketch);
}
