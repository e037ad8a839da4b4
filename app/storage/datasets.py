"""DatasetStore: datasets as ``.npz`` files under ``<data_dir>/datasets`` (never pickled).

Each file holds ``X`` (float64, (n_samples, n_features)), ``y`` (int64 or unicode labels for
classification, float64 for regression) and ``meta``, a JSON document stored as a uint8 array.
Files are written atomically; a dataset exists once its file exists under its final name.
"""

from __future__ import annotations

import builtins
import logging
import threading
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import orjson

from app.errors import Conflict, InvalidInput, NotFound
from app.numeric import check_finite
from app.storage.files import FileIdentity, delete_file, file_identity, newest_first, stored_ids
from app.storage.ids import ID_RE, check_id, new_id
from mlp_engine.persistence import remove_stale_temp_files, write_atomic

__all__ = ["DatasetMeta", "DatasetStore", "Task"]

logger = logging.getLogger(__name__)

Task = Literal["classification", "regression"]
_SUFFIX = ".npz"
_RESOURCE = "dataset"


@dataclass(frozen=True)
class DatasetMeta:
    """What the API shows about a dataset (``bounds`` = per-feature min and max of ``X``)."""

    id: str
    name: str
    n_samples: int
    n_features: int
    task: Task
    classes: list[int | str] | None
    bounds: dict[str, list[float]]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The JSON document stored in the file's ``meta`` member."""
        return {
            "id": self.id,
            "name": self.name,
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "task": self.task,
            "classes": self.classes,
            "bounds": self.bounds,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DatasetMeta:
        return cls(
            id=str(doc["id"]),
            name=str(doc["name"]),
            n_samples=int(doc["n_samples"]),
            n_features=int(doc["n_features"]),
            task=doc["task"],
            classes=doc["classes"],
            bounds={"min": list(doc["bounds"]["min"]), "max": list(doc["bounds"]["max"])},
            created_at=datetime.fromisoformat(doc["created_at"]),
        )


class DatasetStore:
    """Create, read, list and delete datasets; metadata reads are cached by file identity."""

    def __init__(self, data_dir: Path, *, clean_temp: bool = True) -> None:
        self.root = Path(data_dir) / "datasets"
        self.root.mkdir(parents=True, exist_ok=True)
        if clean_temp:
            remove_stale_temp_files(self.root)
        self._lock = threading.Lock()
        self._meta_cache: dict[str, tuple[FileIdentity, DatasetMeta]] = {}

    def create(self, X: np.ndarray, y: np.ndarray, *, name: str | None, task: str) -> DatasetMeta:
        """Validate and store ``X`` (n_samples, n_features) and ``y`` (n_samples,) atomically."""
        if task not in ("classification", "regression"):
            raise InvalidInput(("body", "task"), "task must be 'classification' or 'regression'")
        X = _check_X(X)
        y = _check_y(y, task, n_samples=X.shape[0])
        dataset_id = new_id("ds_")
        meta = DatasetMeta(
            id=dataset_id,
            name=name or dataset_id,
            n_samples=int(X.shape[0]),
            n_features=int(X.shape[1]),
            task=task,  # type: ignore[arg-type]  # checked above
            classes=np.unique(y).tolist() if task == "classification" else None,
            bounds={"min": X.min(axis=0).tolist(), "max": X.max(axis=0).tolist()},
            created_at=datetime.now(UTC),
        )
        meta_bytes = np.frombuffer(orjson.dumps(meta.to_json()), dtype=np.uint8)

        def write(fh: BinaryIO) -> None:
            np.savez(fh, X=X, y=y, meta=meta_bytes)

        write_atomic(self._path(dataset_id), write)
        return meta

    def get(self, dataset_id: str) -> DatasetMeta:
        """Metadata of one dataset; ``NotFound("dataset", id)`` if it does not exist."""
        path = self._path(check_id(_RESOURCE, dataset_id))
        identity = file_identity(path, _RESOURCE, dataset_id)
        with self._lock:
            cached = self._meta_cache.get(dataset_id)
        if cached is not None and cached[0] == identity:
            return cached[1]
        with self._open(path, dataset_id) as npz:
            meta = _read_meta(npz, dataset_id)
        with self._lock:
            self._meta_cache[dataset_id] = (identity, meta)
        return meta

    def load(self, dataset_id: str) -> tuple[np.ndarray, np.ndarray, DatasetMeta]:
        """``(X, y, meta)`` of one dataset."""
        path = self._path(check_id(_RESOURCE, dataset_id))
        with self._open(path, dataset_id) as npz:
            try:
                X = npz["X"]
                y = npz["y"]
            except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
                raise _corrupt(dataset_id, exc) from None
            meta = _read_meta(npz, dataset_id)
        return X, y, meta

    def list(self) -> builtins.list[DatasetMeta]:
        """Every stored dataset, newest first (files that cannot be read are skipped)."""
        return newest_first(self._ids(), self.get)

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset; ``NotFound`` if it does not exist."""
        delete_file(self._path(check_id(_RESOURCE, dataset_id)), _RESOURCE, dataset_id)
        with self._lock:
            self._meta_cache.pop(dataset_id, None)

    def exists(self, dataset_id: str) -> bool:
        """True if a dataset with this (well-formed) ID is stored."""
        return ID_RE.fullmatch(dataset_id) is not None and self._path(dataset_id).is_file()

    # -- internals ---------------------------------------------------------------------------

    def _path(self, dataset_id: str) -> Path:
        return self.root / f"{dataset_id}{_SUFFIX}"

    def _ids(self) -> builtins.list[str]:
        return stored_ids(self.root, _SUFFIX)

    def _open(self, path: Path, dataset_id: str) -> Any:
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise NotFound(_RESOURCE, dataset_id) from None
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise _corrupt(dataset_id, exc) from None


def _check_X(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0 or X.dtype.kind not in "iuf":
        raise InvalidInput(("body", "X"), "X must be a non-empty 2-D array of numbers")
    X = np.ascontiguousarray(X, dtype=np.float64)
    check_finite(X, ("body", "X"))
    return X


def _check_y(y: np.ndarray, task: str, *, n_samples: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise InvalidInput(
            ("body", "y"), f"y must hold one label per row of X ({n_samples}), got {y.shape}"
        )
    if task == "regression":
        if y.dtype.kind not in "iuf":
            raise InvalidInput(("body", "y"), "regression targets must be numbers")
        y = y.astype(np.float64)
        check_finite(y, ("body", "y"))
        return y
    if y.dtype.kind in "USO":
        return np.asarray([str(v) for v in y.tolist()], dtype=str)
    if y.dtype.kind == "f":
        check_finite(y, ("body", "y"))
        if not np.array_equal(y, np.round(y)):
            raise InvalidInput(
                ("body", "y"), "classification labels must be integers or strings, not fractions"
            )
    if y.dtype.kind not in "biuf":
        raise InvalidInput(("body", "y"), "classification labels must be integers or strings")
    return y.astype(np.int64)


def _read_meta(npz: Any, dataset_id: str) -> DatasetMeta:
    try:
        doc = orjson.loads(npz["meta"].tobytes())
        return DatasetMeta.from_json(doc)
    except (KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile) as exc:
        raise _corrupt(dataset_id, exc) from None


def _corrupt(dataset_id: str, exc: BaseException) -> Conflict:
    logger.error("dataset %s cannot be read: %s", dataset_id, type(exc).__name__)
    return Conflict(f"dataset {dataset_id!r} cannot be read: its file is damaged")
