// Per-neuron previews, as TensorFlow Playground's: for each hidden unit a small map of its
// activation over the map's region (`GET /v1/models/{id}/boundary?layer=L&unit=U`, JSON),
// drawn with the map's own canvas code, beside the network sketch.

import { getJSON } from "./api.js";
import { gridToImage } from "./boundary.js";
import { HiDpiCanvas } from "./canvas.js";
import { make, ui } from "./dom.js";
import { boundaryQuery } from "./output-panel.js";
import { hasMap } from "./plot-view.js";
import { onSeek } from "./replay.js";
import { state, subscribe } from "./state.js";
import { debounce, decimal } from "./util.js";

const RESOLUTION = 24; // grid points per axis of a preview
const MAX_LAYERS = 4; // hidden layers previewed
const MAX_UNITS = 8; // units previewed per layer

/** One unit's activation grid on a small canvas (y up, like the map). */
class NeuronMap extends HiDpiCanvas {
  constructor(canvas) {
    super(canvas);
    this.image = null;
    this.watchSize();
  }

  setGrid(grid) {
    this.image = grid ? gridToImage(grid, null, false) : null;
    this.render();
  }

  draw() {
    const { ctx, canvas } = this;
    ctx.fillStyle = "#f1f5f9";
    ctx.fillRect(0, 0, canvas.clientWidth, canvas.clientHeight);
    if (!this.image) return;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(this.image, 0, 0, canvas.clientWidth, canvas.clientHeight);
  }
}

let token = 0; // the latest request: an older model's previews are dropped
let shownFor = null; // the model id whose previews are shown
let units = []; // [{layer, unit, canvas, view}] of the previews shown

/** A unit's grid: the activation as `values` over (x, y), whatever the key the server uses. */
function activationGrid(answer) {
  const values = answer.values ?? answer.activations ?? answer.activation;
  return Array.isArray(values) ? { x: answer.x, y: answer.y, values } : null;
}

function range(values) {
  const flat = values.flat();
  return [Math.min(...flat), Math.max(...flat)];
}

function unitCell(layer, unit) {
  const canvas = make("canvas", { className: "neuron" });
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `Layer ${layer}, unit ${unit + 1}: loading`);
  canvas.dataset.layer = String(layer);
  canvas.dataset.unit = String(unit);
  const cell = make("div", { className: "neuron-cell" });
  cell.setAttribute("role", "listitem");
  cell.append(canvas);
  return { cell, canvas, view: new NeuronMap(canvas) };
}

async function fillUnit(modelId, { layer, unit, canvas, view }, mine, epoch = null) {
  const at = epoch === null ? "" : `&epoch=${epoch}`;
  const query = `${boundaryQuery(RESOLUTION)}&layer=${layer}&unit=${unit}${at}`;
  try {
    const answer = await getJSON(`/v1/models/${encodeURIComponent(modelId)}/boundary?${query}`);
    const grid = activationGrid(answer);
    if (mine !== token || !grid) return;
    view.setGrid(grid);
    const [lo, hi] = range(grid.values);
    canvas.dataset.drawn = "true";
    canvas.dataset.epoch = epoch === null ? "final" : String(epoch);
    canvas.setAttribute(
      "aria-label",
      `Layer ${layer}, unit ${unit + 1}: activation from ${decimal(lo)} to ${decimal(hi)}`,
    );
    canvas.title = `layer ${layer}, unit ${unit + 1} (${decimal(lo)} to ${decimal(hi)})`;
  } catch {
    if (mine === token) canvas.setAttribute("aria-label", `Layer ${layer}, unit ${unit + 1}`);
  }
}

/** Show the hidden units' previews of the model `meta` (its metadata; null hides them). */
export function showNeurons(meta) {
  const mine = ++token;
  shownFor = meta?.id ?? null;
  units = [];
  const hidden = meta?.layers?.slice(1, -1) ?? [];
  if (!meta || !hidden.length || (state.view && !hasMap(state.view))) {
    ui.neurons.hidden = true;
    ui.neuronsGrid.replaceChildren();
    return;
  }
  const rows = hidden.slice(0, MAX_LAYERS).map((width, k) => {
    const layer = k + 1;
    const row = make("div", { className: "neuron-layer" });
    row.setAttribute("role", "list");
    row.setAttribute("aria-label", `Hidden layer ${layer}`);
    row.append(make("span", { className: "neuron-layer-name", textContent: `${layer}` }));
    const cells = Array.from({ length: Math.min(width, MAX_UNITS) }, (_, unit) => {
      const parts = { layer, unit, ...unitCell(layer, unit) };
      units.push(parts);
      fillUnit(meta.id, parts, mine);
      return parts.cell;
    });
    row.append(...cells);
    if (width > MAX_UNITS) {
      row.append(make("span", { className: "hint", textContent: `+${width - MAX_UNITS}` }));
    }
    return row;
  });
  ui.neuronsGrid.replaceChildren(...rows);
  ui.neurons.hidden = false;
}

/** The shown model's previews at a replayed frame's epoch (the final ones at the last). */
const followFrame = debounce(({ kind, id, epoch, last }) => {
  if (kind !== "models" || id !== shownFor || !units.length) return;
  const mine = ++token;
  for (const parts of units) fillUnit(id, parts, mine, last ? null : epoch);
}, 250);

/** Another model (or none) takes the previews away; a replayed frame updates them. */
export function wireNeurons() {
  subscribe("model", (model) => {
    if (model?.id !== shownFor) showNeurons(null);
  });
  onSeek(followFrame);
}
