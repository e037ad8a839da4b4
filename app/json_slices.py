"""Parse a large JSON object in slices, so no single call holds the GIL for long.

``orjson.loads`` of a ~60 MiB body is one C call of about a second: the GIL is held all along,
and every other thread (the event loop: ``/health``, every other request) waits that long.
:func:`loads` returns exactly ``orjson.loads(body)`` (the same objects, the same float64s:
orjson parses every number and string itself), but for a body larger than two slices it parses
each large top-level array (``X``, ``y``, ``data``...) in pieces of about ``slice_bytes`` split at
its element boundaries, and the rest of the object around them. Between two pieces the thread
runs Python code again, where the interpreter hands the GIL over to a waiting thread (after
``sys.getswitchinterval()``, 5 ms): the longest hold is one piece (~1 MiB, ~10 ms). The cyclic
collector is paused meanwhile (:func:`gc_paused`): its full collections over the growing
document are long holds of their own (one still follows, ~0.1 s for 100,000 rows).

The element boundaries are found on the bytes with NumPy, 1 MiB at a time: the commas and
brackets outside strings (a quote counts unless an odd run of backslashes escapes it), and the
depth at each. Whatever the scan does not recognise (not an object at the top, nesting deeper
than 64, duplicate top-level keys, a piece orjson refuses) falls back to one ``orjson.loads`` of
the whole body, so malformed bodies raise exactly what they raised before. Valid pieces imply a
valid whole: each piece is ``[`` + a run of elements + ``]``, and the whole array is those runs
joined by the commas between them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import orjson

__all__ = ["SLICE_BYTES", "gc_paused", "loads", "slice_plan"]

SLICE_BYTES = 1 << 20  # ~7 ms of orjson on numeric rows (2 cores, busy machine: ~15 ms)
_MAX_DEPTH = 64  # deeper bodies take the one-call path (orjson's own depth limit applies)
_OPENS = np.zeros(256, dtype=np.int8)
_OPENS[list(b"[{")] = 1
_OPENS[list(b"]}")] = -1


@dataclass(frozen=True)
class _Array:
    """A large top-level array: its ``[`` and ``]`` offsets, its index among the object's
    values, and the offsets of the commas where it is cut."""

    start: int
    end: int
    index: int
    cuts: tuple[int, ...]


def loads(body: bytes, slice_bytes: int | None = None) -> Any:
    """``orjson.loads(body)``, large top-level arrays parsed ``slice_bytes`` (default
    ``SLICE_BYTES``) at a time; a body of at most two slices in one call, as before. Raises
    ``orjson.JSONDecodeError`` as one call does."""
    slice_bytes = slice_bytes or SLICE_BYTES
    if len(body) <= 2 * slice_bytes:
        return orjson.loads(body)
    plan = slice_plan(body, slice_bytes)
    if plan is None:
        return orjson.loads(body)
    try:
        with gc_paused():
            return _assemble(body, *plan)
    except orjson.JSONDecodeError:
        return orjson.loads(body)  # raises what one call raises (or parses what the scan missed)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off while a large document is built (then as it was). As 100,000
    row lists accumulate it would run several full collections over them, each one call holding
    the GIL ~0.1 s; paused, one such collection follows instead (the rows hold no cycles, but
    the collector does not know that until it has walked them)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def slice_plan(body: bytes, slice_bytes: int) -> tuple[int, list[_Array]] | None:
    """``(number of top-level values, the arrays to cut)`` of a JSON object; None when the body
    is not an object the scan understands or has no array worth cutting. Scans ``slice_bytes``
    at a time and keeps one cut per step (the first comma between two elements of a top-level
    value): the memory used is a few arrays of one step's size."""
    if body.lstrip()[:1] != b"{":
        return None
    raw = np.frombuffer(body, dtype=np.uint8)
    quotes = _string_quotes(raw, slice_bytes)
    starts, ends, top_commas, cuts = [], [], [], []
    depth = 0
    for lo in range(0, len(raw), slice_bytes):
        at = _positions(raw, lo, slice_bytes, b"[]{},")
        at = at[(np.searchsorted(quotes, at) & 1) == 0]  # outside strings
        if not len(at):
            continue
        chars = raw[at]
        depths = depth + np.cumsum(_OPENS[chars], dtype=np.int64)
        depth = int(depths[-1])
        if depths.max() > _MAX_DEPTH or depths.min() < 0:
            return None
        is_comma = chars == ord(",")
        starts.append(at[(chars == ord("[")) & (depths == 2)])
        ends.append(at[(chars == ord("]")) & (depths == 1)])
        top_commas.append(at[is_comma & (depths == 1)])
        cuts.append(at[is_comma & (depths == 2)][:1])
    if not starts or depth != 0:
        return None
    opened, closed = np.concatenate(starts), np.concatenate(ends)
    tops, commas = np.concatenate(top_commas), np.concatenate(cuts)
    if len(opened) != len(closed):
        return None
    arrays = []
    for start, end in zip(opened.tolist(), closed.tolist(), strict=True):
        inside = commas[np.searchsorted(commas, start) : np.searchsorted(commas, end)]
        if end - start > slice_bytes and len(inside):
            index = int(np.searchsorted(tops, start))
            arrays.append(_Array(start, end, index, tuple(inside.tolist())))
    return (len(tops) + 1, arrays) if arrays else None


