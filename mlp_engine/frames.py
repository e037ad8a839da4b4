"""Weight frames: a bounded series of parameter snapshots spread over a training run (replay).

:class:`FrameRecorder` takes every epoch's parameters and keeps at most ``limit`` of them (100
by default), always the first and the latest epoch, spread over the run although the number of
epochs is not known in advance (early stopping): when one frame too many is held, the interior
frame whose removal leaves the smallest gap goes (the earliest one on a tie), so the kept
epochs stay close to evenly spaced at every moment of the run. :func:`save_frames` /
:func:`load_frames` store them as a small ``.npz`` of two members, ``epochs`` (k,) int64 and
``params`` (k * n_parameters,) float32/float64, the frames' rows one after the other (checked
before reading like a model file); :func:`at_frame` is a fitted model with one frame's
parameters.
"""

from __future__ import annotations

import copy
import os
import re
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from .errors import ModelFormatError
from .fileio import write_atomic
from .network import Network
from .npz import index_members, read_archive, read_npy, write_members

__all__ = [
    "MAX_FRAMES",
    "FrameRecorder",
    "Frames",
    "at_frame",
    "load_frames",
    "parameters",
    "save_frames",
]

MAX_FRAMES = 100
_MEMBER_NAME = re.compile(r"(?:epochs|params)\.npy")
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_EPOCH_DTYPES = (np.dtype(np.int64),)

PathOrFile = str | os.PathLike[str] | BinaryIO


@dataclass(frozen=True)
class Frames:
    """Recorded frames: ``epochs: (k,)`` int64 strictly ascending (from 1), ``params: (k,
    n_parameters)`` float32/float64, row ``i`` the flat parameter vector after ``epochs[i]``."""

    epochs: NDArray[np.int64]
    params: NDArray[np.floating[Any]]

    def index(self, epoch: int) -> int | None:
        """The row of ``epoch``, or None if it was not recorded."""
        hits = np.flatnonzero(self.epochs == epoch)
        return int(hits[0]) if hits.size else None


class FrameRecorder:
    """Keeps at most ``limit`` (>= 2) frames of a run: the first and latest epoch always, the
    others spread out (see the module docstring). Memory: ``limit + 1`` parameter vectors."""

    def __init__(self, limit: int = MAX_FRAMES) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 2:
            raise ValueError(f"limit must be an integer >= 2, got {limit!r}")
        self.limit = limit
        self.epochs: list[int] = []
        self.params: list[NDArray[np.floating[Any]]] = []

    def add(self, epoch: int, params: NDArray[np.floating[Any]]) -> None:
        """Record the parameters ``(n_parameters,)`` after ``epoch`` (a copy is kept); epochs
        must increase."""
        if self.epochs and epoch <= self.epochs[-1]:
            raise ValueError(f"epochs must increase: {epoch} after {self.epochs[-1]}")
        self.epochs.append(int(epoch))
        self.params.append(np.array(params, copy=True))
        if len(self.epochs) > self.limit:
            drop = thin_index(self.epochs)
            del self.epochs[drop], self.params[drop]

    def __len__(self) -> int:
        return len(self.epochs)

    def frames(self) -> Frames:
        """The kept frames (copies)."""
        if not self.params:
            raise ValueError("no frame was recorded")
        return Frames(np.array(self.epochs, dtype=np.int64), np.stack(self.params))


def thin_index(epochs: list[int]) -> int:
    """The interior position (1 .. len - 2) whose removal leaves the smallest gap between its
    neighbours, the earliest on a tie; ``epochs`` ascending, at least 3 of them."""
    e = np.asarray(epochs, dtype=np.int64)
    return int(np.argmin(e[2:] - e[:-2])) + 1


def save_frames(target: PathOrFile, frames: Frames) -> None:
    """Write ``frames`` as an ``.npz`` of ``epochs`` and ``params`` (atomically and durably for
    a path, from the current position for a file object)."""
    epochs = np.ascontiguousarray(frames.epochs, dtype=np.int64)
    params = np.ascontiguousarray(frames.params)
    _check(epochs, params)
    members = [("epochs", epochs), ("params", params.reshape(-1))]  # rows: one per epoch
    if isinstance(target, str | os.PathLike):
        write_atomic(target, lambda fp: write_members(fp, members))
    else:
        write_members(target, members)


