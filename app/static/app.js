// MLP Playground: pick data, shape a network, train it on the server and watch it learn.
// Talks only to the public /v1 API (see /docs). No build step: plain ES modules, one per panel
// around a shared state (state.js) and the page's elements (dom.js). This module wires them up.

import { ApiError, setApiKey } from "./api.js";
import { loadDatasets, refreshDataset, wireData } from "./data-panel.js";
import { ui } from "./dom.js";
import { wireEvaluation } from "./evaluation.js";
import { applyHash, wireHash } from "./hash-state.js";
import { refreshModels, wireModels } from "./models-panel.js";
import { updateNetwork, wireNetwork } from "./network-panel.js";
import { clearErrors, showError, wireNotices } from "./notices.js";
import { wireNeurons } from "./neurons.js";
import { map, wireCharts } from "./output-panel.js";
import { wirePredict } from "./predict-panel.js";
import { PRESETS, applyPreset, markPreset, wirePresets } from "./presets.js";
import { wireReplay } from "./replay.js";
import { isTraining } from "./state.js";
import { wireSweeps } from "./sweep-panel.js";
import { wireTestSplit } from "./test-split.js";
import { resumeJob, wireTraining } from "./training-panel.js";

const KEY_STORAGE = "mlp-api-key";

/** Load the server's datasets and models; on failure say why (asking for a key on a 401). */
async function start() {
  try {
    await loadDatasets();
  } catch (error) {
    showError(error, "The datasets could not be listed");
    if (error instanceof ApiError && error.status === 401) {
      ui.apiKey.closest("details").open = true;
      ui.apiKey.focus();
      map.setMessage("This server needs an API key");
    } else {
      map.setMessage("The API is not reachable");
    }
    return;
  }
  refreshModels();
  // A job this page started before a reload is followed again; otherwise the data is shown.
  if (!(await resumeJob())) refreshDataset();
}

function wireApiKey() {
  ui.apiKey.value = sessionStorage.getItem(KEY_STORAGE) ?? "";
  setApiKey(ui.apiKey.value);
  ui.apiKey.addEventListener("change", () => {
    setApiKey(ui.apiKey.value);
    sessionStorage.setItem(KEY_STORAGE, ui.apiKey.value.trim());
    clearErrors();
    start();
  });
}

wireNotices();
wireTraining();
wireData();
wireNetwork();
wirePresets();
wirePredict();
wireModels();
wireEvaluation();
wireTestSplit();
wireCharts();
wireReplay();
wireNeurons();
wireApiKey();
wireSweeps(); // after the key: it looks for a sweep still running
applyPreset(PRESETS.fast);
applyHash(); // a shared link's setup, over the defaults
markPreset();
updateNetwork();
wireHash(async () => {
  markPreset();
  updateNetwork();
  if (isTraining()) return;
  try {
    await loadDatasets(); // a stored dataset the link names is looked up
  } catch (error) {
    showError(error, "The datasets could not be listed");
  }
  refreshDataset();
});
start();
