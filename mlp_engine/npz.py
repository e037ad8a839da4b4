"""Low-level ``.npz`` (zip of ``.npy``) writing and untrusting reading, knowing nothing of models.

Writing: stored (not deflated) members with a fixed timestamp, so the same arrays give the same
bytes. Reading never unpickles and never allocates before checking: ``check_end_records`` bounds
the central directory before ``zipfile`` parses it, ``index_members`` checks every member's name
and declared size, and ``read_npy`` checks an array's header (magic string, header length,
dtype, shape) before reading exactly the bytes it declares. Every problem raises
``ModelFormatError`` naming the member, never a file-system path.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from typing import IO, Any, BinaryIO, TypeVar

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import NDArray

from .errors import ModelFormatError

__all__ = [
    "MAX_CENTRAL_DIRECTORY_BYTES",
    "MAX_HEADER_BYTES",
    "check_end_records",
    "index_members",
    "read_archive",
    "read_npy",
    "short",
    "write_members",
]

MAX_HEADER_BYTES = 10_000  # numpy's own default ``max_header_size``
MAX_CENTRAL_DIRECTORY_BYTES = 2**20

_READ_CHUNK = 2**20
_NPY_MAGIC_LEN = 8
_ZIP64_LIMIT = 2**31 - 1
_FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)

# End-of-central-directory records (APPNOTE 4.3.14-4.3.16).
_EOCD_SIG = b"PK\x05\x06"
_EOCD_LEN = 22
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_LOCATOR_LEN = 20
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_ZIP64_EOCD_LEN = 56

T = TypeVar("T")


def write_members(fp: BinaryIO, members: Sequence[tuple[str, NDArray[Any]]]) -> None:
    """Write ``members`` as stored ``.npy`` zip entries with fixed timestamps."""
    with zipfile.ZipFile(fp, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in members:
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            big = arr.nbytes + MAX_HEADER_BYTES > _ZIP64_LIMIT
            with zf.open(info, mode="w", force_zip64=big) as member:
                npy_format.write_array(member, arr, allow_pickle=False)


def read_archive(fp: BinaryIO, max_members: int, read: Callable[[zipfile.ZipFile], T]) -> T:
    """Open ``fp`` as a zip archive of at most ``max_members`` members and run ``read`` on it.

    Every low-level failure (I/O, zip, zlib, struct, numpy header parsing) becomes a
    ``ModelFormatError`` whose message never holds a file name.
    """
    try:
        check_end_records(fp, max_members)
        with zipfile.ZipFile(fp) as zf:
            return read(zf)
    except ModelFormatError:
        raise
    except OSError as exc:  # includes I/O errors while reading; never echo a file name
        reason = exc.strerror or type(exc).__name__
        raise ModelFormatError(f"model file could not be read: {reason}") from exc
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        struct.error,
        NotImplementedError,
        RuntimeError,
        ValueError,
        OverflowError,
    ) as exc:
        raise ModelFormatError(
            f"not a valid model file (a zip archive of .npy members): {short(exc, 200)}"
        ) from exc


def check_end_records(fp: BinaryIO, max_members: int) -> None:
    """Refuse an archive whose central directory is too large before ``zipfile`` parses it.

    ``zipfile`` reads the whole central directory and builds one object per entry, so a small
    file could otherwise make it allocate far more than its own size. This finds the
    end-of-central-directory record (and the ZIP64 one, if any) the way ``zipfile`` does.
    """
    fp.seek(0, os.SEEK_END)
    size = fp.tell()
    if size < _EOCD_LEN:
        raise ModelFormatError(f"not a zip archive: only {size} bytes")
    tail_len = min(size, _EOCD_LEN + 0xFFFF + _ZIP64_LOCATOR_LEN + _ZIP64_EOCD_LEN)
    fp.seek(size - tail_len)
    tail = fp.read(tail_len)
    fp.seek(0)
    if tail[-_EOCD_LEN:][:4] == _EOCD_SIG and tail[-2:] == b"\0\0":
        pos = len(tail) - _EOCD_LEN  # no archive comment: what zipfile tries first
    else:
        pos = tail.rfind(_EOCD_SIG)
    if pos < 0 or len(tail) - pos < _EOCD_LEN:
        raise ModelFormatError("not a zip archive: no end-of-central-directory record")
    fields = struct.unpack("<4s4H2LH", tail[pos : pos + _EOCD_LEN])
    entries, directory_bytes = int(fields[4]), int(fields[5])
    locator = pos - _ZIP64_LOCATOR_LEN
    record = locator - _ZIP64_EOCD_LEN
    if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR_SIG and record >= 0:
        zip64 = struct.unpack("<4sQ2H2L4Q", tail[record:locator])
        if zip64[0] == _ZIP64_EOCD_SIG:
            entries, directory_bytes = int(zip64[7]), int(zip64[8])
    if entries > max_members or directory_bytes > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ModelFormatError(
            f"archive declares {entries} members in a {directory_bytes}-byte directory; "
            f"a model file has at most {max_members} members"
        )


def index_members(
    zf: zipfile.ZipFile, names: re.Pattern[str], max_member_bytes: int, max_total_bytes: int
) -> dict[str, zipfile.ZipInfo]:
    """Map key (``"W0"`` for ``W0.npy``) to zip entry; refuse names not matching ``names``,
    duplicates, encryption, exotic compression and declared sizes over the limits."""
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in zf.infolist():
        if not names.fullmatch(info.filename):
            raise ModelFormatError(f"unexpected member {short(info.filename)}")
        key = info.filename.removesuffix(".npy")
        if key in members:
            raise ModelFormatError(f"duplicate member {key!r}")
        members[key] = info
        if info.flag_bits & 0x1:
            raise ModelFormatError(f"member {key!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFormatError(f"member {key!r} uses an unsupported compression method")
        if info.file_size > max_member_bytes:
            raise ModelFormatError(
                f"member {key!r} declares {info.file_size} bytes, "
                f"above the limit of {max_member_bytes}"
            )
        total += info.file_size
        if total > max_total_bytes:
            raise ModelFormatError(
                f"members declare more than {max_total_bytes} bytes in total (the limit)"
            )
    return members


def read_npy(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    key: str,
    dtypes: tuple[np.dtype[Any], ...],
    max_bytes: int,
    shape: tuple[int, ...] | None,
    max_text_chars: int = 0,
    origin: str = "config 'layers'",
) -> NDArray[Any]:
    """Read one ``.npy`` member after checking its header; never more bytes than it declares.

    ``shape`` is the exact shape required (``origin`` says where it comes from), or None for
    any 1-D array (the config). Unicode is accepted too when ``max_text_chars > 0`` (see
    ``_check_dtype``). Returns a native-endian,
    C-contiguous array of one of ``dtypes``.
    """
    with zf.open(info) as raw:
        found_shape, fortran_order, dtype, header_size = read_npy_header(raw, key)
        dtype = _check_dtype(dtype, key, dtypes, max_text_chars)
        if shape is not None and found_shape != shape:
            raise ModelFormatError(
                f"member {key!r} has shape {short(found_shape)}, expected {shape} from {origin}"
            )
        if shape is None and (len(found_shape) != 1 or found_shape[0] < 0):
            raise ModelFormatError(f"member {key!r} must be 1-D, got shape {short(found_shape)}")
        n_bytes = math.prod(found_shape) * dtype.itemsize
        holds = info.file_size - header_size
        if n_bytes > max_bytes:
            raise ModelFormatError(
                f"member {key!r} declares {n_bytes} bytes of data, above the limit of {max_bytes}"
            )
        if n_bytes != holds:
            raise ModelFormatError(
                f"member {key!r} declares {n_bytes} bytes of data but holds {max(holds, 0)}"
            )
        buffer = np.empty(n_bytes, dtype=np.uint8)
        _read_into(raw, buffer, key)
        if raw.read(1):
            raise ModelFormatError(f"member {key!r} has data past its declared size")
    arr = buffer.view(dtype)
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    arr = arr.reshape(found_shape, order="F" if fortran_order else "C")
    return np.array(arr, order="C", copy=not arr.flags.c_contiguous)  # keeps 0-d arrays 0-d


def read_npy_header(raw: IO[bytes], key: str) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """Read and parse a ``.npy`` header (versions 1.0 and 2.0) of bounded length.

    Returns ``(shape, fortran_order, dtype, header_size)``, ``header_size`` counting the magic
    string and length field. The length is checked before the header text is read, and only
    those bytes reach numpy's parser.
    """
    try:
        version = npy_format.read_magic(raw)
    except ValueError as exc:
        raise ModelFormatError(f"member {key!r} is not a .npy array (bad magic string)") from exc
    if version not in ((1, 0), (2, 0)):
        raise ModelFormatError(f"member {key!r} uses unsupported .npy version {version}")
    length_format = "<H" if version == (1, 0) else "<I"
    length_bytes = _read_exact(raw, struct.calcsize(length_format), key)
    header_len = int(struct.unpack(length_format, length_bytes)[0])
    if header_len > MAX_HEADER_BYTES:
        raise ModelFormatError(f"member {key!r} has a {header_len}-byte .npy header (too long)")
    header = _read_exact(raw, header_len, key)
    parse = (
        npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    )
    try:
        shape, fortran_order, dtype = parse(
            io.BytesIO(length_bytes + header), max_header_size=MAX_HEADER_BYTES
        )
    except Exception as exc:  # any failure to parse untrusted header text means "invalid"
        raise ModelFormatError(f"member {key!r} has an invalid .npy header") from exc
    header_size = _NPY_MAGIC_LEN + len(length_bytes) + header_len
    return tuple(shape), bool(fortran_order), dtype, header_size


def _check_dtype(
    dtype: np.dtype[Any], key: str, allowed: tuple[np.dtype[Any], ...], max_text_chars: int
) -> np.dtype[Any]:
    """Refuse object, structured and unexpected dtypes; return ``dtype`` (any byte order).

    Unicode (``U``) is allowed with 1 to ``max_text_chars`` characters when ``max_text_chars``
    is positive.
    """
    if dtype.hasobject:
        raise ModelFormatError(
            f"member {key!r} holds Python objects (dtype object); pickled data is never loaded"
        )
    if dtype.fields is not None or dtype.subdtype is not None:
        raise ModelFormatError(f"member {key!r} has a structured dtype {short(dtype.descr)}")
    if max_text_chars > 0 and dtype.kind == "U":
        if not 1 <= dtype.itemsize // 4 <= max_text_chars:
            raise ModelFormatError(
                f"member {key!r} has dtype {dtype}: text of 1 to {max_text_chars} characters"
            )
        return dtype
    if dtype.newbyteorder("=") not in allowed:
        names = "/".join(str(d) for d in allowed) or "unicode text"
        raise ModelFormatError(f"member {key!r} has dtype {dtype}, expected {names}")
    return dtype


def _read_exact(raw: IO[bytes], n: int, key: str) -> bytes:
    """Read exactly ``n`` bytes (``n`` is small: a header) or raise."""
    data = bytearray()
    while len(data) < n:
        chunk = raw.read(n - len(data))
        if not chunk:
            raise ModelFormatError(f"member {key!r} is truncated")
        data += chunk
    return bytes(data)


def _read_into(raw: IO[bytes], out: NDArray[np.uint8], key: str) -> None:
    """Fill ``out`` from ``raw`` in bounded chunks or raise if the member ends early."""
    pos = 0
    while pos < out.size:
        chunk = raw.read(min(_READ_CHUNK, out.size - pos))
        if not chunk:
            raise ModelFormatError(f"member {key!r} is truncated")
        out[pos : pos + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        pos += len(chunk)


def short(value: object, limit: int = 80) -> str:
    """``repr``/``str`` of untrusted values, cut to ``limit`` characters for messages."""
    text = str(value) if isinstance(value, BaseException) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
