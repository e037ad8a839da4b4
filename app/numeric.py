"""Fast JSON <-> NumPy helpers for large numeric bodies.

Request bodies such as ``{"X": [[...], ...]}`` are parsed with orjson and turned straight into a
``float64`` array (no per-element pydantic validation); responses go out through orjson, which
serialises NumPy arrays natively. Errors are :class:`app.errors.InvalidInput` naming the element.
"""

from __future__ import annotations

import json
import math
import re
from itertools import chain
from typing import Any

import numpy as np
import orjson
from starlette.responses import JSONResponse

from app import json_slices
from app.errors import InvalidInput, field_name

__all__ = [
    "Loc",
    "ORJSONResponse",
    "as_labels",
    "as_matrix",
    "check_finite",
    "check_unicode",
    "dumps",
    "loads",
    "release",
]

Loc = tuple[str | int, ...]

_FLOAT_LIMIT = 2**1024  # integers at least this large do not fit a float64
# Matrices up to this many numbers are checked in plain Python (a one-row predict): cheaper than
# NumPy's per-call costs at that size.
_SMALL_MATRIX = 64
# Longer lists of rows become arrays this many rows at a time: one np.asarray of 100,000 rows
# of 30 values holds the GIL ~0.2 s; a slice ~10 ms (issue 18 finding 3).
SLICE_ROWS = 4096
_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
# json.loads joins a surrogate pair into one character, so any surrogate left is a lone one.
_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(body: bytes) -> Any:
    """Parse a JSON body with orjson; malformed JSON is a 422 naming the request body.

    orjson refuses ``NaN``/``Infinity`` literals (and integers beyond 64 bits) for the whole
    document. On that (error) path the body is parsed again by the standard library, which
    accepts them, so the caller's finiteness check can name the element, e.g. ``X[3][1]``:
    callers must check every number they use (``as_matrix``, ``as_labels``, ``check_finite``).
    A large body is parsed in slices (:func:`app.json_slices.loads`: the same document, the GIL
    handed over between slices); a small one in one call, as before.
    """
    try:
        if len(body) <= 2 * json_slices.SLICE_BYTES:
            return orjson.loads(body)
        return json_slices.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput(("body",), f"request body is not valid JSON: {reason}") from None
    check_unicode(doc)
    return doc


