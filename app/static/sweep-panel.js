// The sweep panel: vary two or three settings over the current dataset (POST /v1/sweeps), fill a
// leaderboard in as trials end (the sweep's SSE stream), cancel, and show a trial's boundary on
// the map. The order of the rows is the server's `leaderboard` (the metric's own direction).

import { ApiError, getJSON, postJSON, streamEvents } from "./api.js";
import { ensureDataset, loadData, selectStored, selection, showDataset } from "./data-panel.js";
import { make, ui } from "./dom.js";
import { showEvaluation } from "./evaluation.js";
import { refreshModels } from "./models-panel.js";
import { architecture } from "./network-panel.js";
import { clearErrors, setStatus, showError } from "./notices.js";
import { resetReadouts, revealMap, showMetrics, showModelBoundary, map } from "./output-panel.js";
import { remember } from "./runs.js";
import { isTraining, setModel, state, subscribe } from "./state.js";
import { showTestSplit } from "./test-split.js";
import { trainingSettings } from "./training-panel.js";
import { decimal, numberValue, sleep } from "./util.js";

const TERMINAL = ["succeeded", "failed", "cancelled"];
const ROWS = 3; // parameter rows in index.html: sweep-param-N / sweep-values-N
const SHOWN_HINT = "Select a trial’s settings to show its model on the map.";
const STATUS_INTERVAL_MS = 1000; // how often the trials' statuses are re-read while it runs

const IDS = [
  "sweep-panel", "sweep-form", "sweep-fields", "sweep-strategy", "sweep-max-trials", "sweep-cv",
  "sweep-parallel", "sweep-metric", "sweep-start", "sweep-cancel", "sweep-progress-bar",
  "sweep-progress", "sweep-caption", "sweep-score-head", "sweep-rows", "sweep-shown",
]; // prettier-ignore

/** This panel's elements by camel-cased id (`el.sweepRows`); a missing one throws at start-up. */
const el = Object.fromEntries(
  IDS.map((id) => {
    const element = document.getElementById(id);
    if (!element) throw new Error(`index.html has no element with id "${id}"`);
    return [id.replace(/-([a-z])/g, (_, c) => c.toUpperCase()), element];
  }),
);
const paramSelect = (k) => document.getElementById(`sweep-param-${k}`);
const valuesInput = (k) => document.getElementById(`sweep-values-${k}`);

// ------------------------------------------------------------------------- the parameters

/** A finite number from text, or throws with a message naming it. */
function number(text, { min = -Infinity, integer = false } = {}) {
  const value = Number(text);
  const wrong = !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value));
  if (text === "" || wrong) {
    const kind = integer ? "a whole number" : "a number";
    throw new Error(`“${text}” is not ${kind}${min > -Infinity ? ` ≥ ${min}` : ""}`);
  }
  return value;
}

/** "8-8" -> [8, 8]; "linear" (or "0") -> [] (no hidden layer). */
function layers(text) {
  if (/^(linear|none|0)$/i.test(text)) return [];
  return text.split(/[-x× ]+/).map((unit) => number(unit, { min: 1, integer: true }));
}

function activation(text) {
  const names = ["relu", "leaky_relu", "tanh", "sigmoid", "identity"];
  if (!names.includes(text)) throw new Error(`“${text}” is not one of ${names.join(", ")}`);
  return text;
}

/** The settings a sweep can vary here: the API's field name -> label, parser, short form. */
const PARAMS = {
  learning_rate: { label: "Learning rate", short: "lr", parse: (t) => number(t, { min: 0 }) },
  hidden_layers: {
    label: "Hidden layers",
    short: "layers",
    parse: layers,
    format: (v) => (v.length ? v.join("-") : "linear"),
  },
  l2: { label: "L2 penalty", short: "L2", parse: (t) => number(t, { min: 0 }) },
  batch_size: {
    label: "Batch size",
    short: "batch",
    parse: (t) => number(t, { min: 1, integer: true }),
  },
  epochs: { label: "Epochs", short: "epochs", parse: (t) => number(t, { min: 1, integer: true }) },
  activation: { label: "Activation", short: "", parse: activation },
  momentum: { label: "Momentum (SGD)", short: "momentum", parse: (t) => number(t, { min: 0 }) },
};

