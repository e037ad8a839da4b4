"""``/v1/models``: list, inspect, delete, download and import models; predict; decision boundary."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any, BinaryIO

import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.boundary import (
    BOUNDARY_RESPONSES,
    BoundaryQueryDep,
    Points,
    boundary_response,
    dataset_points,
)
from app.api.deps import DatasetStoreDep, ModelStoreDep, SettingsDep
from app.errors import InvalidInput, NotFound, PayloadTooLarge, ServiceError
from app.numeric import ORJSONResponse, as_matrix, dumps, loads
from app.schemas.common import ModelId, error_responses
from app.schemas.models import (
    BoundaryPublic,
    ModelPublic,
    ModelsPublic,
    PredictRequest,
    PredictResponse,
)
from app.storage.models import Estimator, ModelStore
from mlp_engine import MLPClassifier

__all__ = ["PredictFastPath", "router", "serve_predict"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/models", tags=["models"])

# Predict bodies up to this size are handled on the event loop when the model is cached (a
# thread hop costs more than parsing a few rows); larger ones go to the thread pool.
_INLINE_BODY_BYTES = 32 * 1024
_MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around the file
_DOWNLOAD_CHUNK_BYTES = 1 << 20
_BINARY_SCHEMA = {"type": "string", "format": "binary"}


# ----------------------------------------------------------------------------- metadata


@router.get("", response_model=ModelsPublic)
def list_models(store: ModelStoreDep) -> ModelsPublic:
    """List every model, newest first."""
    metas = store.list()
    return ModelsPublic(data=[ModelPublic.from_meta(m) for m in metas], count=len(metas))


@router.get("/{model_id}", response_model=ModelPublic, responses=error_responses(404, 409, 422))
def get_model(model_id: ModelId, store: ModelStoreDep) -> ModelPublic:
    """Show one model's metadata."""
    return ModelPublic.from_meta(store.get(model_id))


@router.delete(
    "/{model_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 422),
)
def delete_model(model_id: ModelId, store: ModelStoreDep) -> Response:
    """Delete a model."""
    store.delete(model_id)
    return Response(status_code=204)


# ------------------------------------------------------------------------ download / import


@router.get(
    "/{model_id}/download",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The model file (`.npz`), as written by the engine.",
            "content": {"application/octet-stream": {"schema": _BINARY_SCHEMA}},
        },
        **error_responses(404, 422),
    },
)
def download_model(model_id: ModelId, store: ModelStoreDep) -> StreamingResponse:
    """Download the model's `.npz` file."""
    try:
        handle = open(store.path(model_id), "rb")  # noqa: SIM115  # closed by _file_chunks
    except FileNotFoundError:
        raise NotFound("model", model_id) from None
    size = os.fstat(handle.fileno()).st_size  # the open file stays valid if it is deleted now
    return StreamingResponse(
        _file_chunks(handle),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{model_id}.npz"',
            "Content-Length": str(size),
        },
    )


def _file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(_DOWNLOAD_CHUNK_BYTES):
            yield chunk


_IMPORT_BODY = {
    "required": True,
    "description": "A `.npz` model file made by this service: the raw bytes, or a multipart "
    "form with the file in the field `file`. At most `MLP_MAX_MODEL_BYTES` bytes.",
    "content": {
        "application/octet-stream": {"schema": _BINARY_SCHEMA},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": _BINARY_SCHEMA},
                "required": ["file"],
            }
        },
    },
}


@router.post(
    "/import",
    status_code=201,
    response_model=ModelPublic,
    responses=error_responses(413, 422),
    openapi_extra={"requestBody": _IMPORT_BODY},
)
async def import_model(
    request: Request, store: ModelStoreDep, settings: SettingsDep
) -> ModelPublic:
    """Upload a model file; it is validated without unpickling and stored under a new ID."""
    limit = settings.max_model_bytes
    if _media_type(request) == "multipart/form-data":
        data = await _multipart_file(request, limit)
    else:
        data = await _read_limited(request, limit, limit)
    meta = await anyio.to_thread.run_sync(store.import_file, data)
    logger.info("model imported", extra={"model_id": meta.id, "size_bytes": meta.size_bytes})
    return ModelPublic.from_meta(meta)


