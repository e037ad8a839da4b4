// The training panel and the run itself: start a job, follow its progress stream and live
// boundary, show the result, cancel it.

import { ApiError, getJSON, postJSON, streamEvents } from "./api.js";
import { ui } from "./dom.js";
import { ensureDataset, loadData, selection, showDataset } from "./data-panel.js";
import { showEvaluation } from "./evaluation.js";
import { refreshModels } from "./models-panel.js";
import { architecture } from "./network-panel.js";
import { clearErrors, setStatus, showError } from "./notices.js";
import {
  boundaryQuery,
  describeCurves,
  map,
  renderProgress,
  resetReadouts,
  revealMap,
  setFinalAccuracy,
  setSource,
  showModelBoundary,
} from "./output-panel.js";
import { hasMap } from "./plot-view.js";
import { isTraining, setJob, setModel, state } from "./state.js";
import { showTestSplit } from "./test-split.js";
import { decimal, numberValue, percent, sleep } from "./util.js";

const LIVE_RESOLUTION = 64; // grid points per axis while training (cheap, redrawn often)
const LIVE_INTERVAL_MS = 300; // at most this often a live boundary request
const TERMINAL = ["succeeded", "failed", "cancelled"];

/** The training settings' controls: each names its API field in `data-field="training.…"`. */
function trainingControls() {
  return ui.setup.querySelectorAll('[data-field^="training."]');
}

const fieldOf = (control) => control.dataset.field.slice("training.".length);

/** The `training` object of a job request (empty number fields are left to the API). */
export function trainingSettings() {
  const training = {};
  for (const control of trainingControls()) {
    if (control.type === "checkbox") training[fieldOf(control)] = control.checked;
    else if (control.type === "number") training[fieldOf(control)] = numberValue(control);
    else if (control.type === "range") training[fieldOf(control)] = control.valueAsNumber;
    else training[fieldOf(control)] = control.value;
  }
  // No test split is the API's default: leave the field out then (older servers lack it).
  if (!training.test_fraction) delete training.test_fraction;
  return training;
}

/** The test-data slider's readout: "train : test" in percent, as in TensorFlow Playground. */
function showTestShare() {
  const test = Math.round(ui.testFraction.valueAsNumber * 100);
  ui.testFractionValue.textContent = test ? `${100 - test} : ${test}` : "none";
  ui.testFraction.setAttribute(
    "aria-valuetext",
    test ? `${test}% of the rows held out for testing` : "no test data",
  );
}

/** Set the training controls named in `settings` (API field names); others keep their value. */
export function setTrainingValues(settings) {
  for (const control of trainingControls()) {
    const value = settings[fieldOf(control)];
    if (value === undefined) continue;
    if (control.type === "checkbox") control.checked = value;
    else control.value = value;
  }
  showTestShare();
}

/** Between runs the epoch readout shows the epochs asked for. */
export function showIdleEpochs() {
  if (isTraining()) return;
  ui.epoch.textContent = `0 / ${ui.epochs.value || "?"}`;
  ui.progress.value = 0;
}

function jobBody(meta) {
  const training = trainingSettings();
  const { hidden_layers: hidden, activation } = architecture();
  const shape = hidden.length ? hidden.join("-") : "linear";
  const name = `${meta.name.split(" · ")[0]} · ${shape} ${activation} · ${training.optimizer}`;
  return {
    dataset_id: meta.id,
    name: name.slice(0, 200),
    architecture: { hidden_layers: hidden, activation },
    training,
  };
}

function setBusy(busy) {
  const active = document.activeElement;
  for (const fields of [ui.dataFields, ui.networkFields, ui.trainingFields, ui.uploadFields]) {
    fields.disabled = busy;
  }
  ui.train.disabled = busy;
  ui.train.setAttribute("aria-busy", String(busy));
  ui.cancel.disabled = !busy;
  document.body.dataset.busy = String(busy);
  if (busy && (active === ui.train || ui.setup.contains(active))) {
    ui.cancel.focus({ preventScroll: true });
  } else if (!busy && (active === ui.cancel || active === document.body)) {
    ui.train.focus({ preventScroll: true });
  }
}

async function train(event) {
  event.preventDefault();
  if (isTraining()) return;
  clearErrors();
  if (!ui.setup.reportValidity()) return;
  setBusy(true);
  setStatus("Preparing the dataset…");
  let meta;
  try {
    meta = await ensureDataset(selection());
    if (state.dataset?.id !== meta.id) showDataset(meta, await loadData(meta));
  } catch (error) {
    setBusy(false);
    showError(error, "The dataset could not be prepared", "gen.");
    return;
  }
  const body = jobBody(meta);
  let job;
  try {
    job = await postJSON("/v1/jobs", body);
  } catch (error) {
    setBusy(false);
    showError(error, "The job was not started");
    return;
  }
  follow(job, body.training.epochs);
}

function follow(record, epochs) {
  const job = {
    id: record.id,
    status: record.status,
    epochs,
    history: [],
    done: false,
    controller: new AbortController(),
    frame: 0,
  };
  setJob(job);
  document.body.dataset.jobId = job.id;
  document.body.dataset.jobStatus = job.status;
  setModel(null);
  ui.prediction.textContent = "Predictions open when training finishes.";
  resetReadouts(epochs);
  map.setGrid(null);
  map.setMarker(null);
  map.setMessage("Waiting for the first weights snapshot…");
  setSource("Waiting…", "live", "none");
  setStatus(`Training started (job ${job.id}). The map updates every few epochs.`);
  revealMap();
  followEvents(job);
  if (hasMap(state.view)) followBoundary(job);
}

