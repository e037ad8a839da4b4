// The training panel and the run itself: start a job, follow its progress stream and its
// frames (replay.js), show the result, cancel it (keeping what was learnt, if asked). The job
// followed is remembered (runs.js), so a reload reattaches to it.

import { ApiError, getJSON, postJSON, streamEvents } from "./api.js";
import { ui } from "./dom.js";
import { ensureDataset, loadData, selection, showDataset } from "./data-panel.js";
import { showNeurons } from "./neurons.js";
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
} from "./output-panel.js";
import { hasMap } from "./plot-view.js";
import { replayJob, replayModel, stopReplay } from "./replay.js";
import { remember, runningJob, setRunningJob } from "./runs.js";
import { isTraining, setJob, setModel, state } from "./state.js";
import { showTestSplit } from "./test-split.js";
import { decimal, numberValue, percent, sleep } from "./util.js";

const LIVE_RESOLUTION = 64; // grid points per axis while training (cheap, redrawn often)
const LIVE_INTERVAL_MS = 300; // at most this often a live boundary request
const TERMINAL = ["succeeded", "failed", "cancelled"];

/** The training settings' controls: each names its API field in `data-field="training.…"`. */
function trainingControls() {
  const fields = ["input", "select"].map((tag) => `${tag}[data-field^="training."]`);
  return ui.setup.querySelectorAll(fields.join(", "));
}

const fieldOf = (control) => control.dataset.field.slice("training.".length);

/** The feature-cross checkboxes: each one's value is a kind of the API's `feature_crosses`. */
const crossBoxes = () => ui.crosses.querySelectorAll('input[type="checkbox"]');

/** Every training control's value by API field (empty number fields: undefined). */
export function trainingValues() {
  const training = {};
  for (const control of trainingControls()) {
    if (control.type === "checkbox") training[fieldOf(control)] = control.checked;
    else if (control.type === "number") training[fieldOf(control)] = numberValue(control);
    else if (control.type === "range") training[fieldOf(control)] = control.valueAsNumber;
    else training[fieldOf(control)] = control.value;
  }
  training.feature_crosses = [...crossBoxes()].filter((box) => box.checked).map((b) => b.value);
  return training;
}

