// Replay: the weight frames a job records (API.md "Playground support"), played on the map at a
// watchable speed whatever the server's speed: play, pause, step, speed and a scrubber under
// the map; the curves mark the frame's epoch. Live while the job runs (frames appear as it
// records them, drawn from `GET /v1/jobs/{id}/boundary?epoch=K`) and afterwards from the model
// (`/v1/models/{id}/frames`, `.../boundary?epoch=K`). The last frame of a finished model is its
// final boundary, drawn at full resolution.

import { ApiError, getJSON } from "./api.js";
import { ui } from "./dom.js";
import {
  boundaryQuery,
  map,
  setCurveMarker,
  setSource,
  showModelBoundary,
} from "./output-panel.js";
import { subscribe } from "./state.js";
import { sleep } from "./util.js";

const FRAME_RESOLUTION = 64; // grid points per axis of a replayed frame (cheap, drawn often)
const FRAMES_POLL_MS = 400; // how often a running job's frame list is asked for
const PREFETCH = 3; // frames fetched ahead of the one shown

const player = {
  source: null, // {kind: "jobs" | "models", id, live: boolean}
  epochs: [], // the recorded frames' epochs, ascending
  index: -1, // the frame shown
  playing: false,
  grids: new Map(), // query -> boundary JSON (promise) of the current source
  token: 0, // bumps when the source changes: older loops and answers are dropped
  wake: null, // AbortController that cuts the playback's sleep short
};

const path = (suffix) =>
  `/v1/${player.source.kind}/${encodeURIComponent(player.source.id)}/${suffix}`;

/**
 * The boundary at a recorded epoch, fetched at most once per source and query (the region and
 * the held columns are in the query, so changing them fetches anew).
 */
function gridAt(epoch) {
  const query = `${boundaryQuery(FRAME_RESOLUTION)}&epoch=${epoch}`;
  if (!player.grids.has(query)) {
    const promise = getJSON(path(`boundary?${query}`));
    promise.catch(() => player.grids.delete(query)); // asked again next time
    player.grids.set(query, promise);
  }
  return player.grids.get(query);
}

function syncControls() {
  const n = player.epochs.length;
  const { index } = player;
  ui.replayScrubber.max = String(Math.max(0, n - 1));
  ui.replayScrubber.value = String(Math.max(0, index));
  const epoch = player.epochs[index];
  ui.replayEpoch.textContent = epoch === undefined ? "–" : `epoch ${epoch}`;
  ui.replayScrubber.setAttribute(
    "aria-valuetext",
    epoch === undefined ? "no frames yet" : `frame ${index + 1} of ${n}, epoch ${epoch}`,
  );
  for (const control of [ui.replayScrubber, ui.replayBack, ui.replayNext, ui.replayPlay]) {
    control.disabled = n < 2;
  }
  ui.replayPlay.setAttribute("aria-label", player.playing ? "Pause" : "Play");
  ui.replay.dataset.playing = String(player.playing);
  ui.replay.dataset.frames = String(n);
}

/** Draw frame `index` (the map, the badge, the curves' marker). */
async function show(index) {
  const token = player.token;
  const epoch = player.epochs[index];
  if (epoch === undefined) return;
  player.index = index;
  syncControls();
  setCurveMarker(epoch);
  const { source } = player;
  const last = index === player.epochs.length - 1;
  if (source.kind === "models" && last) {
    await showModelBoundary(source.id, "Final model", source.meta);
    map.canvas.dataset.boundaryEpoch = String(epoch);
    return;
  }
  for (const ahead of player.epochs.slice(index + 1, index + 1 + PREFETCH)) gridAt(ahead);
  let grid;
  try {
    grid = await gridAt(epoch);
  } catch (error) {
    if (token === player.token && !(error instanceof ApiError && error.status === 404)) throw error;
    return;
  }
  if (token !== player.token || player.index !== index) return;
  map.setGrid(grid);
  map.canvas.dataset.boundaryEpoch = String(epoch);
  setSource(`${source.live ? "Live" : "Replay"} · epoch ${epoch}`, "live", "snapshot");
}