function formatValue(name, value) {
  const param = PARAMS[name];
  if (param?.format) return param.format(value);
  return typeof value === "number" ? decimal(value) : String(value);
}

/** A trial's settings in short (`lr 0.03 · layers 8-8`) or long (for screen readers) form. */
function describeParams(params, long = false) {
  return Object.entries(params)
    .map(([name, value]) => {
      const label = long ? (PARAMS[name]?.label ?? name) : (PARAMS[name]?.short ?? name);
      return `${label} ${formatValue(name, value)}`.trim();
    })
    .join(long ? ", " : " · ");
}

/** The search space from the parameter rows; marks (and throws for) a row it cannot read. */
function searchSpace() {
  const space = {};
  for (let k = 0; k < ROWS; k += 1) {
    const input = valuesInput(k);
    input.setCustomValidity("");
    const name = paramSelect(k).value;
    const texts = input.value
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
    if (!texts.length) continue;
    try {
      if (name in space) throw new Error(`${PARAMS[name].label} is chosen twice`);
      space[name] = texts.map((text) => PARAMS[name].parse(text));
    } catch (error) {
      input.setCustomValidity(error.message);
      throw error;
    }
  }
  if (!Object.keys(space).length) {
    valuesInput(0).setCustomValidity("Give at least one parameter some values to try");
    throw new Error("Give at least one parameter some values to try");
  }
  return space;
}

function sweepBody(meta, space) {
  const search = { strategy: el.sweepStrategy.value, space };
  const maxTrials = numberValue(el.sweepMaxTrials);
  if (maxTrials !== undefined) search.max_trials = maxTrials;
  const body = {
    dataset_id: meta.id,
    name: `${meta.name.split(" · ")[0]} · sweep of ${Object.keys(search.space).join(", ")}`,
    architecture: architecture(),
    training: trainingSettings(),
    search,
    max_parallel: numberValue(el.sweepParallel),
  };
  if (el.sweepCv.value) body.cv_folds = Number(el.sweepCv.value);
  if (el.sweepMetric.value) body.metric = el.sweepMetric.value;
  return body;
}

// ---------------------------------------------------------------------- running a sweep

let sweep = null; // {id, doc, controller, done, refreshing, again}
let shown = null; // {trial, modelId} on the map

function setBusy(busy) {
  el.sweepFields.disabled = busy;
  el.sweepStart.disabled = busy;
  el.sweepStart.setAttribute("aria-busy", String(busy));
  el.sweepCancel.disabled = !busy;
  if (busy && document.activeElement === el.sweepStart) el.sweepCancel.focus();
  else if (!busy && document.activeElement === el.sweepCancel) el.sweepStart.focus();
}

async function start(event) {
  event.preventDefault();
  if (sweep && !sweep.done) return;
  clearErrors();
  if (isTraining()) {
    setStatus("Training is running: wait for it or cancel it before starting a sweep.");
    return;
  }
  let space = null;
  try {
    space = searchSpace();
  } catch {
    // the offending row carries the message: reportValidity shows it
  }
  if (!el.sweepForm.reportValidity() || !space) return;
  setBusy(true);
  setStatus("Preparing the dataset…");
  let meta;
  try {
    meta = await preparedDataset();
  } catch (error) {
    setBusy(false);
    showError(error, "The dataset could not be prepared", "gen.");
    return;
  }
  try {
    follow(await postJSON("/v1/sweeps", sweepBody(meta, space)));
  } catch (error) {
    setBusy(false);
    showError(error, "The sweep was not started");
  }
}

/** The dataset chosen in the data panel, stored on the server and on the map. */
async function preparedDataset() {
  const meta = await ensureDataset(selection());
  if (state.dataset?.id !== meta.id) showDataset(meta, await loadData(meta));
  return meta;
}

