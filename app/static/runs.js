// What this browser made, kept in localStorage: the ids of its models and datasets (the page
// lists only those unless asked for everything) and the job it is following (so a reload
// reattaches to it). Storage may be disabled or full: every function then degrades to "nothing
// remembered" and the page still works.

const KEY = "mlp-my-runs";

function read() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? "{}");
    return {
      models: Array.isArray(value.models) ? value.models : [],
      datasets: Array.isArray(value.datasets) ? value.datasets : [],
      job: value.job && typeof value.job.id === "string" ? value.job : null,
    };
  } catch {
    return { models: [], datasets: [], job: null };
  }
}

function write(runs) {
  try {
    localStorage.setItem(KEY, JSON.stringify(runs));
  } catch {
    // storage full or disabled: forgotten at the next reload, nothing worse
  }
}

function update(change) {
  const runs = read();
  change(runs);
  write(runs);
}

export const myModels = () => new Set(read().models);
export const myDatasets = () => new Set(read().datasets);

/** Remember a model (`kind` "models") or dataset ("datasets") id as made here. */
export function remember(kind, id) {
  if (!id) return;
  update((runs) => {
    if (!runs[kind].includes(id)) runs[kind].push(id);
  });
}

/** Forget an id (deleted, or gone from the server). */
export function forget(kind, id) {
  update((runs) => {
    runs[kind] = runs[kind].filter((known) => known !== id);
  });
}

/** The job this page follows ({id, epochs}) or null. */
export const runningJob = () => read().job;

export function setRunningJob(job) {
  update((runs) => {
    runs.job = job ? { id: job.id, epochs: job.epochs } : null;
  });
}
