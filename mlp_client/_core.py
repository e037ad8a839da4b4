"""The transport-agnostic core shared by :class:`~mlp_client.Client` and
:class:`~mlp_client.AsyncClient`: settings, request specs (:class:`Call`), the retry rule, the
mapping of error responses to exceptions, and the parsing of documents.

Nothing here performs I/O: a ``Call`` says what to send and how to read the answer, and each
client only sends it (with ``httpx.Client`` or ``httpx.AsyncClient``) and sleeps between retries.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from mlp_client.errors import (
    Conflict,
    ConnectionFailed,
    InvalidInput,
    JobFailed,
    MLPError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    field_from_loc,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "STREAM_TIMEOUT",
    "TERMINAL",
    "Call",
    "RetryPolicy",
    "connection_failed",
    "error_from_response",
    "finished_model_id",
    "json_body",
    "path",
    "resolve_settings",
]

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
# Short connect (an unreachable server fails fast), generous read (a predict on many rows).
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# Streams: the server sends a comment line every few seconds, so a minute of silence means
# the stream is dead; callers then fall back to polling.
STREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=60.0, pool=5.0)
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
RETRY_STATUSES = frozenset({429, 503})
USER_AGENT = "mlp-client/0.1"


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of 429 and 503 answers: at most ``max_retries`` more attempts, waiting what the
    server's ``Retry-After`` says (capped at ``max_delay``) or an exponential backoff."""

    max_retries: int = 3
    backoff: float = 0.5
    max_delay: float = 30.0

    def delay(self, response: httpx.Response, attempt: int, call: Call[Any]) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None: do not retry."""
        if not call.retry or response.status_code not in RETRY_STATUSES:
            return None
        if attempt >= self.max_retries:
            return None
        after = parse_retry_after(response.headers.get("retry-after"))
        if after is None:
            after = self.backoff * 2**attempt
        return min(self.max_delay, max(0.0, after))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def resolve_settings(url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The base URL (argument, ``MLP_URL`` or the default) and the default headers (with
    ``Authorization: Bearer`` from the argument or ``MLP_API_KEY``)."""
    base = (url or os.environ.get("MLP_URL") or DEFAULT_URL).rstrip("/")
    key = api_key if api_key is not None else os.environ.get("MLP_API_KEY")
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return base, headers


def path(template: str, *ids: str) -> str:
    """``template`` with each ``{}`` replaced by an ID, percent-encoded (no ``/`` survives)."""
    return template.format(*(quote(str(i), safe="") for i in ids))


def json_body(doc: Any) -> bytes:
    """Strict JSON (NaN and Infinity are refused: the client sends missing cells as null)."""
    return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()


def read_json(response: httpx.Response) -> Any:
    return response.json()


def read_list(response: httpx.Response) -> list[dict[str, Any]]:
    doc = response.json()
    items = doc.get("data", []) if isinstance(doc, dict) else doc
    return [item for item in items if isinstance(item, dict)]


def read_bytes(response: httpx.Response) -> bytes:
    return response.content


def read_nothing(response: httpx.Response) -> None:
    return None


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its successful answer."""

    method: str
    url: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str | int | float] | None = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: httpx.Timeout | None = None
    retry: bool = True  # whether 429/503 answers are retried (not for a readiness probe)

    def build(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The ``httpx.Request`` for this call on ``http`` (its base URL and headers)."""
        headers = dict(self.headers)
        content = self.content
        if self.json is not None:
            content = json_body(self.json)
            headers.setdefault("Content-Type", "application/json")
        params = {k: v for k, v in (self.params or {}).items() if v is not None}
        kwargs: dict[str, Any] = {}
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return http.build_request(
            self.method, self.url, params=params, content=content, headers=headers, **kwargs
        )

    def result(self, response: httpx.Response) -> T:
        """The parsed answer, or the typed error for an error status."""
        if response.is_error:
            raise error_from_response(response)
        return self.parse(response)


def _message(body: Any, response: httpx.Response) -> tuple[str, str | None]:
    """The server's message and the field it names (from FastAPI's ``detail`` list)."""
    if isinstance(body, dict):
        detail = body.get("detail", body.get("error"))
        if isinstance(detail, str) and detail:
            return detail, None
        if isinstance(detail, list) and detail:
            items = [d for d in detail if isinstance(d, dict)]
            messages = [str(d.get("msg", "invalid value")) for d in items]
            return "; ".join(messages) or "invalid input", field_from_loc(
                items[0].get("loc") if items else None
            )
    if isinstance(body, str) and body.strip():
        return " ".join(body.split())[:300], None
    return f"HTTP {response.status_code} {response.reason_phrase}".strip(), None