/** Play on from the shown frame, one frame per 1 / speed s, waiting for frames not yet made. */
async function play() {
  const token = player.token;
  player.playing = true;
  syncControls();
  while (player.playing && token === player.token) {
    const started = performance.now();
    if (player.index < player.epochs.length - 1) {
      try {
        await show(player.index + 1);
      } catch {
        // a frame that cannot be drawn is skipped; the next one is tried
      }
    } else if (!player.source.live) {
      player.playing = false;
      syncControls();
      break;
    }
    const wait = 1000 / Number(ui.replaySpeed.value) - (performance.now() - started);
    player.wake = new AbortController();
    await sleep(Math.max(10, wait), player.wake.signal);
  }
}

function pause() {
  player.playing = false;
  player.wake?.abort();
  syncControls();
}

const seekListeners = [];

/** Call `listener({kind, id, epoch, last})` when the user moves to a frame (playback paused). */
export function onSeek(listener) {
  seekListeners.push(listener);
}

/** Show frame `index` now (scrubber, step buttons): playback pauses. */
function seek(index) {
  pause();
  const clamped = Math.min(player.epochs.length - 1, Math.max(0, index));
  show(clamped).catch(() => {});
  const epoch = player.epochs[clamped];
  if (epoch === undefined) return;
  const last = clamped === player.epochs.length - 1;
  for (const listener of seekListeners) listener({ ...player.source, epoch, last });
}

/**
 * Follow a running job's frames: they are played as the job records them. `onNoFrames` runs
 * when the server has no frames route (the page then polls the latest snapshot instead).
 */
export async function replayJob(jobId, { onNoFrames = null } = {}) {
  const token = start({ kind: "jobs", id: jobId, live: true });
  play();
  while (token === player.token && player.source.live) {
    try {
      const { epochs } = await getJSON(path("frames"));
      if (token !== player.token) return;
      if (epochs.length > player.epochs.length) {
        player.epochs = epochs;
        syncControls();
      }
    } catch (error) {
      if (token !== player.token) return;
      if (error instanceof ApiError && error.status === 404) {
        pause();
        onNoFrames?.();
        return;
      }
    }
    await sleep(FRAMES_POLL_MS);
  }
}

/**
 * A finished model's frames: playback goes on from the frame the live replay shows (or starts
 * from the first with `fromStart`); otherwise the last frame, the final boundary, is shown.
 * `meta` (the model's metadata) names the axes when the model is shown without its dataset.
 */
export async function replayModel(modelId, { fromStart = false, meta = null } = {}) {
  const { index, playing } = player;
  const wasLive = player.source?.kind === "jobs";
  const token = start({ kind: "models", id: modelId, live: false, meta });
  let epochs = [];
  try {
    ({ epochs } = await getJSON(path("frames")));
  } catch {
    epochs = []; // an imported model, or a server without frames: its final boundary only
  }
  if (token !== player.token) return;
  player.epochs = epochs;
  const n = epochs.length;
  if (n < 2) {
    syncControls();
    await showModelBoundary(modelId, "Final model", meta);
    return;
  }
  if (fromStart) {
    player.index = -1;
    play();
  } else if (wasLive && index >= 0) {
    await show(Math.min(index, n - 1));
    if (playing) play();
  } else {
    await show(n - 1);
  }
}

/** Forget the frames (a new dataset, a failed job): the controls are disabled. */
export function stopReplay() {
  start(null);
}

function start(source) {
  pause();
  player.token += 1;
  player.source = source;
  player.epochs = [];
  player.index = -1;
  player.grids = new Map();
  setCurveMarker(null);
  syncControls();
  return player.token;
}

export function wireReplay() {
  // Another model chosen elsewhere (a sweep's trial, a new dataset) takes the frames away.
  subscribe("model", (model) => {
    if (player.source?.kind === "models" && model?.id !== player.source.id) start(null);
  });
  ui.replayPlay.addEventListener("click", () => {
    if (player.playing) {
      pause();
      return;
    }
    if (player.index >= player.epochs.length - 1) player.index = -1; // at the end: from the top
    play();
  });
  ui.replayBack.addEventListener("click", () => seek(player.index - 1));
  ui.replayNext.addEventListener("click", () => seek(player.index + 1));
  ui.replayScrubber.addEventListener("input", () => seek(ui.replayScrubber.valueAsNumber));
  syncControls();
}
