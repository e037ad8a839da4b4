"""Models: predictions, and the network a decision boundary is drawn from (a stored model or a
running job's weights snapshot) with the training rows to draw on it."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

import mlp_engine
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs.base import JobRecord, JobRunner
from app.storage.datasets import DatasetStore
from app.storage.models import Estimator, ModelStore
from mlp_engine import MLPClassifier, ModelFormatError

__all__ = ["Points", "dataset_points", "job_network", "predictions"]

# Training rows drawn on a boundary PNG: ``(X (n, n_features), y (n,))``, or ``(None, None)``.
Points = tuple[np.ndarray | None, np.ndarray | None]


def predictions(model: Estimator, X: np.ndarray) -> dict[str, Any]:
    """The predict response for rows ``X: (n_rows, n_features)``, arrays left to orjson.

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
        raise InvalidInput(("body", "X"), str(exc)) from None


def dataset_points(datasets: DatasetStore, dataset_id: Any, n_features: int) -> Points:
    """The training rows of ``dataset_id`` (all features) for the PNG, if it still exists and
    fits the model; ``(None, None)`` otherwise."""
    if not isinstance(dataset_id, str) or not datasets.exists(dataset_id):
        return None, None
    try:
        X, y, _ = datasets.load(dataset_id)
    except (NotFound, Conflict):
        return None, None
    if X.ndim != 2 or X.shape[1] != n_features:
        return None, None
    return X, y


def job_network(jobs: JobRunner, models: ModelStore, job_id: str) -> tuple[Estimator, JobRecord]:
    """The job's latest weights snapshot as a model, or its final model once it has succeeded;
    404 for an unknown job, 409 while there is neither."""
    record = jobs.get(job_id)  # 404 for an unknown job
    data = jobs.snapshot(job_id)
    if data is not None:
        return _snapshot_model(job_id, data), record
    record = jobs.get(job_id)  # the job may have ended since: its snapshot is then gone
    if record.status != "succeeded" or record.model_id is None:
        raise _no_snapshot(record)
    return models.load(record.model_id), record


def _snapshot_model(job_id: str, data: bytes) -> Estimator:
    try:
        return mlp_engine.load(io.BytesIO(data))
    except ModelFormatError:  # written atomically, so only a foreign or future file gets here
        raise Conflict(f"job {job_id!r}: its weights snapshot cannot be read; retry") from None


def _no_snapshot(record: JobRecord) -> Conflict:
    job = f"job {record.id!r}"
    if record.status == "queued":
        return Conflict(f"{job} is queued: it has no weights snapshot yet; retry once it runs")
    if record.status == "running":
        return Conflict(f"{job} has not written a weights snapshot yet; retry in a moment")
    return Conflict(f"{job} ended as {record.status}: it has no snapshot and no model")
