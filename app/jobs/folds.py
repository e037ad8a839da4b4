"""How a job fits its estimator: on the whole dataset, or, for a cross-validation fold job
(``JobSpec.cv_fold``), on the other k - 1 folds with its own fold held out.

A fold job's model is an ordinary model: its ``evaluation.test`` holds every metric measured on
the held-out fold (that is what a sweep scores), and its stored split marks the fold's rows as
``test`` (code 2), so ``/split`` shows which rows it never saw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from app.jobs.base import JobSpec
from app.storage.datasets import DatasetMeta
from mlp_engine.evaluation import evaluate
from mlp_engine.model_selection import fold_assignment

__all__ = ["fit_job", "fold_rows"]

EpochCallback = Callable[[int, Mapping[str, Any]], bool]


def fold_rows(
    y: npt.ArrayLike, cv_fold: Mapping[str, int], task: str
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """``(train, test)`` row indices of fold ``cv_fold["fold"]`` of ``cv_fold["k"]`` (seeded
    by ``cv_fold["seed"]``; stratified for classification)."""
    folds = fold_assignment(
        y, int(cv_fold["k"]), int(cv_fold["seed"]), stratified=task == "classification"
    )
    fold = int(cv_fold["fold"])
    return np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)


def _rows(X: Any, rows: npt.NDArray[np.intp]) -> Any:
    """Those rows of an array ``(n, d)`` or of a table ``{name: (n,)}``."""
    if isinstance(X, Mapping):
        return {name: column[rows] for name, column in X.items()}
    return X[rows]


def _fit(estimator: Any, X: Any, y: Any, meta: DatasetMeta, on_epoch: EpochCallback) -> None:
    if meta.layout == "table":
        estimator.fit(X, y, on_epoch=on_epoch, categorical=meta.categorical)
    else:  # X/y datasets: the array path, exactly as ever
        estimator.fit(X, y, on_epoch=on_epoch)


def fit_job(
    estimator: Any, X: Any, y: Any, meta: DatasetMeta, spec: JobSpec, on_epoch: EpochCallback
) -> None:
    """Fit ``estimator`` as the job ``spec`` says (see the module docstring)."""
    if spec.cv_fold is None:
        _fit(estimator, X, y, meta, on_epoch)
        return
    y = np.asarray(y)
    train, test = fold_rows(y, spec.cv_fold, spec.task)
    _fit(estimator, _rows(X, train), y[train], meta, on_epoch)
    measured = evaluate(estimator, _rows(X, test), y[test])["metrics"]
    estimator.evaluation_ = {**(estimator.evaluation_ or {}), "test": measured}
    codes = np.full(y.shape[0], 2, dtype=np.int8)
    codes[train] = estimator.split_
    estimator.split_ = codes
