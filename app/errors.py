"""Typed service errors. Each carries its HTTP status, machine code, JSON body and headers;
``app.api.errors`` turns any of them into a response (one place)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException

__all__ = [
    "BodyTooLarge",
    "Conflict",
    "InsufficientStorage",
    "InvalidInput",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "ServiceError",
    "UnsupportedMediaType",
    "field_name",
]

_LOC_SOURCES = ("body", "query", "path", "header", "cookie")


class ServiceError(Exception):
    """Base class; ``message`` is safe to show to clients (no paths, no internals)."""

    status_code = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)  # not super(): BodyTooLarge's next base is Starlette's
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON error body (a 500's is replaced by a generic one with the request ID)."""
        return {"detail": self.message, "code": self.code}

    def response_headers(self) -> dict[str, str]:
        """Headers the error response carries besides ``Content-Type``."""
        return {}


class NotFound(ServiceError):
    """An unknown (or malformed) resource ID: 404."""

    status_code = 404
    code = "not_found"

    def __init__(self, resource: str, resource_id: str) -> None:
        shown = resource_id if len(resource_id) <= 80 else resource_id[:77] + "..."
        super().__init__(f"{resource} {shown!r} not found")
        self.resource = resource
        self.resource_id = resource_id


class Conflict(ServiceError):
    """The resource is in the wrong state for the request: 409."""

    status_code = 409
    code = "conflict"


class InvalidInput(ServiceError):
    """Input that passed schema validation but is still wrong: 422 naming the field.

    ``loc`` follows FastAPI's convention, e.g. ``("body", "X", 3, 1)``.
    """

    status_code = 422
    code = "invalid_input"

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class PayloadTooLarge(ServiceError):
    """A body or an uploaded file over its limit: 413."""

    status_code = 413
    code = "payload_too_large"


class BodyTooLarge(PayloadTooLarge, HTTPException):
    """A request body over ``MLP_MAX_BODY_BYTES``: 413, and the connection is closed.

    Raised from ``receive`` while the body streams in. It is also a Starlette ``HTTPException``
    because FastAPI turns any other exception met while reading a body into a 400.
    """

    def __init__(self, limit: int) -> None:
        message = f"request body too large: the limit is {limit} bytes"
        PayloadTooLarge.__init__(self, message)
        HTTPException.__init__(self, PayloadTooLarge.status_code, message)

    def response_headers(self) -> dict[str, str]:
        return {"Connection": "close"}


class UnsupportedMediaType(ServiceError):
    """A request body in a ``Content-Type`` the route does not read: 415."""

    status_code = 415
    code = "unsupported_media_type"


class InsufficientStorage(ServiceError):
    """A write that would pass a storage quota (``MLP_STORAGE_QUOTA_BYTES``): 507."""

    status_code = 507
    code = "storage_quota_full"


class NotReady(ServiceError):
    """The lifespan has not (or not yet) built a component the request needs: 503."""

    status_code = 503
    code = "not_ready"


def field_name(loc: Sequence[str | int]) -> str:
    """A loc as people read it: ``("body", "X", 3, 1)`` -> ``X[3][1]``;
    ``("query", "fixed")`` -> ``query parameter fixed``."""
    parts = list(loc)
    source = str(parts.pop(0)) if parts and parts[0] in _LOC_SOURCES else "body"
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    if source == "body":
        return text or "request body"
    return f"{source} parameter {text}" if text else source
