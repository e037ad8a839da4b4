"""Datasets: parse an upload (JSON ``X``/``y``, JSON split-form table or CSV table) or generate
a toy set, check the labels, store it.

Tables go through :mod:`app.tabular` (``parse_csv``, ``parse_split``) and
``DatasetStore.create_table``; ``X``/``y`` uploads and generated sets through
``DatasetStore.create``. Every way in ends in :func:`check_labels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app import json_slices, numeric, tabular
from app.errors import InvalidInput, UnsupportedMediaType
from app.numeric import check_finite
from app.owners import Owner, require_visible
from app.schemas.datasets import DatasetGenerate, DatasetMetaFields, DatasetTableFields
from app.settings import Settings
from app.storage.datasets import DatasetMeta, DatasetStore
from mlp_engine import datasets as engine_datasets
from mlp_engine.errors import ConfigError

__all__ = [
    "Upload",
    "check_label_lengths",
    "check_labels",
    "create_dataset",
    "dataset_rows",
    "generate_dataset",
    "owned_dataset",
    "parse_table",
]

Loc = tuple[str | int, ...]
_CSV_ONLY = ("label", "categorical", "ignore")


@dataclass(frozen=True)
class Upload:
    """A dataset upload as received: the raw body and the query's CSV options."""

    body: bytes
    media_type: str
    label: str | None = None
    task: str | None = None
    name: str | None = None
    categorical: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    owner: str | None = None  # the uploading key's identity (app.owners)


def create_dataset(store: DatasetStore, settings: Settings, upload: Upload) -> DatasetMeta:
    """Parse a JSON or CSV upload, check its labels and store it (blocking: run in a thread)."""
    if upload.media_type == "text/csv":
        table = tabular.parse_csv(
            upload.body,
            label=upload.label,
            task=_task(upload.task),
            categorical=upload.categorical,
            ignore=upload.ignore,
            max_rows=settings.max_rows,
            max_columns=settings.max_features,
        )
        return store_table(store, settings, table, upload.name, upload.owner)
    if upload.media_type != "application/json" and not upload.media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type {upload.media_type[:80]!r} is not supported; "
            "send application/json or text/csv"
        )
    for knob in _CSV_ONLY:
        if getattr(upload, knob):
            raise InvalidInput(
                ("query", knob),
                f"the query parameter {knob} is for CSV uploads; a JSON table gives "
                f'"{knob}" in its body',
            )
    # The parsed rows live only until converted (then freed in slices): with the collector
    # paused meanwhile, no full collection walks them (~0.1 s holding the GIL at 100,000 rows).
    with json_slices.gc_paused():
        doc = _parse_json_body(upload.body)
        is_table = "columns" in doc or "data" in doc
        if is_table:
            table, name = parse_table(doc, upload.body, settings)
        else:
            X, y, name, task = _parse_json_upload(doc, upload.body, settings)
        numeric.release(doc)
    if is_table:
        return store_table(store, settings, table, name, upload.owner)
    y = check_labels(y, task, settings, ("body", "y"))
    return store.create(X, y, name=name, task=task, owner=upload.owner)


def owned_dataset(store: DatasetStore, owner: Owner, dataset_id: str) -> DatasetMeta:
    """A dataset's metadata if ``owner`` may see it; ``NotFound`` otherwise (as if unknown)."""
    meta = store.get(dataset_id)
    require_visible(owner, meta.owner, "dataset", dataset_id)
    return meta


def dataset_rows(store: DatasetStore, dataset_id: str) -> dict[str, Any]:
    """``GET /v1/datasets/{id}/data``: ``{"X", "y"}`` for an ``X``/``y`` dataset; for a table
    ``{"columns", "data", "label", "y"}`` (``data``: rows of feature cells, None = missing)."""
    if store.get(dataset_id).layout == "arrays":
        X, y, _ = store.load(dataset_id)
        return {"X": X, "y": y}
    columns, y, meta = store.load_table(dataset_id)
    cells = []
    for values in columns.values():
        missing = np.isnan(values) if values.dtype.kind == "f" else values == ""
        column: list[Any] = values.tolist()
        for i in np.flatnonzero(missing).tolist():
            column[i] = None
        cells.append(column)
    return {
        "columns": list(columns),
        "data": list(zip(*cells, strict=True)),
        "label": meta.label,
        "y": y,
    }


def parse_table(
    doc: dict[str, Any], body: bytes, settings: Settings
) -> tuple[tabular.ParsedTable, str | None]:
    """The table and name of a JSON split-form document ``{"columns", "data", "label", ...}``
    (``body``: the bytes it was parsed from, to tell whether it held ``NaN``/``Infinity``)."""
    if "X" in doc or "y" in doc:
        raise InvalidInput(
            ("body",), 'give either "X" and "y" or a table ("columns", "data", "label"), not both'
        )
    try:
        fields = DatasetTableFields.model_validate(doc)
    except ValidationError as exc:
        raise _validation_error(exc, ("body",)) from None
    columns, data = doc.get("columns"), doc.get("data")
    if not _strict_json(body) and isinstance(data, list):
        _check_finite_cells(data, columns)
    table = tabular.parse_split(
        columns,  # type: ignore[arg-type]  # parse_split checks the types and names the field
        data,  # type: ignore[arg-type]
        label=fields.label,
        task=fields.task,
        categorical=fields.categorical,
        ignore=fields.ignore,
        max_rows=settings.max_rows,
        max_columns=settings.max_features,
    )
    return table, fields.name