def load_frames(source: PathOrFile, *, n_parameters: int | None, max_bytes: int) -> Frames:
    """Read and check a frames file for a model of ``n_parameters`` parameters (None: any):
    exactly the two members, sizes declared within ``max_bytes`` before anything is read, at
    most :data:`MAX_FRAMES` epochs strictly ascending from 1, ``params: (k, n_parameters)``
    finite float32/float64. Raises ``ModelFormatError`` naming the member."""

    def read(zf: zipfile.ZipFile) -> Frames:
        members = index_members(zf, _MEMBER_NAME, max_bytes, max_bytes)
        if set(members) != {"epochs", "params"}:
            raise ModelFormatError("a frames file holds exactly 'epochs' and 'params'")
        epochs = _read_epochs(zf, members["epochs"], max_bytes)
        flat = read_npy(zf, members["params"], "params", _FLOAT_DTYPES, max_bytes, None)
        if flat.size == 0 or flat.size % epochs.size:
            raise ModelFormatError("member 'params' must hold one row per epoch")
        params = flat.reshape(epochs.size, -1)
        if n_parameters is not None and params.shape[1] != n_parameters:
            raise ModelFormatError(
                f"member 'params' has {params.shape[1]} parameters per frame, "
                f"the model {n_parameters}"
            )
        _check(epochs, params)
        return Frames(epochs, params)

    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fp:
            return read_archive(fp, 2, read)
    return read_archive(source, 2, read)


def _read_epochs(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> NDArray[np.int64]:
    """The ``epochs`` member: 1-D int64 of at most MAX_FRAMES values."""
    if info.file_size > 8 * MAX_FRAMES + 1024:
        raise ModelFormatError(f"member 'epochs' holds more than {MAX_FRAMES} epochs")
    epochs = read_npy(zf, info, "epochs", _EPOCH_DTYPES, max_bytes, None)
    return epochs.astype(np.int64, copy=False)


def _check(epochs: NDArray[Any], params: NDArray[Any]) -> None:
    """Shapes, order and finiteness of frames (ModelFormatError)."""
    if epochs.ndim != 1 or not 1 <= epochs.size <= MAX_FRAMES:
        raise ModelFormatError(f"member 'epochs' must hold 1 to {MAX_FRAMES} epochs")
    if epochs[0] < 1 or (epochs.size > 1 and not (np.diff(epochs) > 0).all()):
        raise ModelFormatError("member 'epochs' must be strictly ascending from 1")
    if params.ndim != 2 or params.shape[0] != epochs.size:
        raise ModelFormatError("member 'params' must hold one row per epoch")
    if params.dtype not in _FLOAT_DTYPES or not np.isfinite(params).all():
        raise ModelFormatError("member 'params' must hold finite float32/float64 values")


def parameters(model: Any) -> NDArray[np.floating[Any]]:
    """The flat parameter vector ``(n_parameters,)`` of a fitted (or fitting) model: a live
    view (copy it to keep it; :meth:`FrameRecorder.add` does)."""
    params: NDArray[np.floating[Any]] = model._network().params
    return params


def at_frame(model: Any, params: NDArray[np.floating[Any]]) -> Any:
    """A shallow copy of the fitted ``model`` whose network holds ``params: (n_parameters,)``;
    ``model`` itself is left as it is (it may be shared, e.g. by a cache)."""
    net = model._network()
    if params.shape != (net.n_parameters,):
        raise ValueError(f"params must have shape ({net.n_parameters},), got {params.shape}")
    # A new network (not a copy): its views, the lean pass's operands included, are its own.
    frame_net = Network(net.layers, net.activation, net.output, net.dtype)
    frame_net.params[:] = params
    frame = copy.copy(model)
    frame._net = frame_net
    frame.weights_, frame.biases_ = frame_net.weights, frame_net.biases
    return frame
