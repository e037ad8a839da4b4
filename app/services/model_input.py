"""Request bodies -> a model's input: the rows of ``/predict`` and ``/evaluate``.

Three forms (API.md, "Tables"), checked against the model's input signature (its columns and
their kinds, in order; an ``X``/``y`` model's columns are ``x0, x1, ...``, all numeric):

- ``{"X": [[number]]}``: positional, for models whose columns are all numeric (column order);
- ``{"instances": [{column: value}]}``: one object per row, every column of the model;
- ``{"columns": [str], "data": [[cell]]}``: pandas' split form.

Missing is ``null``. A column the model does not know, one it needs that is absent, or a cell of
the wrong type (text in a numeric column) is a 422 naming it. Cells are decoded per column with
NumPy (one type scan and one conversion per column); only a column with a bad cell is walked
cell by cell, to name it. Numeric columns come out float64 (NaN = missing), categorical ones as
unicode with ``""`` for missing, numbers and booleans as their text (as ``app.tabular`` reads a
dataset, so a value means the same at training and at predict time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, NoReturn

import numpy as np

from app.errors import InvalidInput, field_name
from app.numeric import Loc, as_matrix
from app.storage.models import Estimator
from app.tabular import cell_text

__all__ = [
    "Table",
    "categorical_columns",
    "decode_column",
    "input_kinds",
    "matrix_rows",
    "model_rows",
    "split_cells",
    "table_rows",
]

Table = dict[str, np.ndarray]
_ASCII_SPACE = " \t\n\r\x0b\x0c"
_NUMBER_TYPES = frozenset({int, float, type(None)})
_TEXT_TYPES = frozenset({str, type(None)})
_FORMS = (
    'send {"X": [[number, ...], ...]}, {"instances": [{column: value, ...}, ...]} '
    'or {"columns": [name, ...], "data": [[cell, ...], ...]}'
)


def input_kinds(model: Estimator) -> dict[str, str]:
    """The model's columns in order: ``{name: "numeric" | "categorical"}``."""
    plan = model.plan_
    if plan is not None:
        return plan.kinds
    return dict.fromkeys(model.feature_names_in_.tolist(), "numeric")


def categorical_columns(model: Estimator) -> list[str]:
    """The model's categorical columns (none for an ``X``/``y`` model)."""
    plan = model.plan_
    if plan is None:
        return []
    return [step.column for step in plan.steps if step.kind == "categorical"]


def model_rows(doc: Any, model: Estimator, max_rows: int, raw: bytes | None) -> Any:
    """The predict body ``doc`` as the model's input: a matrix ``(n, n_features)`` or a table
    ``{column: (n,)}``. ``raw`` is the body ``doc`` was parsed from (see ``as_matrix``)."""
    if not isinstance(doc, dict):
        raise InvalidInput(("body", "X"), f"X is required: {_FORMS}")
    if "X" in doc:
        return matrix_rows(doc["X"], model, max_rows, raw)
    if "instances" in doc:
        return instances_rows(doc["instances"], model, max_rows)
    if "columns" in doc or "data" in doc:
        cells = split_cells(doc.get("columns"), doc.get("data"), input_kinds(model), max_rows)
        return table_rows(cells, model, lambda i: ("body", "data", i))
    raise InvalidInput(("body", "X"), f"X is required: {_FORMS}")


def matrix_rows(value: Any, model: Estimator, max_rows: int, raw: bytes | None) -> np.ndarray:
    """``X`` as a finite float64 matrix in the model's column order (numeric-only models)."""
    categorical = categorical_columns(model)
    if categorical:
        raise InvalidInput(
            ("body", "X"),
            f"this model has categorical columns ({', '.join(map(repr, categorical[:5]))}): "
            'send its rows by column name, {"instances": [...]} or {"columns": [...], '
            '"data": [...]}',
        )
    return as_matrix(
        value, ("body", "X"), max_rows=max_rows, n_features=model.n_features_in_, raw=raw
    )


