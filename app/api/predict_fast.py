"""``POST /v1/models/{id}/predict``: :func:`serve_predict`, shared by the route and by
:class:`PredictFastPath`, a pure ASGI layer that answers the request without FastAPI's
per-request work."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import Request, Response
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import ServiceError
from app.middleware import route_path
from app.numeric import dumps, loads
from app.owners import Owner, owner_from_scope, require_visible
from app.services.model_input import model_rows
from app.services.models import predictions
from app.storage.ids import ID_RE
from app.storage.models import Estimator, ModelStore, model_owner

__all__ = ["PredictFastPath", "handle_service_error", "receive_body", "serve_predict"]

_PREDICT_PATH = "/v1/models/{model_id}/predict"
_PREDICT_PATH_RE = re.compile(r"/v1/models/([^/]+)/predict")
# Predict bodies up to this size are handled on the event loop when the model is cached (a
# thread hop costs more than parsing a few rows); larger ones go to the thread pool.
_INLINE_BODY_BYTES = 32 * 1024


async def serve_predict(
    store: ModelStore,
    max_rows: int,
    model_id: str,
    read_body: Callable[[], Awaitable[bytes]],
    owner: Owner,
) -> Response:
    """The predict response for ``model_id`` (both the route and :class:`PredictFastPath`);
    404 for another key's model, as for an unknown one (``app.owners``)."""
    started = time.perf_counter()
    model = store.cached(model_id)  # one stat, no read; 404 for an unknown model
    if model is not None and not owner.sees_all:
        require_visible(owner, model_owner(model), "model", model_id)
    body = await read_body()
    clock = _Clock(started, time.perf_counter())
    if model is not None and len(body) <= _INLINE_BODY_BYTES:
        return _predict(model, body, max_rows, clock)
    return await anyio.to_thread.run_sync(
        _load_and_predict, store, model_id, body, max_rows, clock, owner
    )


@dataclass
class _Clock:
    """``perf_counter`` marks of one predict, for its ``Server-Timing`` header."""

    started: float
    read: float

    def header(self, parsed: float, modelled: float, encoded: float) -> bytes:
        """``read``, ``parse``, ``model``, ``encode`` and ``total``, in milliseconds."""
        started, read = self.started, self.read
        return _TIMING % (
            (read - started) * 1e3,
            (parsed - read) * 1e3,
            (modelled - parsed) * 1e3,
            (encoded - modelled) * 1e3,
            (encoded - started) * 1e3,
        )


_TIMING = b"read;dur=%.3f, parse;dur=%.3f, model;dur=%.3f, encode;dur=%.3f, total;dur=%.3f"


class JSONBytesResponse(Response):
    """A 200 ``application/json`` response of ready bytes with a ``Server-Timing`` header: the
    same headers, in the same order, as ``Response(payload, media_type=..., headers=...)``,
    built without its header normalisation (this runs on every predict)."""

    media_type = "application/json"

    def __init__(self, payload: bytes, timing: bytes) -> None:
        self.status_code = 200
        self.background = None
        self.body = payload
        self.raw_headers = [
            (b"server-timing", timing),
            (b"content-length", b"%d" % len(payload)),
            (b"content-type", b"application/json"),
        ]


def _load_and_predict(
    store: ModelStore, model_id: str, body: bytes, max_rows: int, clock: _Clock, owner: Owner
) -> Response:
    model = store.load(model_id)
    require_visible(owner, model_owner(model), "model", model_id)
    return _predict(model, body, max_rows, clock)


def _predict(model: Estimator, body: bytes, max_rows: int, clock: _Clock) -> Response:
    """Parse ``{"X": [[...]]}`` straight into float64 (or the rows by name into the model's
    columns), run the model, encode with orjson."""
    rows = model_rows(loads(body), model, max_rows, body)
    parsed = time.perf_counter()
    content = predictions(model, rows)
    modelled = time.perf_counter()
    payload = dumps(content)
    encoded = time.perf_counter()
    return JSONBytesResponse(payload, clock.header(parsed, modelled, encoded))


def fast_path_store(scope: Scope) -> ModelStore | None:
    """The model store, when a pure-ASGI fast path may serve this request: the app has built
    its stores (else the route answers 503) and no dependency overrides (tests) ask for the
    route."""
    application = scope.get("app")
    if application is None or application.dependency_overrides:
        return None
    store: ModelStore | None = application.state.model_store
    return store


class PredictFastPath:
    """Pure ASGI: serves ``POST /v1/models/{id}/predict`` without FastAPI's per-request work.

    Installed innermost of the app's middleware (request ID, access log, metrics, API key and
    body limit still apply). Routing through every route, dependency solving and FastAPI's
    request and response wrappers cost several times a one-row predict (docs/benchmarks.md, HTTP),
    so this layer answers the request itself with :func:`serve_predict`, exactly as the route
    would. Typed errors go through the app's own exception handlers; anything else falls
    through to FastAPI: other paths, malformed IDs, a store not built yet (503), and apps with
    dependency overrides (tests), which the route honours.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        # The route this layer stands in for: the metrics and the access log are labelled by it.
        self.route = next(r for r in routes if getattr(r, "path", "") == _PREDICT_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        model_id = _predict_model_id(scope)
        store = fast_path_store(scope) if model_id is not None else None
        if model_id is None or store is None:
            await self.app(scope, receive, send)
            return
        application = scope["app"]
        state = application.state
        scope["route"] = self.route

        async def read_body() -> bytes:
            return await receive_body(receive)

        try:
            owner = owner_from_scope(scope)
            response = await serve_predict(
                store, state.settings.max_rows, model_id, read_body, owner
            )
        except ServiceError as exc:
            response = await handle_service_error(application, Request(scope, receive), exc)
        await response(scope, receive, send)


def _predict_model_id(scope: Scope) -> str | None:
    """The model ID of a ``POST`` to the predict path with a well-formed ID, else ``None``."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    match = _PREDICT_PATH_RE.fullmatch(route_path(scope))
    if match is None or ID_RE.fullmatch(match.group(1)) is None:
        return None
    return match.group(1)


async def receive_body(receive: Receive) -> bytes:
    """The whole request body from ASGI ``receive`` (``ClientDisconnect`` if the client left)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def handle_service_error(application: Any, request: Request, exc: ServiceError) -> Response:
    """The response the app's exception handler for ``exc`` gives (as FastAPI would)."""
    for cls in type(exc).__mro__:
        handler = application.exception_handlers.get(cls)
        if handler is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc
