"""Model files built byte by byte: valid ones, and the traps of RELIABILITY.md items 7-9.

A pickled object array whose unpickling would write a sentinel file, ``.npy`` headers that
declare absurd shapes, zip bombs, entries whose declared sizes lie. Used by the engine's own
loader tests (``tests/engine/test_persistence.py``) and by the service-level reliability tests.
"""

from __future__ import annotations

import io
import itertools
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mlp_engine.persistence import FORMAT_VERSION

__all__ = [
    "BOMB_DATA_BYTES",
    "LAYERS",
    "Trap",
    "build_zip",
    "config_npy",
    "make_model",
    "npy",
    "npy_header",
    "patch_central_entry",
    "pickled_object_array",
    "valid_members",
    "with_members",
    "write_consistent_zip_bomb",
    "write_zip_bomb",
]

LAYERS = (2, 5, 3, 1)
BOMB_DATA_BYTES = 400 * 2**20


def make_model(
    layers: tuple[int, ...] = LAYERS, dtype: type = np.float64, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Random weights ``(layers[i], layers[i + 1])`` and biases ``(layers[i + 1],)``."""
    rng = np.random.default_rng(seed)
    weights: list[np.ndarray] = [
        rng.normal(size=(a, b)).astype(dtype) for a, b in itertools.pairwise(layers)
    ]
    biases: list[np.ndarray] = [rng.normal(size=b).astype(dtype) for b in layers[1:]]
    return weights, biases


def npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    """The .npy bytes of ``arr`` (object arrays are pickled when ``allow_pickle``)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def npy_header(descr: str, shape: tuple[int, ...], fortran: bool = False) -> bytes:
    """A version 1.0 .npy header alone (magic + length + dict), for hand-made members."""
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": fortran, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def config_npy(doc: Any = None, *, raw: bytes | None = None, **changes: Any) -> bytes:
    """The ``config`` member: JSON of ``doc`` (default: a valid config for LAYERS)."""
    if raw is None:
        if doc is None:
            doc = {"layers": list(LAYERS), "format_version": FORMAT_VERSION, **changes}
        raw = json.dumps(doc).encode()
    return npy(np.frombuffer(raw, dtype=np.uint8))


def valid_members(layers: tuple[int, ...] = LAYERS) -> dict[str, bytes]:
    """Every member of a valid (engine-level) model file, by zip entry name."""
    weights, biases = make_model(layers)
    members = {f"W{i}.npy": npy(w) for i, w in enumerate(weights)}
    members.update({f"b{i}.npy": npy(b) for i, b in enumerate(biases)})
    members["config.npy"] = config_npy({"layers": list(layers), "format_version": 1})
    return members


def build_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip archive of ``members`` (entry name -> bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def with_members(**replace: bytes | None) -> bytes:
    """A valid file for LAYERS with members replaced (``W1=...``) or removed (``W1=None``)."""
    members = valid_members()
    for key, data in replace.items():
        if data is None:
            members.pop(f"{key}.npy")
        else:
            members[f"{key}.npy"] = data
    return build_zip(members)


def patch_central_entry(
    data: bytes, name: str, *, file_size: int | None = None, crc: int | None = None
) -> bytes:
    """Rewrite the declared size / CRC of ``name`` in the central directory (what zipfile uses)."""
    out = bytearray(data)
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", out, pos + 28)[0]
        if out[pos + 46 : pos + 46 + name_len] == name.encode():
            if crc is not None:
                struct.pack_into("<L", out, pos + 16, crc)
            if file_size is not None:
                struct.pack_into("<L", out, pos + 24, file_size)
            return bytes(out)
        pos = out.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"no central directory entry for {name}")


class Trap:
    """Unpickling this calls ``open(path, "w")``: the file appears if anything unpickles it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def pickled_object_array(sentinel: Path, shape: tuple[int, ...]) -> bytes:
    """An object-dtype ``.npy`` member full of :class:`Trap` pickles writing ``sentinel``."""
    arr = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        arr[index] = Trap(sentinel)
    return npy(arr, allow_pickle=True)


def write_zip_bomb(path: Path, data_bytes: int = BOMB_DATA_BYTES) -> bytes:
    """Layers (1, 2); W0 is a valid header for shape (1, 2) followed by ``data_bytes`` zeros.

    Written by streaming 1 MiB chunks through zipfile's deflater (about 1/1000 of
    ``data_bytes`` on disk); the writer never holds the expanded data. Returns the file's bytes.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.npy", config_npy({"layers": [1, 2], "format_version": 1}))
        zf.writestr("b0.npy", npy(np.zeros(2)))
        with zf.open("W0.npy", "w") as member:
            member.write(npy_header("<f8", (1, 2)))
            chunk = bytes(2**20)
            for _ in range(data_bytes // len(chunk)):
                member.write(chunk)
    return path.read_bytes()


def write_consistent_zip_bomb(path: Path, units: int = 50_000_000) -> bytes:
    """A deflated model file whose headers *and* config agree on layers ``[1, units]``.

    W0 ``(1, units)`` and b0 ``(units,)`` are float64 zeros: ``16 * units`` bytes once inflated
    (800 MB by default) from well under 1 MB on disk. Every declared size is honest, so only a
    limit on declared sizes stops a loader from allocating it all. Returns the file's bytes.
    """
    chunk = bytes(2**20)

    def zeros(member: Any, n_bytes: int) -> None:
        for _ in range(n_bytes // len(chunk)):
            member.write(chunk)
        member.write(bytes(n_bytes % len(chunk)))

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.npy", config_npy({"layers": [1, units], "format_version": 1}))
        for name, shape in (("W0.npy", (1, units)), ("b0.npy", (units,))):
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as member:
                member.write(npy_header("<f8", shape))
                zeros(member, 8 * units)
    return path.read_bytes()