def instances_rows(value: Any, model: Estimator, max_rows: int) -> Table:
    """``instances``, one object per row holding every column of the model, as a table."""
    loc: Loc = ("body", "instances")
    if not isinstance(value, list) or not value:
        raise InvalidInput(loc, "instances must be a non-empty list of objects {column: value}")
    if len(value) > max_rows:
        raise InvalidInput(loc, f"instances has {len(value)} rows; at most {max_rows} are allowed")
    kinds = input_kinds(model)
    # Passes in C over the rows: every row a dict of as many keys as the model has columns,
    # each of which it holds (so no other key). Only a failure walks the rows in Python.
    cells: dict[str, Sequence[Any]] | None = None
    if set(map(type, value)) == {dict} and set(map(len, value)) == {len(kinds)}:
        try:
            cells = {name: list(map(itemgetter(name), value)) for name in kinds}
        except KeyError:
            cells = None
    if cells is None:
        _row_problem(value, kinds, loc)
    return table_rows(cells, model, lambda i: (*loc, i))


def _row_problem(rows: list[Any], kinds: Mapping[str, str], loc: Loc) -> NoReturn:
    """Raise the 422 for the first row that is not an object with exactly the model's columns."""
    wanted = kinds.keys()
    for i, row in enumerate(rows):
        if type(row) is not dict:
            raise InvalidInput((*loc, i), f"instances[{i}] must be an object {{column: value}}")
        if row.keys() != wanted:
            raise _key_problem(row, kinds, (*loc, i))
    raise AssertionError("no row has a problem")  # unreachable: the caller found one


def _key_problem(row: Mapping[str, Any], kinds: Mapping[str, str], loc: Loc) -> InvalidInput:
    where = field_name(loc)
    for key in row:
        if key not in kinds:
            return InvalidInput(
                (*loc, str(key)),
                f"{where} has column {_show(key)}, which the model does not take "
                f"(its columns: {_listing(kinds)})",
            )
    absent = next(name for name in kinds if name not in row)
    return InvalidInput(
        (*loc, absent),
        f"{where} lacks column {_show(absent)}, which the model needs (null for a missing value)",
    )


def split_cells(
    columns: Any,
    data: Any,
    kinds: Mapping[str, str],
    max_rows: int,
    *,
    label: str | None = None,
) -> dict[str, Sequence[Any]]:
    """pandas' split form -> ``{column: cells}`` for every column of ``kinds`` (and ``label``).

    The form must name each column of ``kinds`` once and no other (but ``label``).
    """
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
        raise InvalidInput(("body", "columns"), "columns must be a list of column names")
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise InvalidInput(("body", "columns", name), f"column {_show(name)} appears twice")
        seen.add(name)
        if name not in kinds and name != label:
            raise InvalidInput(
                ("body", "columns", name),
                f"column {_show(name)} is not one the model takes (its columns: {_listing(kinds)})",
            )
    for name in kinds:
        if name not in seen:
            raise InvalidInput(
                ("body", "columns"),
                f"column {_show(name)} is absent; the model needs it (null for a missing value)",
            )
    if not isinstance(data, list) or not data:
        raise InvalidInput(("body", "data"), "data must be a non-empty list of rows")
    if len(data) > max_rows:
        raise InvalidInput(
            ("body", "data"), f"data has {len(data)} rows; at most {max_rows} are allowed"
        )
    width = len(columns)
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != width:
            raise InvalidInput(
                ("body", "data", i), f"data[{i}] must be a list of {width} cells, one per column"
            )
    return dict(zip(columns, zip(*data, strict=True), strict=True))


def table_rows(
    cells: Mapping[str, Sequence[Any]], model: Estimator, where: Callable[[int], Loc]
) -> Table:
    """Decode every column of the model (``cells[name]``: its JSON cells); ``where(i)`` is the
    loc of row ``i``. An ``X``/``y`` model takes no missing value."""
    table: Table = {}
    for name, kind in input_kinds(model).items():
        column = decode_column(cells[name], kind, name, where)
        if model.plan_ is None and kind == "numeric":
            gaps = np.flatnonzero(np.isnan(column))
            if gaps.size:
                loc = (*where(int(gaps[0])), name)
                raise InvalidInput(
                    loc,
                    f"{field_name(loc)} is null, but this model was trained without missing "
                    "values: every cell needs a number",
                )
        table[name] = column
    return table


