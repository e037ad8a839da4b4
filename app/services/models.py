"""Models: predictions, and the network a decision boundary is drawn from (a stored model or a
running job's weights snapshot) with the training rows to draw on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import mlp_engine
from app.errors import Conflict, InvalidInput, NotFound, field_name
from app.jobs.base import JobRecord, JobRunner
from app.numeric import Loc, as_labels
from app.owners import Owner, require_visible, visible
from app.services.model_input import (
    categorical_columns,
    decode_column,
    input_kinds,
    matrix_rows,
    split_cells,
    table_rows,
)
from app.storage.datasets import DatasetStore
from app.storage.ids import ID_RE
from app.storage.models import Estimator, ModelMeta, ModelStore, model_owner
from app.tabular import cell_text
from mlp_engine import MLPClassifier, ModelFormatError

__all__ = [
    "Points",
    "dataset_points",
    "dataset_rows",
    "evaluate_model",
    "job_network",
    "model_split",
    "owned_model",
    "owned_model_meta",
    "predictions",
]

# Training rows drawn on a boundary PNG: ``(X (n, 2), y (n,))``, or ``(None, None)``.
Points = tuple[np.ndarray | None, np.ndarray | None]


def owned_model(store: ModelStore, owner: Owner, model_id: str) -> Estimator:
    """The model if ``owner`` may see it; ``NotFound`` otherwise (as if unknown)."""
    model = store.load(model_id)
    require_visible(owner, model_owner(model), "model", model_id)
    return model


def owned_model_meta(store: ModelStore, owner: Owner, model_id: str) -> ModelMeta:
    """The model's metadata if ``owner`` may see it; ``NotFound`` otherwise."""
    meta = store.get(model_id)
    require_visible(owner, meta.owner, "model", model_id)
    return meta


def predictions(model: Estimator, X: Any) -> dict[str, Any]:
    """The predict response for rows ``X: (n_rows, n_features)`` or a table ``{column: (n,)}``
    (see ``app.services.model_input``), arrays left to orjson.

    Classifiers: ``predictions`` are ``classes_[argmax(predict_proba)]``, exactly the engine's
    ``predict`` (binary: ``[1 - p, p]`` puts ``classes_[1]`` first iff ``p > 0.5``, ties and
    NaN included), from the one forward pass that also gives ``probabilities``.
    """
    try:
        if isinstance(model, MLPClassifier):
            proba = model.predict_proba(X)
            return {
                "predictions": model.classes_[proba.argmax(axis=1)],
                "probabilities": proba,
                "classes": model.classes_,
            }
        return {"predictions": model.predict(X)}
    except ValueError as exc:  # e.g. inputs so large that the output overflows
        raise InvalidInput(
            ("body", "X") if isinstance(X, np.ndarray) else ("body",), str(exc)
        ) from None


def dataset_points(
    datasets: DatasetStore,
    dataset_id: Any,
    model: Estimator,
    axes: tuple[int, int],
    owner: Owner,
) -> Points:
    """The training rows of ``dataset_id`` in the columns ``axes`` of ``model``, ``(n, 2)``,
    and their labels, for the PNG, if the dataset still exists, ``owner`` may see it and it
    fits the model (rows with a missing value on an axis left out); ``(None, None)`` otherwise
    (an imported model may name another key's dataset)."""
    if not isinstance(dataset_id, str) or not datasets.exists(dataset_id):
        return None, None
    try:
        if not visible(owner, datasets.get(dataset_id).owner):
            return None, None
        rows, y = dataset_rows(datasets, dataset_id)
    except (NotFound, Conflict):
        return None, None
    if isinstance(rows, Mapping):
        names = model.feature_names_in_.tolist()
        found = [rows.get(names[axis]) for axis in axes]
        columns = [np.asarray(c) for c in found if c is not None]
        if len(columns) != 2 or any(c.dtype.kind != "f" for c in columns):
            return None, None
        X = np.column_stack(columns)
        keep = ~np.isnan(X).any(axis=1)
        return X[keep], y[keep]
    if rows.ndim != 2 or rows.shape[1] != model.n_features_in_:
        return None, None
    return rows[:, list(axes)], y


