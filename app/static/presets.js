// The two ready-made setups: a slow step-by-step run (the classic hand-written network: plain
// SGD, one point per step) and a fast one. Field names are the API's (a preset is a job
// request's `training` plus the network shape). The button of the setup the controls hold is
// pressed (aria-pressed), and the help under them says what it is in plain words.

import { ui } from "./dom.js";
import { architecture, setArchitecture } from "./network-panel.js";
import { setStatus } from "./notices.js";
import { setTrainingValues, showIdleEpochs, trainingValues } from "./training-panel.js";

export const PRESETS = {
  // Seed 1 reaches 99.2 % on the notebook's data set.
  notebook: {
    description:
      "Step by step: two small hidden layers (5 and 3 ReLU units), plain gradient descent " +
      "that learns from one point at a time with a small learning rate (0.001), 200 passes " +
      "over the data. Slow, so you can watch the boundary form.",
    hidden: [5, 3],
    activation: "relu",
    optimizer: "sgd",
    momentum: 0,
    learning_rate: 0.001,
    batch_size: 1,
    epochs: 200,
    init: "notebook",
    shuffle: false,
    standardize: false,
    l1: 0,
    l2: 0,
    feature_crosses: [],
    seed: 1,
    validation_fraction: 0,
    test_fraction: 0, // the notebook trains on, and reports, every row
    early_stopping: false,
  },
  fast: {
    description:
      "Fast: two hidden layers of 8 tanh units and the Adam optimizer, 8 points per step, " +
      "150 passes; a fifth of the data is kept aside to test the model, and a fifth of the " +
      "rest to watch for overfitting.",
    hidden: [8, 8],
    activation: "tanh",
    optimizer: "adam",
    momentum: 0.9,
    learning_rate: 0.003,
    batch_size: 8,
    epochs: 150,
    init: "glorot",
    shuffle: true,
    standardize: true,
    l1: 0,
    l2: 0,
    feature_crosses: [],
    seed: 1,
    validation_fraction: 0.2,
    test_fraction: 0.2, // the page's default (this preset is applied at start): honest figures
    early_stopping: false,
  },
};

const BUTTONS = () => [
  [ui.presetNotebook, PRESETS.notebook],
  [ui.presetFast, PRESETS.fast],
];

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The controls hold exactly this preset's settings. */
function holds(preset) {
  const { hidden_layers: hidden, activation } = architecture();
  if (!same(hidden, preset.hidden) || activation !== preset.activation) return false;
  const values = trainingValues();
  const own = ["description", "hidden", "activation"];
  return Object.entries(preset).every(([key, v]) => own.includes(key) || same(values[key], v));
}

/** Press the button of the preset the controls hold (if any) and describe it. */
export function markPreset() {
  let active = null;
  for (const [button, preset] of BUTTONS()) {
    const on = holds(preset);
    button.setAttribute("aria-pressed", String(on));
    if (on) active = preset;
  }
  ui.presetHelp.textContent = active
    ? active.description
    : "Your own setup. A ready-made one sets every control below at once.";
}

export function applyPreset(preset) {
  setArchitecture(preset);
  setTrainingValues(preset);
  showIdleEpochs();
  markPreset();
}

export function wirePresets() {
  for (const [button, preset] of BUTTONS()) {
    button.addEventListener("click", () => {
      applyPreset(preset);
      setStatus(`${button.textContent} setup applied.`);
    });
  }
  for (const type of ["input", "change", "click"]) {
    ui.setup.addEventListener(type, () => queueMicrotask(markPreset));
  }
}
