"""Tables as input: reading named columns and normalising their values.

A table is a ``Mapping[str, array-like]`` (column name -> 1-D values, all the same length) or
any object with ``.columns`` and ``__getitem__`` (a pandas DataFrame, by duck typing: pandas is
never imported). Column kinds:

- numeric: numeric or bool dtypes, read as float64; NaN means missing (an object column of
  numbers and ``None`` / NaN / ``pandas.NA`` is read the same way when a model expects a
  number there);
- categorical: dtype kind ``U``, ``S`` or ``O`` (or forced with ``categorical=[names]``), read as
  a unicode array in which ``""`` means missing. ``None``, a float NaN and ``pandas.NA`` are
  missing too; numbers are taken as their text (``3 -> "3"``, ``2.5 -> "2.5"``, an integral
  float ``3.0 -> "3"`` so that the same number always gives the same category).

The kind comes from the dtype at ``fit``: a Python list of numbers with ``None`` becomes an
object array, hence categorical; give numeric gaps as NaN (or force nothing and pass float64).
At predict time the model's own kinds decide, so ``None`` in a numeric column is missing there.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import FloatArray

__all__ = [
    "MAX_COLUMNS",
    "MAX_TEXT_CHARS",
    "TextArray",
    "as_numeric",
    "as_text",
    "column_kinds",
    "column_names",
    "is_table",
    "read_columns",
]

TextArray = npt.NDArray[np.str_]
MAX_COLUMNS = 1024
"""Most columns a table model takes (bounds the members of its model file)."""
MAX_TEXT_CHARS = 1024
"""Longest category a table model stores."""

_NUMERIC_KINDS = "iufb"
_TEXT_KINDS = "USO"


def is_table(X: object) -> bool:
    """Whether ``X`` is a table (a mapping of columns or a DataFrame-like object)."""
    if isinstance(X, np.ndarray):
        return False
    return isinstance(X, Mapping) or (hasattr(X, "columns") and hasattr(X, "__getitem__"))


def column_names(table: Any) -> list[str]:
    """The table's column names in order; each must be a non-empty string, none repeated."""
    names = list(table.keys() if isinstance(table, Mapping) else table.columns)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"column names must be non-empty strings, got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError("column names must be distinct")
    if not names:
        raise ValueError("the table has no columns")
    if len(names) > MAX_COLUMNS:
        raise ValueError(f"a table may have at most {MAX_COLUMNS} columns, got {len(names)}")
    return names


def _raw(table: Any, name: str) -> npt.NDArray[Any]:
    """One column as a 1-D array; a pandas nullable numeric column arrives as float64 + NaN."""
    column = table[name]
    dtype = getattr(column, "dtype", None)
    to_numpy = getattr(column, "to_numpy", None)
    if to_numpy is not None and getattr(dtype, "kind", "O") in _NUMERIC_KINDS:
        arr = np.asarray(to_numpy(dtype="float64", na_value=np.nan))
    else:
        arr = np.asarray(column)
    if arr.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-D, got shape {arr.shape}")
    return arr


def column_kinds(table: Any, categorical: Collection[str] = ()) -> dict[str, str]:
    """``{name: "numeric" | "categorical"}`` from each column's dtype; ``categorical`` forces."""
    names = column_names(table)
    unknown = sorted(set(categorical) - set(names))
    if unknown:
        raise ValueError(f"categorical names column {unknown[0]!r}, which the table does not have")
    kinds = {}
    for name in names:
        kind = _raw(table, name).dtype.kind
        if name in categorical or kind in _TEXT_KINDS:
            kinds[name] = "categorical"
        elif kind in _NUMERIC_KINDS:
            kinds[name] = "numeric"
        else:
            raise ValueError(f"column {name!r} has unsupported dtype kind {kind!r}")
    return kinds


def read_columns(table: Any, kinds: Mapping[str, str]) -> dict[str, Any]:
    """The table's columns normalised by kind: float64 ``(n,)`` or unicode ``(n,)``.

    The table must have exactly the columns of ``kinds`` (in any order): an extra or an absent
    column is a ``ValueError`` naming it. All columns must have the same length, at least 1.
    """
    names = column_names(table)
    extra = [name for name in names if name not in kinds]
    if extra:
        raise ValueError(f"unknown column {extra[0]!r}: the model does not take it")
    absent = [name for name in kinds if name not in names]
    if absent:
        raise ValueError(f"column {absent[0]!r} is absent: the model needs it")
    columns: dict[str, Any] = {}
    for name, kind in kinds.items():
        raw = _raw(table, name)
        columns[name] = as_numeric(raw, name) if kind == "numeric" else as_text(raw)
    lengths = {len(column) for column in columns.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"columns must be non-empty and of equal length, got {sorted(lengths)}")
    return columns


def is_missing(value: object) -> bool:
    """None, a float NaN, ``pandas.NA`` / ``NaT`` or an empty string."""
    if value is None or (isinstance(value, str) and value == ""):
        return True
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def as_numeric(arr: npt.NDArray[Any], name: str) -> FloatArray:
    """Values as float64 ``(n,)`` with NaN for missing; infinity and non-numbers are refused."""
    if arr.dtype.kind in _NUMERIC_KINDS:
        out = arr.astype(np.float64)
    else:
        out = np.array([_number(v, name) for v in arr.tolist()], dtype=np.float64)
    if np.isinf(out).any():
        raise ValueError(f"column {name!r} contains infinity")
    return out


def _number(value: object, name: str) -> float:
    """One cell of a numeric column as a float (NaN when missing)."""
    if is_missing(value):
        return math.nan
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"column {name!r} is numeric, got {value!r}")


def as_text(arr: npt.NDArray[Any]) -> TextArray:
    """Values as a unicode array ``(n,)`` in which ``""`` means missing."""
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8", errors="replace")
    return np.array([_text(v) for v in arr.tolist()] or [""], dtype=str)[: arr.shape[0]]


def _text(value: object) -> str:
    """One cell of a categorical column as text (``""`` when missing)."""
    if is_missing(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
