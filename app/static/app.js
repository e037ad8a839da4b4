// MLP Playground: pick data, shape a network, train it on the server and watch it learn.
// Talks only to the public /v1 API (see /docs). No build step: plain ES modules.

import { ApiError, download, getJSON, postJSON, request, setApiKey, streamEvents } from "./api.js";
import { BoundaryMap, classColour, renderLegend, valueRange } from "./boundary.js";
import { LineChart } from "./charts.js";
import { LayerEditor, drawNetwork, parameterCount } from "./network.js";

const $ = (id) => document.getElementById(id);

const LIVE_RESOLUTION = 64; // grid points per axis while training (cheap, redrawn often)
const FINAL_RESOLUTION = 150; // for the finished model
const PNG_RESOLUTION = 250;
const LIVE_INTERVAL_MS = 300; // at most this often a live boundary request
const MAX_POINTS_DRAWN = 4000;
const MAX_ROWS_FETCHED = 50_000;
const TRAIN_COLOUR = "#4338ca";
const VAL_COLOUR = "#e8590c";

// Generators: noise slider [min, max, step, default], default size, default classes.
const GENERATORS = {
  notebook: {
    noise: [0, 3, 0.05, 1],
    n: 1000,
    help: "A factor on the notebook's scales (1 = the notebook's own).",
  },
  xor: { noise: [0, 0.5, 0.01, 0.05], n: 400, help: "Standard deviation of the jitter." },
  circles: { noise: [0, 0.3, 0.01, 0.08], n: 400, help: "Standard deviation of the jitter." },
  moons: { noise: [0, 0.5, 0.01, 0.1], n: 400, help: "Standard deviation of the jitter." },
  spirals: {
    noise: [0, 0.3, 0.01, 0.05],
    n: 400,
    classes: 2,
    help: "Standard deviation of the jitter.",
  },
  gaussians: {
    noise: [0.1, 2, 0.05, 0.5],
    n: 300,
    classes: 3,
    help: "Standard deviation of each blob.",
  },
};

const PRESETS = {
  // The teaching notebook's network and training run. Seed 1 reaches 99.2 % on its data set.
  notebook: {
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
    early_stopping: false,
  },
  fast: {
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
    early_stopping: false,
  },
};

const state = {
  datasets: new Map(), // id -> dataset metadata (stored on the server)
  data: new Map(), // id -> {X, y}
  dataset: null, // metadata of the dataset on the map
  view: null, // {xMin, xMax, yMin, yMax, features, nFeatures, fixed}
  job: null, // the job being followed
  model: null, // {id, name} predictions and downloads go to
  previewToken: 0,
  kind: null, // the generator whose defaults the sliders show
};

const map = new BoundaryMap($("boundary"));
const lossChart = new LineChart($("loss-chart"), { empty: "Train to see the loss" });
const accuracyChart = new LineChart($("accuracy-chart"), {
  yMin: 0,
  yMax: 1,
  empty: "Train to see the accuracy",
});
const layers = new LayerEditor({
  list: $("layers"),
  add: $("add-layer"),
  onChange: () => updateNetwork(),
});

// --------------------------------------------------------------------------- small helpers

function setStatus(text, tone = "") {
  const status = $("status");
  status.textContent = text;
  status.className = `status ${tone}`.trim();
}

function showError(error, title = "Something went wrong", fieldPrefix = "") {
  if (error?.name === "AbortError") return;
  const messages = error?.fields?.length
    ? error.fields.map((f) => f.msg)
    : String(error?.message ?? error).split("\n");
  $("error-title").textContent = error?.status === 429 ? "The server is busy" : title;
  $("error-list").replaceChildren(
    ...messages.map((m) => Object.assign(document.createElement("li"), { textContent: m })),
  );
  $("error").hidden = false;
  const invalid = (error?.fields ?? []).map((f) => markInvalid(f.loc, fieldPrefix)).filter(Boolean);
  setStatus(`${title}.`);
  // Show where the problem is: the first offending control, else the message itself.
  if (invalid.length && !invalid[0].disabled) invalid[0].focus();
  else $("error").scrollIntoView({ block: "nearest" });
}

function markInvalid(loc, prefix) {
  const path = loc.slice(1).join(".");
  const control = document.querySelector(`[data-field="${CSS.escape(prefix + path)}"]`);
  if (!control) return null;
  control.setAttribute("aria-invalid", "true");
  control.closest("details")?.setAttribute("open", "");
  return control;
}

