// What the panels share: the datasets seen, what the map shows, the job followed and the model
// predictions go to. Panels read `state` freely but change it only through the setters here;
// `subscribe` tells a panel when a part it shows has changed.

export const state = {
  datasets: new Map(), // id -> dataset metadata (stored on the server)
  data: new Map(), // id -> {X, y}
  dataset: null, // metadata of the dataset on the map
  view: null, // {xMin, xMax, yMin, yMax, features, nFeatures, names, table, held}: plot-view.js
  job: null, // the job being followed
  model: null, // {id, name} predictions and downloads go to
};

const listeners = new Map(); // key of `state` -> [listener(value)]

/** Call `listener(value)` whenever `state[key]` is set through a setter below. */
export function subscribe(key, listener) {
  if (!listeners.has(key)) listeners.set(key, []);
  listeners.get(key).push(listener);
}

function set(key, value) {
  state[key] = value;
  for (const listener of listeners.get(key) ?? []) listener(value);
}

/** The dataset on the map and the plotted region (both may be null). */
export function setDataset(meta, view) {
  set("dataset", meta);
  set("view", view);
}

export const setView = (view) => set("view", view);

/** Hold column `f` of the view at `value` (listeners of "held" get the new view). */
export function setHeld(f, value) {
  const held = [...state.view.held];
  held[f] = value;
  state.view = { ...state.view, held };
  for (const listener of listeners.get("held") ?? []) listener(state.view);
}
export const setJob = (job) => set("job", job);
export const setModel = (model) => set("model", model);

/** A job is being followed and has not ended. */
export const isTraining = () => Boolean(state.job && !state.job.done);
