"""Model files: one ``.npz`` per model, written atomically and durably, loaded without trust.

File layout (``FORMAT_VERSION = 1``): a zip archive of ``.npy`` members, every member *stored*
(not deflated), in this order::

    W0.npy, b0.npy, ..., W{L-1}.npy, b{L-1}.npy, [p0_median.npy, ...,] [split.npy,] config.npy

- ``W{i}``: weights, shape ``(layers[i], layers[i + 1])``, float32 or float64;
- ``b{i}``: biases, shape ``(layers[i + 1],)``, the same dtype as every weight;
- ``p{i}_{field}`` (table models only): the state arrays of preprocessing step ``i``, as
  ``mlp_engine.preprocessing.FIELDS`` lists them for the step's kind: float64 or bool scalars
  (shape ``()``), or 1-D unicode arrays (``<U1`` to ``<U1024``, the categories) -- the only
  members that may hold text. The config's ``"preprocessing"`` list declares each step
  (``{"column", "kind", "shapes": {field: shape}}``); files without it (all files written before
  tables existed) must have no ``p`` members;
- ``split`` (models fitted since the split was recorded): int8, shape ``(n_rows,)``, where each
  training row went (0 training, 1 validation, 2 test); the config's ``"split_rows"`` declares
  ``n_rows``. Files without ``"split_rows"`` must have no ``split`` member;
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
string, header length, dtype, shape) is checked against the config's ``layers`` (or its
``preprocessing`` declarations) before the data is read with exact-length bounded reads. Every
problem raises ``ModelFormatError`` naming the member or key, never a file-system path.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from .errors import ModelFormatError
from .fileio import TEMP_PREFIX, remove_stale_temp_files, write_atomic
from .npz import MAX_HEADER_BYTES, index_members, read_archive, read_npy, short, write_members
from .preprocessing import FIELDS
from .tables import MAX_COLUMNS, MAX_TEXT_CHARS

__all__ = [
    "FORMAT_VERSION",
    "MAX_CONFIG_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_LAYERS",
    "TEMP_PREFIX",
    "load_model_file",
    "remove_stale_temp_files",
    "save_model_file",
    "write_atomic",
]

FORMAT_VERSION = 1
MAX_CONFIG_BYTES = 16 * 2**20  # JSON config (settings, metrics, history)
MAX_LAYERS = 1024  # weight matrices per model

MAX_SPLIT_ROWS = 2**31 - 1  # rows in a recorded split

_MAX_MEMBERS = 2 * MAX_LAYERS + 2 + max(len(fields) for fields in FIELDS.values()) * MAX_COLUMNS
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_CONFIG_DTYPES = (np.dtype(np.uint8),)
_MEMBER_NAME = re.compile(
    r"(?:[Wb](?:0|[1-9][0-9]{0,5})|config|split|p(?:0|[1-9][0-9]{0,4})_[a-z]{1,16})\.npy"
)
_SPLIT_DTYPES = (np.dtype(np.int8),)
_STATE_DTYPES = {"f": np.dtype(np.float64), "b": np.dtype(np.bool_)}

FloatArray = NDArray[np.floating[Any]]
PathOrFile = str | os.PathLike[str] | BinaryIO


# --------------------------------------------------------------------------------------- saving


def save_model_file(
    target: PathOrFile,
    weights: Sequence[NDArray[Any]],
    biases: Sequence[NDArray[Any]],
    config: Mapping[str, Any],
    states: Sequence[Mapping[str, NDArray[Any]]] = (),
    split: NDArray[Any] | None = None,
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
        states: a table model's preprocessing states, one per step of
            ``config["preprocessing"]`` (``[{"column", "kind"}]``), each ``{field: array}`` as
            ``mlp_engine.preprocessing.FIELDS`` describes; stored as members ``p{i}_{field}``,
            their shapes declared in the step's ``"shapes"``.
        split: ``(n_rows,)`` int8 codes (0 training, 1 validation, 2 test) of the rows the
            model was fitted on, or None; stored as member ``split``, ``n_rows`` declared as
            ``config["split_rows"]``.

    Raises:
        ModelFormatError: the arrays do not chain, mix dtypes, are not float32/float64 or not
            finite, or the config cannot be stored as JSON. Nothing is written then.
    """
    members = _checked_members(weights, biases)
    layers = [int(members[0][1].shape[0])] + [int(w.shape[1]) for _, w in members[::2]]
    plan_members, config = _plan_members(config, states)
    split_members, config = _split_members(config, split)
    config_bytes = _config_to_json(config, layers)
    members += plan_members + split_members
    members.append(("config", np.frombuffer(config_bytes, dtype=np.uint8)))

    def write(fp: BinaryIO) -> None:
        write_members(fp, members)

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


