"""Tables in, JSON out: what the client sends for uploads, predictions and evaluations.

Accepted inputs: a pandas DataFrame (sent as pandas' split form, ``columns`` + ``data``), a CSV
file (sent as ``text/csv`` for uploads; read with :func:`read_csv` elsewhere), an ``(X, y)``
pair of sequences or NumPy arrays, a split-form dict, or a list of ``{column: value}`` rows.
NumPy and pandas are never imported here: their objects are recognised by duck typing.
Missing cells (``None``, NaN, ``pandas.NA``, ``NaT``) become JSON ``null``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "MISSING_TOKENS",
    "Payload",
    "Table",
    "clean_cell",
    "evaluate_payload",
    "predict_payload",
    "read_csv",
    "upload_payload",
]

Cell = None | bool | int | float | str
MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "None", "?"})
_INT_RE = re.compile(r"^[+-]?\d{1,18}$")


@dataclass(frozen=True)
class Payload:
    """An upload's body: a JSON document, or raw ``content`` of ``content_type``; plus query
    parameters."""

    json: dict[str, Any] | None = None
    content: bytes | None = None
    content_type: str | None = None
    params: dict[str, str] | None = None


@dataclass(frozen=True)
class Table:
    """A CSV as read: header and rows of raw strings (what the file says, unconverted)."""

    columns: list[str]
    rows: list[list[str]]

    def cells(self, categorical: Iterable[str] = ()) -> list[list[Cell]]:
        """Rows of JSON cells: missing tokens -> None, numbers -> int/float (except in the
        ``categorical`` columns, kept as text)."""
        text = {self.columns.index(c) for c in categorical if c in self.columns}
        return [[_missing_or(raw, j in text) for j, raw in enumerate(row)] for row in self.rows]

    def without(self, column: str | None) -> Table:
        """The table minus ``column`` (unchanged if it is absent or None)."""
        if column is None or column not in self.columns:
            return self
        j = self.columns.index(column)
        return Table(
            [c for i, c in enumerate(self.columns) if i != j],
            [[v for i, v in enumerate(row) if i != j] for row in self.rows],
        )


def _missing_or(raw: str, as_text: bool) -> Cell:
    value = raw.strip()
    if value in MISSING_TOKENS:
        return None
    if as_text:
        return value
    return parse_number(value)


def parse_number(value: str) -> Cell:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5; anything else (``"inf"`` too) stays text."""
    if _INT_RE.match(value):
        return int(value)
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def read_csv(source: str | os.PathLike[str] | TextIO) -> Table:
    """A CSV with a header row from a path or an open text file. Raises ``ValueError`` with a
    one-line reason for an empty or ragged file."""
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    else:
        text = source.read()
        text = text.removeprefix("\ufeff")
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in row)]
    if not rows:
        raise ValueError("the CSV is empty; it needs a header row")
    header = [name.strip() for name in rows[0]]
    for i, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise ValueError(
                f"CSV data row {i} has {len(row)} values; the header has {len(header)}"
            )
    return Table(header, rows[1:])