def decode_column(
    cells: Sequence[Any], kind: str, name: str, where: Callable[[int], Loc]
) -> np.ndarray:
    """JSON cells -> float64 ``(n,)`` (NaN = missing) or unicode ``(n,)`` (``""`` = missing)."""
    types = set(map(type, cells))
    if kind == "numeric":
        if types <= _NUMBER_TYPES:
            try:
                values = np.array(cells, dtype=np.float64)
            except OverflowError:
                values = None
            if values is not None and _finite_or_null(values, cells):
                return values
        raise _bad_cell(cells, kind, name, where)
    if types <= _TEXT_TYPES:
        return _text_column(cells)
    for i, cell in enumerate(cells):
        if not (cell is None or isinstance(cell, str | int | float)) or (
            isinstance(cell, float) and not math.isfinite(cell)
        ):
            raise _bad_cell(cells, kind, name, where, start=i)
    return np.array([cell_text(cell) for cell in cells], dtype=str)


def _text_column(cells: Sequence[str | None]) -> np.ndarray:
    """Strings and nulls -> unicode ``(n,)``, stripped of ASCII spaces, ``""`` for null.

    A categorical column holds few distinct values: they are converted and stripped once, and
    the column is built by indexing their array with one code per cell (a dictionary look-up in
    C), not by converting and stripping every cell in NumPy (the same values: each distinct
    cell goes through the same ``np.array(..., dtype=str)`` and ``np.strings.strip``).
    """
    index = {value: i for i, value in enumerate(dict.fromkeys(cells))}
    texts = np.array(["" if value is None else value for value in index], dtype=str)
    codes = np.fromiter(map(index.__getitem__, cells), dtype=np.intp, count=len(cells))
    return np.strings.strip(texts, _ASCII_SPACE)[codes]


def _finite_or_null(values: np.ndarray, cells: Sequence[Any]) -> bool:
    """Every value finite or from a null (a NaN or an infinity literal is not)."""
    if np.isinf(values).any():
        return False
    n_nan = int(np.count_nonzero(np.isnan(values)))
    return n_nan == 0 or n_nan == _count_none(cells)


def _count_none(cells: Sequence[Any]) -> int:
    return cells.count(None) if isinstance(cells, list | tuple) else sum(c is None for c in cells)


def _bad_cell(
    cells: Sequence[Any], kind: str, name: str, where: Callable[[int], Loc], start: int = 0
) -> InvalidInput:
    """The 422 for the first cell from ``start`` that the column cannot take."""
    for i in range(start, len(cells)):
        cell = cells[i]
        loc = (*where(i), name)
        column = f"{field_name(loc)} (column {_show(name)}, {kind})"
        if isinstance(cell, float) and not math.isfinite(cell):
            return InvalidInput(loc, f"{column} must be finite, got {cell}")
        if kind == "numeric":
            if isinstance(cell, bool) or not isinstance(cell, int | float | type(None)):
                return InvalidInput(loc, f"{column} must be a number or null, got {_kind(cell)}")
            if isinstance(cell, int) and abs(cell) >= 2**1024:
                return InvalidInput(loc, f"{column} must be a finite number (it overflows)")
        elif not isinstance(cell, str | int | float | type(None)):
            return InvalidInput(
                loc, f"{column} must be a string, a number, a boolean or null, got {_kind(cell)}"
            )
    return InvalidInput(where(start), f"column {_show(name)} holds a value it cannot take")


def _kind(cell: Any) -> str:
    if isinstance(cell, bool):
        return "a boolean"
    if isinstance(cell, str):
        return f"the string {_show(cell, 40)}"
    if isinstance(cell, list):
        return "a list"
    if isinstance(cell, dict):
        return "an object"
    return type(cell).__name__


def _listing(kinds: Mapping[str, str], limit: int = 10) -> str:
    names = list(kinds)
    shown = ", ".join(map(repr, names[:limit]))
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def _show(text: Any, limit: int = 80) -> str:
    text = str(text)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
