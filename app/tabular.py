"""Tables for the service: CSV bytes or pandas' JSON split form -> typed NumPy columns.

Pure (NumPy + stdlib). Errors are :class:`app.errors.InvalidInput` whose ``loc`` names the
column, e.g. ``("body", "columns", "island")``, or the knob: ``("query", "label")`` for CSV,
``("body", "label")`` for JSON. Rules (API.md "Tables"), with the choices made here:

- A header row is required; names are stripped, non-empty and unique. Blank lines are skipped; a
  line of commas is a row of missing cells. ASCII whitespace around cells is stripped.
- Missing: ``MISSING_TOKENS`` in CSV; ``null``, a blank string or a float NaN in JSON.
- A column whose present cells are all finite numbers is numeric (float64, NaN = missing); any
  other is categorical (NumPy unicode, ``""`` = missing): ``inf``, ``1_000``, ``0x10`` make a
  column categorical, as in pandas. ``categorical=`` forces, ``ignore=`` drops columns.
- JSON booleans are the categories ``"true"``/``"false"`` (never numbers); JSON numbers in a
  categorical column are their text, an integral float as an integer: see :func:`cell_text`.
- ``label`` defaults to the last column; rows without a label are left out and counted.
- ``task`` None: classification if the label is categorical, or integral with at most
  ``min(MAX_INFERRED_CLASSES, max(2, n_rows // 2))`` distinct values; else regression.
  Classification labels: int64 if numeric and integral, else float64, or str. Regression
  labels: float64; a label that is not a finite number is a 422 naming its row.
- Limits (422s naming them): ``max_rows`` data rows (``MLP_MAX_ROWS``; before rows without a
  label are left out), ``max_columns`` besides the label (``MLP_MAX_FEATURES``; ignored ones
  count), ``MAX_CELL_BYTES`` per cell, ``MAX_TEXT_BYTES`` for all categorical arrays (4 bytes
  per character of the longest value).

Speed: CSV is split by vectorised NumPy over the bytes, no Python object per cell, and plain
decimals parsed the same way; only quoted fields holding a comma, quote or line break send the
file through the ``csv`` module (same results, several times slower). The header is checked
before the rows are split, and they are split ``PIECE_BYTES`` at a time, so a file of 10,000
columns or 16M rows is refused without allocating ~20x its size. A one-column header holding
``;``, a tab or ``|`` is a 422 saying the CSV must be comma-separated.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from app.csv_cells import MISSING_TOKENS, bytes_column, missing_bytes, without_quotes
from app.errors import InvalidInput

__all__ = ["MISSING_TOKENS", "ParsedTable", "cell_text", "features_of", "parse_csv", "parse_split"]

Task = Literal["classification", "regression"]
Loc = tuple[str | int, ...]

MAX_INFERRED_CLASSES = 20
MAX_CELL_BYTES = 1000
MAX_TEXT_BYTES = 2**30

_ASCII_SPACE = " \t\n\r\x0b\x0c"
_IS_SPACE = np.zeros(256, dtype=bool)
_IS_SPACE[list(_ASCII_SPACE.encode())] = True
_COMMA, _NEWLINE, _LF = ord(","), ord("\n"), b"\n"
_JSON_CELL = (str, int, float, type(None))  # bool is an int
_EXACT_INT = 2**53  # integers beyond this are not all exact in a float64
_NOT_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")
PIECE_BYTES = 4 * 2**20
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")
_BATCH_CELLS = 2**18  # quoted CSV: cells turned from Python strings to bytes at a time
"""CSV bytes split at a time (whole lines): bounds the split's offsets to ~80 MB."""


@dataclass(frozen=True)
class ParsedTable:
    """Feature columns (file order; ``(n_rows,)`` float64 or unicode) and ``y`` (``(n_rows,)``)
    of the ``n_rows`` rows that have a label."""

    columns: dict[str, np.ndarray]
    y: np.ndarray
    label: str
    task: Task
    features: list[dict[str, Any]]
    rows_without_label: int
    n_rows: int


@dataclass(frozen=True)
class _Options:
    label: str | None
    task: str | None
    categorical: tuple[str, ...]
    ignore: tuple[str, ...]
    max_rows: int
    max_columns: int
    source: str  # where the knobs came from: "query" (CSV) or "body" (JSON)


