// The playground's only door to the server: fetch with the optional API key, readable errors,
// and a Server-Sent Events reader built on fetch (EventSource cannot send an Authorization
// header, which servers with MLP_API_KEYS require on /v1/jobs/{id}/events).

let apiKey = "";

/** Use this key (as `Authorization: Bearer <key>`) on every later request; "" for none. */
export function setApiKey(key) {
  apiKey = key.trim();
}

/** An HTTP error with a message people can read and, for 422s, the offending fields. */
export class ApiError extends Error {
  constructor(status, message, { fields = [], retryAfter = null, code = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields; // [{loc: ["body", "training", "epochs"], msg: "..."}]
    this.retryAfter = retryAfter;
    this.code = code;
  }
}

function headersFor(extra = {}) {
  const headers = new Headers(extra);
  if (apiKey) headers.set("Authorization", `Bearer ${apiKey}`);
  return headers;
}

/** fetch() that throws ApiError for network failures and non-2xx answers. */
export async function request(method, path, { json, body, contentType, accept, signal } = {}) {
  const headers = headersFor(accept ? { Accept: accept } : {});
  const init = { method, headers, signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    headers.set("Content-Type", "application/json");
  } else if (body !== undefined) {
    init.body = body;
    if (contentType) headers.set("Content-Type", contentType);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The server cannot be reached. Is it running?");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function getJSON(path, options = {}) {
  const response = await request("GET", path, { ...options, accept: "application/json" });
  return response.json();
}

export async function postJSON(path, json, options = {}) {
  const response = await request("POST", path, { ...options, json, accept: "application/json" });
  return response.status === 204 ? null : response.json();
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const retryHeader = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  const retryAfter = Number.isFinite(retryHeader) ? retryHeader : null;
  return describe(response.status, body, retryAfter);
}

/** Turn a status and the API's error body into an ApiError with a readable message. */
export function describe(status, body, retryAfter = null) {
  const detail = body?.detail;
  const code = typeof body?.code === "string" ? body.code : null;
  if (Array.isArray(detail)) {
    const fields = detail.map((item) => ({
      loc: Array.isArray(item?.loc) ? item.loc : [],
      msg: String(item?.msg ?? "invalid value"),
    }));
    const message = fields.map((field) => field.msg).join("\n") || "Invalid input.";
    return new ApiError(status, message, { fields, code });
  }
  const text = typeof detail === "string" && detail ? detail : null;
  switch (status) {
    case 401: {
      const lead = text ? text.replace(/[.!]?$/, ".") : "An API key is required.";
      return new ApiError(status, `${lead} Enter a valid key under “API key” at the top.`, {
        code,
      });
    }
    case 429: {
      // The server's Retry-After is an estimate from recent jobs' durations: say so.
      const wait = retryAfter ?? body?.retry_after;
      const held = /\((\d+) running or queued/.exec(text ?? "");
      const full = held
        ? `The server is at its limit of ${held[1]} running or waiting jobs.`
        : "The server is at its limit of running and waiting jobs.";
      const when = wait
        ? ` From how long recent jobs took, it estimates a place frees up in about ${wait} s;` +
          " press Train again then."
        : " Press Train again in a little while.";
      return new ApiError(status, full + when, { retryAfter: wait, code });
    }
    case 503:
      return new ApiError(status, `The service is not ready yet. ${text ?? ""}`.trim(), { code });
    default:
      if (status >= 500) {
        const id = body?.request_id ? ` (request ID ${body.request_id})` : "";
        return new ApiError(status, `The server had an internal error${id}.`, { code });
      }
      return new ApiError(status, text ?? `The request failed (HTTP ${status}).`, { code });
  }
}

/**
 * Read a Server-Sent Events stream: yields {event, data} with `data` parsed as JSON.
 * Ends when the server closes the stream; throws ApiError if it cannot be opened.
 */
export async function* streamEvents(path, { signal } = {}) {
  const response = await request("GET", path, { accept: "text/event-stream", signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end = buffer.indexOf("\n\n");
      while (end !== -1) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) yield event;
        end = buffer.indexOf("\n\n");
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // comments keep the connection alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  try {
    return { event, data: JSON.parse(data.join("\n")) };
  } catch {
    return null;
  }
}

/** Save a response body as a file (downloads need the API key too, so no plain links). */
export async function download(path, fallbackName) {
  const response = await request("GET", path);
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}
