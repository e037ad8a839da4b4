// The hidden-layer editor (add / remove layers, units per layer) and the network sketch.

import { button, make } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const MAX_LAYERS = 8;
const MAX_UNITS = 256;
const MAX_DRAWN_UNITS = 8; // wider layers are drawn with "+N"

export class LayerEditor {
  /**
   * @param {{list: HTMLOListElement, add: HTMLButtonElement, onChange: () => void}} parts
   */
  constructor({ list, add, onChange }) {
    this.list = list;
    this.addButton = add;
    this.onChange = onChange;
    this.units = [];
    add.addEventListener("click", () => this.addLayer());
  }

  get layers() {
    return [...this.units];
  }

  set layers(units) {
    this.units = units.map((u) => clampUnits(u));
    this.render();
    this.onChange();
  }

  addLayer() {
    if (this.units.length >= MAX_LAYERS) return;
    this.units.push(this.units.at(-1) ?? 4);
    this.render();
    this.onChange();
    this.list.querySelector(`#layer-units-${this.units.length - 1}`)?.focus();
  }

  removeLayer(index) {
    this.units.splice(index, 1);
    this.render();
    this.onChange();
    const next = Math.min(index, this.units.length - 1);
    const target = next >= 0 ? this.list.querySelector(`#layer-remove-${next}`) : this.addButton;
    (target ?? this.addButton).focus();
  }

  setUnits(index, value) {
    this.units[index] = clampUnits(value);
    const input = this.list.querySelector(`#layer-units-${index}`);
    if (input && Number(input.value) !== this.units[index]) input.value = this.units[index];
    this.onChange();
  }

  render() {
    this.list.replaceChildren(...this.units.map((units, index) => this.row(units, index)));
    this.addButton.disabled = this.units.length >= MAX_LAYERS;
  }

  row(units, index) {
    const item = document.createElement("li");
    item.className = "layer";
    const n = index + 1;
    const label = make("label", { htmlFor: `layer-units-${index}`, textContent: `Layer ${n}` });
    const fewer = button("−", `Fewer units in layer ${n}`, () =>
      this.setUnits(index, this.units[index] - 1),
    );
    fewer.classList.add("btn-step");
    const input = make("input", {
      id: `layer-units-${index}`,
      type: "number",
      min: "1",
      max: String(MAX_UNITS),
      step: "1",
      value: String(units),
      inputMode: "numeric",
      required: true,
    });
    input.dataset.field = `architecture.hidden_layers.${index}`;
    input.setAttribute("aria-describedby", "layers-heading");
    input.addEventListener("change", () => this.setUnits(index, Number(input.value)));
    const more = button("+", `More units in layer ${n}`, () =>
      this.setUnits(index, this.units[index] + 1),
    );
    more.classList.add("btn-step");
    const remove = button("×", `Remove layer ${n}`, () => this.removeLayer(index));
    remove.id = `layer-remove-${index}`;
    remove.classList.add("btn-icon", "btn-remove");
    item.append(label, fewer, input, more, remove);
    return item;
  }
}

function clampUnits(value) {
  const n = Math.round(Number(value));
  return Number.isFinite(n) ? Math.min(MAX_UNITS, Math.max(1, n)) : 1;
}

/** Weights and biases of a dense network with these layer sizes. */
export function parameterCount(layers) {
  let total = 0;
  for (let k = 1; k < layers.length; k += 1) total += layers[k - 1] * layers[k] + layers[k];
  return total;
}

/** Draw the network (input, hidden layers, output) as columns of nodes into an <svg>. */
export function drawNetwork(svg, layers) {
  const width = svg.clientWidth || 280;
  const height = svg.clientHeight || 120;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const columns = layers.map((units, c) => {
    const drawn = Math.min(units, MAX_DRAWN_UNITS);
    const x = layers.length === 1 ? width / 2 : 16 + (c * (width - 32)) / (layers.length - 1);
    const gap = Math.min(14, (height - 20) / Math.max(1, drawn));
    const top = height / 2 - ((drawn - 1) * gap) / 2 - (units > drawn ? 5 : 0);
    return { x, units, nodes: Array.from({ length: drawn }, (_, k) => top + k * gap) };
  });
  const edges = document.createElementNS(SVG, "g");
  for (let c = 1; c < columns.length; c += 1) {
    for (const y0 of columns[c - 1].nodes) {
      for (const y1 of columns[c].nodes) {
        const line = document.createElementNS(SVG, "line");
        line.setAttribute("class", "edge");
        line.setAttribute("x1", columns[c - 1].x);
        line.setAttribute("y1", y0);
        line.setAttribute("x2", columns[c].x);
        line.setAttribute("y2", y1);
        edges.append(line);
      }
    }
  }
  svg.append(edges);
  columns.forEach((column, c) => {
    const kind = c === 0 ? "input" : c === columns.length - 1 ? "output" : "hidden";
    for (const y of column.nodes) {
      const node = document.createElementNS(SVG, "circle");
      node.setAttribute("class", `node ${kind}`);
      node.setAttribute("cx", column.x);
      node.setAttribute("cy", y);
      node.setAttribute("r", 4.5);
      svg.append(node);
    }
    if (column.units > column.nodes.length) {
      const more = document.createElementNS(SVG, "text");
      more.setAttribute("class", "more");
      more.setAttribute("x", column.x);
      more.setAttribute("y", column.nodes.at(-1) + 16);
      more.textContent = `+${column.units - column.nodes.length}`;
      svg.append(more);
    }
  });
}
