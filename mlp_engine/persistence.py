"""Model files: one ``.npz`` per model, written atomically and durably, loaded without trust.

File layout (``FORMAT_VERSION = 1``): a zip archive of ``.npy`` members, every member *stored*
(not deflated), in this order::

    W0.npy, b0.npy, ..., W{L-1}.npy, b{L-1}.npy, config.npy

- ``W{i}``: weights, shape ``(layers[i], layers[i + 1])``, float32 or float64;
- ``b{i}``: biases, shape ``(layers[i + 1],)``, the same dtype as every weight;
- ``config``: a 1-D uint8 array holding UTF-8 JSON: the caller's config object plus
  ``"layers"`` and ``"format_version"``.

Members are stored rather than deflated because trained weights are close to random bits
(deflate saves a few percent at a real CPU cost), and because a stored member's declared size is
its size on disk, so size limits are simple to reason about. The loader accepts deflated members
too, so files written by ``np.savez_compressed`` elsewhere load. Every zip entry carries a fixed
timestamp, so saving the same model twice gives byte-identical files. ``np.load`` can read the
files (with ``allow_pickle=False``).

Loading never unpickles and never allocates before checking: the end-of-central-directory record
is checked before ``zipfile`` parses the directory, every member's name and declared size are
checked before any member is read, the config is read first, and every array header (magic
string, header length, dtype, shape) is checked against the config's ``layers`` before the data
is read with exact-length bounded reads. Every problem raises ``ModelFormatError`` naming the
member or key, never a file-system path.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import re
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import NDArray

from .errors import ModelFormatError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# remove_stale_temp_files spares temp files younger than this: their writer may be between
# creating the file and locking it (microseconds), and a crash leftover is older by then.
_CREATION_GRACE_SECONDS = 0.25

__all__ = [
    "FORMAT_VERSION",
    "MAX_CONFIG_BYTES",
    "MAX_LAYERS",
    "TEMP_PREFIX",
    "load_model_file",
    "remove_stale_temp_files",
    "save_model_file",
    "write_atomic",
]

FORMAT_VERSION = 1
TEMP_PREFIX = ".tmp-"
MAX_CONFIG_BYTES = 16 * 2**20  # JSON config (settings, metrics, history)
MAX_LAYERS = 1024  # weight matrices per model
MAX_HEADER_BYTES = 10_000  # numpy's own default ``max_header_size``
MAX_CENTRAL_DIRECTORY_BYTES = 2**20

_MAX_MEMBERS = 2 * MAX_LAYERS + 1
_READ_CHUNK = 2**20
_NPY_MAGIC_LEN = 8
_ZIP64_LIMIT = 2**31 - 1
_FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_CONFIG_DTYPES = (np.dtype(np.uint8),)
_MEMBER_NAME = re.compile(r"(?:[Wb](?:0|[1-9][0-9]{0,5})|config)\.npy")

# End-of-central-directory records (APPNOTE 4.3.14-4.3.16).
_EOCD_SIG = b"PK\x05\x06"
_EOCD_LEN = 22
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_LOCATOR_LEN = 20
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_ZIP64_EOCD_LEN = 56

FloatArray = NDArray[np.floating[Any]]
PathOrFile = str | os.PathLike[str] | BinaryIO


# --------------------------------------------------------------------------------------- saving


def save_model_file(
    target: PathOrFile,
    weights: Sequence[NDArray[Any]],
    biases: Sequence[NDArray[Any]],
    config: Mapping[str, Any],
) -> None:
    """Write one model file; atomically and durably when ``target`` is a path.

    Args:
        target: a path (written with :func:`write_atomic`) or a writable binary file object
            (written from its current position; the caller owns atomicity then).
        weights: ``L`` arrays, ``weights[i]`` of shape ``(layers[i], layers[i + 1])``.
        biases: ``L`` arrays, ``biases[i]`` of shape ``(layers[i + 1],)``.
        config: a JSON-serialisable mapping (numpy scalars and arrays are converted to Python
            numbers and lists; NaN and infinity are refused so the JSON stays standard). Its
            ``"layers"`` key, if present, must match the arrays; if absent it is added.
            ``"format_version"`` is always set to ``FORMAT_VERSION``.

    Raises:
        ModelFormatError: the arrays do not chain, mix dtypes, are not float32/float64 or not
            finite, or the config cannot be stored as JSON. Nothing is written then.
    """
    members = _checked_members(weights, biases)
    layers = [int(members[0][1].shape[0])] + [int(w.shape[1]) for _, w in members[::2]]
    config_bytes = _config_to_json(config, layers)
    members.append(("config", np.frombuffer(config_bytes, dtype=np.uint8)))

    def write(fp: BinaryIO) -> None:
        _write_npz(fp, members)

    if isinstance(target, str | os.PathLike):
        write_atomic(target, write)
    else:
        write(target)


def _checked_members(
    weights: Sequence[NDArray[Any]], biases: Sequence[NDArray[Any]]
) -> list[tuple[str, NDArray[Any]]]:
    """Validate the arrays to save; return ``[("W0", W0), ("b0", b0), ...]`` C-contiguous."""
    if len(weights) == 0 or len(weights) != len(biases):
        raise ModelFormatError(
            f"need one bias vector per weight matrix and at least one layer, "
            f"got {len(weights)} weights and {len(biases)} biases"
        )
    if len(weights) > MAX_LAYERS:
        raise ModelFormatError(f"at most {MAX_LAYERS} layers can be saved, got {len(weights)}")
    members: list[tuple[str, NDArray[Any]]] = []
    dtype: np.dtype[Any] | None = None
    for i, (w_raw, b_raw) in enumerate(zip(weights, biases, strict=True)):
        w, b = np.asarray(w_raw), np.asarray(b_raw)
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise ModelFormatError(f"W{i} must be a non-empty 2-D array, got shape {w.shape}")
        if i > 0 and w.shape[0] != members[-1][1].shape[0]:
            raise ModelFormatError(
                f"W{i} has shape {w.shape} but W{i - 1} has shape {members[-2][1].shape}: "
                f"layer shapes do not chain"
            )
        if b.shape != (w.shape[1],):
            raise ModelFormatError(f"b{i} has shape {b.shape}, expected ({w.shape[1]},)")
        for key, arr in ((f"W{i}", w), (f"b{i}", b)):
            if arr.dtype not in _FLOAT_DTYPES:
                raise ModelFormatError(f"{key} has dtype {arr.dtype}, expected float32 or float64")
            if dtype is not None and arr.dtype != dtype:
                raise ModelFormatError(f"{key} has dtype {arr.dtype} but W0 has {dtype}")
            dtype = arr.dtype
            if not np.isfinite(arr).all():
                raise ModelFormatError(f"{key} contains non-finite values (NaN or infinity)")
            members.append((key, np.ascontiguousarray(arr)))
    return members


def _json_default(obj: object) -> Any:
    """Convert numpy scalars and arrays for ``json.dumps``; refuse anything else."""
    if isinstance(obj, np.ndarray | np.generic):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _config_to_json(config: Mapping[str, Any], layers: list[int]) -> bytes:
    """Serialise ``config`` plus ``layers`` and ``format_version`` as UTF-8 JSON bytes."""
    if not isinstance(config, Mapping):
        raise ModelFormatError(f"config must be a mapping, got {type(config).__name__}")
    doc = dict(config)
    try:
        if "layers" in doc:
            given = json.loads(json.dumps(doc["layers"], default=_json_default))
            if given != layers:
                raise ModelFormatError(
                    f"config key 'layers' is {_short(given)} but the arrays give {layers}"
                )
        doc["layers"] = layers
        doc["format_version"] = FORMAT_VERSION
        text = json.dumps(
            doc, allow_nan=False, default=_json_default, ensure_ascii=False, separators=(",", ":")
        )
        data = text.encode("utf-8")  # UnicodeEncodeError (a ValueError) on lone surrogates
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, ModelFormatError):
            raise
        raise ModelFormatError(f"config cannot be stored as JSON: {_short(exc, 200)}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelFormatError(
            f"config is {len(data)} bytes of JSON, above the limit of {MAX_CONFIG_BYTES}"
        )
    return data


def _write_npz(fp: BinaryIO, members: Sequence[tuple[str, NDArray[Any]]]) -> None:
    """Write ``members`` as stored ``.npy`` zip entries with fixed timestamps."""
    with zipfile.ZipFile(fp, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in members:
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            big = arr.nbytes + MAX_HEADER_BYTES > _ZIP64_LIMIT
            with zf.open(info, mode="w", force_zip64=big) as member:
                npy_format.write_array(member, arr, allow_pickle=False)


def write_atomic(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Create or replace the file at ``path`` with what ``write`` writes, atomically and durably.

    ``write`` gets a binary file object opened on a new temporary file in the same directory
    (name ``.tmp-XXXXXXXX``, mode 0600). After it returns, the file is flushed, ``fsync``-ed and
    renamed over ``path`` with ``os.replace``, then the directory is ``fsync``-ed so the rename
    itself survives a crash. On any error (including ``KeyboardInterrupt``) the temporary file is
    removed, the old ``path`` is untouched and the error propagates. A crash (``kill -9``,
    power loss) can leave a ``.tmp-*`` file behind, never a half-written ``path``: call
    :func:`remove_stale_temp_files` at start-up.
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    tmp = Path(tmp_name)
    try:
        # Held until the file is closed (or the process dies): tells remove_stale_temp_files in
        # another process that this temp file is being written, not left over from a crash.
        _lock(fd, blocking=True)
        with open(fd, "wb") as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op on Windows)."""
    if os.name == "nt":  # Windows cannot open a directory; NTFS journals the rename itself.
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # A few file systems refuse fsync on a directory; the data itself is already synced.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _lock(fd: int, *, blocking: bool) -> bool:
    """Take an exclusive ``flock`` on ``fd``; False if another process holds it (non-blocking).

    Where ``flock`` does not exist (Windows) every temp file counts as unlocked."""
    if fcntl is None:  # pragma: no cover - not POSIX
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def remove_stale_temp_files(
    directory: str | os.PathLike[str], *, min_age_seconds: float = _CREATION_GRACE_SECONDS
) -> list[Path]:
    """Delete the ``.tmp-*`` files :func:`write_atomic` left in ``directory`` after a crash.

    Safe while other live processes write to ``directory``: a writer holds an exclusive lock
    on its temp file until it is renamed, and the lock dies with the writer, so only files no
    process holds are removed. ``min_age_seconds`` (a fraction of a second by default) spares a
    file created so recently that its writer may not have locked it yet. Only regular files
    directly in ``directory`` are touched. Returns the removed paths, sorted; a missing directory
    gives ``[]``.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX) or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - entry.stat(follow_symlinks=False).st_mtime < min_age_seconds:
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                if not _lock(fd, blocking=False):
                    continue  # a live writer holds it
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            finally:
                os.close(fd)
    return sorted(removed)


# -------------------------------------------------------------------------------------- loading


def load_model_file(
    source: PathOrFile,
    *,
    max_member_bytes: int = 512 * 2**20,
    max_total_bytes: int = 1 * 2**30,
) -> tuple[list[FloatArray], list[FloatArray], dict[str, Any]]:
    """Read and fully validate a model file written by :func:`save_model_file`.

    Args:
        source: a path or a readable, seekable binary file object.
        max_member_bytes: the largest uncompressed size accepted for any one member.
        max_total_bytes: the largest uncompressed size accepted for all members together.

    Returns:
        ``(weights, biases, config)``: ``weights[i]`` of shape ``(layers[i], layers[i + 1])``,
        ``biases[i]`` of shape ``(layers[i + 1],)``, all one native-endian float dtype
        (float32 or float64), C-contiguous and writable; ``config`` is the JSON object as saved,
        with ``"layers"`` (a list of ints) and without ``"format_version"`` (checked, then
        removed).

    Raises:
        ModelFormatError: not a zip archive, truncated, unexpected/missing/duplicate members,
            sizes over the limits, a pickled/object/structured/integer/complex dtype, a shape that
            does not match ``config["layers"]``, non-finite values, a bad config or an
            unsupported format version. The message names the member or key.
        OSError: ``source`` is a path that cannot be opened.
        ValueError: a limit is not a positive integer.
    """
    for name, limit in (
        ("max_member_bytes", max_member_bytes),
        ("max_total_bytes", max_total_bytes),
    ):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"{name} must be a positive integer, got {limit!r}")
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fp:
            return _load(fp, max_member_bytes, max_total_bytes)
    return _load(source, max_member_bytes, max_total_bytes)


def _load(
    fp: BinaryIO, max_member_bytes: int, max_total_bytes: int
) -> tuple[list[FloatArray], list[FloatArray], dict[str, Any]]:
    """Open ``fp`` as a zip archive and load it; map every low-level failure to ModelFormatError."""
    try:
        _check_end_records(fp)
        with zipfile.ZipFile(fp) as zf:
            return _load_members(zf, max_member_bytes, max_total_bytes)
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
            f"not a valid model file (a zip archive of .npy members): {_short(exc, 200)}"
        ) from exc


def _check_end_records(fp: BinaryIO) -> None:
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
    if entries > _MAX_MEMBERS or directory_bytes > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ModelFormatError(
            f"archive declares {entries} members in a {directory_bytes}-byte directory; "
            f"a model file has at most {_MAX_MEMBERS} members"
        )


def _load_members(
    zf: zipfile.ZipFile, max_member_bytes: int, max_total_bytes: int
) -> tuple[list[FloatArray], list[FloatArray], dict[str, Any]]:
    """Check every member's name and declared size, then read config, weights and biases."""
    members = _index_members(zf, max_member_bytes, max_total_bytes)
    if "config" not in members:
        raise ModelFormatError("missing member 'config'")
    config = _read_config(zf, members.pop("config"), max_member_bytes)
    layers: list[int] = config["layers"]
    _check_keys(members, layers)
    weights: list[FloatArray] = []
    biases: list[FloatArray] = []
    for i in range(len(layers) - 1):
        for key, shape, out in (
            (f"W{i}", (layers[i], layers[i + 1]), weights),
            (f"b{i}", (layers[i + 1],), biases),
        ):
            arr = _read_npy(zf, members[key], key, _FLOAT_DTYPES, max_member_bytes, shape)
            if weights and arr.dtype != weights[0].dtype:
                raise ModelFormatError(
                    f"member {key!r} has dtype {arr.dtype} but W0 has {weights[0].dtype}"
                )
            if not np.isfinite(arr).all():
                raise ModelFormatError(
                    f"member {key!r} contains non-finite values (NaN or infinity)"
                )
            out.append(arr)
    return weights, biases, config