def _plan_members(
    config: Mapping[str, Any], states: Sequence[Mapping[str, NDArray[Any]]]
) -> tuple[list[tuple[str, NDArray[Any]]], Mapping[str, Any]]:
    """Check the preprocessing states against ``config["preprocessing"]``; return their
    members and the config with each step's ``"shapes"`` declared."""
    steps = config.get("preprocessing") if isinstance(config, Mapping) else None
    if not states and steps is None:
        return [], config
    if not isinstance(steps, list) or len(steps) != len(states) or len(steps) > MAX_COLUMNS:
        raise ModelFormatError("config 'preprocessing' must list one step per state")
    members: list[tuple[str, NDArray[Any]]] = []
    declared = []
    for i, (step, state) in enumerate(zip(steps, states, strict=True)):
        fields = FIELDS.get(str(step.get("kind"))) if isinstance(step, Mapping) else None
        if fields is None or set(state) != set(fields):
            raise ModelFormatError(f"preprocessing step {i} has an unknown kind or wrong arrays")
        shapes = {}
        for field, code in fields.items():
            arr = _state_array(np.asarray(state[field]), code, f"p{i}_{field}")
            members.append((f"p{i}_{field}", arr))
            shapes[field] = list(arr.shape)
        declared.append({**step, "shapes": shapes})
    return members, {**config, "preprocessing": declared}


def _split_members(
    config: Mapping[str, Any], split: NDArray[Any] | None
) -> tuple[list[tuple[str, NDArray[Any]]], dict[str, Any]]:
    """The ``split`` member (``(n_rows,)`` int8 in 0..2, or none) and the config declaring it."""
    config = {key: value for key, value in config.items() if key != "split_rows"}
    if split is None:
        return [], config
    arr = np.asarray(split)
    if arr.dtype != np.int8 or arr.ndim != 1 or not 0 < arr.size <= MAX_SPLIT_ROWS:
        raise ModelFormatError(f"split must be a non-empty 1-D int8 array, got {arr.dtype}")
    if ((arr < 0) | (arr > 2)).any():
        raise ModelFormatError("split codes must be 0 (training), 1 (validation) or 2 (test)")
    return [("split", np.ascontiguousarray(arr))], {**config, "split_rows": int(arr.size)}


