"""``/v1/models``: list, inspect, delete, download and import models; predict; decision boundary."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Annotated, Any, BinaryIO, Literal

import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

import mlp_engine
from app.api.deps import DatasetStoreDep, ModelStoreDep, SettingsDep
from app.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from app.numeric import ORJSONResponse, as_matrix, loads
from app.render import render_boundary_png
from app.schemas.common import ModelId, error_responses
from app.schemas.models import (
    BoundaryPublic,
    ModelPublic,
    ModelsPublic,
    PredictRequest,
    PredictResponse,
)
from app.storage.datasets import DatasetStore
from app.storage.models import Estimator, ModelStore
from mlp_engine import MLPClassifier

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/models", tags=["models"])

# Predict bodies up to this size are handled on the event loop when the model is cached (a
# thread hop costs more than parsing a few rows); larger ones go to the thread pool.
_INLINE_BODY_BYTES = 32 * 1024
_MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around the file
_DOWNLOAD_CHUNK_BYTES = 1 << 20
_DEFAULT_RESOLUTION = 100  # grid points per axis
# A boundary holds at most this many values per cell of the largest allowed (cap x cap) grid:
# a binary or regression grid is always allowed at the cap, a 10-class grid too.
_GRID_VALUES_PER_CELL_CAP = 10
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


@router.post(
    "/{model_id}/predict",
    response_model=PredictResponse,
    response_class=ORJSONResponse,
    responses=error_responses(404, 409, 413, 422),
    openapi_extra={"requestBody": _PREDICT_BODY},
)
async def predict(
    model_id: ModelId, request: Request, store: ModelStoreDep, settings: SettingsDep
) -> Response:
    """Predict labels (and class probabilities) or values for the rows `X`."""
    model = store.cached(model_id)  # one stat; 404 for an unknown model
    body = await request.body()
    if model is not None and len(body) <= _INLINE_BODY_BYTES:
        return _predict(model, body, settings.max_rows)
    return await anyio.to_thread.run_sync(
        _load_and_predict, store, model_id, body, settings.max_rows
    )


def _load_and_predict(store: ModelStore, model_id: str, body: bytes, max_rows: int) -> Response:
    return _predict(store.load(model_id), body, max_rows)


def _predict(model: Estimator, body: bytes, max_rows: int) -> Response:
    """Parse ``{"X": [[...]]}`` straight into float64 and run the model."""
    doc = loads(body)
    if not isinstance(doc, dict) or "X" not in doc:
        raise InvalidInput(("body", "X"), 'X is required: send {"X": [[number, ...], ...]}')
    X = as_matrix(
        doc["X"], ("body", "X"), max_rows=max_rows, n_features=model.n_features_in_, raw=body
    )
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
    return ORJSONResponse(content)


# ------------------------------------------------------------------------------ boundary


FiniteQuery = Annotated[float | None, Query(allow_inf_nan=False)]


@router.get(
    "/{model_id}/boundary",
    response_model=BoundaryPublic,
    response_class=ORJSONResponse,
    responses={
        200: {
            "description": "The grid as JSON, or with `format=png` the rendered picture.",
            "content": {"image/png": {"schema": _BINARY_SCHEMA}},
        },
        **error_responses(404, 409, 422),
    },
)
def boundary(
    model_id: ModelId,
    store: ModelStoreDep,
    datasets: DatasetStoreDep,
    settings: SettingsDep,
    x_min: FiniteQuery = None,
    x_max: FiniteQuery = None,
    y_min: FiniteQuery = None,
    y_max: FiniteQuery = None,
    resolution: Annotated[
        int | None,
        Query(
            ge=2,
            description="Points per axis, at most `MLP_MAX_GRID_RESOLUTION` "
            "(default 100, or the cap if lower).",
        ),
    ] = None,
    nx: Annotated[
        int | None, Query(ge=2, description="Points along x (overrides resolution).")
    ] = None,
    ny: Annotated[
        int | None, Query(ge=2, description="Points along y (overrides resolution).")
    ] = None,
    features: Annotated[
        str | None,
        Query(
            max_length=40,
            description="The two input features on the axes, `i,j` (default `0,1`).",
            examples=["0,1"],
        ),
    ] = None,
    fixed: Annotated[
        str | None,
        Query(
            max_length=100_000,
            description="Comma-separated values of the other input features, in feature order "
            "(default: the midpoint of each feature's training range).",
        ),
    ] = None,
    format: Annotated[
        Literal["json", "png"], Query(description="`json` (default) or `png`.")
    ] = "json",
) -> Response:
    """Evaluate the model on a grid over two input features (JSON grid or PNG picture)."""
    model = store.load(model_id)
    sides = _grid_sides(model, settings.max_grid_resolution, resolution, nx, ny)
    grid = _evaluate_grid(model, sides, features, fixed, (x_min, x_max), (y_min, y_max))
    if format == "png":
        X, y = _training_points(datasets, model, grid.axes)
        png = render_boundary_png(
            grid.xs, grid.ys, grid.values, X, y, classes=grid.classes,
            axis_labels=(f"x{grid.axes[0]}", f"x{grid.axes[1]}"),
        )  # fmt: skip
        return Response(png, media_type="image/png")
    return ORJSONResponse(_grid_json(model, grid))


@dataclass(frozen=True)
class _Grid:
    xs: np.ndarray  # (nx,)
    ys: np.ndarray  # (ny,)
    values: np.ndarray  # (ny, nx) or (ny, nx, n_classes)
    axes: tuple[int, int]
    fixed: list[float] | None
    classes: list[Any] | None


def _grid_sides(
    model: Estimator, cap: int, resolution: int | None, nx: int | None, ny: int | None
) -> tuple[int, int]:
    """Points along x and y, each at most ``cap``; a multiclass grid (one value per class and
    cell) holds at most ``_GRID_VALUES_PER_CELL_CAP * cap**2`` values."""
    for name, value in (("resolution", resolution), ("nx", nx), ("ny", ny)):
        if value is not None and value > cap:
            raise InvalidInput(("query", name), f"must be at most {cap}, got {value}")
    side = resolution if resolution is not None else min(_DEFAULT_RESOLUTION, cap)
    sides = (nx or side, ny or side)
    n_classes = len(model.classes_) if isinstance(model, MLPClassifier) else 1
    per_cell = n_classes if n_classes > 2 else 1
    budget = _GRID_VALUES_PER_CELL_CAP * cap * cap
    if sides[0] * sides[1] * per_cell > budget:
        raise InvalidInput(
            ("query", "resolution"),
            f"a {sides[0]}x{sides[1]} grid of {n_classes} class probabilities holds "
            f"{sides[0] * sides[1] * per_cell} values; at most {budget} are allowed "
            "(lower the resolution)",
        )
    return sides


def _evaluate_grid(
    model: Estimator,
    sides: tuple[int, int],
    features: str | None,
    fixed: str | None,
    x: tuple[float | None, float | None],
    y: tuple[float | None, float | None],
) -> _Grid:
    """Parse the axes, the fixed values and the ranges, then run ``mlp_engine.decision_grid``."""
    n_features = model.n_features_in_
    if n_features < 2:
        raise Conflict("the model has one input feature; a boundary needs two")
    axes = _parse_features(features, n_features)
    others = _parse_fixed(fixed, n_features, axes, model)
    x_range, y_range = _ranges(model, axes, others, x, y)
    try:
        xs, ys, values = mlp_engine.decision_grid(
            model, x_range, y_range, nx=sides[0], ny=sides[1], features=axes, fixed=others
        )
    except ValueError as exc:  # the arguments were checked above; the model may still refuse
        raise InvalidInput(("query",), str(exc)) from None
    classes = model.classes_.tolist() if isinstance(model, MLPClassifier) else None
    return _Grid(xs, ys, values, axes, others, classes)


def _grid_json(model: Estimator, grid: _Grid) -> dict[str, Any]:
    """The JSON body (``BoundaryPublic``); arrays stay NumPy for orjson."""
    content: dict[str, Any] = {
        "task": model.task,
        "x": grid.xs,
        "y": grid.ys,
        "features": list(grid.axes),
        "fixed": grid.fixed,
        "classes": grid.classes,
    }
    if grid.classes is None:
        content["values"] = grid.values
    elif grid.values.ndim == 3:
        content["probabilities"] = grid.values
        content["predicted"] = grid.values.argmax(axis=2)
        content["confidence"] = grid.values.max(axis=2)
    else:
        content["probabilities"] = grid.values
    return content


def _parse_features(text: str | None, n_features: int) -> tuple[int, int]:
    if text is None:
        return (0, 1)
    parts = [p.strip() for p in text.split(",")]
    message = f"must be two distinct feature indices in 0..{n_features - 1} as `i,j`"
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 6 for p in parts):
        raise InvalidInput(("query", "features"), f"{message}, got {text[:40]!r}")
    i, j = int(parts[0]), int(parts[1])
    if i == j or i >= n_features or j >= n_features:
        raise InvalidInput(("query", "features"), f"{message}, got {text[:40]!r}")
    return (i, j)


def _parse_fixed(
    text: str | None, n_features: int, axes: tuple[int, int], model: Estimator
) -> list[float] | None:
    """Values of the features not on the axes (feature order); None for a 2-feature model."""
    n_others = n_features - 2
    if n_others == 0:
        if text:
            raise InvalidInput(("query", "fixed"), "the model has only two input features")
        return None
    if text is None:
        lo, hi = np.asarray(model.data_min_), np.asarray(model.data_max_)
        return [float(0.5 * (lo[f] + hi[f])) for f in range(n_features) if f not in axes]
    values: list[float] = []
    for k, part in enumerate(text.split(",")):
        try:
            number = float(part)
        except ValueError:
            raise InvalidInput(
                ("query", "fixed"), f"value {k} must be a number, got {part.strip()[:40]!r}"
            ) from None
        if not math.isfinite(number):
            raise InvalidInput(
                ("query", "fixed"), f"value {k} must be finite, got {part.strip()!r}"
            )
        values.append(number)
    if len(values) != n_others:
        raise InvalidInput(
            ("query", "fixed"),
            f"needs {n_others} values (the features other than {axes[0]} and {axes[1]}, in "
            f"feature order), got {len(values)}",
        )
    return values


def _ranges(
    model: Estimator,
    axes: tuple[int, int],
    fixed: list[float] | None,
    x: tuple[float | None, float | None],
    y: tuple[float | None, float | None],
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """Axis ranges from the query; a missing end comes from the default (data bounds + margin)."""
    pairs = (x, y)
    partial = any((lo is None) != (hi is None) for lo, hi in pairs)
    defaults = _default_ranges(model, axes, fixed) if partial else ((0.0, 0.0), (0.0, 0.0))
    result: list[tuple[float, float] | None] = []
    for axis, (lo, hi) in enumerate(pairs):
        if lo is None and hi is None:
            result.append(None)  # the engine's default
            continue
        lo_value = defaults[axis][0] if lo is None else lo
        hi_value = defaults[axis][1] if hi is None else hi
        if lo_value >= hi_value:
            name, other = ("x_min", "x_max") if axis == 0 else ("y_min", "y_max")
            raise InvalidInput(
                ("query", name), f"must be less than {other} ({lo_value} >= {hi_value})"
            )
        result.append((lo_value, hi_value))
    return result[0], result[1]


def _default_ranges(
    model: Estimator, axes: tuple[int, int], fixed: list[float] | None
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The engine's default axis ranges (a 2 x 2 grid is cheap: four model evaluations)."""
    xs, ys, _ = mlp_engine.decision_grid(model, resolution=2, features=axes, fixed=fixed)
    return (float(xs[0]), float(xs[-1])), (float(ys[0]), float(ys[-1]))


def _training_points(
    datasets: DatasetStore, model: Estimator, axes: tuple[int, int]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The model's training points in the plotted features, if its dataset still exists."""
    dataset_id = model.metadata_.get("dataset_id")
    if not isinstance(dataset_id, str) or not datasets.exists(dataset_id):
        return None, None
    try:
        X, y, _ = datasets.load(dataset_id)
    except (NotFound, Conflict):
        return None, None
    if X.ndim != 2 or X.shape[1] != model.n_features_in_:
        return None, None
    return X[:, list(axes)], y