function clearErrors() {
  $("error").hidden = true;
  for (const control of document.querySelectorAll('[aria-invalid="true"]')) {
    control.removeAttribute("aria-invalid");
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const percent = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : "–");
const decimal = (x) => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : "–");
const coordinate = (x) => Number(x.toPrecision(4));

function numberValue(id) {
  const input = $(id);
  return input.value.trim() === "" ? undefined : input.valueAsNumber;
}

// --------------------------------------------------------------------------- data

function selection() {
  const value = $("dataset").value;
  if (value.startsWith("gen:")) {
    const kind = value.slice(4);
    const spec = {
      kind,
      n_samples: $("n-samples").valueAsNumber,
      noise: $("noise").valueAsNumber,
      seed: numberValue("data-seed") ?? 0,
    };
    if (GENERATORS[kind].classes) spec.n_classes = $("n-classes").valueAsNumber;
    const classes = spec.n_classes ? ` · ${spec.n_classes} classes` : "";
    const name = `${kind} · ${spec.n_samples} points · noise ${spec.noise} · seed ${spec.seed}${classes}`;
    return { type: "generate", kind, spec, name };
  }
  return { type: "stored", id: value.slice("stored:".length) };
}

/** The stored dataset for the current selection; a generated one is made once and reused. */
async function ensureDataset(sel) {
  if (sel.type === "stored") {
    return state.datasets.get(sel.id) ?? getJSON(`/v1/datasets/${encodeURIComponent(sel.id)}`);
  }
  for (const meta of state.datasets.values()) {
    if (meta.name === sel.name && meta.n_features === 2) return meta;
  }
  const meta = await postJSON("/v1/datasets/generate", { ...sel.spec, name: sel.name });
  state.datasets.set(meta.id, meta);
  renderStoredOptions();
  return meta;
}

async function loadData(meta) {
  if (state.data.has(meta.id)) return state.data.get(meta.id);
  if (meta.n_samples > MAX_ROWS_FETCHED) return null; // too many to draw: the map shows no points
  const data = await getJSON(`/v1/datasets/${encodeURIComponent(meta.id)}/data`);
  state.data.set(meta.id, data);
  return data;
}

async function loadDatasets() {
  const { data } = await getJSON("/v1/datasets");
  state.datasets = new Map(data.map((meta) => [meta.id, meta]));
  renderStoredOptions();
}

function renderStoredOptions() {
  const group = $("stored-datasets");
  const selected = $("dataset").value;
  const metas = [...state.datasets.values()].sort((a, b) =>
    String(b.created_at).localeCompare(String(a.created_at)),
  );
  group.replaceChildren(
    ...metas.map((meta) => {
      const option = document.createElement("option");
      option.value = `stored:${meta.id}`;
      option.textContent = `${meta.name} (${meta.n_samples} × ${meta.n_features})`;
      return option;
    }),
  );
  if ([...$("dataset").options].some((o) => o.value === selected)) $("dataset").value = selected;
}

function syncGeneratorOptions() {
  const sel = selection();
  $("generator-options").hidden = sel.type !== "generate";
  if (sel.type !== "generate" || sel.kind === state.kind) return;
  state.kind = sel.kind;
  const gen = GENERATORS[sel.kind];
  const [min, max, step, value] = gen.noise;
  Object.assign($("noise"), { min, max, step, value });
  $("noise-help").textContent = gen.help;
  $("n-samples").value = gen.n;
  $("n-classes-field").hidden = !gen.classes;
  if (gen.classes) $("n-classes").value = gen.classes;
  syncOutputs();
}

function syncOutputs() {
  $("noise-value").textContent = $("noise").value;
  $("n-samples-value").textContent = $("n-samples").value;
  $("n-classes-value").textContent = $("n-classes").value;
}

