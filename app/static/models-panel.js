// The models panel: the stored models, showing one on the map, and the downloads.

import { ApiError, download, getJSON } from "./api.js";
import { button, make, ui } from "./dom.js";
import { showEvaluation } from "./evaluation.js";
import { loadData, selectStored, showDataset } from "./data-panel.js";
import { clearErrors, setStatus, showError } from "./notices.js";
import {
  boundaryQuery,
  map,
  resetReadouts,
  showMetrics,
  showModelBoundary,
} from "./output-panel.js";
import { isTraining, setDataset, setModel, state, subscribe } from "./state.js";
import { showTestSplit } from "./test-split.js";
import { decimal, percent } from "./util.js";

const PNG_RESOLUTION = 250;

export async function refreshModels() {
  let models;
  try {
    ({ data: models } = await getJSON("/v1/models"));
  } catch (error) {
    showError(error, "The models could not be listed");
    return;
  }
  ui.models.replaceChildren(...models.map(modelItem));
  ui.modelsEmpty.hidden = models.length > 0;
}

function modelItem(meta) {
  const item = make("li", { className: "model" });
  item.dataset.modelId = meta.id;
  if (state.model?.id === meta.id) item.classList.add("active");
  const accuracy = meta.metrics?.accuracy;
  const testAccuracy = meta.evaluation?.test?.accuracy;
  const details = [
    meta.layers.join("-"),
    meta.activation,
    Number.isFinite(accuracy) ? `acc ${percent(accuracy)}` : `loss ${decimal(meta.metrics?.loss)}`,
    ...(Number.isFinite(testAccuracy) ? [`test ${percent(testAccuracy)}`] : []),
    new Date(meta.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
  ];
  const main = make("div");
  main.append(
    make("span", {
      className: "model-name",
      textContent: meta.name,
      title: `${meta.name} (${meta.id})`,
    }),
    make("span", { className: "model-meta", textContent: details.join(" · ") }),
  );
  const actions = make("div", { className: "model-actions" });
  actions.append(
    button("Show", `Show on the map: ${meta.name}`, () => showModel(meta)),
    button(".npz", `Download the model file of ${meta.name}`, () => downloadModel(meta.id)),
    button("PNG", `Download the boundary picture of ${meta.name}`, () => downloadPng(meta.id)),
  );
  item.append(main, actions);
  return item;
}

/** Put a stored model's dataset (if it still exists) and boundary on the map. */
async function showModel(meta) {
  if (isTraining()) {
    setStatus("Training is running: cancel it or wait before showing another model.");
    return;
  }
  clearErrors();
  setStatus(`Loading ${meta.name}…`);
  try {
    if (meta.dataset_id) await showModelDataset(meta.dataset_id);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) {
      showError(error, "The model's dataset could not be loaded");
      return;
    }
    setDataset(null, null); // its dataset was deleted: the map shows the model alone
    map.view = null;
    map.setPoints(null);
  }
  resetReadouts(meta.training?.epochs ?? 0);
  ui.epoch.textContent = "–";
  showMetrics(meta.metrics);
  showEvaluation(meta);
  setModel({ id: meta.id, name: meta.name });
  showTestSplit(meta);
  await showModelBoundary(meta.id, "Stored model", meta);
  setStatus(`Showing ${meta.name}. Click the map to predict.`, "ok");
}

async function showModelDataset(datasetId) {
  const dataset =
    state.datasets.get(datasetId) ??
    (await getJSON(`/v1/datasets/${encodeURIComponent(datasetId)}`));
  selectStored(dataset);
  showDataset(dataset, await loadData(dataset));
}

function downloadModel(id) {
  download(`/v1/models/${encodeURIComponent(id)}/download`, `${id}.npz`).catch((error) =>
    showError(error, "The model file could not be downloaded"),
  );
}

function downloadPng(id) {
  const query =
    state.model?.id === id ? boundaryQuery(PNG_RESOLUTION) : `resolution=${PNG_RESOLUTION}`;
  download(
    `/v1/models/${encodeURIComponent(id)}/boundary?${query}&format=png`,
    `${id}-boundary.png`,
  ).catch((error) => showError(error, "The picture could not be downloaded"));
}

/** The chosen model is highlighted in the list and is what the download buttons fetch. */
function showChosenModel(model) {
  ui.downloadModel.disabled = !model;
  ui.downloadPng.disabled = !model;
  for (const item of document.querySelectorAll(".model")) {
    item.classList.toggle("active", item.dataset.modelId === model?.id);
  }
}

export function wireModels() {
  subscribe("model", showChosenModel);
  ui.downloadModel.addEventListener("click", () => state.model && downloadModel(state.model.id));
  ui.downloadPng.addEventListener("click", () => state.model && downloadPng(state.model.id));
  ui.refreshModels.addEventListener("click", refreshModels);
}
