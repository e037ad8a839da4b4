// The data panel: pick a generator or a stored dataset, upload a CSV, choose the plotted axes,
// and show the dataset's points on the map.

import { ApiError, getJSON, postJSON, request } from "./api.js";
import { renderLegend, valueRange } from "./boundary.js";
import { make, ui } from "./dom.js";
import { updateNetwork } from "./network-panel.js";
import { clearErrors, setStatus, showError } from "./notices.js";
import { map, nameAxes, setSource } from "./output-panel.js";
import {
  featureList,
  featureNames,
  isCategorical,
  isTable,
  normaliseData,
  numericFeatures,
} from "./features.js";
import { computeView, heldOnlyView, projectPoints } from "./plot-view.js";
import { myDatasets, remember } from "./runs.js";
import { isTraining, setDataset, setModel, state } from "./state.js";
import { debounce, numberValue } from "./util.js";

const MAX_ROWS_FETCHED = 50_000;
const GENERATED_KEY = "mlp-generated-datasets"; // localStorage: generator spec -> dataset id

// Generators: noise slider [min, max, step, default], default size, default classes.
const GENERATORS = {
  notebook: {
    noise: [0, 3, 0.05, 1],
    n: 1000,
    help: "A factor on the spread of the points (1 = the standard set).",
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

let shownKind = null; // the generator whose defaults the sliders show
let previewToken = 0; // only the latest refreshDataset() may show its dataset
const STARTING = ui.status.textContent; // the status line's text as the page loads
let showAll = false; // list every stored dataset, not only this browser's
const alsoListed = new Set(); // datasets shown here though not made here (a shared model's)

/** What the dataset select and the generator sliders ask for. */
export function selection() {
  const value = ui.dataset.value;
  if (!value.startsWith("gen:")) return { type: "stored", id: value.slice("stored:".length) };
  const kind = value.slice(4);
  const spec = {
    kind,
    n_samples: ui.nSamples.valueAsNumber,
    noise: ui.noise.valueAsNumber,
    seed: numberValue(ui.dataSeed) ?? 0,
  };
  if (GENERATORS[kind].classes) spec.n_classes = ui.nClasses.valueAsNumber;
  const classes = spec.n_classes ? ` · ${spec.n_classes} classes` : "";
  const points = `${spec.n_samples} points · noise ${spec.noise} · seed ${spec.seed}`;
  const name = `${kind} · ${points}${classes}`;
  return { type: "generate", kind, spec, name };
}

/**
 * The ids of the datasets this browser generated, by generator spec (kept across reloads, so a
 * spec is generated once per server; an id the server no longer lists is generated again).
 */
const generated = {
  read() {
    try {
      return JSON.parse(localStorage.getItem(GENERATED_KEY) ?? "{}");
    } catch {
      return {}; // storage disabled or unreadable: generate again
    }
  },
  get(spec) {
    return this.read()[JSON.stringify(spec)];
  },
  set(spec, id) {
    try {
      const ids = { ...this.read(), [JSON.stringify(spec)]: id };
      localStorage.setItem(GENERATED_KEY, JSON.stringify(ids));
    } catch {
      // storage full or disabled: the dataset is simply generated again next time
    }
  },
};

const generating = new Map(); // generator spec (JSON) -> the request on its way

/** The stored dataset for the current selection; a generated one is made once and reused. */
export async function ensureDataset(sel) {
  if (sel.type === "stored") {
    return state.datasets.get(sel.id) ?? getJSON(`/v1/datasets/${encodeURIComponent(sel.id)}`);
  }
  const known = state.datasets.get(generated.get(sel.spec));
  if (known) return known;
  const key = JSON.stringify(sel.spec);
  if (!generating.has(key)) {
    // A preview and Train asking at once share one request (one dataset, not two).
    const made = generate(sel).finally(() => generating.delete(key));
    generating.set(key, made);
  }
  return generating.get(key);
}

async function generate(sel) {
  const meta = await postJSON("/v1/datasets/generate", { ...sel.spec, name: sel.name });
  generated.set(sel.spec, meta.id);
  remember("datasets", meta.id);
  state.datasets.set(meta.id, meta);
  renderStoredOptions();
  return meta;
}

/** A dataset's rows ({X, y}, fetched once), or null when there are too many to draw. */
export async function loadData(meta) {
  if (state.data.has(meta.id)) return state.data.get(meta.id);
  if (meta.n_samples > MAX_ROWS_FETCHED) return null;
  const rows = await getJSON(`/v1/datasets/${encodeURIComponent(meta.id)}/data`);
  const data = normaliseData(meta, rows);
  state.data.set(meta.id, data);
  return data;
}

let pendingStored = null; // a stored dataset named by the URL, selected once the list is in

/** The data controls as plain values (for the URL): a generator's settings, or a stored id. */
export function dataControls() {
  const sel = selection();
  return sel.type === "stored" ? { stored: sel.id } : sel.spec;
}

/** Set the data controls from `dataControls()`'s form (unknown kinds are ignored). */
export function applyDataControls(values) {
  if (values.stored) {
    const known = state.datasets.get(values.stored);
    if (known) selectStored(known);
    else pendingStored = values.stored; // selected by the next loadDatasets()
    return;
  }
  if (!GENERATORS[values.kind]) return;
  ui.dataset.value = `gen:${values.kind}`;
  syncGeneratorOptions();
  for (const [input, value] of [
    [ui.nSamples, values.n_samples],
    [ui.noise, values.noise],
    [ui.dataSeed, values.seed],
    [ui.nClasses, values.n_classes],
  ]) {
    if (Number.isFinite(value)) input.value = String(value);
  }
  syncOutputs();
}

export async function loadDatasets() {
  const { data } = await getJSON("/v1/datasets");
  state.datasets = new Map(data.map((meta) => [meta.id, meta]));
  renderStoredOptions();
  if (pendingStored) {
    const meta =
      state.datasets.get(pendingStored) ??
      (await getJSON(`/v1/datasets/${encodeURIComponent(pendingStored)}`).catch(() => null));
    pendingStored = null;
    if (meta) selectStored(meta);
  }
}

/** The dataset made for the generator's current settings, if this browser made one already. */
function knownGenerated(sel) {
  return sel.type === "generate" ? (state.datasets.get(generated.get(sel.spec)) ?? null) : null;
}

/** Stored datasets in the select: this browser's (and any shown here), or all with `all`. */
export function listAllDatasets(all) {
  showAll = all;
  renderStoredOptions();
}

function renderStoredOptions() {
  const selected = ui.dataset.value;
  const mine = myDatasets();
  const listed = (meta) => showAll || mine.has(meta.id) || alsoListed.has(meta.id);
  const metas = [...state.datasets.values()].filter(listed).sort((a, b) =>
    String(b.created_at).localeCompare(String(a.created_at)),
  );
  ui.storedDatasets.replaceChildren(
    ...metas.map((meta) =>
      make("option", {
        value: `stored:${meta.id}`,
        textContent: `${meta.name} (${meta.n_samples} × ${meta.n_features})`,
      }),
    ),
  );
  if ([...ui.dataset.options].some((o) => o.value === selected)) ui.dataset.value = selected;
}

/** Remember a stored dataset and select it (the map is updated by the caller). */
export function selectStored(meta) {
  state.datasets.set(meta.id, meta);
  alsoListed.add(meta.id);
  renderStoredOptions();
  ui.dataset.value = `stored:${meta.id}`;
  syncGeneratorOptions();
}

/**
 * Datasets deleted from the server: no longer listed nor reused. If the map showed one, a
 * generator takes its place (its points made on the next Train).
 */
export function forgetDatasets(ids) {
  const gone = new Set(ids);
  for (const id of gone) {
    state.datasets.delete(id);
    state.data.delete(id);
    alsoListed.delete(id);
  }
  const shown = state.dataset?.id;
  if (ui.dataset.value.startsWith("stored:") && gone.has(ui.dataset.value.slice(7))) {
    ui.dataset.value = "gen:notebook";
  }
  renderStoredOptions();
  syncGeneratorOptions();
  if (gone.has(shown)) {
    setDataset(null, null);
    onSpecChange();
  }
}

function syncGeneratorOptions() {
  const sel = selection();
  ui.generatorOptions.hidden = sel.type !== "generate";
  if (sel.type !== "generate" || sel.kind === shownKind) return;
  shownKind = sel.kind;
  const gen = GENERATORS[sel.kind];
  const [min, max, step, value] = gen.noise;
  Object.assign(ui.noise, { min, max, step, value });
  ui.noiseHelp.textContent = gen.help;
  ui.nSamples.value = gen.n;
  ui.nClassesField.hidden = !gen.classes;
  if (gen.classes) ui.nClasses.value = gen.classes;
  syncOutputs();
}

function syncOutputs() {
  ui.noiseValue.textContent = ui.noise.value;
  ui.nSamplesValue.textContent = ui.nSamples.value;
  ui.nClassesValue.textContent = ui.nClasses.value;
}

/** The two plotted columns: the first two numeric ones, or the axis selects' choice. */
function chosenFeatures(meta) {
  const numeric = numericFeatures(meta);
  ui.axesOptions.hidden = numeric.length <= 2;
  if (numeric.length <= 2) return numeric.length === 2 ? numeric : null;
  const names = featureNames(meta);
  const fill = (select, value) => {
    if (select.dataset.dataset !== meta.id) {
      select.replaceChildren(
        ...numeric.map((f) => make("option", { value: f, textContent: names[f] })),
      );
      select.dataset.dataset = meta.id;
      select.value = value;
    }
  };
  fill(ui.featureX, numeric[0]);
  fill(ui.featureY, numeric[1]);
  const fx = Number(ui.featureX.value);
  let fy = Number(ui.featureY.value);
  if (fx === fy) {
    fy = fx === numeric[0] ? numeric[1] : numeric[0];
    ui.featureY.value = fy;
  }
  return [fx, fy];
}

/** The map for a dataset: its points in the chosen columns, named on the axes. */
function plotDataset(meta, data) {
  const features = chosenFeatures(meta);
  if (!features) {
    setDataset(meta, heldOnlyView(meta, data));
    nameAxes(null, false);
    map.setView(null);
    map.setPoints(null);
    map.setMessage("The map needs two numeric columns; Train and Predict still work");
    return;
  }
  setDataset(meta, computeView(meta, features, data));
  nameAxes(state.view, isTable(meta) || meta.n_features > 2);
  map.setView(state.view);
  map.setPoints(data ? projectPoints(meta, data, features) : null);
  map.setMessage("Press Train to watch the boundary form");
}

function describeDataset(meta, data) {
  const classes =
    meta.task === "classification" ? `classes ${meta.classes.join(", ")}` : "regression";
  const stored = ui.dataset.value.startsWith("stored:") ? `${meta.name}: ` : "";
  const categorical = featureList(meta).filter(isCategorical).length;
  const kinds = categorical ? ` (${categorical} categorical)` : "";
  const label = meta.label ? ` · label ${meta.label}` : "";
  const unlabelled = meta.rows_without_label ?? 0;
  const dropped = unlabelled
    ? ` · ${unlabelled} row${unlabelled === 1 ? "" : "s"} without a label left out`
    : "";
  ui.datasetInfo.textContent =
    `${stored}${meta.n_samples} rows · ${meta.n_features} features${kinds}${label} · ${classes}` +
    dropped +
    (data ? "" : " (too many rows to draw)");
}

/** Put a dataset on the map (points only) and fit the network sketch to it. */
export function showDataset(meta, data) {
  const changed = state.dataset?.id !== meta.id;
  ui.generateNote.textContent = "";
  plotDataset(meta, data);
  map.setGrid(null);
  map.setMarker(null);
  setSource("Data", "", "none");
  renderLegend(ui.legend, {
    task: meta.task,
    classes: meta.classes,
    valueRange: data && meta.task === "regression" ? valueRange(data.y) : null,
  });
  describeDataset(meta, data);
  if (changed) setModel(null);
  updateNetwork();
}

/**
 * A generator setting moved: show the points if this browser generated them already, else say
 * that Train makes them (a slider's every step must not store a dataset on the server).
 */
function onSpecChange() {
  syncOutputs();
  const sel = selection();
  if (isTraining() || sel.type !== "generate") return;
  if (knownGenerated(sel)) {
    ui.generateNote.textContent = "";
    refreshDataset();
    return;
  }
  previewToken += 1; // an older preview on its way must not replace this state
  ui.generateNote.textContent = "These points are made on the server when you press Train.";
  map.setGrid(null);
  map.setPoints(null);
  map.setMarker(null);
  map.setMessage("New settings: press Train to make these points");
  setSource("Data", "", "none");
  setModel(null);
  ui.datasetInfo.textContent = `${sel.spec.n_samples} points, not made yet`;
  setStatus("Press Train to make this dataset and train on it.");
}

/** Show the selected dataset (generating it if needed), unless a later call or a job won. */
export const refreshDataset = debounce(async () => {
  const token = ++previewToken;
  ui.generateNote.textContent = "";
  const sel = selection();
  // The status line is claimed only when there is something to say: a known dataset shows
  // quietly, so what another panel said (e.g. a sweep followed again) stays.
  const known = sel.type === "stored" || knownGenerated(sel);
  const saying = known ? null : `Generating the ${sel.kind} dataset…`;
  if (saying) setStatus(saying);
  try {
    const meta = await ensureDataset(sel);
    const data = await loadData(meta);
    if (token !== previewToken || isTraining()) return;
    showDataset(meta, data);
    if ([saying, STARTING].includes(ui.status.textContent)) setStatus("Ready: press Train.");
  } catch (error) {
    if (token === previewToken) showError(error, "The dataset could not be loaded", "gen.");
  }
}, 200);

function csvParams(file) {
  const params = new URLSearchParams();
  if (ui.csvTask.value) params.set("task", ui.csvTask.value); // else the server decides
  for (const [key, input] of [
    ["label", ui.csvLabel],
    ["ignore", ui.csvIgnore],
    ["categorical", ui.csvCategorical],
  ]) {
    const value = input.value.trim();
    if (value) params.set(key, value);
  }
  params.set("name", (ui.csvName.value.trim() || file.name.replace(/\.csv$/i, "")).slice(0, 200));
  return params;
}

async function uploadCsv() {
  clearErrors();
  const file = ui.csvFile.files[0];
  if (!file) {
    showError(new ApiError(0, "Choose a CSV file first."), "Nothing to upload");
    ui.csvFile.focus();
    return;
  }
  ui.csvUpload.disabled = true;
  setStatus(`Uploading ${file.name}…`);
  try {
    const response = await request("POST", `/v1/datasets?${csvParams(file)}`, {
      body: await file.text(),
      contentType: "text/csv",
      accept: "application/json",
    });
    const meta = await response.json();
    remember("datasets", meta.id);
    selectStored(meta);
    refreshDataset();
    setStatus(`Uploaded “${meta.name}”: ${meta.n_samples} rows.`, "ok");
  } catch (error) {
    showError(error, "The CSV was not accepted", "csv.");
  } finally {
    ui.csvUpload.disabled = false;
  }
}

export function wireData() {
  ui.dataset.addEventListener("change", () => {
    syncGeneratorOptions();
    refreshDataset();
  });
  for (const slider of [ui.noise, ui.nSamples, ui.nClasses]) {
    slider.addEventListener("input", syncOutputs);
    slider.addEventListener("change", onSpecChange);
  }
  ui.dataSeed.addEventListener("change", onSpecChange);
  for (const select of [ui.featureX, ui.featureY]) {
    select.addEventListener("change", () => {
      if (state.dataset) showDataset(state.dataset, state.data.get(state.dataset.id) ?? null);
    });
  }
  ui.csvUpload.addEventListener("click", uploadCsv);
  syncGeneratorOptions();
}