/** Compute the plotted region: the data's bounds plus a margin, with equal axis scales. */
function computeView(meta, features) {
  const [fx, fy] = features;
  let [x0, x1] = [meta.bounds.min[fx], meta.bounds.max[fx]];
  let [y0, y1] = [meta.bounds.min[fy], meta.bounds.max[fy]];
  const widen = (lo, hi) => {
    const span = hi - lo;
    const pad = span > 0 ? span * 0.1 : Math.max(0.5, Math.abs(lo) * 0.1);
    return [lo - pad, hi + pad];
  };
  [x0, x1] = widen(x0, x1);
  [y0, y1] = widen(y0, y1);
  const ratio = (x1 - x0) / (y1 - y0);
  if (ratio > 1 && ratio < 4) {
    const c = (y0 + y1) / 2;
    [y0, y1] = [c - (x1 - x0) / 2, c + (x1 - x0) / 2];
  } else if (ratio < 1 && ratio > 0.25) {
    const c = (x0 + x1) / 2;
    [x0, x1] = [c - (y1 - y0) / 2, c + (y1 - y0) / 2];
  }
  let fixed = null;
  if (meta.n_features > 2) {
    fixed = [];
    for (let f = 0; f < meta.n_features; f += 1) {
      if (f !== fx && f !== fy) fixed.push((meta.bounds.min[f] + meta.bounds.max[f]) / 2);
    }
  }
  return { xMin: x0, xMax: x1, yMin: y0, yMax: y1, features, nFeatures: meta.n_features, fixed };
}

function chosenFeatures(meta) {
  const axes = $("axes-options");
  if (meta.n_features <= 2) {
    axes.hidden = true;
    return [0, 1];
  }
  const fill = (select, value) => {
    if (select.options.length !== meta.n_features || select.dataset.dataset !== meta.id) {
      select.replaceChildren(
        ...Array.from({ length: meta.n_features }, (_, f) =>
          Object.assign(document.createElement("option"), { value: f, textContent: `x${f}` }),
        ),
      );
      select.dataset.dataset = meta.id;
      select.value = value;
    }
  };
  fill($("feature-x"), 0);
  fill($("feature-y"), 1);
  axes.hidden = false;
  let fx = Number($("feature-x").value);
  let fy = Number($("feature-y").value);
  if (fx === fy) {
    fy = fx === 0 ? 1 : 0;
    $("feature-y").value = fy;
  }
  return [fx, fy];
}

/** Put a dataset on the map (points only) and fit the network sketch to it. */
function showDataset(meta, data) {
  const changed = state.dataset?.id !== meta.id;
  state.dataset = meta;
  const features = chosenFeatures(meta);
  state.view = computeView(meta, features);
  map.axisLabels = meta.n_features > 2 ? [`x${features[0]} →`, `↑ x${features[1]}`] : null;
  map.setView(state.view);
  map.setPoints(data ? projectPoints(meta, data, features) : null);
  map.setGrid(null);
  map.setMarker(null);
  map.setMessage("Press Train to watch the boundary form");
  setSource("Data", "", "none");
  renderLegend($("legend"), {
    task: meta.task,
    classes: meta.classes,
    valueRange: data && meta.task === "regression" ? valueRange(data.y) : null,
  });
  const classes =
    meta.task === "classification" ? `classes ${meta.classes.join(", ")}` : "regression";
  const stored = $("dataset").value.startsWith("stored:") ? `${meta.name}: ` : "";
  $("dataset-info").textContent =
    `${stored}${meta.n_samples} rows · ${meta.n_features} features · ${classes}` +
    (data ? "" : " (too many rows to draw)");
  if (changed) forgetModel();
  updateNetwork();
}

function projectPoints(meta, data, [fx, fy]) {
  const n = data.X.length;
  const stride = Math.max(1, Math.ceil(n / MAX_POINTS_DRAWN));
  const count = Math.ceil(n / stride);
  const xs = new Float64Array(count);
  const ys = new Float64Array(count);
  const classOf = new Map((meta.classes ?? []).map((label, index) => [String(label), index]));
  const classIndex = meta.task === "classification" ? new Int32Array(count) : null;
  const values = classIndex ? null : new Float64Array(count);
  for (let k = 0, row = 0; row < n; row += stride, k += 1) {
    xs[k] = data.X[row][fx];
    ys[k] = data.X[row][fy];
    if (classIndex) classIndex[k] = classOf.get(String(data.y[row])) ?? 0;
    else values[k] = data.y[row];
  }
  return { xs, ys, classIndex, values, valueRange: values ? valueRange(values) : null };
}

const refreshDataset = debounce(async () => {
  const token = ++state.previewToken;
  const sel = selection();
  setStatus(sel.type === "generate" ? `Generating the ${sel.kind} dataset…` : "Loading…");
  try {
    const meta = await ensureDataset(sel);
    const data = await loadData(meta);
    if (token !== state.previewToken || (state.job && !state.job.done)) return;
    showDataset(meta, data);
    setStatus("Ready: press Train.");
  } catch (error) {
    if (token === state.previewToken) showError(error, "The dataset could not be loaded", "gen.");
  }
}, 200);