def _state_array(arr: NDArray[Any], code: str, key: str) -> NDArray[Any]:
    """A state array checked against its field code (``f``, ``b`` or ``U``), C-contiguous."""
    if code == "U":
        ok = arr.ndim == 1 and arr.dtype.kind == "U" and arr.dtype.itemsize // 4 >= 1
        ok = ok and arr.dtype.itemsize // 4 <= MAX_TEXT_CHARS
    else:
        wanted = np.float64 if code == "f" else np.bool_
        ok = arr.ndim == 0 and arr.dtype == wanted
        ok = ok and (code != "f" or bool(np.isfinite(arr)))
    if not ok:
        raise ModelFormatError(f"{key} has dtype {arr.dtype} and shape {arr.shape}: not a {code!r}")
    return np.array(arr, order="C")  # a C-ordered copy; unlike ascontiguousarray, keeps 0-d


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
                    f"config key 'layers' is {short(given)} but the arrays give {layers}"
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
        raise ModelFormatError(f"config cannot be stored as JSON: {short(exc, 200)}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelFormatError(
            f"config is {len(data)} bytes of JSON, above the limit of {MAX_CONFIG_BYTES}"
        )
    return data


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
        removed); ``"split"`` is the ``split`` member's codes (a list of ints) in place of
        ``"split_rows"`` (absent in files without the member).

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

    def read(zf: zipfile.ZipFile) -> tuple[list[FloatArray], list[FloatArray], dict[str, Any]]:
        return _load_members(zf, max_member_bytes, max_total_bytes)

    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fp:
            return read_archive(fp, _MAX_MEMBERS, read)
    return read_archive(source, _MAX_MEMBERS, read)


def _load_members(
    zf: zipfile.ZipFile, max_member_bytes: int, max_total_bytes: int
) -> tuple[list[FloatArray], list[FloatArray], dict[str, Any]]:
    """Check every member's name and declared size, then read config, weights and biases."""
    members = index_members(zf, _MEMBER_NAME, max_member_bytes, max_total_bytes)
    if "config" not in members:
        raise ModelFormatError("missing member 'config'")
    config = _read_config(zf, members.pop("config"), max_member_bytes)
    layers: list[int] = config["layers"]
    plan = {key: members.pop(key) for key in list(members) if key.startswith("p")}
    split = members.pop("split", None)
    _check_keys(members, layers)
    _read_plan(zf, plan, config, max_member_bytes)
    _read_split(zf, split, config, max_member_bytes)
    weights: list[FloatArray] = []
    biases: list[FloatArray] = []
    for i in range(len(layers) - 1):
        for key, shape, out in (
            (f"W{i}", (layers[i], layers[i + 1]), weights),
            (f"b{i}", (layers[i + 1],), biases),
        ):
            arr = read_npy(zf, members[key], key, _FLOAT_DTYPES, max_member_bytes, shape)
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


def _read_plan(
    zf: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    config: dict[str, Any],
    max_member_bytes: int,
) -> None:
    """Read the preprocessing members declared by ``config["preprocessing"]`` into each step's
    ``"state"``; every declared shape and dtype is checked before the data is read."""
    expected = _declared_plan(config.get("preprocessing"))
    missing = sorted(set(expected) - set(members))
    extra = sorted(set(members) - set(expected))
    if missing or extra:
        name = missing[0] if missing else extra[0]
        raise ModelFormatError(
            f"{'missing' if missing else 'unexpected'} member {name!r} "
            "(config 'preprocessing' declares the p{i}_{field} members)"
        )
    steps = config.get("preprocessing") or []
    states: list[dict[str, NDArray[Any]]] = [{} for _ in steps]
    for key, (i, field, shape, code) in expected.items():
        dtypes = () if code == "U" else (_STATE_DTYPES[code],)
        text = MAX_TEXT_CHARS if code == "U" else 0
        origin = "config 'preprocessing'"
        states[i][field] = read_npy(
            zf, members[key], key, dtypes, max_member_bytes, shape, text, origin
        )
    for step, state in zip(steps, states, strict=True):
        step["state"] = state  # replaces anything the JSON said