def _media_type(request: Request) -> str:
    message = Message()
    message["content-type"] = request.headers.get("content-type", "application/octet-stream")
    return message.get_content_type()


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the model file is too large: the limit is {limit} bytes")


async def _limited_stream(
    request: Request, max_bytes: int, limit: int
) -> AsyncGenerator[bytes, None]:
    """The request body, chunk by chunk; 413 as soon as it passes ``max_bytes``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(limit)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(limit)
        yield chunk


async def _read_limited(request: Request, max_bytes: int, limit: int) -> bytes:
    parts = [chunk async for chunk in _limited_stream(request, max_bytes, limit)]
    return b"".join(parts)


async def _multipart_file(request: Request, limit: int) -> bytes:
    """The bytes of the multipart field ``file`` (size-limited while streaming)."""
    stream = _limited_stream(request, limit + _MULTIPART_OVERHEAD_BYTES, limit)
    parser = MultiPartParser(request.headers, stream, max_files=1, max_fields=16)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInput(("body",), f"malformed multipart body: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput(("body", "file"), "the multipart field 'file' (a file) is required")
        data = await upload.read(limit + 1)
    finally:
        await form.close()
    if len(data) > limit:
        raise _too_large(limit)
    return data


# ------------------------------------------------------------------------------- predict


_PREDICT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
}
_PREDICT_DESCRIPTION = """Predict labels (and class probabilities) or values for the rows `X`.