async function uploadCsv() {
  clearErrors();
  const file = $("csv-file").files[0];
  if (!file) {
    showError(new ApiError(0, "Choose a CSV file first."), "Nothing to upload");
    $("csv-file").focus();
    return;
  }
  const params = new URLSearchParams({ task: $("csv-task").value });
  const label = $("csv-label").value.trim();
  if (label) params.set("label", label);
  params.set("name", ($("csv-name").value.trim() || file.name.replace(/\.csv$/i, "")).slice(0, 200));
  $("csv-upload").disabled = true;
  setStatus(`Uploading ${file.name}…`);
  try {
    const response = await request("POST", `/v1/datasets?${params}`, {
      body: await file.text(),
      contentType: "text/csv",
      accept: "application/json",
    });
    const meta = await response.json();
    state.datasets.set(meta.id, meta);
    renderStoredOptions();
    $("dataset").value = `stored:${meta.id}`;
    syncGeneratorOptions();
    refreshDataset();
    setStatus(`Uploaded “${meta.name}”: ${meta.n_samples} rows.`, "ok");
  } catch (error) {
    showError(error, "The CSV was not accepted", "csv.");
  } finally {
    $("csv-upload").disabled = false;
  }
}

// --------------------------------------------------------------------------- network form

function outputUnits(meta) {
  if (!meta || meta.task === "regression") return 1;
  return meta.classes.length <= 2 ? 1 : meta.classes.length;
}

function updateNetwork() {
  const meta = state.dataset;
  const sizes = [meta?.n_features ?? 2, ...layers.layers, outputUnits(meta)];
  drawNetwork($("network-sketch"), sizes);
  $("network-summary").textContent =
    `${sizes.join(" → ")} · ${parameterCount(sizes).toLocaleString()} parameters`;
  let output = "Output: one sigmoid unit, binary cross-entropy.";
  if (meta?.task === "regression") output = "Output: one linear unit, squared error.";
  else if (outputUnits(meta) > 1) {
    output = `Output: ${outputUnits(meta)} softmax units, cross-entropy.`;
  }
  $("output-info").textContent = output;
}

function applyPreset(preset) {
  layers.layers = preset.hidden;
  $("activation").value = preset.activation;
  $("optimizer").value = preset.optimizer;
  $("momentum").value = preset.momentum;
  $("learning-rate").value = preset.learning_rate;
  $("batch-size").value = preset.batch_size;
  $("epochs").value = preset.epochs;
  $("init").value = preset.init;
  $("shuffle").checked = preset.shuffle;
  $("standardize").checked = preset.standardize;
  $("l2").value = preset.l2;
  $("seed").value = preset.seed;
  $("validation").value = preset.validation_fraction;
  $("early-stopping").checked = preset.early_stopping;
  showIdleEpochs();
}

function showIdleEpochs() {
  if (state.job && !state.job.done) return;
  $("epoch").textContent = `0 / ${$("epochs").value || "?"}`;
  $("progress").value = 0;
}

function jobBody(meta) {
  const training = {
    epochs: numberValue("epochs"),
    learning_rate: numberValue("learning-rate"),
    batch_size: numberValue("batch-size"),
    optimizer: $("optimizer").value,
    momentum: numberValue("momentum"),
    l2: numberValue("l2"),
    init: $("init").value,
    standardize: $("standardize").checked,
    shuffle: $("shuffle").checked,
    validation_fraction: numberValue("validation"),
    early_stopping: $("early-stopping").checked,
    patience: numberValue("patience"),
    seed: numberValue("seed"),
  };
  const hidden = layers.layers;
  const activation = $("activation").value;
  const shape = hidden.length ? hidden.join("-") : "linear";
  const name = `${meta.name.split(" · ")[0]} · ${shape} ${activation} · ${training.optimizer}`;
  return {
    dataset_id: meta.id,
    name: name.slice(0, 200),
    architecture: { hidden_layers: hidden, activation },
    training,
  };
}

// --------------------------------------------------------------------------- training

function setBusy(busy) {
  const active = document.activeElement;
  for (const id of ["data-fields", "network-fields", "training-fields", "upload-fields"]) {
    $(id).disabled = busy;
  }
  $("train").disabled = busy;
  $("train").setAttribute("aria-busy", String(busy));
  $("cancel").disabled = !busy;
  document.body.dataset.busy = String(busy);
  if (busy && (active === $("train") || $("setup").contains(active))) {
    $("cancel").focus({ preventScroll: true });
  } else if (!busy && (active === $("cancel") || active === document.body)) {
    $("train").focus({ preventScroll: true });
  }
}

