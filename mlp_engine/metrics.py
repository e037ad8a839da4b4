"""Evaluation metrics with scikit-learn's definitions, in NumPy only.

Each metric is a short pure function; ``METRICS`` maps every public name to a ``Metric`` that says
its task, its direction and what it takes. The definitions follow ``sklearn.metrics`` (version 1.9)
with its default arguments, and ``tests/engine/test_metrics.py`` checks them against it:

- ``accuracy``: ``accuracy_score``; ``balanced_accuracy``: ``balanced_accuracy_score`` (mean recall
  over the classes present in ``y_true``).
- ``f1_macro``, ``precision_recall_f1_support``: ``f1_score(average="macro")`` and
  ``precision_recall_fscore_support`` with ``labels=``; a 0/0 is 0 (``zero_division="warn"``
  without the warning), and ``f1 = 2 tp / (2 tp + fp + fn)``.
- ``confusion_matrix``: rows = true, columns = predicted, samples whose true or predicted label is
  outside ``labels`` are left out.
- ``log_loss``: ``log_loss(labels=classes)``; probabilities clipped to ``[eps, 1 - eps]`` with
  ``eps = np.finfo(proba.dtype).eps``, rows not renormalised.
- ``roc_auc``: ``roc_auc_score``; binary: the score is the probability of ``classes[1]``;
  multiclass: macro one-vs-rest. ``None`` where scikit-learn returns NaN (a class of the average
  has no positive or no negative sample, e.g. one class only in ``y_true``).
- ``mse``, ``rmse``, ``mae``, ``r2``: ``mean_squared_error``, ``root_mean_squared_error``,
  ``mean_absolute_error``, ``r2_score`` (``force_finite=True``: a perfect fit scores 1.0, an
  imperfect fit of a constant target 0.0; NaN with fewer than two samples); several targets
  ``(n_samples, n_targets)`` are averaged uniformly.

Inputs that scikit-learn rejects (empty arrays, mismatched lengths, ``y_true`` labels outside
``classes``, probabilities outside [0, 1]) raise ``ValueError``. The reports turn every non-finite
value into ``None`` and every NumPy scalar into a Python one, so they are ready for JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "METRICS",
    "Metric",
    "accuracy",
    "balanced_accuracy",
    "classification_report",
    "confusion_matrix",
    "f1_macro",
    "log_loss",
    "mae",
    "mse",
    "precision_recall_f1_support",
    "predicted_labels",
    "r2",
    "regression_report",
    "rmse",
    "roc_auc",
    "score",
]

Array = npt.NDArray[Any]
FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Metric:
    """A metric and how to use it.

    Attributes:
        name: public name (the key in ``METRICS``).
        task: ``"classification"`` or ``"regression"``.
        greater_is_better: True for scores (accuracy, r2), False for losses (log_loss, mse).
        needs_proba: True: ``fn(y_true, proba, classes)`` with ``proba: (n_samples, n_classes)``;
            False: ``fn(y_true, y_pred)`` with predicted labels or values.
        fn: the metric function; returns a float, or None where the metric is undefined.
    """

    name: str
    task: Literal["classification", "regression"]
    greater_is_better: bool
    needs_proba: bool
    fn: Callable[..., float | None]


# ---------------------------------------------------------------- input checks


def _vector(values: npt.ArrayLike, name: str) -> Array:
    """``values`` as a non-empty 1-D array ``(n_samples,)``."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _is_text(arr: Array) -> bool:
    return arr.dtype.kind in "USO" and arr.size > 0 and isinstance(arr.flat[0], str | bytes)