@dataclass(frozen=True)
class _Layout:
    """The label, the kept features (header order) and the forced-categorical names."""

    label: str
    features: list[str]
    categorical: frozenset[str]


# --- Public entry points ----------------------------------------------------------------------


def parse_csv(
    data: bytes,
    *,
    label: str | None,
    task: Task | None,
    categorical: Sequence[str] = (),
    ignore: Sequence[str] = (),
    max_rows: int,
    max_columns: int,
) -> ParsedTable:
    """Parse CSV bytes (UTF-8, optional BOM; LF, CRLF or bare CR line endings)."""
    opts = _Options(label, task, tuple(categorical), tuple(ignore), max_rows, max_columns, "query")
    header, raw, lines = _read_csv(data, opts)
    layout = _layout(header, opts)
    keep = ~missing_bytes(raw[header.index(layout.label)])
    every = bool(keep.all())

    def convert(j: int, name: str, kept_rows: np.ndarray) -> np.ndarray:
        cells = raw[j] if every else raw[j][kept_rows]
        return bytes_column(cells, force_text=name in layout.categorical)

    return _build(header, layout, opts, keep, convert, lambda i: f"data row {i} (line {lines[i]})")


def parse_split(
    columns: list[str],
    data: list[list[object]],
    *,
    label: str | None,
    task: Task | None,
    categorical: Sequence[str] = (),
    ignore: Sequence[str] = (),
    max_rows: int,
    max_columns: int,
) -> ParsedTable:
    """Parse pandas' JSON split form: ``columns`` names, ``data`` rows of cells."""
    opts = _Options(label, task, tuple(categorical), tuple(ignore), max_rows, max_columns, "body")
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
        raise InvalidInput(("body", "columns"), "columns must be a list of names (strings)")
    header = [name.strip(_ASCII_SPACE) for name in columns]
    _check_names(header, opts)
    layout = _layout(header, opts)
    by_column = _split_columns(data, header, opts)
    keep = np.array([cell_text(c) != "" for c in by_column[header.index(layout.label)]], dtype=bool)
    every = bool(keep.all())

    def convert(j: int, name: str, kept_rows: np.ndarray) -> np.ndarray:
        cells = by_column[j] if every else [by_column[j][i] for i in kept_rows.tolist()]
        return _json_column(name, cells, name in layout.categorical)

    return _build(header, layout, opts, keep, convert, "data[{}]".format)


