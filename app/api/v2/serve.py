"""One ``POST /v2/models/{id}[/versions/{v}]/infer``: :func:`serve_infer`, shared by the routes
and by :class:`app.api.v2.fast_path.InferFastPath` (one implementation, the same bytes out).

Errors are ``{"error": message}``: 400 for a bad request, 404 for an unknown model or version,
409 for a damaged model file. The body limit's 413 is raised, to be answered as everywhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio.to_thread
from fastapi import Response
from fastapi.responses import JSONResponse

from app.api.v2.codec import V2Error, parse_header_length
from app.api.v2.infer import MODEL_VERSION, infer
from app.errors import InvalidInput, ServiceError
from app.owners import Owner, require_visible
from app.storage.models import ModelStore, model_owner

__all__ = ["UnknownVersion", "check_version", "error_response", "serve_infer", "service_error"]

# Infer bodies up to this size run on the event loop when the model is cached (as /predict does).
_INLINE_BODY_BYTES = 32 * 1024


def error_response(status: int, message: str) -> JSONResponse:
    """A V2 error body, ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status)


def service_error(exc: ServiceError) -> JSONResponse:
    """A typed service error as a V2 error body (invalid input is a 400 here, not a 422)."""
    return error_response(400 if isinstance(exc, InvalidInput) else exc.status_code, exc.message)


class UnknownVersion(ServiceError):
    """A version other than the model's one: 404."""

    status_code = 404
    code = "not_found"


def check_version(model_id: str, version: str | None) -> None:
    """Raise ``UnknownVersion`` unless ``version`` is None or the model's one version."""
    if version is not None and version != MODEL_VERSION:
        shown = version if len(version) <= 40 else version[:37] + "..."
        raise UnknownVersion(
            f"model {model_id[:80]!r} has no version {shown!r}; its one version is "
            f"{MODEL_VERSION!r}"
        )


async def serve_infer(
    store: ModelStore,
    max_rows: int,
    model_id: str,
    version: str | None,
    header_value: str | None,
    read_body: Callable[[], Awaitable[bytes]],
    owner: Owner,
) -> Response:
    """Run one infer request: inline for a cached model and a small body, else in a thread.

    ``header_value`` is the ``Inference-Header-Content-Length`` header (None if absent);
    another key's model is a 404 as an unknown one is (``app.owners``).
    """
    try:
        model = store.cached(model_id)  # one stat; 404 for an unknown model
        if model is not None and not owner.sees_all:
            require_visible(owner, model_owner(model), "model", model_id)
        body = await read_body()  # first: an oversized body is a 413 whatever the version
        check_version(model_id, version)
        header_length = parse_header_length(header_value)
        if model is not None and len(body) <= _INLINE_BODY_BYTES:
            payload, headers = infer(model_id, model, body, header_length, max_rows)
        else:
            payload, headers = await anyio.to_thread.run_sync(
                _load_and_infer, store, model_id, body, header_length, max_rows, owner
            )
    except V2Error as exc:
        return error_response(400, exc.message)
    except ServiceError as exc:
        if exc.status_code == 413:
            raise  # the body limit answers as everywhere else (and closes the connection)
        return service_error(exc)
    return Response(payload, headers=headers)


def _load_and_infer(
    store: ModelStore,
    model_id: str,
    body: bytes,
    header_length: int | None,
    max_rows: int,
    owner: Owner,
) -> tuple[bytes, dict[str, str]]:
    model = store.load(model_id)
    require_visible(owner, model_owner(model), "model", model_id)
    return infer(model_id, model, body, header_length, max_rows)
