// The "Show test data" switch (as TensorFlow Playground's): the rows a model held out for testing
// (`GET /v1/models/{id}/split`) are drawn hollow on the map, or hidden when the box is unticked.

import { getJSON } from "./api.js";
import { ui } from "./dom.js";
import { map } from "./output-panel.js";
import { subscribe } from "./state.js";

const NO_TEST_HINT = "Train with some test data to see the held-out rows on the map, drawn hollow.";
const TEST_HINT = "Rows held out for testing are drawn hollow; untick to hide them.";

let token = 0; // the latest request: an older answer is dropped
let current = null; // id of the model whose test rows are (or are being) marked
let wanted = true; // the user's choice, kept while the box is disabled

function setRows(rows) {
  ui.showTest.disabled = !rows;
  ui.showTest.checked = Boolean(rows) && wanted;
  ui.showTestHelp.textContent = rows ? TEST_HINT : NO_TEST_HINT;
  map.setTestRows(rows, ui.showTest.checked);
}

/** Mark the test rows of the model `meta` (its metadata document) on the map, if it has any. */
export async function showTestSplit(meta) {
  const mine = ++token;
  current = meta?.id ?? null;
  if (!current || !meta.evaluation?.test) {
    setRows(null);
    return;
  }
  try {
    const split = await getJSON(`/v1/models/${encodeURIComponent(current)}/split`);
    if (mine !== token) return;
    setRows(split.test.length ? new Set(split.test) : null);
  } catch {
    if (mine === token) setRows(null); // the map is still right without the marks
  }
}

/** The box shows or hides the marks; another model (or none) takes them away. */
export function wireTestSplit() {
  ui.showTest.addEventListener("change", () => {
    wanted = ui.showTest.checked;
    map.setTestRows(map.testRows, wanted);
  });
  subscribe("model", (model) => {
    if (model?.id !== current) {
      token += 1;
      current = null;
      setRows(null);
    }
  });
}