def check_unicode(doc: Any, loc: Loc = ("body",)) -> None:
    """422 naming the first string (value or key) in ``doc`` holding a lone surrogate.

    ``"\\ud800"`` is valid JSON syntax but no character: orjson refuses it, the standard library
    lets it through, and then every write or echo of that text fails (a 500). Call this on
    documents the standard library parsed (orjson's own output never holds one).
    """
    stack: list[tuple[Loc, Any]] = [(loc, doc)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise InvalidInput(where, _LONE_SURROGATE)
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    raise InvalidInput((*where, printable(key)), _LONE_SURROGATE)
                stack.append(((*where, key), item))
        elif isinstance(value, list):
            stack.extend(((*where, i), item) for i, item in enumerate(value))


_LONE_SURROGATE = (
    "text must be valid Unicode: a lone surrogate escape (\\ud800-\\udfff without its pair) "
    "is not a character"
)


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes, so it can be encoded."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def dumps(content: Any) -> bytes:
    """Serialise ``content`` (dicts, lists, NumPy arrays and scalars, datetimes) to JSON bytes."""
    return orjson.dumps(content, default=_default, option=_ORJSON_OPTIONS)


def _default(value: Any) -> Any:
    # orjson handles numeric/bool arrays; string label arrays and numpy strings go through here.
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


class ORJSONResponse(JSONResponse):  # a JSONResponse, so OpenAPI documents its model
    """A JSON response rendered by orjson with native NumPy support (not ``jsonable_encoder``)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def check_finite(array: np.ndarray, loc: Loc) -> None:
    """Raise a 422 naming the first NaN/Infinity element of a numeric 1-D or 2-D array."""
    # A finite sum proves every element finite (NaN and +-Infinity propagate): one reduction,
    # no boolean temporary. Only a non-finite sum (bad input, or an overflowing sum of large
    # finite values) pays for the element-wise search.
    if array.dtype.kind != "f" or math.isfinite(array.sum()):
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    index = tuple(int(i) for i in np.argwhere(~finite)[0])
    name = field_name((*loc, *index))
    raise InvalidInput((*loc, *index), f"{name} must be a finite number, got {float(array[index])}")


def as_matrix(
    value: Any,
    loc: Loc,
    *,
    max_rows: int,
    n_features: int | None = None,
    max_features: int | None = None,
    raw: bytes | None = None,
) -> np.ndarray:
    """Turn parsed JSON into a finite ``float64`` array of shape (n_rows, n_features).

    Accepts only a non-empty list of equally long lists of JSON numbers (no strings, booleans or
    nulls). ``raw`` is the request body the value came from: when it cannot hold a ``true`` or
    ``false`` literal the booleans check is skipped (NumPy would silently turn ``true`` into 1.0).
    Every failure is a 422 whose message names the offending element, e.g. ``X[3][1]``.
    """
    if not isinstance(value, list) or not value:
        name = field_name(loc)
        raise InvalidInput(loc, f"{name} must be a non-empty list of rows (lists of numbers)")
    if len(value) > max_rows:
        name = field_name(loc)
        raise InvalidInput(loc, f"{name} has {len(value)} rows; at most {max_rows} are allowed")
    array = _small_matrix(value)  # a few rows: checked in Python, finite already
    checked = array is not None
    if array is None:
        array = _parsed_matrix(value, loc, raw)
    width = array.shape[1]
    problem = None
    if n_features is not None and width != n_features:
        problem = f"rows have {width} features; the model expects {n_features}"
    elif max_features is not None and width > max_features:
        problem = f"rows have {width} features; at most {max_features} are allowed"
    elif width == 0:
        problem = "rows must hold at least one number"
    if problem is not None:
        raise InvalidInput(loc, f"{field_name(loc)} {problem}")
    if not checked:
        check_finite(array, loc)
    return array


def _parsed_matrix(value: list[Any], loc: Loc, raw: bytes | None) -> np.ndarray:
    """A non-empty list of rows as a C-contiguous float64 matrix (finiteness not checked yet);
    a 422 naming the first malformed element."""
    # Only a ``true``/``false`` literal (or a key or string) puts a "t" or an "f" in the body:
    # JSON numbers are digits, signs, "." and "e"/"E". One-byte searches run at memory speed,
    # far faster than searching for the words; a body that has these letters for another
    # reason merely takes the careful path.
    may_hold_bools = raw is None or b"t" in raw or b"f" in raw
    array: np.ndarray | None = None
    if not may_hold_bools:
        array = _numbers_only(value, raw) if raw is not None else None
        if array is None:
            try:
                array = _sliced_asarray(value)
            except (ValueError, TypeError):
                array = None  # ragged or odd: diagnosed below
    if array is None or array.ndim != 2 or array.dtype.kind not in "iuf":
        _diagnose(value, loc)  # always raises for bad input
        array = _sliced_asarray(value, np.float64)  # well-formed after all
    return np.ascontiguousarray(array, dtype=np.float64)


def release(doc: Any) -> None:
    """Empty the long lists of a parsed document (``X``'s 100,000 rows) ``SLICE_ROWS`` items at
    a time, once they are converted: freeing them whole is one call of ~0.1 s that holds the
    GIL (3M floats). ``doc``: a list, or a dict whose list values are emptied; lists of at most
    ``SLICE_ROWS`` items are left as they are (cheap to free, and maybe still in use)."""
    values = doc.values() if isinstance(doc, dict) else [doc]
    for items in values:
        if isinstance(items, list) and len(items) > SLICE_ROWS:
            while items:
                del items[-SLICE_ROWS:]


def _sliced_asarray(rows: list[Any], dtype: type[np.float64] | None = None) -> np.ndarray:
    """``np.asarray(rows, dtype)``, ``SLICE_ROWS`` rows per call (the GIL can change hands
    between calls). Slices whose types differ (ints, floats) concatenate to float64 as the
    whole would; a width that changes between slices raises ``ValueError`` as ragged rows do."""
    if len(rows) <= SLICE_ROWS:
        return np.asarray(rows, dtype=dtype)
    parts = [
        np.asarray(rows[i : i + SLICE_ROWS], dtype=dtype) for i in range(0, len(rows), SLICE_ROWS)
    ]
    if len({part.shape[1:] for part in parts}) != 1:
        raise ValueError("rows of different lengths")
    return np.concatenate(parts)


def _small_matrix(rows: list[Any]) -> np.ndarray | None:
    """``rows`` as a finite float64 matrix when they are a few equally long lists of finite
    ``int``/``float`` (``bool`` is not one: the type is checked exactly); else None (the
    general path decides and names any bad element)."""
    first = rows[0]
    if type(first) is not list or not first or len(rows) * len(first) > _SMALL_MATRIX:
        return None
    width = len(first)
    for row in rows:
        if type(row) is not list or len(row) != width:
            return None
        for item in row:
            kind = type(item)
            if kind is float:
                if not math.isfinite(item):
                    return None
            elif kind is not int or not -_FLOAT_LIMIT < item < _FLOAT_LIMIT:
                return None
    try:
        return np.array(rows, dtype=np.float64)
    except OverflowError:  # an integer just below 2**1024 that rounds up to it
        return None


def _numbers_only(rows: list[Any], raw: bytes) -> np.ndarray | None:
    """``rows`` as a float64 matrix when ``raw`` (its body) holds no string but the one key, no
    boolean (the caller checked) and no null, and every row is a list of the same length; else
    None (``as_matrix`` decides).

    ``np.fromiter`` over the flattened rows is 2.5x faster than ``np.asarray`` on the nested
    lists (no shape and type discovery). It would silently turn a numeric string into a number
    and null into NaN, hence the quote count and the "n" test; anything else it cannot convert
    (a nested list, an integer beyond float64) raises, and the careful path names the element.
    """
    width = len(rows[0]) if type(rows[0]) is list else 0
    if width == 0 or b"n" in raw or raw.count(b'"') != 2:
        return None
    try:
        if set(map(len, rows)) != {width}:
            return None
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=len(rows) * width)
    except (TypeError, ValueError, OverflowError):
        return None
    return flat.reshape(len(rows), width)


def _diagnose(value: list[Any], loc: Loc) -> None:
    """Walk a nested list and raise for its first malformed element (slow path, errors only)."""
    width: int | None = None
    for i, row in enumerate(value):
        if not isinstance(row, list):
            raise InvalidInput((*loc, i), f"{field_name((*loc, i))} must be a list of numbers")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise InvalidInput(
                (*loc, i),
                f"{field_name((*loc, i))} has {len(row)} values; row 0 has {width} "
                "(all rows must have the same length)",
            )
        for j, item in enumerate(row):
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise InvalidInput(
                    (*loc, i, j),
                    f"{field_name((*loc, i, j))} must be a number, got {_json_type(item)}",
                )
            if isinstance(item, int) and not _fits_float(item):
                raise InvalidInput(
                    (*loc, i, j),
                    f"{field_name((*loc, i, j))} must be a finite number (it overflows float64)",
                )


def _fits_float(item: int) -> bool:
    """Whether an integer converts to a finite float64 (2**1024 - 1 rounds up to infinity)."""
    try:
        float(item)
    except OverflowError:
        return False
    return True


def as_labels(value: Any, loc: Loc, *, n_rows: int) -> np.ndarray:
    """Turn a JSON list of labels into a 1-D array: int64, float64 or a unicode ``U`` array.

    Labels must all be numbers or all be strings (422 naming the first offender otherwise).
    """
    name = field_name(loc)
    if not isinstance(value, list):
        raise InvalidInput(loc, f"{name} must be a list of labels")
    if len(value) != n_rows:
        raise InvalidInput(loc, f"{name} has {len(value)} labels; X has {n_rows} rows")
    if not value:
        raise InvalidInput(loc, f"{name} must not be empty")
    want_str = isinstance(value[0], str)
    for i, item in enumerate(value):
        ok = isinstance(item, str) if want_str else _is_number(item)
        if not ok:
            kind = "a string like y[0]" if want_str else "a number like y[0]"
            raise InvalidInput(
                (*loc, i), f"{field_name((*loc, i))} must be {kind}, got {_json_type(item)}"
            )
        if not want_str and isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise InvalidInput(
                (*loc, i), f"{field_name((*loc, i))} is too large an integer (64-bit at most)"
            )
    if want_str:
        return np.asarray(value, dtype=str)
    array = np.asarray(value)
    if array.dtype.kind == "f":
        check_finite(array, loc)
    return array


def _is_number(item: Any) -> bool:
    return not isinstance(item, bool) and isinstance(item, int | float)


def _json_type(item: Any) -> str:
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "a boolean"
    if isinstance(item, str):
        return "a string"
    if isinstance(item, list):
        return "a list"
    if isinstance(item, dict):
        return "an object"
    return type(item).__name__