def _positions(raw: np.ndarray, lo: int, size: int, wanted: bytes) -> np.ndarray:
    """Offsets in ``raw[lo : lo + size]`` of the bytes in ``wanted`` (absolute offsets).
    Comparisons, not a table lookup: a gather per byte is 2x slower than a few SIMD compares."""
    window = raw[lo : lo + size]
    found = window == wanted[0]
    for byte in wanted[1:]:
        found |= window == byte
    return np.flatnonzero(found) + lo


def _string_quotes(raw: np.ndarray, step: int) -> np.ndarray:
    """The offsets of the quotes that open or close strings (not escaped by a backslash)."""
    quotes = np.concatenate([_positions(raw, lo, step, b'"') for lo in range(0, len(raw), step)])
    slashes = np.concatenate([_positions(raw, lo, step, b"\\") for lo in range(0, len(raw), step)])
    if not len(slashes):
        return quotes
    # The run of backslashes right before each quote: odd = the quote is escaped.
    run_start = np.ones(len(slashes), dtype=bool)
    run_start[1:] = np.diff(slashes) != 1
    first = np.maximum.accumulate(np.where(run_start, np.arange(len(slashes)), 0))
    last = np.maximum(np.searchsorted(slashes, quotes) - 1, 0)  # the last backslash before
    run = np.where(slashes[last] == quotes - 1, last - first[last] + 1, 0)
    unescaped: np.ndarray = quotes[(run & 1) == 0]
    return unescaped


def _assemble(body: bytes, values: int, arrays: list[_Array]) -> Any:
    """The object with each cut array emptied, parsed; then each array parsed piece by piece
    into its place (the same key order as one parse)."""
    parts, previous = [], 0
    for array in arrays:
        parts.append(body[previous : array.start + 1])
        previous = array.end
    parts.append(body[previous:])
    doc = orjson.loads(b"".join(parts))
    if not isinstance(doc, dict) or len(doc) != values:  # duplicate keys: not ours to merge
        raise orjson.JSONDecodeError("sliced parse does not apply", "", 0)
    keys = list(doc)
    for array in arrays:
        key = keys[array.index]
        if doc[key] != []:
            raise orjson.JSONDecodeError("sliced parse does not apply", "", 0)
        items: list[Any] = []
        bounds = (array.start, *array.cuts, array.end)
        for lo, hi in pairwise(bounds):
            items.extend(orjson.loads(b"[" + body[lo + 1 : hi] + b"]"))
        doc[key] = items
    return doc
