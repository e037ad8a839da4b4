"""Datasets: parse an upload (JSON or CSV) or generate a toy set, check the labels, store it.

Every way in ends in :func:`check_labels` and ``DatasetStore.create``. CSV parsing sits behind
one entry point, :func:`parse_csv_upload`, so another table parser can replace it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app import numeric
from app.errors import InvalidInput, UnsupportedMediaType
from app.numeric import check_finite
from app.schemas.datasets import DatasetGenerate, DatasetMetaFields
from app.settings import Settings
from app.storage.datasets import DatasetMeta, DatasetStore
from mlp_engine import datasets as engine_datasets
from mlp_engine.errors import ConfigError

__all__ = [
    "Upload",
    "check_labels",
    "create_dataset",
    "generate_dataset",
    "parse_csv_upload",
]

_INT_RE = re.compile(r"^\s*[+-]?\d{1,18}\s*$")
_GENERATE_FIELDS = ("n_samples", "noise", "seed", "n_classes", "kind")


@dataclass(frozen=True)
class Upload:
    """A dataset upload as received: the raw body and the query's CSV options."""

    body: bytes
    media_type: str
    label: str | None = None
    task: str = "classification"
    name: str | None = None


def create_dataset(store: DatasetStore, settings: Settings, upload: Upload) -> DatasetMeta:
    """Parse a JSON or CSV upload, check its labels and store it (blocking: run in a thread)."""
    task, name = upload.task, upload.name
    if upload.media_type == "text/csv":
        X, y = parse_csv_upload(upload.body, settings, upload.label, task)
    elif upload.media_type == "application/json" or upload.media_type.endswith("+json"):
        X, y, name, task = _parse_json_upload(upload.body, settings)
    else:
        raise UnsupportedMediaType(
            f"Content-Type {upload.media_type[:80]!r} is not supported; "
            "send application/json or text/csv"
        )
    y = check_labels(y, task, settings, ("body", "y"))
    return store.create(X, y, name=name, task=task)


def generate_dataset(
    store: DatasetStore, settings: Settings, params: DatasetGenerate
) -> DatasetMeta:
    """Generate one of the engine's toy datasets (at most ``max_rows`` rows) and store it."""
    if params.n_samples is not None and params.n_samples > settings.max_rows:
        raise InvalidInput(
            ("body", "n_samples"),
            f"n_samples is {params.n_samples}; at most {settings.max_rows} are allowed",
        )
    seed = 0 if params.seed is None else params.seed
    try:
        X, y = engine_datasets.make(
            params.kind,
            n_samples=params.n_samples,
            noise=params.noise,
            seed=seed,
            n_classes=params.n_classes,
        )
    except ValueError as exc:
        raise InvalidInput(("body", _generate_field(exc)), str(exc)) from None
    if X.shape[0] > settings.max_rows:
        raise InvalidInput(
            ("body", "n_samples"),
            f"the {params.kind} dataset has {X.shape[0]} rows by default; at most "
            f"{settings.max_rows} are allowed, so send a smaller n_samples",
        )
    name = params.name or f"{params.kind} ({X.shape[0]} samples, seed {seed})"
    return store.create(X, y, name=name, task="classification")


def _generate_field(exc: ValueError) -> str:
    """The request field a ``datasets.make`` error is about: a ``ConfigError`` names it; a
    plain ``ValueError`` (``datasets.make`` raises those until it adopts ``ConfigError``)
    starts with it."""
    if isinstance(exc, ConfigError):
        return exc.field
    message = str(exc)
    return next((field for field in _GENERATE_FIELDS if message.startswith(field)), "kind")


# ----------------------------------------------------------------------------------- JSON


def _validation_error(
    exc: ValidationError, prefix: tuple[str | int, ...]
) -> RequestValidationError:
    """A pydantic error from a manually validated body, as FastAPI's 422 (``loc`` prefixed)."""
    errors = [
        {**{k: v for k, v in e.items() if k != "url"}, "loc": (*prefix, *e["loc"])}
        for e in exc.errors(include_context=False)
    ]
    return RequestValidationError(errors)


def _parse_json_body(body: bytes) -> dict[str, Any]:
    """Parse a JSON object (``NaN``/``Infinity`` pass here; the later finiteness checks name the
    offending element, e.g. ``X[3][1]``)."""
    if not body.strip():
        raise InvalidInput(("body",), "the request body is empty; send a JSON object")
    doc = numeric.loads(body)
    if not isinstance(doc, dict):
        raise InvalidInput(("body",), "the request body must be a JSON object")
    return doc


def _parse_json_upload(
    body: bytes, settings: Settings
) -> tuple[np.ndarray, np.ndarray, str | None, str]:
    """``(X, y, name, task)`` of a JSON upload ``{"X": [[...]], "y": [...], ...}``."""
    doc = _parse_json_body(body)
    try:
        fields = DatasetMetaFields.model_validate(doc)
    except ValidationError as exc:
        raise _validation_error(exc, ("body",)) from None
    X = numeric.as_matrix(
        doc.get("X"),
        ("body", "X"),
        max_rows=settings.max_rows,
        max_features=settings.max_features,
        raw=body,
    )
    y = numeric.as_labels(doc.get("y"), ("body", "y"), n_rows=X.shape[0])
    return X, y, fields.name, fields.task


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


# ------------------------------------------------------------------------------------ CSV


def parse_csv_upload(
    body: bytes, settings: Settings, label: str | None, task: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a CSV upload with a header row: numeric feature columns and the label
    column (the last one, or the one named ``label``); errors name the row, line and column."""
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