def model_split(model: Estimator) -> dict[str, Any]:
    """``{"n_rows", "validation", "test"}``: the row indices (ascending) the model held out for
    validation and test, from its ``split_`` record; ``n_rows`` None and empty lists for a model
    without one (files written before the split was recorded)."""
    split = model.split_
    if split is None:
        return {"n_rows": None, "validation": [], "test": []}
    return {
        "n_rows": int(split.shape[0]),
        "validation": np.flatnonzero(split == 1).tolist(),
        "test": np.flatnonzero(split == 2).tolist(),
    }


def job_network(
    jobs: JobRunner, models: ModelStore, job_id: str, owner: Owner
) -> tuple[Estimator, JobRecord]:
    """The job's latest weights snapshot as a model, or its final model once it has succeeded;
    404 for an unknown job (or another key's), 409 while there is neither."""
    record = jobs.get(job_id)  # 404 for an unknown job
    require_visible(owner, record.owner, "job", job_id)
    data = jobs.snapshot(job_id, max_bytes=models.max_model_bytes)
    if data is not None:
        return _snapshot_model(job_id, data, models), record
    record = jobs.get(job_id)  # the job may have ended since: its snapshot is then gone
    if record.model_id is None:  # succeeded, or cancelled with keep=true, have a model
        raise _no_snapshot(record)
    return models.load(record.model_id), record


def _snapshot_model(job_id: str, data: bytes, models: ModelStore) -> Estimator:
    """The snapshot read under the model files' limits (``MLP_MAX_MODEL_BYTES`` on the file and
    on what its members declare): a planted huge file or zip bomb is a 409, never allocated."""
    limit = models.max_model_bytes
    if len(data) > limit:
        raise Conflict(
            f"job {job_id!r}: its weights snapshot is larger than {limit} bytes "
            "(MLP_MAX_MODEL_BYTES), so it is not read"
        )
    try:
        return models.load_bytes(data)
    except ModelFormatError as exc:  # written atomically: only a foreign or planted file
        raise Conflict(
            f"job {job_id!r}: its weights snapshot cannot be read ({exc}); retry"
        ) from None


def _no_snapshot(record: JobRecord) -> Conflict:
    job = f"job {record.id!r}"
    if record.status == "queued":
        return Conflict(f"{job} is queued: it has no weights snapshot yet; retry once it runs")
    if record.status == "running":
        return Conflict(f"{job} has not written a weights snapshot yet; retry in a moment")
    return Conflict(f"{job} ended as {record.status}: it has no snapshot and no model")


# ------------------------------------------------------------------------------ evaluate


def dataset_rows(datasets: DatasetStore, dataset_id: str) -> tuple[Any, np.ndarray]:
    """``(table_or_X, y)`` of a stored dataset: a table dataset's feature columns
    ``{name: (n,)}`` (float64 with NaN, or unicode with ``""`` for missing), an ``X``/``y``
    dataset's matrix ``X: (n, n_features)``; ``y: (n,)`` its labels or targets.

    The one place that reads a dataset for a model (evaluate, the boundary's points).
    """
    if datasets.get(dataset_id).layout == "table":
        columns, y, _ = datasets.load_table(dataset_id)
        return dict(columns), np.asarray(y)
    X, y, _ = datasets.load(dataset_id)
    return X, y


def evaluate_model(
    model: Estimator,
    doc: Any,
    datasets: DatasetStore,
    max_rows: int,
    raw: bytes | None,
    owner: Owner,
) -> dict[str, Any]:
    """``{"n_samples", "rows_without_label", "metrics"}`` of ``model`` on the evaluate body:
    ``{"dataset_id"}`` (one ``owner`` may see), an inline table ``{"columns", "data",
    "label"}`` or ``{"X", "y"}``."""
    if not isinstance(doc, dict):
        raise InvalidInput(("body",), "the body must be a JSON object")
    dropped = 0
    if "dataset_id" in doc:
        rows, y, loc = _stored_input(model, doc["dataset_id"], datasets, owner)
    elif "X" in doc:
        rows, loc = matrix_rows(doc["X"], model, max_rows, raw), ("body", "y")
        y = as_labels(doc.get("y"), loc, n_rows=rows.shape[0])
    elif "columns" in doc or "data" in doc:
        rows, y, dropped = _inline_input(model, doc, max_rows)
        loc = ("body", "label")
    else:
        raise InvalidInput(
            ("body",),
            'send {"dataset_id": ID}, {"columns": [...], "data": [[...]], "label": name} '
            'or {"X": [[...]], "y": [...]}',
        )
    y = _checked_targets(model, y, loc)
    try:
        result = mlp_engine.evaluate(model, rows, y)
    except ValueError as exc:
        raise InvalidInput(("body",), str(exc)) from None
    return {**result, "rows_without_label": dropped}


