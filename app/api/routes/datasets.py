"""``/v1/datasets``: upload (JSON or CSV), generate, list, read and delete datasets."""

from __future__ import annotations

import csv
import io
import json
import re
from email.message import Message
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app import numeric
from app.api.deps import DatasetStoreDep, SettingsDep
from app.errors import InvalidInput, ServiceError
from app.numeric import ORJSONResponse, check_finite
from app.schemas.common import DatasetId, error_responses
from app.schemas.datasets import (
    DatasetCreate,
    DatasetData,
    DatasetGenerate,
    DatasetMetaFields,
    DatasetPublic,
    DatasetsPublic,
)
from app.settings import Settings
from app.storage.datasets import DatasetMeta, DatasetStore
from mlp_engine import datasets as engine_datasets

__all__ = ["check_labels", "parse_json_body", "router", "validation_error"]

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

_INT_RE = re.compile(r"^\s*[+-]?\d{1,18}\s*$")
_GENERATE_FIELDS = ("n_samples", "noise", "seed", "n_classes", "kind")


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


def validation_error(exc: ValidationError, prefix: tuple[str | int, ...]) -> RequestValidationError:
    """A pydantic error from a manually validated body, as FastAPI's 422 (``loc`` prefixed)."""
    errors = [
        {**{k: v for k, v in e.items() if k != "url"}, "loc": (*prefix, *e["loc"])}
        for e in exc.errors(include_context=False)
    ]
    return RequestValidationError(errors)


def parse_json_body(body: bytes) -> dict[str, Any]:
    """Parse a JSON object with orjson; NaN/Infinity are located by a second, lenient parse.

    orjson rejects ``NaN``/``Infinity`` (and overflowing numbers) for the whole document; the
    standard library accepts them, so on that error path the arrays are parsed again and the
    later finiteness checks name the offending element, e.g. ``X[3][1]``.
    """
    if not body.strip():
        raise InvalidInput(("body",), "the request body is empty; send a JSON object")
    try:
        doc = numeric.loads(body)
    except InvalidInput as invalid:
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            raise invalid from None  # orjson's message says where the syntax error is
    if not isinstance(doc, dict):
        raise InvalidInput(("body",), "the request body must be a JSON object")
    return doc


def check_labels(
    y: np.ndarray, task: str, settings: Settings, loc: tuple[str | int, ...]
) -> np.ndarray:
    """Labels fit for ``task``: >= 2 classes (at most ``max_classes``) or finite targets."""
    if y.dtype.kind == "O":  # integers beyond int64
        raise InvalidInput(loc, "y holds integers too large to be labels or targets")
    if task == "regression":
        if y.dtype.kind not in "iuf":
            raise InvalidInput(loc, "regression targets must be numbers, not strings")
        targets = y.astype(np.float64)
        check_finite(targets, loc)
        return targets
    if y.dtype.kind == "f":
        check_finite(y, loc)
        fractional = np.flatnonzero((y != np.round(y)) | (np.abs(y) > 2**53))
        if fractional.size:
            i = int(fractional[0])
            raise InvalidInput(
                (*loc, i),
                f"y[{i}] is {float(y[i])}: class labels must be integers or strings "
                "(send task 'regression' for real-valued targets)",
            )
        y = y.astype(np.int64)
    classes = np.unique(y)
    if classes.size < 2:
        raise InvalidInput(
            loc,
            f"y has only one class ({classes[0].item()!r}); classification needs at least two",
        )
    if classes.size > settings.max_classes:
        raise InvalidInput(
            loc, f"y has {classes.size} classes; at most {settings.max_classes} are allowed"
        )
    return y


def _media_type(request: Request) -> str:
    header = request.headers.get("content-type")
    if not header:
        return "application/json"
    message = Message()
    message["content-type"] = header
    return message.get_content_type()


def _from_json(body: bytes, settings: Settings) -> tuple[np.ndarray, np.ndarray, str | None, str]:
    doc = parse_json_body(body)
    try:
        fields = DatasetMetaFields.model_validate(doc)
    except ValidationError as exc:
        raise validation_error(exc, ("body",)) from None
    X = numeric.as_matrix(
        doc.get("X"),
        ("body", "X"),
        max_rows=settings.max_rows,
        max_features=settings.max_features,
        raw=body,
    )
    y = numeric.as_labels(doc.get("y"), ("body", "y"), n_rows=X.shape[0])
    return X, y, fields.name, fields.task