def store_table(
    store: DatasetStore,
    settings: Settings,
    table: tabular.ParsedTable,
    name: str | None,
    owner: str | None = None,
) -> DatasetMeta:
    """Check a parsed table's labels (length, classes) and store it."""
    loc: Loc = ("body", "columns", table.label)
    what = f"label column {table.label[:80]!r}"
    y = table.y
    if y.dtype.kind == "U":
        check_label_lengths(y, loc, settings.max_label_chars, what=what)
    y = check_labels(y, table.task, settings, loc, what=what)
    return store.create_table(
        table.columns,
        y,
        label=table.label,
        task=table.task,
        name=name,
        rows_without_label=table.rows_without_label,
        max_listed_categories=settings.max_listed_categories,
        known_categories={f["name"]: f["categories"] for f in table.features if "categories" in f},
        owner=owner,
    )


def _task(task: str | None) -> tabular.Task | None:
    if task is None:
        return None
    if task == "classification":
        return "classification"
    if task == "regression":
        return "regression"
    raise InvalidInput(("query", "task"), "task must be classification or regression")


def check_label_lengths(
    labels: list[Any] | np.ndarray, loc: Loc, limit: int, *, what: str = "y"
) -> None:
    """422 naming the first text label longer than ``limit`` characters (checked before NumPy
    makes an array ``n_rows x longest label`` wide)."""
    if isinstance(labels, np.ndarray):
        if labels.dtype.kind != "U" or labels.dtype.itemsize // 4 <= limit:
            return
        lengths = np.strings.str_len(labels)
        i = int(np.argmax(lengths > limit))
        length = int(lengths[i])
    else:
        found = next(
            (k for k, v in enumerate(labels) if isinstance(v, str) and len(v) > limit), None
        )
        if found is None:
            return
        i, length = found, len(labels[found])
    raise InvalidInput(
        (*loc, i),
        f"{what}: label {i} has {length} characters; at most {limit} "
        "(MLP_MAX_LABEL_CHARS) are allowed",
    )


def _strict_json(body: bytes) -> bool:
    """Whether ``body`` parses without the standard library's ``NaN``/``Infinity`` leniency."""
    try:
        json_slices.loads(body)  # a large body in slices: the GIL changes hands between them
    except orjson.JSONDecodeError:
        return False
    return True


def _check_finite_cells(data: list[Any], columns: Any) -> None:
    """422 naming the first ``NaN``/``Infinity`` literal among the cells (slow path)."""
    for i, row in enumerate(data):
        if not isinstance(row, list):
            continue
        for j, cell in enumerate(row):
            if isinstance(cell, float) and not math.isfinite(cell):
                column = columns[j] if isinstance(columns, list) and j < len(columns) else j
                raise InvalidInput(
                    ("body", "data", i, j),
                    f"data[{i}][{j}] (column {str(column)[:80]!r}) must be a finite number or "
                    f"null, got {cell}",
                )


def generate_dataset(
    store: DatasetStore, settings: Settings, params: DatasetGenerate, owner: str | None = None
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
    except ConfigError as exc:
        raise InvalidInput(("body", exc.field), exc.message) from None
    if X.shape[0] > settings.max_rows:
        raise InvalidInput(
            ("body", "n_samples"),
            f"the {params.kind} dataset has {X.shape[0]} rows by default; at most "
            f"{settings.max_rows} are allowed, so send a smaller n_samples",
        )
    name = params.name or f"{params.kind} ({X.shape[0]} samples, seed {seed})"
    return store.create(X, y, name=name, task="classification", owner=owner)


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
    doc: dict[str, Any], body: bytes, settings: Settings
) -> tuple[np.ndarray, np.ndarray, str | None, str]:
    """``(X, y, name, task)`` of a JSON upload ``{"X": [[...]], "y": [...], ...}``."""
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
    labels = doc.get("y")
    if isinstance(labels, list):
        check_label_lengths(labels, ("body", "y"), settings.max_label_chars)
    y = numeric.as_labels(labels, ("body", "y"), n_rows=X.shape[0])
    return X, y, fields.name, fields.task


def check_labels(
    y: np.ndarray, task: str, settings: Settings, loc: Loc, *, what: str = "y"
) -> np.ndarray:
    """Labels fit for ``task``: >= 2 classes (at most ``max_classes``) or finite targets.

    ``what`` names the labels in messages (``y``, or ``label column 'species'``).
    """
    if y.dtype.kind == "O":  # integers beyond int64
        raise InvalidInput(loc, f"{what} holds integers too large to be labels or targets")
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
            where = f"y[{i}]" if what == "y" else f"{what}, row {i},"
            raise InvalidInput(
                (*loc, i),
                f"{where} is {float(y[i])}: class labels must be integers or strings "
                "(send task 'regression' for real-valued targets)",
            )
        y = y.astype(np.int64)
    classes = np.unique(y)
    if classes.size < 2:
        raise InvalidInput(
            loc,
            f"{what} has only one class ({classes[0].item()!r}); classification needs at least two",
        )
    if classes.size > settings.max_classes:
        raise InvalidInput(
            loc, f"{what} has {classes.size} classes; at most {settings.max_classes} are allowed"
        )
    return y
