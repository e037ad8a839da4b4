"""Input checks shared by the estimators: feature arrays, class labels, regression targets."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import FloatArray

__all__ = ["check_X", "check_labels", "check_targets"]


def check_X(X: npt.ArrayLike, n_features: int | None = None) -> FloatArray:
    """``X`` as a finite float64 array ``(n_samples, n_features)`` with at least one row."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be a 2-D array of numbers: {exc}") from None
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"X must be a non-empty 2-D array (n_samples, n_features), got shape {arr.shape}"
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"X has {arr.shape[1]} features, but the model expects {n_features}")
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or infinity")
    return arr


def check_labels(y: Any, n_samples: int | None) -> tuple[npt.NDArray[Any], str]:
    """Class labels ``(n_samples,)`` as int64 or str, and their kind (``int`` or ``str``).

    Accepts ints, bools, integral floats (e.g. the notebook's 0.0/1.0 column) and strings;
    a ``(n, 1)`` column is flattened.
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or (n_samples is not None and arr.shape[0] != n_samples):
        raise ValueError(f"y must have shape ({n_samples or 'n_samples'},), got {arr.shape}")
    if arr.dtype.kind == "O":
        if all(isinstance(v, str) for v in arr):
            arr = arr.astype(str)
        elif all(isinstance(v, numbers.Integral) for v in arr):
            arr = arr.astype(np.int64)
    if arr.dtype.kind == "U":
        return arr, "str"
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64), "int"
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return arr.astype(np.int64), "int"
    raise ValueError("y must hold class labels: integers or strings (not mixed, no NaN)")


def check_targets(y: Any, n_samples: int | None) -> FloatArray:
    """Regression targets as finite float64 ``(n_samples,)`` or ``(n_samples, n_targets)``."""
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y must be numbers: {exc}") from None
    if (
        arr.ndim not in (1, 2)
        or (n_samples is not None and arr.shape[0] != n_samples)
        or arr.size == 0
    ):
        raise ValueError(
            f"y must have shape (n_samples,) or (n_samples, n_targets), got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError("y contains NaN or infinity")
    return arr
