// The status line and the error box, and marking the form controls an error is about.

import { ui } from "./dom.js";

export function setStatus(text, tone = "") {
  ui.status.textContent = text;
  ui.status.className = `status ${tone}`.trim();
}

/**
 * Show an error (an ApiError's field messages, else its message) and point at the first
 * control it names: `fieldPrefix` + the field path is the control's `data-field`.
 */
export function showError(error, title = "Something went wrong", fieldPrefix = "") {
  if (error?.name === "AbortError") return;
  const messages = error?.fields?.length
    ? error.fields.map((f) => f.msg)
    : String(error?.message ?? error).split("\n");
  ui.errorTitle.textContent = error?.status === 429 ? "The server is busy" : title;
  ui.errorList.replaceChildren(
    ...messages.map((m) => Object.assign(document.createElement("li"), { textContent: m })),
  );
  ui.error.hidden = false;
  const invalid = (error?.fields ?? []).map((f) => markInvalid(f.loc, fieldPrefix)).filter(Boolean);
  setStatus(`${title}.`);
  // Show where the problem is: the first offending control, else the message itself.
  if (invalid.length && !invalid[0].disabled) invalid[0].focus();
  else ui.error.scrollIntoView({ block: "nearest" });
}

function markInvalid(loc, prefix) {
  const path = loc.slice(1).join(".");
  const control = document.querySelector(`[data-field="${CSS.escape(prefix + path)}"]`);
  if (!control) return null;
  control.setAttribute("aria-invalid", "true");
  control.closest("details")?.setAttribute("open", "");
  return control;
}

export function clearErrors() {
  ui.error.hidden = true;
  for (const control of document.querySelectorAll('[aria-invalid="true"]')) {
    control.removeAttribute("aria-invalid");
  }
}

export function wireNotices() {
  ui.errorClose.addEventListener("click", () => {
    ui.error.hidden = true;
  });
  for (const control of ui.setup.querySelectorAll("input, select")) {
    control.addEventListener("input", () => control.removeAttribute("aria-invalid"));
  }
}