function follow(doc, what = "started") {
  sweep?.controller.abort();
  sweep = { id: doc.id, doc, controller: new AbortController(), done: false };
  clearShown();
  document.body.dataset.sweepId = doc.id;
  setBusy(true);
  render();
  setStatus(`Sweep ${doc.id} ${what}: ${doc.trials.length} trials.`);
  followEvents(sweep);
  watchRunning(sweep);
}

/** A sweep still running from before the page was (re)loaded: follow it again. */
async function resume() {
  let newest;
  try {
    [newest] = (await getJSON("/v1/sweeps?limit=1")).data;
  } catch {
    return; // e.g. the server needs a key: the page asks for it already
  }
  if (!newest || TERMINAL.includes(newest.status) || sweep) return;
  el.sweepPanel.open = true;
  follow(newest, "still running from before");
}

/** The stream tells when trials end; this shows which ones are running meanwhile. */
async function watchRunning(run) {
  const { signal } = run.controller;
  while (!run.done && !signal.aborted) {
    await sleep(STATUS_INTERVAL_MS, signal);
    if (!run.done) await refresh(run);
  }
}

async function followEvents(run) {
  const { signal } = run.controller;
  try {
    const path = `/v1/sweeps/${encodeURIComponent(run.id)}/events`;
    for await (const { event, data } of streamEvents(path, { signal })) {
      if (event === "trial") onTrial(run, data);
      else if (event === "status") {
        finish(run, data);
        return;
      }
    }
  } catch {
    if (signal.aborted) return;
    // The stream broke (a proxy, a restart): poll the sweep below instead.
  }
  try {
    finish(run, await pollSweep(run));
  } catch (error) {
    showError(error, "Lost track of the sweep");
    run.done = true;
    setBusy(false);
  }
}

/** A trial has ended: show it now, then ask the server for the new leaderboard. */
function onTrial(run, trial) {
  if (run !== sweep) return;
  run.doc.trials[trial.index] = trial;
  render();
  refresh(run);
}

/** Re-read the sweep (one request at a time; one more if trials ended meanwhile). */
async function refresh(run) {
  if (run.refreshing) {
    run.again = true;
    return;
  }
  run.refreshing = true;
  try {
    do {
      run.again = false;
      const doc = await getJSON(`/v1/sweeps/${encodeURIComponent(run.id)}`, {
        signal: run.controller.signal,
      });
      if (run !== sweep || run.done) break;
      if (TERMINAL.includes(doc.status)) {
        finish(run, doc); // it ended before the stream said so
      } else {
        run.doc = doc;
        render();
      }
    } while (run.again && !run.done);
  } catch {
    // the next trial event (or the final status) brings the leaderboard anyway
  } finally {
    run.refreshing = false;
  }
}

async function pollSweep(run) {
  let failures = 0;
  for (;;) {
    try {
      const doc = await getJSON(`/v1/sweeps/${encodeURIComponent(run.id)}`);
      if (TERMINAL.includes(doc.status)) return doc;
      run.doc = doc;
      render();
      failures = 0;
    } catch (error) {
      failures += 1;
      if (failures >= 10) throw error;
    }
    await sleep(Math.min(5000, 500 * 2 ** failures));
  }
}

function finish(run, doc) {
  if (run !== sweep || run.done) return;
  run.done = true;
  run.doc = doc;
  run.controller.abort();
  render();
  setBusy(false);
  // The trials' models are stored models too, made by this browser: listed under "My runs".
  for (const trial of doc.trials ?? []) remember("models", trial.model_id);
  remember("models", doc.best?.model_id);
  refreshModels();
  const best = doc.best;
  if (doc.status === "succeeded" && best) {
    const score = `${doc.metric} ${decimal(best.score)}`;
    setStatus(`Sweep done: the best is trial ${best.trial + 1} (${score}). Select a row to see it.`,
      "ok",
    );
  } else if (doc.status === "cancelled") {
    setStatus("Sweep cancelled.");
  } else {
    showError(new ApiError(0, "No trial of the sweep was scored."), "The sweep failed");
  }
}