def _stored_input(
    model: Estimator, dataset_id: Any, datasets: DatasetStore, owner: Owner
) -> tuple[Any, np.ndarray, Loc]:
    loc: Loc = ("body", "dataset_id")
    if not isinstance(dataset_id, str) or ID_RE.fullmatch(dataset_id) is None:
        raise InvalidInput(loc, "dataset_id must be a dataset ID")
    try:
        require_visible(owner, datasets.get(dataset_id).owner, "dataset", dataset_id)
        rows, y = dataset_rows(datasets, dataset_id)
    except NotFound:
        raise InvalidInput(loc, f"dataset {dataset_id!r} not found") from None
    if isinstance(rows, Mapping):
        absent = [name for name in input_kinds(model) if name not in rows]
        if absent:
            raise InvalidInput(
                loc, f"dataset {dataset_id!r} has no column {absent[0]!r}, which the model needs"
            )
        kinds = input_kinds(model)
        rows = {name: rows[name] for name in kinds}
        for name, kind in kinds.items():
            if kind == "numeric" and rows[name].dtype.kind != "f":
                raise InvalidInput(
                    loc,
                    f"dataset {dataset_id!r} has column {name!r} as text (categorical); the "
                    "model takes numbers there",
                )
    elif categorical_columns(model):
        raise InvalidInput(
            loc, f"dataset {dataset_id!r} has no named columns; this model takes a table"
        )
    elif rows.ndim != 2 or rows.shape[1] != model.n_features_in_:
        raise InvalidInput(
            loc,
            f"dataset {dataset_id!r} has {rows.shape[-1]} features; "
            f"the model takes {model.n_features_in_}",
        )
    return rows, y, loc


def _inline_input(model: Estimator, doc: dict[str, Any], max_rows: int) -> tuple[Any, Any, int]:
    """The inline table's feature columns, labels (rows with a null label left out) and the
    number of rows left out."""
    label = doc.get("label")
    kinds = input_kinds(model)
    if not isinstance(label, str) or not label:
        raise InvalidInput(("body", "label"), "label must name the label column of the table")
    if label in kinds:
        raise InvalidInput(("body", "label"), f"label {label!r} is one of the model's inputs")
    columns = doc.get("columns")
    if isinstance(columns, list) and label not in columns:
        raise InvalidInput(("body", "label"), f"the label column {label!r} is not in columns")
    cells = split_cells(columns, doc.get("data"), kinds, max_rows, label=label)
    table = table_rows(cells, model, lambda i: ("body", "data", i))
    labels = np.array(cells[label], dtype=object)
    keep = labels != None  # noqa: E711  # elementwise
    if not keep.any():
        raise InvalidInput(("body", "label"), f"every row's label ({label!r}) is null")
    if not keep.all():
        table = {name: column[keep] for name, column in table.items()}
    kept = labels[keep].tolist()
    kind = "categorical" if _text_classes(model) else "numeric"
    y = decode_column(kept, kind, label, lambda i: ("body", "data", i))
    return table, y, int(keep.size - np.count_nonzero(keep))


def _text_classes(model: Estimator) -> bool:
    return isinstance(model, MLPClassifier) and model.classes_.dtype.kind == "U"


def _checked_targets(model: Estimator, y: np.ndarray, loc: Loc) -> np.ndarray:
    """Labels the model knows (classifiers) or numbers (regressors); a 422 at ``loc`` else."""
    name = field_name(loc)
    if not isinstance(model, MLPClassifier):
        if y.dtype.kind not in "iuf":
            raise InvalidInput(loc, f"{name} must hold numbers: the model is a regressor")
        return y.astype(np.float64)
    classes = model.classes_
    if classes.dtype.kind == "U" and y.dtype.kind != "U":
        y = np.array([cell_text(v) for v in y.tolist()], dtype=str)
    elif classes.dtype.kind != "U" and y.dtype.kind == "f" and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if (y.dtype.kind == "U") != (classes.dtype.kind == "U"):
        unknown = y[:1]
    else:
        unknown = y[~np.isin(y, classes)]
    if unknown.size:
        shown = ", ".join(repr(c) for c in classes.tolist()[:10])
        raise InvalidInput(
            loc,
            f"{name} holds {unknown[0].item()!r}, a class the model does not know "
            f"(its classes: {shown})",
        )
    return y