function setSource(text, tone, source) {
  const badge = $("map-source");
  badge.textContent = text;
  badge.className = `badge ${tone}`.trim();
  if (source) map.canvas.dataset.boundarySource = source;
  const what = state.dataset ? ` of ${state.dataset.name}` : "";
  map.canvas.setAttribute("aria-label", `Decision boundary map${what}: ${text}`);
}

function resetReadouts(epochs) {
  $("epoch").textContent = `0 / ${epochs}`;
  $("progress").value = 0;
  for (const id of ["metric-loss", "metric-accuracy", "metric-val-loss", "metric-val-accuracy"]) {
    $(id).textContent = "–";
  }
  showValidation(false);
  setFinalAccuracy(null);
  lossChart.setSeries([], epochs);
  accuracyChart.empty =
    state.dataset?.task === "regression" ? "No accuracy for regression" : "Train to see the accuracy";
  accuracyChart.setSeries([], epochs);
  $("loss-summary").textContent = "";
  $("accuracy-summary").textContent = "";
}

/** The validation readouts appear only when the job holds out rows. */
function showValidation(visible) {
  for (const card of document.querySelectorAll(".metric-val")) card.hidden = !visible;
}

function setFinalAccuracy(value) {
  const element = $("final-accuracy");
  element.textContent = percent(value);
  if (Number.isFinite(value)) element.dataset.value = String(value);
  else delete element.dataset.value;
}

function forgetModel() {
  state.model = null;
  $("download-model").disabled = true;
  $("download-png").disabled = true;
  $("prediction").textContent = "Train a model, then click the map.";
  for (const item of document.querySelectorAll(".model.active")) item.classList.remove("active");
}

function useModel(id, name) {
  state.model = { id, name };
  $("download-model").disabled = false;
  $("download-png").disabled = false;
  $("prediction").textContent = "Click the map (or use the fields above) to predict a point.";
  for (const item of document.querySelectorAll(".model")) {
    item.classList.toggle("active", item.dataset.modelId === id);
  }
}

async function train(event) {
  event.preventDefault();
  if (state.job && !state.job.done) return;
  clearErrors();
  if (!$("setup").reportValidity()) return;
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
  state.job = job;
  document.body.dataset.jobId = job.id;
  document.body.dataset.jobStatus = job.status;
  forgetModel();
  $("prediction").textContent = "Predictions open when training finishes.";
  resetReadouts(epochs);
  map.setGrid(null);
  map.setMarker(null);
  map.setMessage("Waiting for the first weights snapshot…");
  setSource("Waiting…", "live", "none");
  setStatus(`Training started (job ${job.id}). The map updates every few epochs.`);
  revealMap();
  followEvents(job);
  followBoundary(job);
}

/** On a narrow screen the map is below the controls: bring it into view while training. */
function revealMap() {
  const box = map.canvas.getBoundingClientRect();
  if (box.top < window.innerHeight && box.bottom > 0) return;
  const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  document.querySelector(".panel-output").scrollIntoView({
    behavior: smooth ? "smooth" : "auto",
    block: "start",
  });
}

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

function renderProgress(job) {
  const last = job.history.at(-1);
  if (!last) return;
  $("epoch").textContent = `${last.epoch} / ${job.epochs}`;
  $("progress").value = Math.min(1, last.epoch / job.epochs);
  $("metric-loss").textContent = decimal(last.loss);
  $("metric-accuracy").textContent = percent(last.accuracy);
  $("metric-val-loss").textContent = decimal(last.val_loss);
  $("metric-val-accuracy").textContent = percent(last.val_accuracy);
  showValidation(Number.isFinite(last.val_loss));
  const series = (key, valKey) => [
    {
      label: "train",
      colour: TRAIN_COLOUR,
      points: job.history.filter((r) => Number.isFinite(r[key])).map((r) => [r.epoch, r[key]]),
    },
    {
      label: "validation",
      colour: VAL_COLOUR,
      dash: [5, 4],
      points: job.history
        .filter((r) => Number.isFinite(r[valKey]))
        .map((r) => [r.epoch, r[valKey]]),
    },
  ];
  lossChart.setSeries(series("loss", "val_loss"), job.epochs);
  accuracyChart.setSeries(series("accuracy", "val_accuracy"), job.epochs);
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
  } catch (error) {
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
      if (["succeeded", "failed", "cancelled"].includes(record.status)) return record;
      failures = 0;
    } catch (error) {
      failures += 1;
      if (failures >= 10) throw error;
    }
    await sleep(Math.min(5000, 500 * 2 ** failures));
  }
}

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