def clean_cell(value: Any) -> Cell:
    """A JSON-ready cell: NumPy scalars unwrapped, NaN / None / ``pandas.NA`` / ``NaT`` ->
    None; raises ``ValueError`` for an infinite number (the server refuses them)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(value, "item") and not isinstance(value, float):
        value = value.item()  # a NumPy scalar
        if value is None or isinstance(value, str | bool | int):
            return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise ValueError("infinite values cannot be sent; use a missing value (None/NaN)")
        return value
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def is_dataframe(obj: Any) -> bool:
    """A pandas DataFrame (recognised without importing pandas)."""
    module = type(obj).__module__ or ""
    return module.split(".")[0] == "pandas" and hasattr(obj, "itertuples")


def is_table(data: Any) -> bool:
    """Whether ``data`` is a table whose encoding depends on the model's columns (a
    DataFrame, a :class:`Table`, or a CSV path)."""
    return isinstance(data, Table | os.PathLike) or _path_text(data) or is_dataframe(data)


def _rows(X: Any) -> list[list[Cell]]:
    if is_dataframe(X):
        return frame_split(X)[1]
    if hasattr(X, "tolist"):
        X = X.tolist()
    return [[clean_cell(v) for v in row] for row in X]


def _labels(y: Any) -> list[Cell]:
    if hasattr(y, "tolist"):
        y = y.tolist()
    return [clean_cell(v) for v in y]


def frame_split(frame: Any) -> tuple[list[str], list[list[Cell]]]:
    """A DataFrame's column names and rows of JSON cells (index dropped)."""
    columns = [str(c) for c in frame.columns]
    rows = [[clean_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return columns, rows


def _split_doc(columns: list[str], rows: list[list[Cell]]) -> dict[str, Any]:
    return {"columns": columns, "data": rows}


def _is_xy(data: Any) -> bool:
    return isinstance(data, tuple | list) and len(data) == 2 and not isinstance(data[0], str)


def _table_knobs(
    label: str | None,
    task: str | None,
    name: str | None,
    categorical: Sequence[str] | None,
    ignore: Sequence[str] | None,
) -> dict[str, Any]:
    knobs: dict[str, Any] = {"label": label, "task": task, "name": name}
    knobs["categorical"] = list(categorical) if categorical else None
    knobs["ignore"] = list(ignore) if ignore else None
    return {k: v for k, v in knobs.items() if v is not None}


def upload_payload(
    data: Any,
    *,
    label: str | None = None,
    task: str | None = None,
    name: str | None = None,
    categorical: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
) -> Payload:
    """The body of ``POST /v1/datasets`` for ``data``: a CSV path or CSV bytes (``text/csv``
    with the knobs as query parameters), a DataFrame or split dict (the JSON split form; the
    label defaults to the last column), or an ``(X, y)`` pair (JSON ``X`` + ``y``)."""
    knobs = _table_knobs(label, task, name, categorical, ignore)
    if isinstance(data, str | os.PathLike | bytes):
        content = data if isinstance(data, bytes) else Path(data).read_bytes()
        params = {k: ",".join(v) if isinstance(v, list) else v for k, v in knobs.items()}
        return Payload(content=content, content_type="text/csv", params=params)
    if is_dataframe(data):
        columns, rows = frame_split(data)
        return Payload(json=_with_label(_split_doc(columns, rows), knobs))
    if isinstance(data, Table):
        return Payload(
            json=_with_label(_split_doc(data.columns, data.cells(categorical or ())), knobs)
        )
    if isinstance(data, Mapping) and "columns" in data:
        return Payload(json=_with_label(dict(data), knobs))
    if isinstance(data, Mapping) and "X" in data:
        doc = {"X": _rows(data["X"]), "y": _labels(data["y"])}
        return Payload(json={**doc, **_xy_knobs(knobs)})
    if _is_xy(data):
        doc = {"X": _rows(data[0]), "y": _labels(data[1])}
        return Payload(json={**doc, **_xy_knobs(knobs)})
    raise TypeError(
        "upload takes a DataFrame, a CSV path, an (X, y) pair or a split-form dict, "
        f"not {type(data).__name__}"
    )


def _xy_knobs(knobs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in knobs.items() if k in ("task", "name")}


def _with_label(doc: dict[str, Any], knobs: dict[str, Any]) -> dict[str, Any]:
    merged = {**doc, **knobs}
    if "label" not in merged and merged.get("columns"):
        merged["label"] = merged["columns"][-1]
    merged["data"] = [[clean_cell(v) for v in row] for row in merged.get("data", [])]
    return merged


def _model_columns(model: Mapping[str, Any]) -> tuple[list[str] | None, set[str]]:
    """The model's feature names (None for a model without ``features``) and its categorical
    ones."""
    features = model.get("features")
    if not isinstance(features, list):
        return None, set()
    names = [str(f.get("name")) for f in features if isinstance(f, Mapping)]
    categorical = {
        str(f.get("name"))
        for f in features
        if isinstance(f, Mapping) and f.get("type") == "categorical"
    }
    return names, categorical


def _path_text(data: Any) -> bool:
    """A string that can only be a file path: resource ids are ``[A-Za-z0-9_-]`` only, so a
    ``.`` or a ``/`` marks a path (``"new.csv"``, ``"data/rows.csv"``)."""
    return isinstance(data, str) and any(mark in data for mark in "./\\")


def predict_payload(data: Any, model: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``/predict`` for ``data`` and the model document ``model``.

    Tables (DataFrame, :class:`Table`) go in the split form when the model knows its columns
    (the model's label column, if present, is dropped), else as positional ``X``; lists of
    dicts as ``instances``; arrays and lists of rows as ``X``; ready bodies as they are. A CSV
    file is given as a path (a ``Path``, or a ``str`` with a ``.`` or ``/``)."""
    if isinstance(data, os.PathLike) or _path_text(data):
        data = read_csv(data)
    names, categorical = _model_columns(model)
    label = model.get("label") if isinstance(model.get("label"), str) else None
    if isinstance(data, Table):
        table = data.without(label)
        cells = table.cells(categorical)
        return _split_doc(table.columns, cells) if names is not None else {"X": cells}
    if is_dataframe(data):
        columns, rows = frame_split(data)
        if names is None:
            return {"X": rows}
        if label in columns:
            j = columns.index(label)
            columns = columns[:j] + columns[j + 1 :]
            rows = [row[:j] + row[j + 1 :] for row in rows]
        return _split_doc(columns, rows)
    if isinstance(data, Mapping):
        if not {"X", "instances", "columns"} & set(data):
            raise TypeError("a dict to predict on needs 'X', 'instances' or 'columns' + 'data'")
        return _cleaned(dict(data))
    items: list[Any] = data.tolist() if hasattr(data, "tolist") else list(data)
    if items and all(isinstance(item, Mapping) for item in items):
        return {"instances": [{str(k): clean_cell(v) for k, v in i.items()} for i in items]}
    return {"X": _rows(items)}


def _cleaned(doc: dict[str, Any]) -> dict[str, Any]:
    if "X" in doc:
        doc["X"] = _rows(doc["X"])
    if "data" in doc:
        doc["data"] = [[clean_cell(v) for v in row] for row in doc["data"]]
    if "instances" in doc:
        doc["instances"] = [{k: clean_cell(v) for k, v in r.items()} for r in doc["instances"]]
    return doc


def evaluate_payload(data: Any, label: str | None) -> dict[str, Any]:
    """The body of ``/evaluate``: a dataset (an object with ``id``, or ``{"dataset_id"}``),
    a table (DataFrame, :class:`Table`, split dict; ``label`` names its label column), or an
    ``(X, y)`` pair; a CSV file as a path (``Path``, or a ``str`` with a ``.`` or ``/``: a
    bare ``str`` is a dataset id)."""
    if isinstance(data, str) and not _path_text(data):
        return {"dataset_id": data}
    if isinstance(data, os.PathLike | str):
        data = read_csv(data)
    dataset_id = getattr(data, "id", None)
    if isinstance(dataset_id, str):
        return {"dataset_id": dataset_id}
    if _is_xy(data):
        return {"X": _rows(data[0]), "y": _labels(data[1])}
    if isinstance(data, Table):
        doc = _split_doc(data.columns, data.cells())
    elif is_dataframe(data):
        doc = _split_doc(*frame_split(data))
    elif isinstance(data, Mapping):
        doc = _cleaned(dict(data))
        if "columns" not in doc:
            return doc
    else:
        raise TypeError(
            "evaluate takes a dataset, a DataFrame, a CSV table or an (X, y) pair, "
            f"not {type(data).__name__}"
        )
    if label is None and "label" not in doc:
        raise ValueError("evaluating a table needs its label column (the model names none)")
    if label is not None:
        doc["label"] = label
    return doc