def features_of(columns: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """``[{"name", "type", "missing", "categories"?}]`` for float64 / unicode columns."""
    features: list[dict[str, Any]] = []
    for name, values in columns.items():
        numeric = values.dtype.kind == "f"
        present = ~np.isnan(values) if numeric else values != ""
        feature = {"name": name, "type": "numeric" if numeric else "categorical"}
        features.append(feature | {"missing": int(values.size - np.count_nonzero(present))})
        if not numeric:  # code-point order
            features[-1]["categories"] = np.unique(values[present]).tolist()
    return features


def cell_text(value: object) -> str:
    """A JSON cell as categorical text; ``""`` (missing) for null, NaN or a blank string.

    ``True`` -> ``"true"``, ``3`` and ``3.0`` -> ``"3"``, ``2.5`` -> ``"2.5"``, ``" a "`` -> ``"a"``
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < _EXACT_INT else repr(value)
    if isinstance(value, str):
        return value.strip(_ASCII_SPACE)
    return str(value)


# --- Header, options and the shared ending ----------------------------------------------------


def _layout(header: list[str], opts: _Options) -> _Layout:
    """Check the knobs against the header; the label defaults to the last column."""
    if opts.task not in (None, "classification", "regression"):
        raise InvalidInput(
            (opts.source, "task"), f"task must be classification or regression, got {opts.task!r}"
        )
    known = set(header)
    for knob in ("categorical", "ignore"):
        for name in getattr(opts, knob):
            if name not in known:
                raise InvalidInput((opts.source, knob), f"{knob} names {_show(name)}, not a column")
    label = header[-1] if opts.label is None else opts.label
    if label not in known:
        raise InvalidInput((opts.source, "label"), f"label column {_show(label)} is not a column")
    if label in opts.ignore:
        raise InvalidInput((opts.source, "ignore"), f"the label column {_show(label)} is ignored")
    features = [name for name in header if name != label and name not in opts.ignore]
    if not features:
        raise InvalidInput(("body", "columns"), "the table needs a feature besides the label")
    return _Layout(label, features, frozenset(opts.categorical))


def _check_names(names: list[str], opts: _Options) -> None:
    if len(names) - 1 > opts.max_columns:
        raise InvalidInput(
            ("body", "columns"),
            f"the table has {len(names) - 1} columns besides the label; "
            f"at most {opts.max_columns} (MLP_MAX_FEATURES) are allowed",
        )
    seen: set[str] = set()
    for j, name in enumerate(names):
        if not name:
            raise InvalidInput(("body", "columns", j), f"column {j} has an empty name")
        if name in seen:
            raise InvalidInput(("body", "columns", name), f"column {_show(name)} appears twice")
        seen.add(name)
    if len(names) < 2:
        raise InvalidInput(("body", "columns"), "the table needs a label and a feature column")


def _build(
    header: list[str],
    layout: _Layout,
    opts: _Options,
    keep: np.ndarray,
    convert: Callable[[int, str, np.ndarray], np.ndarray],
    where: Callable[[int], str],
) -> ParsedTable:
    """Convert the kept rows (``keep``: has a label) of every used column, settle the task.

    ``convert(j, name, kept_rows)``: column ``j``'s typed values; ``where(i)``: data row ``i``.
    """
    kept_rows = np.flatnonzero(keep)
    if kept_rows.size == 0:
        raise InvalidInput(
            ("body", "columns", layout.label),
            f"every row's label ({_show(layout.label)}) is missing",
        )
    columns: dict[str, np.ndarray] = {}
    text_bytes, used = 0, {*layout.features, layout.label}  # NumPy unicode: 4 bytes a character
    for j, name in enumerate(header):
        if name in used:
            values = columns[name] = convert(j, name, kept_rows)
            text_bytes += values.nbytes if values.dtype.kind == "U" else 0
            if text_bytes > MAX_TEXT_BYTES:
                limit = f"take over {MAX_TEXT_BYTES} bytes (MAX_TEXT_BYTES)"
                raise InvalidInput(
                    ("body", "columns", name), f"text columns to {_show(name)} {limit}"
                )
    label_values = columns.pop(layout.label)
    task = opts.task or _infer_task(label_values)
    if task == "regression":
        y = _regression_labels(label_values, layout, opts, lambda i: where(int(kept_rows[i])))
    else:
        y = _classification_labels(label_values)
    kind: Task = "regression" if task == "regression" else "classification"
    without_label = int(keep.size - kept_rows.size)
    return ParsedTable(columns, y, layout.label, kind, features_of(columns), without_label, y.size)


def _infer_task(values: np.ndarray) -> Task:
    if values.dtype.kind != "f":
        return "classification"
    if not np.all(values == np.round(values)):
        return "regression"
    few = min(MAX_INFERRED_CLASSES, max(2, values.size // 2))
    return "classification" if np.unique(values).size <= few else "regression"


def _classification_labels(values: np.ndarray) -> np.ndarray:
    integral = values.dtype.kind == "f" and np.all(values == np.round(values))
    if integral and np.all(np.abs(values) <= _EXACT_INT):
        return values.astype(np.int64)
    return values


def _regression_labels(
    values: np.ndarray, layout: _Layout, opts: _Options, where: Callable[[int], str]
) -> np.ndarray:
    if values.dtype.kind == "f":
        return values
    if layout.label in layout.categorical:
        raise InvalidInput(
            (opts.source, "categorical"),
            f"the label column {_show(layout.label)} cannot be categorical for regression",
        )
    for i, text in enumerate(values.tolist()):
        if not _is_finite_number(text):
            raise InvalidInput(
                ("body", "columns", layout.label),
                f"label column {_show(layout.label)} must hold finite numbers for regression; "
                f"{where(i)} has {_show(text, 40)}",
            )
    return values.astype(np.float64)  # e.g. JSON strings "2.5": text, but numbers all the same


def _is_finite_number(text: str) -> bool:
    try:
        return text.isascii() and "_" not in text and math.isfinite(float(text))
    except ValueError:
        return False


def _show(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# --- CSV: bytes -> header, raw cells per column -----------------------------------------------


def _read_csv(data: bytes, opts: _Options) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """Header, each column's stripped cells as a bytes array, each data row's line number."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte {exc.start} (line {data.count(_LF, 0, exc.start) + 1})"
            raise InvalidInput(("body",), f"the CSV must be UTF-8 text; {where} is not") from None
    if b"\x00" in data:
        line = data.count(_LF, 0, data.index(b"\x00")) + 1
        raise InvalidInput(("body",), f"the CSV contains a NUL byte (line {line})")
    if b'"' in data:
        unquoted = without_quotes(data)
        if unquoted is None:
            return _quoted_cells(data.decode("utf-8"), opts)
        data = unquoted
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return _plain_cells(data if data.endswith(b"\n") else data + b"\n", opts)


def _check_header(header: list[str], opts: _Options) -> None:
    """The names (count, empty, repeated), and a hint when the file is not comma-separated."""
    if len(header) == 1:
        for separator, said in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
            if separator in header[0]:
                raise InvalidInput(
                    ("body",),
                    f"the CSV must be comma-separated: its header row is one column, "
                    f"{_show(header[0])}, that holds the separator {said}",
                )
    _check_names(header, opts)


def _check_shape(header: list[str], n_data: int, opts: _Options) -> None:
    _check_header(header, opts)
    if n_data == 0:
        raise InvalidInput(("body",), "the CSV needs a header row and at least one data row")
    _check_rows(n_data, opts, ("body",))


def _check_rows(n_rows: int, opts: _Options, loc: Loc, *, counted: bool = True) -> None:
    """``counted``: ``n_rows`` are all the rows (else the rows read so far)."""
    if n_rows > opts.max_rows:
        limit = f"at most {opts.max_rows} (MLP_MAX_ROWS) are allowed"
        rows = f"{n_rows} rows" if counted else f"more than {opts.max_rows} rows"
        raise InvalidInput(loc, f"the table has {rows}; {limit}")


def _ragged(i: int, line: int, n_values: int, n_header: int) -> InvalidInput:
    message = f"CSV data row {i} (line {line}) has {n_values} values; the header has {n_header}"
    return InvalidInput(("body", "data", i), message)


def _too_long(name: str, where: str) -> InvalidInput:
    limit = f"{MAX_CELL_BYTES} bytes (MAX_CELL_BYTES)"
    return InvalidInput(("body", "columns", name), f"column {_show(name)}: {where} is over {limit}")


def _plain_cells(data: bytes, opts: _Options) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """Split quote-free CSV bytes ending in a newline with vectorised NumPy (no str per cell).

    The header is read and checked first, then the rows a piece of about ``PIECE_BYTES`` at a
    time (their offsets cost 8 bytes a cell: 40 bytes a cell in all, a piece at a time), so
    the row cap is met early and a refused file costs little more than its own bytes.
    """
    header, body_start, n_lines = _plain_header(data)
    _check_header(header, opts)
    pieces: list[list[np.ndarray]] = []
    line_parts: list[np.ndarray] = []
    n_rows = 0
    while body_start < len(data):
        end = data.find(_LF, min(body_start + PIECE_BYTES, len(data)) - 1) + 1
        piece = data[body_start:end]
        split = _split_piece(piece, header, n_lines, n_rows)
        if split is not None:
            n_rows += split[1].size
            _check_rows(n_rows, opts, ("body",), counted=end == len(data))
            pieces.append(split[0])
            line_parts.append(split[1])
        n_lines += piece.count(_LF)
        body_start = end
    if n_rows == 0:
        raise InvalidInput(("body",), "the CSV needs a header row and at least one data row")
    if len(pieces) == 1:
        return header, pieces[0], line_parts[0]
    columns = [np.concatenate([piece[j] for piece in pieces]) for j in range(len(header))]
    return header, columns, np.concatenate(line_parts)


def _plain_header(data: bytes) -> tuple[list[str], int, int]:
    """The first line that is not blank, split at commas; where the rows start; and the
    number of lines up to there (so the next line is ``n_lines + 1``)."""
    found = _NOT_SPACE.search(data)
    if found is None:
        raise InvalidInput(("body",), "the CSV is empty; it needs a header row")
    start = data.rfind(_LF, 0, found.start()) + 1
    end = data.index(_LF, found.start())
    header = [name.strip(_ASCII_SPACE) for name in data[start:end].decode().split(",")]
    return header, end + 1, data.count(_LF, 0, end + 1)


def _split_piece(
    piece: bytes, header: list[str], n_lines: int, n_rows: int
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """The cells of ``piece`` (whole lines after ``n_lines`` lines and ``n_rows`` data rows)
    as each column's stripped bytes, and each row's line number; None if every line is blank.
    """
    windows = _windows(piece)
    buf = windows[:, 0]  # the piece and one NUL
    seps = np.flatnonzero((buf == _COMMA) | (buf == _NEWLINE))
    is_newline = buf[seps] == _NEWLINE
    starts = np.empty_like(seps)
    starts[0], starts[1:] = 0, seps[:-1] + 1
    line_of = np.cumsum(is_newline) - is_newline  # the 0-based line of every cell
    per_line = np.bincount(line_of)
    blank = _blank_lines(piece, per_line, starts, seps)
    kept = np.flatnonzero(~blank)
    if kept.size == 0:
        return None
    bad = np.flatnonzero(per_line[kept] != len(header))
    if bad.size:
        i = int(bad[0])
        line, n_values = n_lines + int(kept[i]) + 1, int(per_line[kept[i]])
        raise _ragged(n_rows + i, line, n_values, len(header))
    if blank.any():
        cells = ~blank[line_of]
        starts, seps = starts[cells], seps[cells]
    by_row = starts.reshape(-1, len(header)), seps.reshape(-1, len(header))
    lines = n_lines + kept + 1
    return _gather(windows, *by_row, header, lines, n_rows), lines


def _windows(data: bytes) -> np.ndarray:
    """``(len(data) + 1, W)`` view: row ``i`` is ``data[i:i + W]`` NUL-padded, W > MAX_CELL_BYTES"""
    padded = np.frombuffer(data + bytes(MAX_CELL_BYTES + 1), dtype=np.uint8)
    return np.lib.stride_tricks.sliding_window_view(padded, MAX_CELL_BYTES + 1)


def _blank_lines(data: bytes, count: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Lines (``count``: cells per line) whose one cell is blank; ``start``, ``end``: cells."""
    first_cell = np.cumsum(count) - count
    single = np.flatnonzero(count == 1)
    lengths = end[first_cell[single]] - start[first_cell[single]]
    blank = np.zeros(count.size, dtype=bool)
    blank[single[lengths == 0]] = True
    for line in single[lengths > 0].tolist():  # stop at the first real one: that is an error
        cell = int(first_cell[line])
        if data[start[cell] : end[cell]].strip(_ASCII_SPACE.encode()):
            break
        blank[line] = True
    return blank


def _gather(
    windows: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    header: list[str],
    lines: np.ndarray,
    first_row: int = 0,
) -> list[np.ndarray]:
    """Each column's cells ``buf[start:end]`` as a fixed-width bytes array, whitespace stripped.

    ``starts``, ``ends``: ``(n_rows, n_columns)`` offsets in the buffer of ``windows`` (_windows);
    ``lines``: each row's line number; ``first_row``: the data row number of the first row.
    """
    lengths = ends - starts
    widths = np.maximum(lengths.max(axis=0), 1).tolist()
    columns = []
    for j, width in enumerate(widths):
        if width > MAX_CELL_BYTES:
            i = int(np.argmax(lengths[:, j]))
            raise _too_long(header[j], f"data row {first_row + i} (line {lines[i]})")
        block = windows[starts[:, j], :width]  # (n_rows, width) copy
        block *= np.arange(width) < lengths[:, j, None]  # zero the bytes past each cell
        cells = block.view(f"S{width}")[:, 0]
        last = block[np.arange(block.shape[0]), np.maximum(lengths[:, j] - 1, 0)]
        if np.any(_IS_SPACE[block[:, 0]]) or np.any(_IS_SPACE[last]):
            cells = np.strings.strip(cells)  # only when some cell needs it
        columns.append(cells)
    return columns


def _quoted_cells(text: str, opts: _Options) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """The ``csv`` module's reading of a file that uses quotes, as in :func:`_plain_cells`: the
    header is checked first, and the rows are counted and turned into bytes cells a batch of
    ``_BATCH_CELLS`` at a time (a Python string per cell costs ~50 bytes)."""
    # Lines as io.StringIO(text, newline="") gives them (CR, LF and CRLF), but one at a time:
    # a StringIO holds a second copy of the text at 4 bytes a character.
    reader = csv.reader(line.group() for line in _LINE.finditer(text))
    header: list[str] | None = None
    batch: list[list[str]] = []
    lines: list[int] = []
    pieces: list[list[np.ndarray]] = []
    try:
        for row in reader:
            if not (len(row) > 1 or (row and row[0].strip(_ASCII_SPACE))):
                continue  # a blank line
            if header is None:
                header = [name.strip(_ASCII_SPACE) for name in row]
                _check_header(header, opts)
                continue
            if len(row) != len(header):
                raise _ragged(len(lines), reader.line_num, len(row), len(header))
            batch.append(row)
            lines.append(reader.line_num)
            _check_rows(len(lines), opts, ("body",), counted=False)
            if len(batch) * len(header) >= _BATCH_CELLS:
                pieces.append(_batch_cells(batch, header, lines))
                batch = []
    except csv.Error as exc:
        message = f"the CSV is malformed at line {reader.line_num}: {exc}"
        raise InvalidInput(("body",), message) from None
    if header is None:
        raise InvalidInput(("body",), "the CSV is empty; it needs a header row")
    _check_shape(header, len(lines), opts)
    if batch:
        pieces.append(_batch_cells(batch, header, lines))
    columns = [np.concatenate([piece[j] for piece in pieces]) for j in range(len(header))]
    return header, columns, np.array(lines, dtype=np.int64)


def _batch_cells(batch: list[list[str]], header: list[str], lines: list[int]) -> list[np.ndarray]:
    """The last ``len(batch)`` rows read (``lines``: every row's line so far) as bytes cells."""
    first_row = len(lines) - len(batch)
    # One buffer of NUL-terminated cells, row after row (no cell holds a NUL: checked before)
    cells = ("\x00".join(map("\x00".join, batch)) + "\x00").encode()
    ends = np.flatnonzero(np.frombuffer(cells, dtype=np.uint8) == 0).reshape(-1, len(header))
    starts = np.concatenate(([0], ends.ravel()[:-1] + 1)).reshape(ends.shape)
    line_numbers = np.array(lines[first_row:], dtype=np.int64)
    return _gather(_windows(cells), starts, ends, header, line_numbers, first_row)


# --- JSON split form --------------------------------------------------------------------------


def _split_columns(data: object, header: list[str], opts: _Options) -> list[tuple[object, ...]]:
    """The cells of ``data`` column by column, once its rows and cell types are checked."""
    if not isinstance(data, list) or not data:
        raise InvalidInput(("body", "data"), "data must be a non-empty list of rows")
    _check_rows(len(data), opts, ("body", "data"))
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(header):
            got = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
            message = f"data[{i}] must be a list of {len(header)} cells, one per column; got {got}"
            raise InvalidInput(("body", "data", i), message)
    by_column = list(zip(*data, strict=True))
    for j, cells in enumerate(by_column):
        if not all(issubclass(kind, _JSON_CELL) for kind in set(map(type, cells))):
            i = next(i for i, cell in enumerate(cells) if not isinstance(cell, _JSON_CELL))
            kinds = "a number, a string, a boolean or null"
            message = f"data[{i}][{j}] (column {_show(header[j])}) must be {kinds}"
            raise InvalidInput(("body", "data", i, j), message)
    return by_column


def _json_column(name: str, cells: Sequence[object], force_text: bool) -> np.ndarray:
    """JSON cells -> float64 (NaN = missing) or unicode (``""`` = missing); see the module doc."""
    kinds = set(map(type, cells)) - {type(None)}  # per kind, not per cell: fast
    if not force_text and all(issubclass(k, int | float) and k is not bool for k in kinds):
        try:
            values = np.array(cells, dtype=np.float64)  # None -> NaN
        except OverflowError:  # an integer beyond float64
            values = None
        if values is not None and not np.isinf(values).any():
            return values
    texts = [cell if isinstance(cell, str) else cell_text(cell) for cell in cells]
    if len(max(texts, key=len).encode()) > MAX_CELL_BYTES:  # before NumPy sizes an array by it
        raise _too_long(name, "a cell")
    return np.strings.strip(np.array(texts, dtype=np.str_), _ASCII_SPACE)  # as cell_text does