function boundaryQuery(resolution) {
  const params = new URLSearchParams({ resolution: String(resolution) });
  const v = state.view;
  if (v) {
    params.set("x_min", String(v.xMin));
    params.set("x_max", String(v.xMax));
    params.set("y_min", String(v.yMin));
    params.set("y_max", String(v.yMax));
    if (v.fixed) {
      params.set("features", v.features.join(","));
      params.set("fixed", v.fixed.join(","));
    }
  }
  return params.toString();
}

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
  const status = record?.status ?? final.status;
  job.status = status;
  document.body.dataset.jobStatus = status;
  const last = job.history.at(-1);
  describeCurves(job);
  if (status === "succeeded") {
    const accuracy = record?.progress?.accuracy ?? last?.accuracy;
    setFinalAccuracy(accuracy);
    const modelId = record?.model_id ?? final.model_id;
    useModel(modelId, record?.name ?? modelId);
    await showModelBoundary(modelId, "Final model");
    const result = Number.isFinite(accuracy)
      ? `training accuracy ${percent(accuracy)}`
      : `loss ${decimal(last?.loss)}`;
    setStatus(
      `Done after ${last?.epoch ?? "?"} epochs: ${result}. Click the map to predict.`,
      "ok",
    );
    refreshModels();
  } else if (status === "cancelled") {
    setSource(`Cancelled · epoch ${last?.epoch ?? 0}`, "", null);
    setStatus(`Cancelled at epoch ${last?.epoch ?? 0}.`);
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

function describeCurves(job) {
  const first = job.history[0];
  const last = job.history.at(-1);
  if (!first || !last) return;
  $("loss-summary").textContent =
    `Training loss went from ${decimal(first.loss)} at epoch ${first.epoch} ` +
    `to ${decimal(last.loss)} at epoch ${last.epoch}.`;
  $("accuracy-summary").textContent = Number.isFinite(last.accuracy)
    ? `Training accuracy went from ${percent(first.accuracy)} to ${percent(last.accuracy)}.`
    : "No accuracy: this is a regression model.";
}

async function showModelBoundary(modelId, label) {
  try {
    const grid = await getJSON(
      `/v1/models/${encodeURIComponent(modelId)}/boundary?${boundaryQuery(FINAL_RESOLUTION)}`,
    );
    map.setGrid(grid);
    if (!state.view) state.view = { ...map.view, features: [0, 1], nFeatures: 2, fixed: null };
    setSource(label, "final", "model");
  } catch (error) {
    showError(error, "The model's boundary could not be drawn");
  }
}

async function cancel() {
  const job = state.job;
  if (!job || job.done) return;
  $("cancel").disabled = true;
  setStatus("Cancelling…");
  try {
    await postJSON(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return; // it just ended anyway
    $("cancel").disabled = false;
    showError(error, "The job could not be cancelled");
  }
}

// --------------------------------------------------------------------------- models

async function refreshModels() {
  let models;
  try {
    ({ data: models } = await getJSON("/v1/models"));
  } catch (error) {
    showError(error, "The models could not be listed");
    return;
  }
  $("models").replaceChildren(...models.map(modelItem));
  $("models-empty").hidden = models.length > 0;
}

function modelItem(meta) {
  const item = document.createElement("li");
  item.className = "model";
  item.dataset.modelId = meta.id;
  if (state.model?.id === meta.id) item.classList.add("active");
  const main = document.createElement("div");
  const name = Object.assign(document.createElement("span"), {
    className: "model-name",
    textContent: meta.name,
    title: `${meta.name} (${meta.id})`,
  });
  const when = new Date(meta.created_at);
  const accuracy = meta.metrics?.accuracy;
  const details = [
    meta.layers.join("-"),
    meta.activation,
    Number.isFinite(accuracy) ? `acc ${percent(accuracy)}` : `loss ${decimal(meta.metrics?.loss)}`,
    when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
  ];
  const info = Object.assign(document.createElement("span"), {
    className: "model-meta",
    textContent: details.join(" · "),
  });
  main.append(name, info);
  const actions = document.createElement("div");
  actions.className = "model-actions";
  const action = (text, label, onClick) => {
    const b = Object.assign(document.createElement("button"), {
      type: "button",
      className: "btn btn-small",
      textContent: text,
    });
    b.setAttribute("aria-label", `${label} ${meta.name}`);
    b.addEventListener("click", onClick);
    return b;
  };
  actions.append(
    action("Show", "Show on the map:", () => showModel(meta)),
    action(".npz", "Download the model file of", () => downloadModel(meta.id)),
    action("PNG", "Download the boundary picture of", () => downloadPng(meta.id)),
  );
  item.append(main, actions);
  return item;
}

async function showModel(meta) {
  if (state.job && !state.job.done) {
    setStatus("Training is running: cancel it or wait before showing another model.");
    return;
  }
  clearErrors();
  setStatus(`Loading ${meta.name}…`);
  try {
    if (meta.dataset_id) {
      const dataset =
        state.datasets.get(meta.dataset_id) ??
        (await getJSON(`/v1/datasets/${encodeURIComponent(meta.dataset_id)}`));
      state.datasets.set(dataset.id, dataset);
      renderStoredOptions();
      $("dataset").value = `stored:${dataset.id}`;
      syncGeneratorOptions();
      showDataset(dataset, await loadData(dataset));
    }
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) {
      showError(error, "The model's dataset could not be loaded");
      return;
    }
    state.dataset = null; // its dataset was deleted: the map shows the model alone
    state.view = null;
    map.view = null;
    map.setPoints(null);
  }
  resetReadouts(meta.training?.epochs ?? 0);
  $("epoch").textContent = "–";
  setFinalAccuracy(meta.metrics?.accuracy);
  $("metric-loss").textContent = decimal(meta.metrics?.loss);
  $("metric-accuracy").textContent = percent(meta.metrics?.accuracy);
  if (Number.isFinite(meta.metrics?.val_loss)) {
    $("metric-val-loss").textContent = decimal(meta.metrics.val_loss);
    $("metric-val-accuracy").textContent = percent(meta.metrics.val_accuracy);
    showValidation(true);
  }
  useModel(meta.id, meta.name);
  await showModelBoundary(meta.id, "Stored model");
  setStatus(`Showing ${meta.name}. Click the map to predict.`, "ok");
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

// --------------------------------------------------------------------------- predict

function featureRow(x, y) {
  const v = state.view;
  if (!v?.fixed) return [x, y];
  const row = [];
  let k = 0;
  for (let f = 0; f < v.nFeatures; f += 1) {
    if (f === v.features[0]) row.push(x);
    else if (f === v.features[1]) row.push(y);
    else row.push(v.fixed[k++]);
  }
  return row;
}

async function predictAt(x, y) {
  $("predict-x").value = coordinate(x);
  $("predict-y").value = coordinate(y);
  const output = $("prediction");
  if (!state.model) {
    output.textContent = state.job?.done === false
      ? "The model is still training: predictions open when it finishes."
      : "No model yet: press Train, or pick one under Models.";
    return;
  }
  try {
    const result = await postJSON(`/v1/models/${encodeURIComponent(state.model.id)}/predict`, {
      X: [featureRow(x, y)],
    });
    const where = `(${coordinate(x)}, ${coordinate(y)})`;
    const label = result.predictions[0];
    if (result.classes) {
      const index = result.classes.findIndex((c) => c === label);
      const probability = result.probabilities[0][index];
      output.textContent = `${where} → class ${label} with probability ${probability.toFixed(3)}`;
      output.dataset.label = String(label);
      output.dataset.probability = String(probability);
      map.setMarker({
        x,
        y,
        colour: classColour(index),
        text: `class ${label} · ${percent(probability)}`,
      });
    } else {
      output.textContent = `${where} → ${decimal(label)}`;
      output.dataset.label = String(label);
      delete output.dataset.probability;
      map.setMarker({ x, y, colour: "#111827", text: decimal(label) });
    }
  } catch (error) {
    showError(error, "The prediction failed");
  }
}

function onMapClick(event) {
  const point = map.toData(event.clientX, event.clientY);
  if (!point) return;
  map.setCursor(point, map.canvas.matches(":focus-visible"));
  predictAt(point.x, point.y);
}

function onMapKey(event) {
  const v = map.view;
  if (!v) return;
  const cursor = map.cursor ?? { x: (v.xMin + v.xMax) / 2, y: (v.yMin + v.yMax) / 2 };
  const step = event.shiftKey ? 0.1 : 0.02;
  const dx = (v.xMax - v.xMin) * step;
  const dy = (v.yMax - v.yMin) * step;
  const moves = {
    ArrowLeft: [-dx, 0],
    ArrowRight: [dx, 0],
    ArrowUp: [0, dy],
    ArrowDown: [0, -dy],
  };
  if (event.key in moves) {
    event.preventDefault();
    const [mx, my] = moves[event.key];
    const x = Math.min(v.xMax, Math.max(v.xMin, cursor.x + mx));
    const y = Math.min(v.yMax, Math.max(v.yMin, cursor.y + my));
    map.setCursor({ x, y });
    $("predict-x").value = coordinate(x);
    $("predict-y").value = coordinate(y);
  } else if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    map.setCursor(cursor);
    predictAt(cursor.x, cursor.y);
  }
}

// --------------------------------------------------------------------------- start-up

function wire() {
  $("setup").addEventListener("submit", train);
  $("cancel").addEventListener("click", cancel);
  $("error-close").addEventListener("click", () => {
    $("error").hidden = true;
  });
  $("dataset").addEventListener("change", () => {
    syncGeneratorOptions();
    refreshDataset();
  });
  for (const id of ["noise", "n-samples", "n-classes"]) {
    $(id).addEventListener("input", syncOutputs);
    $(id).addEventListener("change", refreshDataset);
  }
  $("data-seed").addEventListener("change", refreshDataset);
  for (const id of ["feature-x", "feature-y"]) {
    $(id).addEventListener("change", () => {
      if (state.dataset) showDataset(state.dataset, state.data.get(state.dataset.id) ?? null);
    });
  }
  $("csv-upload").addEventListener("click", uploadCsv);
  $("activation").addEventListener("change", updateNetwork);
  $("epochs").addEventListener("input", showIdleEpochs);
  $("preset-notebook").addEventListener("click", () => {
    applyPreset(PRESETS.notebook);
    setStatus("Notebook setup: 5-3 ReLU, SGD, learning rate 0.001, batch 1, 200 epochs.");
  });
  $("preset-fast").addEventListener("click", () => {
    applyPreset(PRESETS.fast);
    setStatus("Fast setup: 8-8 tanh, Adam, batch 8, 150 epochs, 20% held out.");
  });
  for (const control of $("setup").querySelectorAll("input, select")) {
    control.addEventListener("input", () => control.removeAttribute("aria-invalid"));
  }
  const canvas = map.canvas;
  canvas.addEventListener("click", onMapClick);
  canvas.addEventListener("keydown", onMapKey);
  canvas.addEventListener("focus", () => {
    const v = map.view;
    if (v && !map.cursor) map.cursor = { x: (v.xMin + v.xMax) / 2, y: (v.yMin + v.yMax) / 2 };
    map.setCursor(map.cursor, true);
  });
  canvas.addEventListener("blur", () => map.setCursor(map.cursor, false));
  $("predict-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!$("predict-form").reportValidity()) return;
    const x = $("predict-x").valueAsNumber;
    const y = $("predict-y").valueAsNumber;
    map.setCursor({ x, y }, false);
    predictAt(x, y);
  });
  $("download-model").addEventListener("click", () => state.model && downloadModel(state.model.id));
  $("download-png").addEventListener("click", () => state.model && downloadPng(state.model.id));
  $("refresh-models").addEventListener("click", refreshModels);
  const key = $("api-key");
  key.value = sessionStorage.getItem("mlp-api-key") ?? "";
  setApiKey(key.value);
  key.addEventListener("change", () => {
    setApiKey(key.value);
    sessionStorage.setItem("mlp-api-key", key.value.trim());
    clearErrors();
    start();
  });
  new ResizeObserver(() => updateNetwork()).observe($("network-sketch"));
}

async function start() {
  try {
    await loadDatasets();
  } catch (error) {
    showError(error, "The datasets could not be listed");
    if (error instanceof ApiError && error.status === 401) {
      $("api-key").closest("details").open = true;
      $("api-key").focus();
      map.setMessage("This server needs an API key");
    } else {
      map.setMessage("The API is not reachable");
    }
    return;
  }
  refreshDataset();
  refreshModels();
}

wire();
applyPreset(PRESETS.fast);
syncGeneratorOptions();
updateNetwork();
start();