/** Record an epoch's row (once, in order) and redraw on the next frame. */
function onProgress(job, row) {
  const last = job.history.at(-1);
  if (last && row.epoch <= last.epoch) return;
  job.history.push(row);
  if (row.epochs) job.epochs = row.epochs;
  if (job.status !== "running") {
    job.status = "running";
    document.body.dataset.jobStatus = "running";
  }
  if (!job.frame) {
    job.frame = requestAnimationFrame(() => {
      job.frame = 0;
      renderProgress(job);
    });
  }
}

async function followEvents(job) {
  const { signal } = job.controller;
  let final = null;
  try {
    const path = `/v1/jobs/${encodeURIComponent(job.id)}/events`;
    for await (const { event, data } of streamEvents(path, { signal })) {
      if (event === "progress") onProgress(job, data);
      else if (event === "status") {
        final = data;
        break;
      }
    }
  } catch {
    if (signal.aborted) return;
    // The stream broke (a proxy, a restart): fall back to polling the job below.
  }
  try {
    await finish(job, final ?? (await pollJob(job)));
  } catch (error) {
    showError(error, "Lost track of the job");
    job.done = true;
    setBusy(false);
  }
}

async function pollJob(job) {
  let failures = 0;
  for (;;) {
    try {
      const record = await getJSON(`/v1/jobs/${encodeURIComponent(job.id)}`);
      for (const row of record.history) onProgress(job, row);
      if (TERMINAL.includes(record.status)) return record;
      failures = 0;
    } catch (error) {
      failures += 1;
      if (failures >= 10) throw error;
    }
    await sleep(Math.min(5000, 500 * 2 ** failures));
  }
}

/** Redraw the map from the job's latest weights snapshot while it runs. */
async function followBoundary(job) {
  const { signal } = job.controller;
  let warned = false;
  while (!job.done) {
    const started = performance.now();
    const epoch = job.history.at(-1)?.epoch ?? 0;
    if (!epoch) {
      await sleep(100, signal); // queued or starting: no snapshot before the first epoch
      continue;
    }
    try {
      const grid = await getJSON(
        `/v1/jobs/${encodeURIComponent(job.id)}/boundary?${boundaryQuery(LIVE_RESOLUTION)}`,
        { signal },
      );
      if (job.done) break;
      map.setGrid(grid);
      map.canvas.dataset.boundaryEpoch = String(epoch);
      setSource(`Live · epoch ${epoch}`, "live", "snapshot");
    } catch (error) {
      if (signal.aborted || job.done) break;
      if (error instanceof ApiError && error.status === 404) break;
      if (!(error instanceof ApiError && error.status === 409) && !warned) {
        warned = true; // e.g. a 500: the curves still update, so say it once and carry on
        showError(error, "The live boundary is unavailable");
      }
    }
    await sleep(Math.max(50, LIVE_INTERVAL_MS - (performance.now() - started)), signal);
  }
}

/** The job has ended: take its final record (if reachable) and show the outcome. */
async function finish(job, final) {
  job.done = true;
  let record = null;
  try {
    record = await getJSON(`/v1/jobs/${encodeURIComponent(job.id)}`);
    for (const row of record.history) onProgress(job, row);
  } catch {
    record = null; // the stream's final event is enough to go on
  }
  job.controller.abort();
  renderProgress(job);
  job.status = record?.status ?? final.status;
  document.body.dataset.jobStatus = job.status;
  describeCurves(job);
  const epoch = job.history.at(-1)?.epoch;
  if (job.status === "succeeded") {
    await finishSucceeded(job, record, final);
  } else if (job.status === "cancelled") {
    setSource(`Cancelled · epoch ${epoch ?? 0}`, "", null);
    setStatus(`Cancelled at epoch ${epoch ?? 0}.`);
  } else {
    const error = record?.error ?? final.error ?? {};
    setSource("Failed", "", null);
    showError(
      new ApiError(0, error.message || "The job failed."),
      `Training failed${error.code ? ` (${error.code})` : ""}`,
    );
  }
  setBusy(false);
}

async function finishSucceeded(job, record, final) {
  const last = job.history.at(-1);
  const accuracy = record?.progress?.accuracy ?? last?.accuracy;
  setFinalAccuracy(accuracy);
  const modelId = record?.model_id ?? final.model_id;
  setModel({ id: modelId, name: record?.name ?? modelId });
  const [model] = await Promise.all([
    getJSON(`/v1/models/${encodeURIComponent(modelId)}`).catch(() => null),
    showModelBoundary(modelId, "Final model"),
  ]);
  showEvaluation(model);
  showTestSplit(model);
  const test = model?.evaluation?.test;
  let result = Number.isFinite(accuracy)
    ? `training accuracy ${percent(accuracy)}`
    : `loss ${decimal(last?.loss)}`;
  if (Number.isFinite(test?.accuracy)) result += `, test accuracy ${percent(test.accuracy)}`;
  setStatus(`Done after ${last?.epoch ?? "?"} epochs: ${result}. Click the map to predict.`, "ok");
  refreshModels();
}

async function cancel() {
  const job = state.job;
  if (!job || job.done) return;
  ui.cancel.disabled = true;
  setStatus("Cancelling…");
  try {
    await postJSON(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return; // it just ended anyway
    ui.cancel.disabled = false;
    showError(error, "The job could not be cancelled");
  }
}

export function wireTraining() {
  ui.setup.addEventListener("submit", train);
  ui.cancel.addEventListener("click", cancel);
  ui.epochs.addEventListener("input", showIdleEpochs);
  ui.testFraction.addEventListener("input", showTestShare);
  showTestShare();
}