def _csv_table(body: bytes) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, non-blank data rows and each data row's line number in the file."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(("body",), "the CSV body must be UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))  # csv does its own newline handling
    rows, lines = [], []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:  # e.g. a NUL byte: a 422, never a 500
        raise InvalidInput(
            ("body",), f"the CSV body is malformed at line {reader.line_num}: {exc}"
        ) from None
    if len(rows) < 2:
        raise InvalidInput(("body",), "the CSV needs a header row and at least one data row")
    header = [name.strip() for name in rows[0]]
    if len(header) < 2:
        raise InvalidInput(("body",), "the CSV needs at least one feature column and a label")
    return header, rows[1:], lines[1:]


def _label_index(header: list[str], label: str | None) -> int:
    if label is None:
        return len(header) - 1
    if label not in header:
        raise InvalidInput(
            ("query", "label"), f"label column {label[:80]!r} is not in the CSV header"
        )
    return header.index(label)


def _from_csv(
    body: bytes, settings: Settings, label: str | None, task: str
) -> tuple[np.ndarray, np.ndarray]:
    header, data, lines = _csv_table(body)
    if len(data) > settings.max_rows:
        raise InvalidInput(
            ("body", "X"), f"X has {len(data)} rows; at most {settings.max_rows} are allowed"
        )
    if len(header) - 1 > settings.max_features:
        raise InvalidInput(
            ("body", "X"),
            f"X rows have {len(header) - 1} features; at most {settings.max_features} are allowed",
        )
    target = _label_index(header, label)
    for i, row in enumerate(data):
        if len(row) != len(header):
            raise InvalidInput(
                ("body", "X", i),
                f"CSV data row {i} (line {lines[i]}) has {len(row)} values; "
                f"the header has {len(header)}",
            )
    features = [name for j, name in enumerate(header) if j != target]
    cells = [[cell for j, cell in enumerate(row) if j != target] for row in data]
    try:
        X = np.array(cells, dtype=np.float64)
    except ValueError:
        X = _diagnose_csv(cells, features, lines)
    check_finite(X, ("body", "X"))
    return X, _csv_labels([row[target] for row in data], task, lines)


def _diagnose_csv(cells: list[list[str]], features: list[str], lines: list[int]) -> np.ndarray:
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            try:
                float(cell)
            except ValueError:
                raise InvalidInput(
                    ("body", "X", i, j),
                    f"X[{i}][{j}] (line {lines[i]}, column {features[j][:80]!r}) must be a "
                    f"number, got {cell[:40]!r}",
                ) from None
    raise InvalidInput(("body", "X"), "the CSV features must be numbers")  # unreachable


def _csv_labels(cells: list[str], task: str, lines: list[int]) -> np.ndarray:
    if all(_INT_RE.match(cell) for cell in cells):
        return np.array([int(cell) for cell in cells], dtype=np.int64)
    if task == "regression":
        try:
            return np.array(cells, dtype=np.float64)
        except ValueError:
            for i, cell in enumerate(cells):
                try:
                    float(cell)
                except ValueError:
                    raise InvalidInput(
                        ("body", "y", i),
                        f"y[{i}] (line {lines[i]}) must be a number for regression, "
                        f"got {cell[:40]!r}",
                    ) from None
            raise
    return np.array([cell.strip() for cell in cells], dtype=str)


def _create(
    store: DatasetStore,
    settings: Settings,
    body: bytes,
    media_type: str,
    label: str | None,
    task: str,
    name: str | None,
) -> DatasetMeta:
    if media_type == "text/csv":
        X, y = _from_csv(body, settings, label, task)
    elif media_type == "application/json" or media_type.endswith("+json"):
        X, y, name, task = _from_json(body, settings)
    else:
        raise UnsupportedMediaType(
            f"Content-Type {media_type[:80]!r} is not supported; send application/json or text/csv"
        )
    y = check_labels(y, task, settings, ("body", "y"))
    return store.create(X, y, name=name, task=task)


