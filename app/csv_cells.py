"""CSV helpers of :mod:`app.tabular` in vectorised NumPy: the quotes R and Excel put around
whole fields taken off without the ``csv`` module, and stripped bytes cells -> float64 (NaN =
missing) or unicode (``""`` = missing); :mod:`app.tabular` states the rules."""

from __future__ import annotations

import numpy as np

__all__ = ["MISSING_TOKENS", "bytes_column", "missing_bytes", "without_quotes"]

MISSING_TOKENS: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "null", "None", "?")

_MISSING_BYTES = tuple(token.encode() for token in MISSING_TOKENS)
_POWERS_OF_TEN = 10.0 ** np.arange(16)  # all exact in float64
_PROBE = 256  # cells tried first: a text column fails there, before the full parse
_PIECE_BYTES = 4 * 2**20  # quotes are checked this many bytes of whole lines at a time
_IS_SEP = np.zeros(256, dtype=bool)
_IS_SEP[list(b",\n\r")] = True


def missing_bytes(cells: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: which stripped bytes cells are missing tokens."""
    missing: np.ndarray = cells == _MISSING_BYTES[0]
    for token in _MISSING_BYTES[1:]:
        missing |= cells == token
    return missing


def bytes_column(cells: np.ndarray, *, force_text: bool) -> np.ndarray:
    """Stripped CSV cells (bytes array) -> float64 (NaN = missing) or unicode (``""``)."""
    values = None if force_text else _numbers(cells)
    if values is not None:
        return values
    distinct = np.sort(np.unique(cells, sorted=False))  # hashing, then sorting the few: faster
    inverse = np.searchsorted(distinct, cells)
    texts = ["" if cell in _MISSING_BYTES else cell.decode() for cell in distinct.tolist()]
    return np.array(texts, dtype=np.str_)[inverse]


def _numbers(cells: np.ndarray) -> np.ndarray | None:
    """``(n,)`` float64 (NaN = missing) if every present cell is a finite number, else None."""
    probe = cells[:_PROBE]  # a text column fails here, before the full parse
    try:
        probe[~missing_bytes(probe)].astype(np.float64)
    except ValueError:
        return None
    values, plain = _decimals(cells)
    rest = np.flatnonzero(~plain)
    if rest.size:
        missing = missing_bytes(cells[rest])
        others = cells[rest[~missing]]
        octets = others.view(np.uint8)
        if np.any((octets >= 128) | (octets == ord("_"))):  # Python's float takes "1_0", "١"
            return None
        try:
            parsed = others.astype(np.float64)  # NumPy's cast: Python's float per cell
        except ValueError:
            return None
        if not np.isfinite(parsed).all():
            return None
        values[rest[missing]] = np.nan
        values[rest[~missing]] = parsed
    return values


def _decimals(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse cells of the form ``-?[0-9]*.?[0-9]*`` (1 to 15 digits) exactly, in vectorised NumPy.

    Returns ``values`` and ``plain`` (both ``(n,)``): ``values[i]`` is only meaningful where
    ``plain[i]``. An integer below 2**53 divided by an exact power of ten is correctly rounded,
    so this equals ``float(cell)`` bit for bit, at about half the cost of NumPy's cast.
    """
    n, block = cells.size, cells.view(np.uint8).reshape(cells.size, -1)
    by_position = np.ascontiguousarray(block[:, :17].T)  # (<= 17, n): "-" + 15 digits + "."
    mantissa = np.zeros(n, dtype=np.int64)
    scale = np.zeros(n, dtype=np.int16)  # digits after the dot
    digits = np.zeros(n, dtype=np.int16)
    after_dot = np.zeros(n, dtype=bool)
    plain = ~block[:, 17:].any(axis=1)  # longer cells are not plain
    negative = by_position[0] == ord("-")
    for k, byte in enumerate(by_position):
        digit = byte - np.uint8(ord("0"))
        is_digit = digit < 10
        mantissa *= np.where(is_digit, 10, 1)  # (ufuncs with where= are slower here)
        mantissa += digit * is_digit
        scale += is_digit & after_dot
        is_dot = byte == ord(".")
        plain &= ~(is_dot & after_dot)
        after_dot |= is_dot
        digits += is_digit
        ok = is_digit | is_dot | (byte == 0)
        plain &= (ok | negative) if k == 0 else ok
    plain &= (digits >= 1) & (digits <= 15)
    values = mantissa / _POWERS_OF_TEN[np.minimum(scale, 15)]
    values[negative] *= -1.0
    return values, plain


def without_quotes(data: bytes) -> bytes | None:
    """``data`` minus its quotes if every quote opens or closes a field that holds no separator
    or quote (as R and Excel quote text): the csv module's cells, faster. Else None.

    Checked ``_PIECE_BYTES`` of whole lines at a time (such a field never spans a line)."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", min(start + _PIECE_BYTES, len(data)) - 1) + 1 or len(data)
        if not _quoted_whole(data[start:end]):
            return None
        start = end
    return data.translate(None, b'"')


def _quoted_whole(piece: bytes) -> bool:
    """Whether every quote of ``piece`` (whole lines) opens or closes a field without a
    separator or quote inside."""
    buf = np.frombuffer(b"\n" + piece + b"\n", dtype=np.uint8)
    quotes = np.flatnonzero(buf == ord('"'))
    opens, closes = quotes[::2], quotes[1::2]
    if quotes.size % 2 or not (_IS_SEP[buf[opens - 1]].all() and _IS_SEP[buf[closes + 1]].all()):
        return False
    seps = np.flatnonzero(_IS_SEP[buf])
    first_after = seps[np.searchsorted(seps, opens)]  # must be the one just after the closing
    return not np.any(first_after != closes + 1)
