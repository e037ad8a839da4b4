// MLP Playground: pick data, shape a network, train it on the server and watch it learn.
// Talks only to the public /v1 API (see /docs). No build step: plain ES modules, one per panel
// around a shared state (state.js) and the page's elements (dom.js). This module wires them up.

import { ApiError, setApiKey } from "./api.js";
import { loadDatasets, refreshDataset, wireData } from "./data-panel.js";
import { ui } from "./dom.js";
import { wireEvaluation } from "./evaluation.js";
import { refreshModels, wireModels } from "./models-panel.js";
import { updateNetwork, wireNetwork } from "./network-panel.js";
import { clearErrors, showError, wireNotices } from "./notices.js";
import { map } from "./output-panel.js";
import { wirePredict } from "./predict-panel.js";
import { PRESETS, applyPreset, wirePresets } from "./presets.js";
import { wireSweeps } from "./sweep-panel.js";
import { wireTestSplit } from "./test-split.js";
import { wireTraining } from "./training-panel.js";

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
  refreshDataset();
  refreshModels();
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
wireApiKey();
wireSweeps(); // after the key: it looks for a sweep still running
applyPreset(PRESETS.fast);
updateNetwork();
start();
