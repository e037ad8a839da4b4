// The two ready-made setups: the teaching notebook's network and training run, and a fast one.
// Field names are the API's (a preset is a job request's `training` plus the network shape).

import { ui } from "./dom.js";
import { setArchitecture } from "./network-panel.js";
import { setStatus } from "./notices.js";
import { setTrainingValues, showIdleEpochs } from "./training-panel.js";

export const PRESETS = {
  // Seed 1 reaches 99.2 % on the notebook's data set.
  notebook: {
    description: "Notebook setup: 5-3 ReLU, SGD, learning rate 0.001, batch 1, 200 epochs.",
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
    l2: 0,
    seed: 1,
    validation_fraction: 0,
    test_fraction: 0, // the notebook trains on, and reports, every row
    early_stopping: false,
  },
  fast: {
    description:
      "Fast setup: 8-8 tanh, Adam, batch 8, 150 epochs, 20% test data, 20% of the rest validation.",
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
    l2: 0,
    seed: 1,
    validation_fraction: 0.2,
    test_fraction: 0.2, // the page's default (this preset is applied at start): honest figures
    early_stopping: false,
  },
};

export function applyPreset(preset) {
  setArchitecture(preset);
  setTrainingValues(preset);
  showIdleEpochs();
}

export function wirePresets() {
  for (const [button, preset] of [
    [ui.presetNotebook, PRESETS.notebook],
    [ui.presetFast, PRESETS.fast],
  ]) {
    button.addEventListener("click", () => {
      applyPreset(preset);
      setStatus(preset.description);
    });
  }
}