Every response carries `Server-Timing` with the server's own time in milliseconds:
`read` (receiving the body), `parse` (JSON to a validated float64 matrix), `model` (the forward
pass), `encode` (the JSON response) and `total`."""


@router.post(
    "/{model_id}/predict",
    response_model=PredictResponse,
    response_class=ORJSONResponse,
    responses=error_responses(404, 409, 413, 422),
    openapi_extra={"requestBody": _PREDICT_BODY},
    description=_PREDICT_DESCRIPTION,
)
async def predict(
    model_id: ModelId, request: Request, store: ModelStoreDep, settings: SettingsDep
) -> Response:
    """Predict labels (and class probabilities) or values for the rows `X`."""
    return await serve_predict(store, settings.max_rows, model_id, request.body)


async def serve_predict(
    store: ModelStore, max_rows: int, model_id: str, read_body: Callable[[], Awaitable[bytes]]
) -> Response:
    """The predict response for ``model_id`` (both the route and :class:`PredictFastPath`)."""
    started = time.perf_counter()
    model = store.cached(model_id)  # one stat, no read; 404 for an unknown model
    body = await read_body()
    clock = _Clock(started, time.perf_counter())
    if model is not None and len(body) <= _INLINE_BODY_BYTES:
        return _predict(model, body, max_rows, clock)
    return await anyio.to_thread.run_sync(_load_and_predict, store, model_id, body, max_rows, clock)


@dataclass
class _Clock:
    """``perf_counter`` marks of one predict, for its ``Server-Timing`` header."""

    started: float
    read: float

    def header(self, parsed: float, modelled: float, encoded: float) -> str:
        """``read``, ``parse``, ``model``, ``encode`` and ``total``, in milliseconds."""
        started, read = self.started, self.read
        return (
            f"read;dur={(read - started) * 1e3:.3f}, parse;dur={(parsed - read) * 1e3:.3f}, "
            f"model;dur={(modelled - parsed) * 1e3:.3f}, "
            f"encode;dur={(encoded - modelled) * 1e3:.3f}, "
            f"total;dur={(encoded - started) * 1e3:.3f}"
        )


def _load_and_predict(
    store: ModelStore, model_id: str, body: bytes, max_rows: int, clock: _Clock
) -> Response:
    return _predict(store.load(model_id), body, max_rows, clock)


def _predict(model: Estimator, body: bytes, max_rows: int, clock: _Clock) -> Response:
    """Parse ``{"X": [[...]]}`` straight into float64, run the model, encode with orjson."""
    doc = loads(body)
    if not isinstance(doc, dict) or "X" not in doc:
        raise InvalidInput(("body", "X"), 'X is required: send {"X": [[number, ...], ...]}')
    X = as_matrix(
        doc["X"], ("body", "X"), max_rows=max_rows, n_features=model.n_features_in_, raw=body
    )
    parsed = time.perf_counter()
    try:
        if isinstance(model, MLPClassifier):
            proba = model.predict_proba(X)
            # Same rule as MLPClassifier.predict (binary: classes_[1] iff p > 0.5), one pass.
            if proba.shape[1] == 2:
                index = (proba[:, 1] > 0.5).astype(np.intp)
            else:
                index = proba.argmax(axis=1)
            content: dict[str, Any] = {
                "predictions": model.classes_[index],
                "probabilities": proba,
                "classes": model.classes_,
            }
        else:
            content = {"predictions": model.predict(X)}
    except ValueError as exc:  # e.g. inputs so large that the output overflows
        raise InvalidInput(("body", "X"), str(exc)) from None
    modelled = time.perf_counter()
    payload = dumps(content)
    encoded = time.perf_counter()
    timing = clock.header(parsed, modelled, encoded)
    return Response(payload, media_type="application/json", headers={"server-timing": timing})


_PREDICT_PATH = "/v1/models/{model_id}/predict"
# A well-formed ID (app.storage.ids.ID_RE); any other path goes to FastAPI, which rejects it.
_PREDICT_PATH_RE = re.compile(r"/v1/models/([A-Za-z0-9_-]{1,64})/predict")


class PredictFastPath:
    """Pure ASGI: serves ``POST /v1/models/{id}/predict`` without FastAPI's per-request work.

    Installed innermost of the app's middleware (request ID, access log, metrics, API key and
    body limit still apply). Routing through every route, dependency solving and FastAPI's
    request and response wrappers cost several times a one-row predict (docs/benchmarks.md, HTTP),
    so this layer answers the request itself with :func:`serve_predict`, exactly as the route
    above would. Typed errors go through the app's own exception handlers; anything else falls
    through to FastAPI: other paths, malformed IDs, a store not built yet (503), and apps with
    dependency overrides (tests), which the route honours.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The route this layer stands in for: the metrics and the access log are labelled by it.
        self.route = next(r for r in router.routes if getattr(r, "path", "") == _PREDICT_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            match = _PREDICT_PATH_RE.fullmatch(path, len(root) if path.startswith(root) else 0)
        application = scope.get("app")
        if match is None or application is None or application.dependency_overrides:
            await self.app(scope, receive, send)
            return
        state = application.state
        store: ModelStore | None = state.model_store
        if store is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route

        async def read_body() -> bytes:
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)

        try:
            response = await serve_predict(
                store, state.settings.max_rows, match.group(1), read_body
            )
        except ServiceError as exc:
            response = await _handle(application, Request(scope, receive), exc)
        await response(scope, receive, send)


async def _handle(application: Any, request: Request, exc: ServiceError) -> Response:
    """The response the app's exception handler for ``exc`` gives (as FastAPI would)."""
    for cls in type(exc).__mro__:
        handler = application.exception_handlers.get(cls)
        if handler is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc


# ------------------------------------------------------------------------------ boundary


@router.get(
    "/{model_id}/boundary",
    response_model=BoundaryPublic,
    response_class=ORJSONResponse,
    responses={**BOUNDARY_RESPONSES, **error_responses(404, 409, 422)},
)
def boundary(
    model_id: ModelId,
    query: BoundaryQueryDep,
    store: ModelStoreDep,
    datasets: DatasetStoreDep,
    settings: SettingsDep,
) -> Response:
    """Evaluate the model on a grid over two input features (JSON grid or PNG picture)."""
    model = store.load(model_id)
    points: Points = (None, None)
    if query.format == "png":
        dataset_id = model.metadata_.get("dataset_id")
        points = dataset_points(datasets, dataset_id, model.n_features_in_)
    return boundary_response(model, query, settings, points)
