"""``POST /v2/models/{id}[/versions/{v}]/infer`` without FastAPI's per-request work.

:class:`InferFastPath` is a pure ASGI layer, installed beside
:class:`app.api.predict_fast.PredictFastPath` (inside the request-ID, API-key and body-limit
middleware), that answers an infer request with :func:`app.api.v2.serve.serve_infer`, the very
function the routes call, so both give the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.predict_fast import fast_path_store, handle_service_error, receive_body
from app.api.v2.serve import serve_infer
from app.errors import ServiceError
from app.middleware import route_path
from app.owners import owner_from_scope
from app.storage.ids import ID_RE

__all__ = ["InferFastPath"]

_INFER_PATH = "/v2/models/{model_id}/infer"
_VERSION_INFER_PATH = "/v2/models/{model_id}/versions/{version}/infer"
_INFER_PATH_RE = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
_HEADER_LENGTH_KEY = b"inference-header-content-length"


class InferFastPath:
    """Pure ASGI: serves V2 infer requests as the routes would, minus routing and dependencies.

    Anything it declines falls through to FastAPI: other paths and methods, malformed IDs, a
    store not built yet (503), and apps with dependency overrides (tests), which the routes
    honour. The routes stay registered (OpenAPI, and the fallback).
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        # The routes this layer stands in for: the metrics and the access log are labelled by them.
        by_path = {getattr(r, "path", ""): r for r in routes}
        self.route, self.version_route = by_path[_INFER_PATH], by_path[_VERSION_INFER_PATH]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _infer_match(scope)
        store = fast_path_store(scope) if match is not None else None
        if match is None or store is None:
            await self.app(scope, receive, send)
            return
        application = scope["app"]
        state = application.state
        model_id, version = match
        scope["route"] = self.route if version is None else self.version_route

        async def read_body() -> bytes:
            return await receive_body(receive)

        try:
            response = await serve_infer(
                store,
                state.settings.max_rows,
                model_id,
                version,
                _header_length(scope),
                read_body,
                owner_from_scope(scope),
            )
        except ServiceError as exc:  # the body limit's 413, answered as the route's would be
            response = await handle_service_error(application, Request(scope, receive), exc)
        await response(scope, receive, send)


def _infer_match(scope: Scope) -> tuple[str, str | None] | None:
    """``(model_id, version or None)`` of a ``POST`` to an infer path with a well-formed ID."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    match = _INFER_PATH_RE.fullmatch(route_path(scope))
    if match is None or ID_RE.fullmatch(match.group(1)) is None:
        return None
    return match.group(1), match.group(2)


def _header_length(scope: Scope) -> str | None:
    """The first ``Inference-Header-Content-Length`` value (ASGI header names are lower case)."""
    for key, value in scope["headers"]:
        if key == _HEADER_LENGTH_KEY:
            return str(value.decode("latin-1"))
    return None