def _read_split(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo | None, config: dict[str, Any], max_bytes: int
) -> None:
    """Read the ``split`` member declared by ``config["split_rows"]`` into ``config["split"]``
    (its ``n_rows`` codes as a list of ints, so the config stays JSON; absent without a
    record); size and dtype are checked before the data is read."""
    n_rows = config.pop("split_rows", None)
    config.pop("split", None)  # only the member is trusted
    if n_rows is None:
        if info is not None:
            raise ModelFormatError("unexpected member 'split' (config 'split_rows' declares it)")
        return
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or not 0 < n_rows <= MAX_SPLIT_ROWS:
        raise ModelFormatError("config 'split_rows' must be a positive integer")
    if info is None:
        raise ModelFormatError("missing member 'split' (config 'split_rows' declares it)")
    arr = read_npy(
        zf, info, "split", _SPLIT_DTYPES, max_bytes, (n_rows,), origin="config 'split_rows'"
    )
    if ((arr < 0) | (arr > 2)).any():
        raise ModelFormatError("member 'split' holds codes other than 0, 1 and 2")
    config["split"] = arr.tolist()


def _declared_plan(steps: object) -> dict[str, tuple[int, str, tuple[int, ...], str]]:
    """``{member: (step, field, shape, code)}`` from ``config["preprocessing"]`` (or none)."""
    if steps is None:
        return {}
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_COLUMNS:
        raise ModelFormatError(
            f"config key 'preprocessing' must be null or a list of 1 to {MAX_COLUMNS} steps"
        )
    expected = {}
    for i, step in enumerate(steps):
        fields = FIELDS.get(str(step.get("kind"))) if isinstance(step, dict) else None
        shapes = step.get("shapes") if isinstance(step, dict) else None
        if fields is None or not isinstance(shapes, dict) or set(shapes) != set(fields):
            raise ModelFormatError(f"config key 'preprocessing'[{i}] has no valid kind/shapes")
        for field, code in fields.items():
            shape = shapes[field]
            ok = isinstance(shape, list) and len(shape) == (1 if code == "U" else 0)
            if not ok or not all(type(n) is int and 0 <= n <= 2**31 for n in shape):
                raise ModelFormatError(
                    f"config key 'preprocessing'[{i}] declares a bad shape for {field!r}"
                )
            expected[f"p{i}_{field}"] = (i, field, tuple(shape), code)
    return expected


def _check_keys(members: Mapping[str, zipfile.ZipInfo], layers: list[int]) -> None:
    """The array members must be exactly W0..W{L-1} and b0..b{L-1} for ``L = len(layers) - 1``."""
    n = len(layers) - 1
    expected = [f"{p}{i}" for i in range(n) for p in ("W", "b")]
    missing = [key for key in expected if key not in members]
    if missing:
        raise ModelFormatError(
            f"missing member {missing[0]!r} (config layers {short(layers)} need "
            f"W0..W{n - 1} and b0..b{n - 1})"
        )
    extra = sorted(set(members) - set(expected))
    if extra:
        raise ModelFormatError(
            f"unexpected member {extra[0]!r} (config layers {short(layers)} have {n} "
            f"weight matrices)"
        )


def _read_config(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_member_bytes: int
) -> dict[str, Any]:
    """Read the ``config`` member: UTF-8 JSON object with a supported format version and layers."""
    limit = min(max_member_bytes, MAX_CONFIG_BYTES)
    data = read_npy(zf, info, "config", _CONFIG_DTYPES, limit, None).tobytes()
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise ModelFormatError("member 'config' is not valid UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise ModelFormatError(f"member 'config' is not valid JSON: {short(exc, 120)}") from exc
    try:  # "\ud800" is valid JSON syntax but no character: every later write of it would fail
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ModelFormatError(
            "member 'config' holds text that is not valid Unicode (a lone surrogate escape)"
        ) from None
    if not isinstance(doc, dict):
        raise ModelFormatError(f"member 'config' must hold a JSON object, got {type(doc).__name__}")
    version = doc.pop("format_version", None)
    if version is None:
        raise ModelFormatError("config key 'format_version' is missing")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFormatError(
            f"config key 'format_version' must be an integer, got {short(version)}"
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
            f"got {short(layers)}"
        )
    for i, units in enumerate(layers):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ModelFormatError(
                f"config key 'layers'[{i}] must be a positive integer, got {short(units)}"
            )