_CLASSES: dict[int, type[MLPError]] = {
    400: InvalidInput,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    415: InvalidInput,
    422: InvalidInput,
    429: RateLimited,
}


def error_from_response(response: httpx.Response) -> MLPError:
    """The typed exception for an error answer (the body must have been read)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    message, field_name = _message(body, response)
    request_id = response.headers.get("x-request-id")
    if request_id is None and isinstance(body, dict) and isinstance(body.get("request_id"), str):
        request_id = body["request_id"]
    code = body.get("code") if isinstance(body, dict) else None
    kwargs: dict[str, Any] = {
        "status": response.status_code,
        "field": field_name,
        "request_id": request_id,
        "code": code if isinstance(code, str) else None,
        "body": body,
    }
    status = response.status_code
    cls = _CLASSES.get(status, ServerError if status >= 500 else MLPError)
    if cls in (RateLimited, ServerError):
        after = parse_retry_after(response.headers.get("retry-after"))
        return cls(message, retry_after=after, **kwargs)
    return cls(message, **kwargs)


def connection_failed(exc: httpx.TransportError, base_url: str) -> ConnectionFailed:
    """A transport failure (refused, DNS, timeout, reset) as one readable error."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    reason = str(exc) or type(exc).__name__
    return ConnectionFailed(f"connection to {base_url} {kind}: {reason}")


def finished_model_id(job: dict[str, Any]) -> str:
    """The model of a terminal job, or :class:`JobFailed` naming why it has none."""
    status = job.get("status")
    model_id = job.get("model_id")
    if status == "succeeded" and isinstance(model_id, str):
        return model_id
    error = job.get("error") or {}
    reason = error.get("message") or f"it is {status}"
    code = error.get("code") if isinstance(error.get("code"), str) else status
    raise JobFailed(f"job {job.get('id')} {status}: {reason}", job=job, code=code)


def ident(resource: Any) -> str:
    """The ID of a resource given as an ID string or as any object with an ``id``."""
    if isinstance(resource, str):
        return resource
    value = getattr(resource, "id", None)
    if isinstance(value, str):
        return value
    raise TypeError(f"expected an ID string or a resource with .id, got {type(resource).__name__}")


class StreamUnavailable(MLPError):
    """The events route answered, but not with an event stream (e.g. a buffering proxy)."""


def is_event_stream(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.startswith("text/event-stream")


def event_data(data: str) -> dict[str, Any] | None:
    """An event's JSON object, or None for anything else (ignored, not fatal)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class WaitTimeout(MLPError, TimeoutError):
    """``wait(timeout=...)`` ran out before the job or sweep ended (it goes on running)."""


# Errors after which ``wait`` stops reading the stream and polls instead.
FALL_BACK_TO_POLLING: tuple[type[MLPError], ...] = (
    ConnectionFailed,
    ServerError,
    StreamUnavailable,
)


class Follower:
    """The part of ``wait`` both clients share: feeds the reporter from stream events or from
    polled documents, says when the end is reached, and enforces the deadline."""

    def __init__(
        self,
        reporter: Any,
        what: str,
        timeout: float | None,
        rows: Callable[[dict[str, Any]], list[dict[str, Any]]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reporter = reporter
        self.what = what
        self.rows = rows
        self.clock = clock
        self.deadline = None if timeout is None else clock() + timeout

    def event(self, event_type: str, data: dict[str, Any]) -> bool:
        """Handle one stream event; True once the final ``status`` event has come."""
        if event_type == "status":
            return True
        self.reporter.update(data)
        self.check_deadline()
        return False

    def polled(self, doc: dict[str, Any]) -> bool:
        """Handle one polled document; True once it is terminal."""
        for row in self.rows(doc):
            self.reporter.update(row)
        if doc.get("status") in TERMINAL:
            return True
        self.check_deadline()
        return False

    def check_deadline(self) -> None:
        if self.deadline is not None and self.clock() > self.deadline:
            raise WaitTimeout(
                f"{self.what} has not ended yet; still waiting would exceed the timeout"
            )


def job_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    progress = doc.get("progress")
    return [progress] if isinstance(progress, dict) else []


def sweep_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    trials = doc.get("trials")
    return [t for t in trials if isinstance(t, dict)] if isinstance(trials, list) else []


def total_epochs(doc: dict[str, Any]) -> int | None:
    training = doc.get("training")
    epochs = training.get("epochs") if isinstance(training, dict) else None
    return epochs if isinstance(epochs, int) else None


def check_sweep(doc: dict[str, Any]) -> None:
    """:class:`JobFailed` unless the terminal sweep ``doc`` succeeded."""
    if doc.get("status") != "succeeded":
        raise JobFailed(
            f"sweep {doc.get('id')} {doc.get('status')}", job=doc, code=doc.get("status")
        )
