// The "My runs" panel: the models this browser made (or, on request, every stored one), showing
// one on the map with its replay and curves, deleting one or all of them, and the downloads.

import { ApiError, download, getJSON, request } from "./api.js";
import { button, make, ui } from "./dom.js";
import { showEvaluation } from "./evaluation.js";
import {
  forgetDatasets,
  listAllDatasets,
  loadData,
  selectStored,
  showDataset,
} from "./data-panel.js";
import { showNeurons } from "./neurons.js";
import { clearErrors, setStatus, showError } from "./notices.js";
import {
  boundaryQuery,
  map,
  renderCurves,
  resetReadouts,
  showMetrics,
} from "./output-panel.js";
import { replayModel, stopReplay } from "./replay.js";
import { forget, myDatasets, myModels } from "./runs.js";
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
  const mine = myModels();
  const listed = ui.showAll.checked ? models : models.filter((meta) => mine.has(meta.id));
  ui.models.replaceChildren(...listed.map((meta) => modelItem(meta, mine.has(meta.id))));
  ui.modelsEmpty.hidden = listed.length > 0;
}

function modelItem(meta, mine) {
  const item = make("li", { className: "model" });
  item.dataset.modelId = meta.id;
  item.dataset.mine = String(mine);
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
    button("Delete", `Delete ${meta.name} from the server`, () => deleteModel(meta)),
  );
  item.append(main, actions);
  return item;
}

/** Put a stored model's dataset (if it still exists), replay, curves and previews on the map. */
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
  const epochs = meta.training?.epochs ?? 0;
  resetReadouts(epochs);
  ui.epoch.textContent = "–";
  showMetrics(meta.metrics);
  showEvaluation(meta);
  setModel({ id: meta.id, name: meta.name });
  showTestSplit(meta);
  showCurves(meta, epochs);
  await replayModel(meta.id, { meta });
  showNeurons(meta);
  setStatus(`Showing ${meta.name}. Click the map to predict, or replay its training.`, "ok");
}

/** The curves of the job that made the model (if the job is still known). */
async function showCurves(meta, epochs) {
  if (!meta.job_id) return;
  try {
    const job = await getJSON(`/v1/jobs/${encodeURIComponent(meta.job_id)}`);
    if (state.model?.id === meta.id) renderCurves(job.history, epochs);
  } catch {
    // a job record can outlive its model or not: no curves then
  }
}

async function showModelDataset(datasetId) {
  const dataset =
    state.datasets.get(datasetId) ??
    (await getJSON(`/v1/datasets/${encodeURIComponent(datasetId)}`));
  selectStored(dataset);
  showDataset(dataset, await loadData(dataset));
}

/** DELETE one resource; a 404 (already gone) counts as done. */
async function remove(kind, id) {
  try {
    await request("DELETE", `/v1/${kind}/${encodeURIComponent(id)}`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  forget(kind, id);
}

/** The chosen model is deleted: nothing to predict with or download. */
function dropIfChosen(ids) {
  if (state.model && ids.includes(state.model.id)) {
    stopReplay();
    setModel(null);
    map.setGrid(null);
  }
}

async function deleteModel(meta) {
  clearErrors();
  try {
    await remove("models", meta.id);
  } catch (error) {
    showError(error, "The model could not be deleted");
    return;
  }
  dropIfChosen([meta.id]);
  setStatus(`Deleted ${meta.name}.`, "ok");
  refreshModels();
}

/** Delete every model and dataset this browser made (after asking). */
async function clearRuns() {
  if (isTraining()) {
    setStatus("Training is running: cancel it or wait before clearing your runs.");
    return;
  }
  const models = [...myModels()];
  const datasets = [...myDatasets()];
  if (!models.length && !datasets.length) {
    setStatus("Nothing to clear: this browser has made no models or datasets.");
    return;
  }
  const what = `${models.length} model(s) and ${datasets.length} dataset(s)`;
  if (!window.confirm(`Delete the ${what} made in this browser from the server?`)) return;
  clearErrors();
  try {
    for (const id of models) await remove("models", id);
    for (const id of datasets) await remove("datasets", id);
  } catch (error) {
    showError(error, "Some of your runs could not be deleted");
  }
  dropIfChosen(models);
  forgetDatasets(datasets);
  setStatus(`Cleared your runs: deleted ${what}.`, "ok");
  refreshModels();
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

function downloadGif(id) {
  download(`/v1/models/${encodeURIComponent(id)}/animation`, `${id}-training.gif`).catch(
    (error) => showError(error, "The animation could not be downloaded"),
  );
}

/** The chosen model is highlighted in the list and is what the download buttons fetch. */
function showChosenModel(model) {
  for (const control of [ui.downloadModel, ui.downloadPng, ui.downloadGif]) {
    control.disabled = !model;
  }
  for (const item of document.querySelectorAll(".model")) {
    item.classList.toggle("active", item.dataset.modelId === model?.id);
  }
}

export function wireModels() {
  subscribe("model", showChosenModel);
  ui.downloadModel.addEventListener("click", () => state.model && downloadModel(state.model.id));
  ui.downloadPng.addEventListener("click", () => state.model && downloadPng(state.model.id));
  ui.downloadGif.addEventListener("click", () => state.model && downloadGif(state.model.id));
  ui.refreshModels.addEventListener("click", refreshModels);
  ui.clearRuns.addEventListener("click", clearRuns);
  ui.showAll.addEventListener("change", () => {
    listAllDatasets(ui.showAll.checked);
    refreshModels();
  });
}