_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DatasetCreate.model_json_schema()},
            "text/csv": {
                "schema": {"type": "string"},
                "example": "x1,x2,label\n0.5,1.2,a\n-0.3,0.8,b\n",
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=DatasetPublic,
    responses=error_responses(413, 415, 422),
    openapi_extra=_CREATE_BODY,
    summary="Upload a dataset (JSON or CSV)",
)
async def create_dataset(
    request: Request,
    response: Response,
    store: DatasetStoreDep,
    settings: SettingsDep,
    label: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="CSV only: the label column's name."),
    ] = None,
    task: Annotated[
        str,
        Query(
            pattern="^(classification|regression)$",
            description="CSV only: `classification` (default) or `regression`.",
        ),
    ] = "classification",
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="CSV only: a name.")
    ] = None,
) -> DatasetPublic:
    """Store a dataset sent as JSON (`X`, `y`) or as CSV with a header row."""
    body = await request.body()
    work = partial(_create, store, settings, body, _media_type(request), label, task, name)
    meta = await anyio.to_thread.run_sync(work)
    response.headers["Location"] = f"{router.prefix}/{meta.id}"
    return DatasetPublic.from_meta(meta)


def _generate_field(message: str) -> str:
    """The request field a ``datasets.make`` ValueError is about (its message starts with it)."""
    for field in _GENERATE_FIELDS:
        if message.startswith(field):
            return field
    return "kind"


@router.post(
    "/generate",
    status_code=201,
    response_model=DatasetPublic,
    responses=error_responses(413, 422),
    summary="Generate a toy dataset",
)
def generate_dataset(
    body: DatasetGenerate, response: Response, store: DatasetStoreDep, settings: SettingsDep
) -> DatasetPublic:
    """Generate one of the 2-D toy datasets (`notebook`, `xor`, `moons`...) and store it."""
    if body.n_samples is not None and body.n_samples > settings.max_rows:
        raise InvalidInput(
            ("body", "n_samples"),
            f"n_samples is {body.n_samples}; at most {settings.max_rows} are allowed",
        )
    seed = 0 if body.seed is None else body.seed
    try:
        X, y = engine_datasets.make(
            body.kind,
            n_samples=body.n_samples,
            noise=body.noise,
            seed=seed,
            n_classes=body.n_classes,
        )
    except ValueError as exc:
        message = str(exc)
        raise InvalidInput(("body", _generate_field(message)), message) from None
    if X.shape[0] > settings.max_rows:
        raise InvalidInput(
            ("body", "n_samples"),
            f"the {body.kind} dataset has {X.shape[0]} rows by default; at most "
            f"{settings.max_rows} are allowed, so send a smaller n_samples",
        )
    name = body.name or f"{body.kind} ({X.shape[0]} samples, seed {seed})"
    meta = store.create(X, y, name=name, task="classification")
    response.headers["Location"] = f"{router.prefix}/{meta.id}"
    return DatasetPublic.from_meta(meta)


@router.get("", response_model=DatasetsPublic)
def list_datasets(store: DatasetStoreDep) -> DatasetsPublic:
    """List every dataset, newest first."""
    metas = store.list()
    return DatasetsPublic(data=[DatasetPublic.from_meta(m) for m in metas], count=len(metas))


@router.get("/{dataset_id}", response_model=DatasetPublic, responses=error_responses(404, 409, 422))
def get_dataset(dataset_id: DatasetId, store: DatasetStoreDep) -> DatasetPublic:
    """Show one dataset's metadata."""
    return DatasetPublic.from_meta(store.get(dataset_id))


@router.get(
    "/{dataset_id}/data",
    response_model=DatasetData,
    response_class=ORJSONResponse,
    responses=error_responses(404, 409, 422),
)
def get_dataset_data(dataset_id: DatasetId, store: DatasetStoreDep) -> Response:
    """Return a dataset's arrays `X` and `y`."""
    X, y, _ = store.load(dataset_id)
    return ORJSONResponse({"X": X, "y": y})


@router.delete(
    "/{dataset_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 422),
)
def delete_dataset(dataset_id: DatasetId, store: DatasetStoreDep) -> Response:
    """Delete a dataset (jobs that still need it will fail with `invalid_data`)."""
    store.delete(dataset_id)
    return Response(status_code=204)
