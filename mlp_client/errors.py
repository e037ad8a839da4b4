"""The client's exceptions: one short hierarchy, each carrying what the server said.

``MLPError`` is the base of everything the client raises on purpose. HTTP errors carry the
status, the server's message, the offending field (from a 422's ``detail[0].loc``) and the
request ID the server logged (``X-Request-ID``), so a failure can be found in the server's log.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "ConnectionFailed",
    "InvalidInput",
    "JobFailed",
    "MLPError",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Unauthorized",
]

_LOC_SOURCES = ("body", "query", "path", "header")


class MLPError(Exception):
    """Base class: ``status`` (None without an HTTP answer), ``message``, ``field``,
    ``request_id``, ``code`` (the server's machine code) and the decoded ``body``."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        field: str | None = None,
        request_id: str | None = None,
        code: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.request_id = request_id
        self.code = code
        self.body = body

    def __str__(self) -> str:
        text = self.message if self.status is None else f"{self.status}: {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class NotFound(MLPError):
    """404: the dataset, job, model or sweep does not exist (or is not yours)."""


class InvalidInput(MLPError):
    """400, 413, 415 or 422: the request was refused as it stands; ``field`` names the input."""


class Unauthorized(MLPError):
    """401: a missing or wrong API key (``--api-key`` / ``MLP_API_KEY``)."""


class Conflict(MLPError):
    """409: the resource is in the wrong state (e.g. cancelling a job that has ended)."""


class RateLimited(MLPError):
    """429: the job queue is full; ``retry_after`` is the server's advice in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(MLPError):
    """5xx: the server failed or is not ready (503 carries ``retry_after`` when it says one)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ConnectionFailed(MLPError):
    """No HTTP answer at all: the server is unreachable, refused the connection or timed out."""


class JobFailed(MLPError):
    """A waited-for job (or sweep) ended ``failed`` or ``cancelled``; ``job`` is its last
    document and ``code`` the error code the server recorded (``diverged``, ``timeout``...)."""

    def __init__(self, message: str, *, job: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.job = job


def field_from_loc(loc: Any) -> str | None:
    """A 422 ``loc`` as people read it: ``["body", "X", 3, 1]`` -> ``X[3][1]``,
    ``["query", "label"]`` -> ``label``; None when there is nothing beyond the source."""
    if not isinstance(loc, list | tuple):
        return None
    parts = list(loc)
    if parts and parts[0] in _LOC_SOURCES:
        parts.pop(0)
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or None