def _index_members(
    zf: zipfile.ZipFile, max_member_bytes: int, max_total_bytes: int
) -> dict[str, zipfile.ZipInfo]:
    """Map key (``"W0"``, ``"config"``) to zip entry; refuse odd names and declared sizes."""
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in zf.infolist():
        if not _MEMBER_NAME.fullmatch(info.filename):
            raise ModelFormatError(f"unexpected member {_short(info.filename)}")
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


def _check_keys(members: Mapping[str, zipfile.ZipInfo], layers: list[int]) -> None:
    """The array members must be exactly W0..W{L-1} and b0..b{L-1} for ``L = len(layers) - 1``."""
    n = len(layers) - 1
    expected = [f"{p}{i}" for i in range(n) for p in ("W", "b")]
    missing = [key for key in expected if key not in members]
    if missing:
        raise ModelFormatError(
            f"missing member {missing[0]!r} (config layers {_short(layers)} need "
            f"W0..W{n - 1} and b0..b{n - 1})"
        )
    extra = sorted(set(members) - set(expected))
    if extra:
        raise ModelFormatError(
            f"unexpected member {extra[0]!r} (config layers {_short(layers)} have {n} "
            f"weight matrices)"
        )


def _read_config(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_member_bytes: int
) -> dict[str, Any]:
    """Read the ``config`` member: UTF-8 JSON object with a supported format version and layers."""
    limit = min(max_member_bytes, MAX_CONFIG_BYTES)
    data = _read_npy(zf, info, "config", _CONFIG_DTYPES, limit, None).tobytes()
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise ModelFormatError("member 'config' is not valid UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise ModelFormatError(f"member 'config' is not valid JSON: {_short(exc, 120)}") from exc
    if not isinstance(doc, dict):
        raise ModelFormatError(f"member 'config' must hold a JSON object, got {type(doc).__name__}")
    version = doc.pop("format_version", None)
    if version is None:
        raise ModelFormatError("config key 'format_version' is missing")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFormatError(
            f"config key 'format_version' must be an integer, got {_short(version)}"
        )
    if version != FORMAT_VERSION:
        newer = " (written by a newer version)" if version > FORMAT_VERSION else ""
        raise ModelFormatError(
            f"config key 'format_version' is {version}{newer}; "
            f"this engine reads version {FORMAT_VERSION}"
        )
    _check_layers(doc.get("layers"))
    return doc


def _refuse_constant(name: str) -> Any:
    """``json.loads`` hook: refuse the non-standard constants NaN, Infinity and -Infinity."""
    raise ValueError(f"non-standard JSON constant {name}")


def _check_layers(layers: object) -> None:
    """``layers`` must be a list of 2..MAX_LAYERS + 1 positive ints."""
    if not isinstance(layers, list) or not 2 <= len(layers) <= MAX_LAYERS + 1:
        raise ModelFormatError(
            f"config key 'layers' must be a list of 2 to {MAX_LAYERS + 1} positive integers, "
            f"got {_short(layers)}"
        )
    for i, units in enumerate(layers):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ModelFormatError(
                f"config key 'layers'[{i}] must be a positive integer, got {_short(units)}"
            )


def _read_npy(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    key: str,
    dtypes: tuple[np.dtype[Any], ...],
    max_bytes: int,
    shape: tuple[int, ...] | None,
) -> NDArray[Any]:
    """Read one ``.npy`` member after checking its header; never more bytes than it declares.

    ``shape`` is the exact shape required, or None for any 1-D array (the config).
    Returns a native-endian, C-contiguous array of one of ``dtypes``.
    """
    with zf.open(info) as raw:
        found_shape, fortran_order, dtype, header_size = _read_npy_header(raw, key)
        dtype = _check_dtype(dtype, key, dtypes)
        if shape is not None and found_shape != shape:
            raise ModelFormatError(
                f"member {key!r} has shape {_short(found_shape)}, expected {shape} "
                f"from config 'layers'"
            )
        if shape is None and (len(found_shape) != 1 or found_shape[0] < 0):
            raise ModelFormatError(f"member {key!r} must be 1-D, got shape {_short(found_shape)}")
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
    return np.ascontiguousarray(arr)


def _read_npy_header(raw: IO[bytes], key: str) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
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
    dtype: np.dtype[Any], key: str, allowed: tuple[np.dtype[Any], ...]
) -> np.dtype[Any]:
    """Refuse object, structured and unexpected dtypes; return ``dtype`` (any byte order)."""
    if dtype.hasobject:
        raise ModelFormatError(
            f"member {key!r} holds Python objects (dtype object); pickled data is never loaded"
        )
    if dtype.fields is not None or dtype.subdtype is not None:
        raise ModelFormatError(f"member {key!r} has a structured dtype {_short(dtype.descr)}")
    if dtype.newbyteorder("=") not in allowed:
        names = "/".join(str(d) for d in allowed)
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


def _short(value: object, limit: int = 80) -> str:
    """``repr``/``str`` of untrusted values, cut to ``limit`` characters for messages."""
    text = str(value) if isinstance(value, BaseException) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
