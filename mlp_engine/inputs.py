"""What the estimators accept as ``X``: a 2-D array, or a table (see ``mlp_engine.tables``).

``read_fit_inputs`` reads training input once; ``features`` describes it as the model's input
signature; ``encode`` turns predict-time input into the matrix the network takes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import FloatArray
from mlp_engine.preprocessing import Plan
from mlp_engine.tables import column_kinds, is_table, read_columns
from mlp_engine.validation import check_X

__all__ = ["FitInputs", "array_names", "column_bounds", "encode", "features", "read_fit_inputs"]


@dataclass(frozen=True)
class FitInputs:
    """Training input: ``X: (n, d)`` for an array, or ``kinds`` + ``columns`` for a table."""

    names: list[str]
    n_rows: int
    X: FloatArray | None = None
    kinds: dict[str, str] | None = None
    columns: dict[str, Any] | None = None


def array_names(n_features: int) -> list[str]:
    """The column names of an array's features: ``x0, x1, ...``."""
    return [f"x{i}" for i in range(n_features)]


def read_fit_inputs(X: Any, categorical: Collection[str] | None) -> FitInputs:
    """Read ``X`` (array or table) for ``fit``; ``categorical`` forces table columns."""
    if not is_table(X):
        if categorical:
            raise ValueError("categorical= names table columns, but X is an array")
        arr = check_X(X)
        return FitInputs(array_names(arr.shape[1]), arr.shape[0], X=arr)
    if isinstance(categorical, str):
        raise ValueError("categorical must be a list of column names, not one string")
    kinds = column_kinds(X, categorical or ())
    columns = read_columns(X, kinds)
    n_rows = len(next(iter(columns.values())))
    return FitInputs(list(kinds), n_rows, kinds=kinds, columns=columns)


def features(inputs: FitInputs, plan: Plan | None) -> list[dict[str, Any]]:
    """The input signature: ``[{"name", "type", "missing", "categories"?}]``.

    ``missing`` counts the missing cells of the data given to ``fit``; ``categories`` are the
    values the categorical step learnt (kept or grouped as "other"), sorted.
    """
    if inputs.columns is None or plan is None:
        return [{"name": name, "type": "numeric", "missing": 0} for name in inputs.names]
    out: list[dict[str, Any]] = []
    for step in plan.steps:
        column = inputs.columns[step.column]
        if step.kind == "numeric":
            out.append(
                {"name": step.column, "type": "numeric", "missing": int(np.isnan(column).sum())}
            )
            continue
        known = np.concatenate([step.state["categories"], step.state["other"]])
        out.append(
            {
                "name": step.column,
                "type": "categorical",
                "missing": int((column == "").sum()),
                "categories": sorted(known.tolist()),
            }
        )
    return out


def column_bounds(inputs: FitInputs) -> tuple[FloatArray, FloatArray]:
    """Per-column ``(min, max)`` of the training input, ``(d,)`` each; NaN where undefined
    (a categorical or an all-missing column)."""
    if inputs.X is not None:
        return inputs.X.min(axis=0), inputs.X.max(axis=0)
    kinds, columns = inputs.kinds or {}, inputs.columns or {}
    low, high = np.full(len(inputs.names), np.nan), np.full(len(inputs.names), np.nan)
    for i, (name, kind) in enumerate(kinds.items()):
        column = columns[name]
        if kind == "numeric" and not np.isnan(column).all():
            low[i], high[i] = np.nanmin(column), np.nanmax(column)
    return low, high


def encode(X: Any, plan: Plan | None, names: npt.NDArray[np.str_], n_inputs: int) -> FloatArray:
    """Predict-time input -> the network's input matrix ``(n, n_inputs)`` (before scaling).

    Array models take a 2-D array (or a table with their ``x0, x1, ...`` columns); table models
    take a table with their columns in any order, or, when every column is numeric, a 2-D
    array whose columns are in the training order (NaN = missing).
    """
    if plan is None:
        if is_table(X):
            columns = read_columns(X, dict.fromkeys(names.tolist(), "numeric"))
            X = np.column_stack([columns[name] for name in names.tolist()])
        return check_X(X, n_inputs)
    if not is_table(X):
        X = _positional_table(X, plan, names)
    return plan.transform(read_columns(X, plan.kinds))


def _positional_table(X: Any, plan: Plan, names: npt.NDArray[np.str_]) -> dict[str, Any]:
    """A 2-D numeric array as the table of a model whose columns are all numeric."""
    if any(kind != "numeric" for kind in plan.kinds.values()):
        raise ValueError("this model has categorical columns: X must be a table of its columns")
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be a 2-D array of numbers or a table: {exc}") from None
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] != names.size:
        raise ValueError(
            f"X must be a table or a 2-D array with {names.size} columns, got shape {arr.shape}"
        )
    return dict(zip(names.tolist(), arr.T, strict=True))