/** The `training` object of a job request (empty number fields are left to the API). */
export function trainingSettings() {
  const training = trainingValues();
  // Options at their defaults are left out (the API's defaults; older servers lack them).
  if (!training.test_fraction) delete training.test_fraction;
  if (!training.l1) delete training.l1;
  if (!training.feature_crosses.length) delete training.feature_crosses;
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
  if (Array.isArray(settings.feature_crosses)) {
    for (const box of crossBoxes()) box.checked = settings.feature_crosses.includes(box.value);
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
  if (!busy) closeCancelChoice(false);
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

/** Follow a job (just started, or found running after a reload) until it ends. */
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
  setRunningJob(job);
  document.body.dataset.jobId = job.id;
  document.body.dataset.jobStatus = job.status;
  setModel(null);
  ui.prediction.textContent = "Predictions open when training finishes.";
  resetReadouts(epochs);
  for (const row of record.history ?? []) onProgress(job, row);
  map.setGrid(null);
  map.setMarker(null);
  map.setMessage("Waiting for the first weights snapshot…");
  setSource("Waiting…", "live", "none");
  showQueue(job, record);
  revealMap();
  followEvents(job);
  if (record.status === "queued") watchQueue(job);
  if (hasMap(state.view)) {
    replayJob(job.id, { onNoFrames: () => followBoundary(job) });
  } else {
    stopReplay();
  }
}

/** The status line for a queued or running job ("queued, N ahead" from `queue_position`). */
function showQueue(job, record) {
  if (record.status === "queued") {
    const ahead = record.queue_position;
    const next = ahead === 0 ? " (it is next)" : "";
    const where = Number.isFinite(ahead) ? `queued, ${ahead} ahead${next}` : "queued";
    ui.epoch.textContent = "queued";
    ui.epoch.dataset.queuePosition = String(ahead ?? "");
    setStatus(`Job ${job.id} is ${where}. It starts when a training slot frees up.`);
  } else {
    delete ui.epoch.dataset.queuePosition;
    setStatus(`Training (job ${job.id}). The map plays the frames the job records.`);
  }
}

/** While the job waits in the queue, say how many jobs are ahead of it. */
async function watchQueue(job) {
  const { signal } = job.controller;
  while (!job.done && job.status === "queued") {
    await sleep(1000, signal);
    if (job.done || job.status !== "queued") break;
    try {
      const record = await getJSON(`/v1/jobs/${encodeURIComponent(job.id)}`, { signal });
      if (record.status === "queued") showQueue(job, record);
    } catch {
      // the events stream reports the start anyway
    }
  }
  if (!job.done) showQueue(job, { status: "running" });
}

/**
 * After a reload: the job this page was following, if it still runs, is followed again
 * (progress, map, cancel). Returns true when one was found.
 */
export async function resumeJob() {
  const saved = runningJob();
  if (!saved || isTraining()) return false;
  let record;
  try {
    record = await getJSON(`/v1/jobs/${encodeURIComponent(saved.id)}`);
  } catch {
    setRunningJob(null);
    return false;
  }
  if (TERMINAL.includes(record.status)) {
    setRunningJob(null);
    remember("models", record.model_id);
    return false;
  }
  try {
    const meta = state.datasets.get(record.dataset_id) ??
      (await getJSON(`/v1/datasets/${encodeURIComponent(record.dataset_id)}`));
    showDataset(meta, await loadData(meta));
  } catch {
    // the map stays as it is; progress and cancel still work
  }
  setBusy(true);
  follow(record, record.training?.epochs ?? saved.epochs);
  setStatus(`Reattached to your running job ${record.id}.`);
  if (record.status === "queued") showQueue(state.job, record);
  return true;
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
  setRunningJob(null);
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
  const modelId = record?.model_id ?? final.model_id;
  if (job.status === "succeeded") {
    await finishSucceeded(job, record, modelId);
  } else if (job.status === "cancelled" && modelId) {
    await showResult(job, record, modelId);
    setStatus(`Cancelled at epoch ${epoch ?? 0}; the model learnt so far is kept.`, "ok");
  } else if (job.status === "cancelled") {
    stopReplay();
    setSource(`Cancelled · epoch ${epoch ?? 0}`, "", null);
    setStatus(`Cancelled at epoch ${epoch ?? 0}.`);
  } else {
    stopReplay();
    const error = record?.error ?? final.error ?? {};
    setSource("Failed", "", null);
    showError(
      new ApiError(0, error.message || "The job failed."),
      `Training failed${error.code ? ` (${error.code})` : ""}`,
    );
  }
  setBusy(false);
}

/** The job's model: chosen for predictions, its frames played, its figures shown. */
async function showResult(job, record, modelId) {
  remember("models", modelId);
  setModel({ id: modelId, name: record?.name ?? modelId });
  replayModel(modelId);
  const model = await getJSON(`/v1/models/${encodeURIComponent(modelId)}`).catch(() => null);
  showEvaluation(model);
  showTestSplit(model);
  showNeurons(model);
  refreshModels();
  return model;
}

async function finishSucceeded(job, record, modelId) {
  const last = job.history.at(-1);
  const accuracy = record?.progress?.accuracy ?? last?.accuracy;
  setFinalAccuracy(accuracy);
  const model = await showResult(job, record, modelId);
  const test = model?.evaluation?.test;
  let result = Number.isFinite(accuracy)
    ? `training accuracy ${percent(accuracy)}`
    : `loss ${decimal(last?.loss)}`;
  if (Number.isFinite(test?.accuracy)) result += `, test accuracy ${percent(test.accuracy)}`;
  setStatus(`Done after ${last?.epoch ?? "?"} epochs: ${result}. Click the map to predict.`, "ok");
}

/** Cancel asks first: keep what was learnt (a model from the last frame), or discard it. */
function openCancelChoice() {
  if (!state.job || state.job.done) return;
  ui.cancelChoice.hidden = false;
  ui.cancel.setAttribute("aria-expanded", "true");
  ui.cancelKeep.focus();
}

function closeCancelChoice(refocus = true) {
  if (ui.cancelChoice.hidden) return;
  ui.cancelChoice.hidden = true;
  ui.cancel.setAttribute("aria-expanded", "false");
  if (refocus && !ui.cancel.disabled) ui.cancel.focus();
}

async function cancel(keep) {
  const job = state.job;
  closeCancelChoice(false);
  if (!job || job.done) return;
  ui.cancel.disabled = true;
  setStatus(keep ? "Cancelling, keeping the model so far…" : "Cancelling…");
  const query = keep ? "?keep=true" : "";
  try {
    await postJSON(`/v1/jobs/${encodeURIComponent(job.id)}/cancel${query}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return; // it just ended anyway
    ui.cancel.disabled = false;
    showError(error, "The job could not be cancelled");
  }
}

export function wireTraining() {
  ui.setup.addEventListener("submit", train);
  ui.cancel.setAttribute("aria-expanded", "false");
  ui.cancel.setAttribute("aria-controls", "cancel-choice");
  ui.cancel.addEventListener("click", () =>
    ui.cancelChoice.hidden ? openCancelChoice() : closeCancelChoice(),
  );
  ui.cancelKeep.addEventListener("click", () => cancel(true));
  ui.cancelDiscard.addEventListener("click", () => cancel(false));
  ui.cancelBack.addEventListener("click", () => closeCancelChoice());
  ui.cancelChoice.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeCancelChoice();
  });
  ui.epochs.addEventListener("input", showIdleEpochs);
  ui.testFraction.addEventListener("input", showTestShare);
  showTestShare();
}
