// The whole setup in the URL's hash, so a link shares an exercise: the data (a generator's
// settings or a stored dataset's id), the network, every training setting and the map's view
// options. Opening the link sets the controls; changing a control rewrites the hash (without a
// new history entry). Field names are the API's; unknown or malformed fields are ignored.

import { applyDataControls, dataControls } from "./data-panel.js";
import { ui } from "./dom.js";
import { architecture, setArchitecture } from "./network-panel.js";
import { setStatus } from "./notices.js";
import { setTrainingValues, showIdleEpochs, trainingValues } from "./training-panel.js";
import { debounce } from "./util.js";

const DATA_KEYS = ["kind", "n_samples", "noise", "seed", "n_classes"]; // as d.kind, d.noise, ...
const VIEW_SWITCHES = { discretize: "discretize", log_loss: "lossLog", show_test: "showTest" };

/** The setup as URLSearchParams. */
export function setupParams() {
  const params = new URLSearchParams();
  const data = dataControls();
  if (data.stored) params.set("dataset", data.stored);
  else for (const key of DATA_KEYS) if (data[key] !== undefined) params.set(`d.${key}`, data[key]);
  const { hidden_layers: hidden, activation } = architecture();
  params.set("layers", hidden.join("-"));
  params.set("activation", activation);
  for (const [key, value] of Object.entries(trainingValues())) {
    if (value === undefined) continue;
    params.set(key, Array.isArray(value) ? value.join(",") : String(value));
  }
  for (const [key, id] of Object.entries(VIEW_SWITCHES)) {
    // A disabled switch (no test rows yet) is unticked whatever the user's choice: left out.
    if (!ui[id].disabled) params.set(key, ui[id].checked ? "1" : "0");
  }
  return params;
}

/** A value from the hash as the control takes it: numbers and booleans parsed. */
function parsed(text) {
  if (text === "true" || text === "false") return text === "true";
  const number = Number(text);
  return text.trim() !== "" && Number.isFinite(number) ? number : text;
}

function applyData(params) {
  if (params.has("dataset")) {
    applyDataControls({ stored: params.get("dataset") });
    return;
  }
  const data = {};
  for (const key of DATA_KEYS) {
    if (params.has(`d.${key}`)) data[key] = parsed(params.get(`d.${key}`));
  }
  if (data.kind) applyDataControls(data);
}

function applyTraining(params) {
  const training = {};
  const known = trainingValues();
  for (const key of Object.keys(known)) {
    if (!params.has(key)) continue;
    const text = params.get(key);
    training[key] =
      key === "feature_crosses" ? text.split(",").filter(Boolean) : parsed(text);
  }
  setTrainingValues(training);
}

/** Set the controls from the page's hash; returns false when it holds no setup. */
export function applyHash() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  if (!params.has("layers") && !params.has("d.kind") && !params.has("dataset")) return false;
  applyData(params);
  if (params.has("layers")) {
    const hidden = params.get("layers").split("-").filter(Boolean).map(Number);
    const activation = params.get("activation") ?? ui.activation.value;
    setArchitecture({ hidden: hidden.filter(Number.isFinite), activation });
  }
  applyTraining(params);
  for (const [key, id] of Object.entries(VIEW_SWITCHES)) {
    if (!params.has(key)) continue;
    ui[id].checked = params.get(key) === "1";
    ui[id].dispatchEvent(new Event("change"));
  }
  showIdleEpochs();
  return true;
}

function writeHashNow() {
  const hash = `#${setupParams()}`;
  if (hash !== window.location.hash) window.history.replaceState(null, "", hash);
}

const writeHash = debounce(writeHashNow, 150);

/** Copy the page's address (the setup) to the clipboard, or show it to copy by hand. */
async function copyLink() {
  writeHashNow();
  const link = window.location.href;
  try {
    await navigator.clipboard.writeText(link);
    setStatus("Link copied: opening it shows this same setup.", "ok");
  } catch {
    setStatus(`Copy this link to share the setup: ${link}`);
  }
}

/**
 * Rewrite the hash whenever a control changes (the layer editor's buttons are clicks); a link
 * pasted into this tab (a hash change) sets the controls and calls `onApplied`.
 */
export function wireHash(onApplied) {
  for (const type of ["input", "change", "click"]) document.addEventListener(type, writeHash);
  window.addEventListener("hashchange", () => {
    if (applyHash()) onApplied();
  });
  ui.copyLink.addEventListener("click", copyLink);
  writeHash();
}