async function cancel() {
  if (!sweep || sweep.done) return;
  el.sweepCancel.disabled = true;
  setStatus("Cancelling the sweep…");
  try {
    await postJSON(`/v1/sweeps/${encodeURIComponent(sweep.id)}/cancel`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return; // it just ended anyway
    el.sweepCancel.disabled = false;
    showError(error, "The sweep could not be cancelled");
  }
}

// --------------------------------------------------------------------------- the leaderboard

const rank = (doc, index) => doc.leaderboard.indexOf(index);

/** Ranked trials first (the server's order), then the others by index. */
function rowOrder(doc) {
  const unranked = doc.trials.map((t) => t.index).filter((i) => rank(doc, i) < 0);
  return [...doc.leaderboard, ...unranked];
}

function scoreText(trial) {
  if (!Number.isFinite(trial.score)) return "–";
  const std = Number.isFinite(trial.score_std) ? ` ± ${decimal(trial.score_std)}` : "";
  return `${decimal(trial.score)}${std}`;
}

function render() {
  const doc = sweep.doc;
  const ended = doc.trials.filter((t) => TERMINAL.includes(t.status)).length;
  const direction = doc.greater_is_better ? "higher is better" : "lower is better";
  const folds = doc.cv_folds ? `, mean of ${doc.cv_folds} folds` : ", on the validation split";
  el.sweepScoreHead.textContent = `${doc.metric} ${doc.greater_is_better ? "↑" : "↓"}`;
  el.sweepCaption.textContent = `Leaderboard, best first: ${doc.metric} (${direction}${folds})`;
  el.sweepProgressBar.max = doc.trials.length;
  el.sweepProgressBar.value = ended;
  const total = doc.trials.length;
  const progress = `${ended} of ${total} trials ended · ${statusWord(doc)}`;
  // A live region: rewriting the same words would have them read out again.
  if (el.sweepProgress.textContent !== progress) el.sweepProgress.textContent = progress;
  // Rows are rebuilt as trials end: keep the keyboard focus on the same trial's button.
  const focused = document.activeElement?.closest?.(".sweep-row")?.dataset.trial;
  el.sweepRows.replaceChildren(...rowOrder(doc).map((index) => trialRow(doc, doc.trials[index])));
  if (focused !== undefined) {
    el.sweepRows.querySelector(`[data-trial="${focused}"] .sweep-show`)?.focus();
  }
  el.sweepRows.dataset.order = doc.leaderboard.join(",");
  document.body.dataset.sweepStatus = doc.status;
}

function statusWord(doc) {
  const allEnded = doc.trials.every((t) => TERMINAL.includes(t.status));
  if (doc.status === "running" && doc.cv_folds && allEnded) {
    return "refitting the best settings on all the data";
  }
  return doc.status;
}

function trialRow(doc, trial) {
  const row = make("tr", { className: "sweep-row" });
  row.dataset.trial = String(trial.index);
  row.dataset.status = trial.status;
  const place = rank(doc, trial.index);
  const name = `trial ${trial.index + 1}`;
  const show = make("button", {
    type: "button",
    className: "sweep-show",
    textContent: describeParams(trial.params) || name,
    disabled: trial.status !== "succeeded",
  });
  show.setAttribute("aria-label", `Show ${name} on the map: ${describeParams(trial.params, true)}`);
  show.addEventListener("click", () => showTrial(trial.index));
  if (shown?.trial === trial.index) {
    row.classList.add("active");
    show.setAttribute("aria-current", "true");
  }
  const status = make("td", { textContent: trial.status });
  if (doc.best?.trial === trial.index && doc.cv_folds && doc.best.model_id) {
    status.textContent += " · refit";
  }
  const cells = [
    make("td", { textContent: place < 0 ? "–" : String(place + 1), className: "num" }),
    make("td"),
    make("td", { textContent: scoreText(trial), className: "num" }),
    status,
  ];
  cells[1].append(show);
  row.append(...cells);
  // The whole row is a target for the pointer; the button is the keyboard's (Enter or Space).
  row.addEventListener("click", (event) => {
    if (event.target !== show && !show.disabled) showTrial(trial.index);
  });
  return row;
}

// ---------------------------------------------------------------- a trial on the map

/**
 * The model that stands for a trial, and what to call it: without CV the trial's own model;
 * with CV the refit on all the data for the best trial (once done), else its first fold's.
 */
async function trialModel(doc, trial) {
  const name = `Trial ${trial.index + 1}`;
  if (!doc.cv_folds) {
    return { modelId: trial.model_id, label: `${name}'s model (scored on its validation split)` };
  }
  if (doc.best?.trial === trial.index && doc.best.model_id) {
    const label = `${name}: refit of the best settings on all the data`;
    return { modelId: doc.best.model_id, label };
  }
  const job = await getJSON(`/v1/jobs/${encodeURIComponent(trial.job_ids[0])}`);
  return {
    modelId: job.model_id,
    label: `${name}: fold 1 of ${doc.cv_folds} (trained without that fold, hollow on the map)`,
  };
}

async function showTrial(index) {
  if (isTraining()) {
    setStatus("Training is running: cancel it or wait before showing a trial.");
    return;
  }
  const doc = sweep.doc;
  const trial = doc.trials[index];
  clearErrors();
  try {
    const { modelId, label } = await trialModel(doc, trial);
    if (!modelId) throw new ApiError(0, `Trial ${index + 1} has no model.`);
    if (state.dataset?.id !== doc.dataset_id) await showSweepDataset(doc.dataset_id);
    const meta = await getJSON(`/v1/models/${encodeURIComponent(modelId)}`);
    resetReadouts(meta.training?.epochs ?? 0);
    ui.epoch.textContent = "–";
    showMetrics(meta.metrics);
    showEvaluation(meta);
    shown = { trial: index, modelId };
    setModel({ id: modelId, name: meta.name });
    showTestSplit(meta);
    await showModelBoundary(modelId, `Sweep · trial ${index + 1}`, meta);
    map.canvas.dataset.sweepTrial = String(index);
    el.sweepShown.textContent = `On the map: ${label}; ${describeParams(trial.params, true)}.`;
    el.sweepShown.dataset.modelId = modelId;
    render();
    setStatus(`Showing trial ${index + 1} of the sweep. Click the map to predict.`, "ok");
    revealMap();
  } catch (error) {
    showError(error, `Trial ${index + 1} could not be shown`);
  }
}

async function showSweepDataset(datasetId) {
  const meta =
    state.datasets.get(datasetId) ??
    (await getJSON(`/v1/datasets/${encodeURIComponent(datasetId)}`));
  selectStored(meta);
  showDataset(meta, await loadData(meta));
}

/** Another model on the map (a new run, a stored model): no row is the one shown any more. */
function onModel(model) {
  if (shown && model?.id !== shown.modelId) clearShown();
}

function clearShown() {
  shown = null;
  delete map.canvas.dataset.sweepTrial;
  el.sweepShown.textContent = SHOWN_HINT;
  delete el.sweepShown.dataset.modelId;
  if (sweep) render();
}

export function wireSweeps() {
  for (let k = 0; k < ROWS; k += 1) {
    const select = paramSelect(k);
    const options = Object.entries(PARAMS).map(([value, { label }]) =>
      make("option", { value, textContent: label }),
    );
    select.replaceChildren(...options);
    select.value = select.dataset.default;
    valuesInput(k).addEventListener("input", () => valuesInput(k).setCustomValidity(""));
  }
  el.sweepForm.addEventListener("submit", start);
  el.sweepCancel.addEventListener("click", cancel);
  subscribe("model", onModel);
  resume();
}