def _pair(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[Array, Array]:
    """Two label vectors of the same length and the same kind (text or numbers)."""
    t, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    if _is_text(t) != _is_text(p):
        raise ValueError(f"y_true and y_pred mix text and number labels ({t.dtype}, {p.dtype})")
    return t, p


def _label_set(labels: npt.ArrayLike | None, *arrays: Array) -> Array:
    """``labels`` as a 1-D array of distinct labels, or the sorted union of ``arrays``.

    Given ``labels`` must be of the same kind (text or numbers) as the ``arrays``.
    """
    if labels is None:
        return np.unique(np.concatenate(arrays))
    arr = _vector(labels, "labels")
    if _is_text(arr) != _is_text(arrays[0]):
        raise ValueError(f"labels and y_true mix text and number labels ({arr.dtype})")
    if np.unique(arr).shape[0] != arr.shape[0]:
        raise ValueError(f"labels must be distinct, got {arr.tolist()}")
    return arr


def _encode(values: Array, labels: Array) -> npt.NDArray[np.intp]:
    """Index of each of ``values: (n,)`` in ``labels: (k,)`` (distinct), -1 where absent."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    pos = np.minimum(np.searchsorted(ordered, values), labels.shape[0] - 1)
    found = np.asarray(ordered[pos] == values, dtype=bool)
    index: npt.NDArray[np.intp] = np.where(found, order[pos], -1)
    return index


def _check_proba(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: npt.ArrayLike
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Validated ``proba: (n_samples, n_classes)`` and the class index of each ``y_true``."""
    t = _vector(y_true, "y_true")
    cls = _label_set(classes, t)
    if cls.shape[0] < 2:
        raise ValueError(f"classes must hold at least two labels, got {cls.tolist()}")
    p = np.asarray(proba)
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    if p.shape != (t.shape[0], cls.shape[0]):
        raise ValueError(f"proba must have shape {(t.shape[0], cls.shape[0])}, got {p.shape}")
    if np.max(p) > 1 or np.min(p) < 0:
        raise ValueError(f"proba must lie in [0, 1], got [{np.min(p)}, {np.max(p)}]")
    index = _encode(t, cls)
    if np.any(index < 0):
        unknown = sorted({str(v) for v in t[index < 0].tolist()})
        raise ValueError(f"y_true contains labels not in classes: {unknown}")
    return p, index


def _safe_divide(num: Array, den: Array) -> FloatArray:
    """``num / den`` elementwise, 0.0 where ``den == 0`` (scikit-learn's zero_division default)."""
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _counts(t: Array, p: Array, labels: Array) -> tuple[IntArray, IntArray, IntArray]:
    """Per label ``(k,)``: true positives, predicted count and true count (the support)."""
    k = labels.shape[0]
    ti, pi = _encode(t, labels), _encode(p, labels)
    true_sum = np.bincount(ti[ti >= 0], minlength=k).astype(np.int64)
    pred_sum = np.bincount(pi[pi >= 0], minlength=k).astype(np.int64)
    tp = np.bincount(ti[(ti >= 0) & (ti == pi)], minlength=k).astype(np.int64)
    return tp, pred_sum, true_sum


# ---------------------------------------------------------------- classification


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Fraction of ``y_pred: (n_samples,)`` equal to ``y_true: (n_samples,)``."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def balanced_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean recall over the classes present in ``y_true: (n_samples,)``."""
    t, p = _pair(y_true, y_pred)
    tp, _, true_sum = _counts(t, p, np.unique(t))
    return float(np.mean(tp / true_sum))


def confusion_matrix(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, labels: npt.ArrayLike | None = None
) -> IntArray:
    """Counts ``(k, k)``: row = true label, column = predicted label, in ``labels: (k,)`` order.

    Without ``labels``, the sorted union of both label vectors; samples with a label outside
    ``labels`` are not counted.
    """
    t, p = _pair(y_true, y_pred)
    labs = _label_set(labels, t, p)
    k = labs.shape[0]
    ti, pi = _encode(t, labs), _encode(p, labs)
    keep = (ti >= 0) & (pi >= 0)
    cells = np.bincount(ti[keep] * k + pi[keep], minlength=k * k)
    matrix: IntArray = cells.reshape(k, k).astype(np.int64)
    return matrix


def precision_recall_f1_support(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, labels: npt.ArrayLike | None = None
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """Per label of ``labels: (k,)``: precision, recall, F1 (all ``(k,)`` floats) and support.

    A 0/0 counts as 0. Without ``labels``, the sorted union of both label vectors.
    """
    t, p = _pair(y_true, y_pred)
    tp, pred_sum, true_sum = _counts(t, p, _label_set(labels, t, p))
    precision = _safe_divide(tp, pred_sum)
    recall = _safe_divide(tp, true_sum)
    f1 = _safe_divide(2.0 * tp, (true_sum + pred_sum).astype(np.float64))
    return precision, recall, f1, true_sum


def f1_macro(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, labels: npt.ArrayLike | None = None
) -> float:
    """Unweighted mean of the per-label F1 over ``labels: (k,)`` (default: labels seen)."""
    _, _, f1, _ = precision_recall_f1_support(y_true, y_pred, labels)
    return float(np.mean(f1))


def log_loss(y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of ``y_true: (n_samples,)`` under ``proba``.

    ``proba: (n_samples, n_classes)`` in ``classes: (n_classes,)`` order, clipped to
    ``[eps, 1 - eps]`` with ``eps`` the machine epsilon of its float dtype.
    """
    p, index = _check_proba(y_true, proba, classes)
    eps = np.finfo(p.dtype).eps
    clipped = np.clip(p, eps, 1 - eps)
    onehot = (index[:, None] == np.arange(p.shape[1])).astype(p.dtype)
    loss = -np.sum(onehot * np.log(clipped), axis=1)
    return float(np.mean(loss))


def _binary_auc(positive: npt.NDArray[np.bool_], score: FloatArray) -> float | None:
    """Area under the ROC curve of ``score: (n,)`` for ``positive: (n,)``; None if one-sided.

    The curve has one point per distinct score (ties form one diagonal step), as in
    ``sklearn.metrics.roc_curve``; the area is the trapezoidal rule over it.
    """
    n_pos = int(np.sum(positive))
    n_neg = positive.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")[::-1]
    ordered = score[order]
    ends = np.r_[np.flatnonzero(np.diff(ordered)), ordered.shape[0] - 1]
    tps = np.cumsum(positive[order])[ends]
    fps = ends + 1 - tps
    tpr = np.r_[0, tps] / n_pos
    fpr = np.r_[0, fps] / n_neg
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def roc_auc(y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: npt.ArrayLike) -> float | None:
    """ROC AUC of ``proba: (n_samples, n_classes)`` (``classes`` order) for ``y_true``.

    Binary: the score is the probability of ``classes[1]``. Multiclass: the unweighted mean of
    each class against the rest. None where undefined (a class with no positive or no negative).
    """
    p, index = _check_proba(y_true, proba, classes)
    if p.shape[1] == 2:
        return _binary_auc(index == 1, p[:, 1])
    areas = [_binary_auc(index == j, p[:, j]) for j in range(p.shape[1])]
    if any(area is None for area in areas):
        return None
    return float(np.mean(np.asarray(areas, dtype=np.float64)))


# ---------------------------------------------------------------- regression


def _targets(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Both as float64 ``(n_samples, n_targets)``; a 1-D input is one target."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    if t.ndim not in (1, 2) or t.shape[0] == 0:
        raise ValueError(f"y_true must be non-empty and 1-D or 2-D, got shape {t.shape}")
    return t.reshape(t.shape[0], -1), p.reshape(p.shape[0], -1)


def mse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean squared error; ``y_true, y_pred: (n_samples,)`` or ``(n_samples, n_targets)``."""
    t, p = _targets(y_true, y_pred)
    return float(np.mean(np.mean((t - p) ** 2, axis=0)))


def rmse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Root mean squared error (per target, then averaged over targets)."""
    t, p = _targets(y_true, y_pred)
    return float(np.mean(np.sqrt(np.mean((t - p) ** 2, axis=0))))


def mae(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean absolute error; ``y_true, y_pred: (n_samples,)`` or ``(n_samples, n_targets)``."""
    t, p = _targets(y_true, y_pred)
    return float(np.mean(np.mean(np.abs(t - p), axis=0)))


def r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Coefficient of determination, averaged over targets; NaN with fewer than two samples.

    A target fitted exactly scores 1.0; an imperfect fit of a constant target 0.0
    (scikit-learn's ``force_finite=True``).
    """
    t, p = _targets(y_true, y_pred)
    if t.shape[0] < 2:
        return math.nan
    residual = np.sum((t - p) ** 2, axis=0)
    total = np.sum((t - np.mean(t, axis=0)) ** 2, axis=0)
    scores = np.ones(t.shape[1])
    valid = (residual != 0) & (total != 0)
    scores[valid] = 1 - residual[valid] / total[valid]
    scores[(residual != 0) & (total == 0)] = 0.0
    return float(np.mean(scores))


# ---------------------------------------------------------------- table and reports

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", "classification", True, False, accuracy),
        Metric("balanced_accuracy", "classification", True, False, balanced_accuracy),
        Metric("log_loss", "classification", False, True, log_loss),
        Metric("roc_auc", "classification", True, True, roc_auc),
        Metric("f1_macro", "classification", True, False, f1_macro),
        Metric("mse", "regression", False, False, mse),
        Metric("rmse", "regression", False, False, rmse),
        Metric("mae", "regression", False, False, mae),
        Metric("r2", "regression", True, False, r2),
    )
}


def predicted_labels(proba: npt.ArrayLike, classes: npt.ArrayLike) -> Array:
    """``classes[argmax(proba)]``: ``(n_samples,)`` labels; a tie goes to the first class."""
    labels: Array = np.asarray(classes)[np.argmax(np.asarray(proba), axis=1)]
    return labels


def score(
    name: str, y_true: npt.ArrayLike, output: npt.ArrayLike, classes: npt.ArrayLike | None = None
) -> float | None:
    """Metric ``name`` of a model's output; None where undefined or not finite.

    Classification: ``output`` is ``proba: (n_samples, n_classes)`` in ``classes`` order (labels
    are ``predicted_labels``; ``f1_macro`` averages over ``classes``). Regression: ``output`` is
    the predictions, ``(n_samples,)`` or ``(n_samples, n_targets)``.
    """
    metric = METRICS[name]
    if metric.task == "regression":
        return _finite(metric.fn(y_true, output))
    if classes is None:
        raise ValueError(f"{name} needs the model's classes")
    if metric.needs_proba:
        return _finite(metric.fn(y_true, output, classes))
    y_pred = predicted_labels(output, classes)
    if name == "f1_macro":
        return _finite(f1_macro(y_true, y_pred, classes))
    return _finite(metric.fn(y_true, y_pred))


def _finite(value: float | None) -> float | None:
    """``value`` as a Python float, or None if it is None, NaN or infinite."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _json_label(label: Any) -> Any:
    """A class label as a Python int, float, str or bool (NumPy scalars and bytes converted)."""
    value = label.item() if isinstance(label, np.generic) else label
    return value.decode() if isinstance(value, bytes) else value


def classification_report(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: npt.ArrayLike
) -> dict[str, Any]:
    """The API's classification metrics of ``proba: (n_samples, n_classes)`` for ``y_true``.

    Predictions are ``classes[argmax(proba)]``; per-class values and the confusion matrix use
    every class of ``classes: (n_classes,)``, present in ``y_true`` or not. JSON-ready.
    """
    _check_proba(y_true, proba, classes)
    cls = np.asarray(classes)
    y_pred = predicted_labels(proba, cls)
    precision, recall, f1, support = precision_recall_f1_support(y_true, y_pred, cls)
    labels = [_json_label(c) for c in cls]
    per_class = {
        str(label): {
            "precision": _finite(float(precision[i])),
            "recall": _finite(float(recall[i])),
            "f1": _finite(float(f1[i])),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "accuracy": _finite(accuracy(y_true, y_pred)),
        "balanced_accuracy": _finite(balanced_accuracy(y_true, y_pred)),
        "log_loss": _finite(log_loss(y_true, proba, cls)),
        "roc_auc": _finite(roc_auc(y_true, proba, cls)),
        "f1_macro": _finite(f1_macro(y_true, y_pred, cls)),
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, cls).tolist(),
        },
        "per_class": per_class,
    }


def regression_report(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[str, float | None]:
    """The API's regression metrics (``mse``, ``rmse``, ``mae``, ``r2``); None if not finite."""
    return {
        name: _finite(METRICS[name].fn(y_true, y_pred)) for name in ("mse", "rmse", "mae", "r2")
    }
