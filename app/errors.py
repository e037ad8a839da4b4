"""Typed service errors. Each maps to one HTTP status in ``app.api.errors`` (one place)."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class; ``message`` is safe to show to clients (no paths, no internals)."""

    status_code = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    status_code = 413
    code = "payload_too_large"
