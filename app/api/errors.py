"""The one place where typed errors become HTTP responses.

Every response body is JSON: ``{"detail": <message>, "code": <machine code>}``, or FastAPI's
``{"detail": [{"loc", "msg", "type"}, ...]}`` list for 422s. Nothing here ever returns a
traceback, an exception's ``repr`` or a file-system path.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from app.errors import InvalidInput, ServiceError, field_name
from app.middleware import route_path

__all__ = ["register_exception_handlers"]

logger = logging.getLogger("app.errors")

_MAX_ECHOED_INPUT = 100  # characters of an offending scalar input echoed back in a 422


def _request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def _json(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    request_id = _request_id(request)
    all_headers = dict(headers or {})
    if request_id:
        all_headers.setdefault("X-Request-ID", request_id)
    return JSONResponse(body, status_code=status, headers=all_headers)


def _safe_input(value: Any) -> Any:
    """Echo only small scalars; never a large or nested input (and never a 10,000-char ID)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan" / "inf": JSON has no spelling for them
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and len(value) <= _MAX_ECHOED_INPUT:
        return value
    return None


def _validation_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's error list, each message prefixed with the field it is about, inputs trimmed."""
    detail: list[dict[str, Any]] = []
    for error in errors:
        loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
        msg = str(error.get("msg", "invalid value"))
        item: dict[str, Any] = {
            "loc": loc,
            "msg": f"{field_name(loc)}: {msg}",
            "type": str(error.get("type", "value_error")),
        }
        echoed = _safe_input(error.get("input"))
        if echoed is not None:
            item["input"] = echoed
        detail.append(item)
    return detail


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return _json(request, 422, {"detail": _validation_detail(exc.errors())})


async def _invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
    loc = list(exc.loc)
    msg = exc.message
    name = field_name(loc)
    if not msg.startswith(name):
        msg = f"{name}: {msg}"
    return _json(request, 422, {"detail": [{"loc": loc, "msg": msg, "type": exc.code}]})


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    if exc.status_code == 500:
        logger.error("service error: %s", exc.message, exc_info=exc)
        return _json(request, exc.status_code, _internal_body(request))
    return _json(request, exc.status_code, exc.body(), exc.response_headers())


_PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_PARAM_RE = re.compile(r"\{[^}/]+\}")


def _allowed_methods(request: Request) -> list[str]:
    """The methods the request's path answers to, for a 405's ``Allow`` header.

    Starlette names only the methods of the first route whose path matches, but ``/v1/datasets``
    has one route per method. For a path in the OpenAPI schema the answer is the methods of the
    best-matching path template there (a literal path beats a template: ``/v1/models/import`` is
    ``POST`` only, not ``/v1/models/{model_id}``'s ``GET, DELETE``); for other paths (the
    playground, the docs) every method is tried against the router.
    """
    path = route_path(request.scope)
    best: tuple[int, list[str]] | None = None
    for template, methods in _documented_paths(request.app).items():
        if template.fullmatch(path) is not None:
            rank = template.pattern.count("[^/]+")  # path parameters
            if best is None or rank < best[0]:
                best = (rank, methods)
    if best is not None:
        return best[1]
    allowed = []
    for method in _PROBED_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _documented_paths(app: FastAPI) -> dict[re.Pattern[str], list[str]]:
    """Each OpenAPI path as a regex (``{param}`` = one segment) -> its methods (cached)."""
    cached: dict[re.Pattern[str], list[str]] | None = getattr(app.state, "allow_table", None)
    if cached is None:
        cached = {}
        for template, operations in app.openapi().get("paths", {}).items():
            parts = _PARAM_RE.split(template)
            regex = "[^/]+".join(re.escape(part) for part in parts)
            cached[re.compile(regex)] = sorted(method.upper() for method in operations)
        app.state.allow_table = cached
    return cached


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Starlette's own errors (unknown path, wrong method): JSON, with a complete ``Allow``."""
    if exc.status_code == 400:  # FastAPI could not parse the body (e.g. not UTF-8): invalid input
        item = {
            "loc": ["body"],
            "msg": f"request body: {exc.detail} (send well-formed JSON in UTF-8)",
            "type": "body_parse_error",
        }
        return _json(request, 422, {"detail": [item]})
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    if exc.status_code < 200 or exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    codes = {404: "not_found", 405: "method_not_allowed", 422: "invalid_input"}
    body = {"detail": exc.detail, "code": codes.get(exc.status_code, "http_error")}
    return _json(request, exc.status_code, body, headers)


def _internal_body(request: Request) -> dict[str, Any]:
    return {"detail": "internal error", "code": "internal", "request_id": _request_id(request)}


_BACKEND_RETRY_AFTER_SECONDS = 5


async def _backend_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The RQ back-end's Redis does not answer: the service is up but cannot reach its queue."""
    logger.warning(
        "job back-end unavailable on %s %s: %s",
        request.method,
        request.url.path[:200],
        type(exc).__name__,
        extra={"request_id": _request_id(request)},
    )
    response = _json(
        request,
        503,
        {"detail": "the job queue is unavailable; retry shortly", "code": "unavailable"},
    )
    response.headers["Retry-After"] = str(_BACKEND_RETRY_AFTER_SECONDS)
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path[:200],
        exc_info=exc,
        extra={"request_id": _request_id(request)},
    )
    return _json(request, 500, _internal_body(request))


_Handler = Callable[[Request, Any], Awaitable[Response]]


def register_exception_handlers(app: FastAPI) -> None:
    """Install every mapping: ServiceError (job errors and the streamed body's 413 included),
    validation, Starlette's 404/405, the job queue's Redis and the 500 catch-all."""
    handlers: list[tuple[type[Exception], _Handler]] = [
        (RequestValidationError, _validation_error),
        (InvalidInput, _invalid_input),
        (ServiceError, _service_error),
        (StarletteHTTPException, _http_error),
        (redis.exceptions.ConnectionError, _backend_unavailable),
        (redis.exceptions.TimeoutError, _backend_unavailable),
        (Exception, _unexpected),
    ]
    for exc_class, handler in handlers:
        app.add_exception_handler(exc_class, handler)
