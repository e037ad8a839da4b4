"""DatasetStore: datasets as ``.npz`` files under ``<data_dir>/datasets`` (never pickled).

Two layouts, told apart by ``meta["layout"]`` (files without it are ``arrays``):

- ``arrays`` (``X``/``y`` uploads, generated sets): ``X`` (float64, (n_samples, n_features)),
  ``y`` (int64 or unicode labels for classification, float64 for regression) and ``meta``.
- ``table`` (CSV or split-form uploads): per feature ``j`` (``meta["features"]`` order) either
  ``f{j}`` (float64 (n_samples,), NaN = missing) or ``f{j}_code`` (int32 (n_samples,), -1 =
  missing) + ``f{j}_cats`` (unicode (k,), sorted by code point); labels as ``y`` (float64,
  regression) or ``y_code`` (int32) + ``classes`` (int64 or unicode, sorted) for
  classification, so one long value never makes an array ``n_samples x longest value`` wide.

``meta`` is a JSON document stored as a uint8 array. Files are written atomically; a dataset
exists once its file exists under its final name.
"""

from __future__ import annotations

import builtins
import logging
import threading
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import orjson

from app.errors import Conflict, InvalidInput, NotFound
from app.numeric import check_finite
from app.storage.files import FileIdentity, delete_file, file_identity, newest_first, stored_ids
from app.storage.ids import ID_RE, check_id, new_id
from app.storage.quota import StorageQuota
from mlp_engine.persistence import remove_stale_temp_files, write_atomic

__all__ = ["DatasetMeta", "DatasetStore", "Layout", "Task", "array_features"]

logger = logging.getLogger(__name__)

Task = Literal["classification", "regression"]
Layout = Literal["arrays", "table"]
Bound = float | None
_SUFFIX = ".npz"
_RESOURCE = "dataset"


def array_features(n_features: int) -> list[dict[str, Any]]:
    """The ``features`` of an ``X``/``y`` dataset: numeric columns ``x0, x1, ...``."""
    return [{"name": f"x{j}", "type": "numeric", "missing": 0} for j in range(n_features)]


@dataclass(frozen=True)
class DatasetMeta:
    """What the API shows about a dataset.

    ``bounds``: per-feature min and max (NaN ignored; None for a categorical or an all-missing
    column); ``features``: ``[{"name", "type", "missing", "categories"?, "n_categories"?}]``;
    ``label``: the label column's name (None for ``X``/``y`` datasets).
    """

    id: str
    name: str
    n_samples: int
    n_features: int
    task: Task
    classes: list[int | str] | None
    bounds: dict[str, list[Bound]]
    created_at: datetime
    label: str | None = None
    features: list[dict[str, Any]] = field(default_factory=list)
    rows_without_label: int = 0
    layout: Layout = "arrays"
    # The owner identity (``app.owners``) of the key that created it; None without keys.
    owner: str | None = None

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical feature columns."""
        return [f["name"] for f in self.features if f["type"] == "categorical"]

    def to_json(self) -> dict[str, Any]:
        """The JSON document stored in the file's ``meta`` member (``owner`` only if set)."""
        doc = {
            "id": self.id,
            "name": self.name,
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "task": self.task,
            "classes": self.classes,
            "bounds": self.bounds,
            "created_at": self.created_at.isoformat(),
            "label": self.label,
            "features": self.features,
            "rows_without_label": self.rows_without_label,
            "layout": self.layout,
        }
        if self.owner is not None:
            doc["owner"] = self.owner
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DatasetMeta:
        n_features = int(doc["n_features"])
        layout = doc.get("layout", "arrays")
        if layout not in ("arrays", "table"):
            raise ValueError(f"unknown dataset layout {layout!r}")
        features = doc.get("features") or array_features(n_features)
        if not isinstance(features, list) or len(features) != n_features:
            raise ValueError("the dataset's features do not match n_features")
        label, owner = doc.get("label"), doc.get("owner")
        return cls(
            id=str(doc["id"]),
            name=str(doc["name"]),
            n_samples=int(doc["n_samples"]),
            n_features=n_features,
            task=doc["task"],
            classes=doc["classes"],
            bounds={"min": list(doc["bounds"]["min"]), "max": list(doc["bounds"]["max"])},
            created_at=datetime.fromisoformat(doc["created_at"]),
            label=None if label is None else str(label),
            features=features,
            rows_without_label=int(doc.get("rows_without_label", 0)),
            layout=layout,
            owner=owner if isinstance(owner, str) and owner else None,
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
        self.quota: StorageQuota | None = None  # the API's (app.storage.quota.attach_quota)

    def create(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        name: str | None,
        task: str,
        owner: str | None = None,
    ) -> DatasetMeta:
        """Validate and store ``X`` (n_samples, n_features) and ``y`` (n_samples,) atomically
        (``owner``: the creating key's identity, ``app.owners``)."""
        _check_task(task)
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
            features=array_features(int(X.shape[1])),
            owner=owner,
        )
        self._write(meta, {"X": X, "y": y})
        return meta

    def create_table(
        self,
        columns: Mapping[str, np.ndarray],
        y: np.ndarray,
        *,
        label: str,
        task: str,
        name: str | None,
        rows_without_label: int = 0,
        max_listed_categories: int = 1000,
        known_categories: Mapping[str, Sequence[str]] | None = None,
        owner: str | None = None,
    ) -> DatasetMeta:
        """Validate and store a table atomically: ``columns`` (name -> ``(n_samples,)`` float64
        with NaN for missing, or unicode with ``""`` for missing) and labels ``y: (n_samples,)``;
        ``known_categories``: text columns' distinct values if the caller already has them.
        """
        _check_task(task)
        if not columns:
            raise InvalidInput(("body", "columns"), "the table needs at least one feature column")
        n_samples = len(y)
        y = _check_y(y, task, n_samples=n_samples)
        arrays: dict[str, np.ndarray] = {}
        features, lows, highs = [], [], []
        for j, (column, values) in enumerate(columns.items()):
            known = known_categories.get(column) if known_categories is not None else None
            feature, low, high = _encode_column(j, column, values, n_samples, arrays, known)
            categories = feature.get("categories", ())
            if len(categories) > max_listed_categories:
                del feature["categories"]  # n_categories stays
            features.append(feature)
            lows.append(low)
            highs.append(high)
        if task == "classification":
            classes = distinct_sorted(y)
            codes = np.searchsorted(classes, y).astype(np.int32)
            arrays["y_code"], arrays["classes"] = codes, classes
        else:
            arrays["y"] = y
        dataset_id = new_id("ds_")
        meta = DatasetMeta(
            id=dataset_id,
            name=name or dataset_id,
            n_samples=n_samples,
            n_features=len(features),
            task=task,  # type: ignore[arg-type]  # checked above
            classes=arrays["classes"].tolist() if task == "classification" else None,
            bounds={"min": lows, "max": highs},
            created_at=datetime.now(UTC),
            label=label,
            features=features,
            rows_without_label=int(rows_without_label),
            layout="table",
            owner=owner,
        )
        self._write(meta, arrays)
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
        """``(X, y, meta)`` of one dataset: ``X`` (n_samples, n_features) float64.

        For a table, its numeric columns side by side (NaN where a cell is missing); a table
        with a categorical column has no such matrix: ``Conflict`` (use :meth:`load_table`).
        """
        X, columns, y, meta = self._read(dataset_id)
        if X is not None:
            return X, y, meta
        if meta.categorical:
            raise Conflict(
                f"dataset {dataset_id!r} has categorical columns ({meta.categorical[0]!r}); "
                "it can only be read as a table"
            )
        return np.column_stack(list(columns.values())), y, meta

    def load_table(self, dataset_id: str) -> tuple[dict[str, np.ndarray], np.ndarray, DatasetMeta]:
        """``(columns, y, meta)``: ``columns`` maps each feature's name (``x0, x1, ...`` for an
        ``X``/``y`` dataset) to ``(n_samples,)`` float64 (NaN = missing) or unicode (``""``)."""
        _, columns, y, meta = self._read(dataset_id)
        return columns, y, meta

    def list(self) -> builtins.list[DatasetMeta]:
        """Every stored dataset, newest first (files that cannot be read are skipped)."""
        return newest_first(self._ids(), self.get)

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset; ``NotFound`` if it does not exist."""
        delete_file(self._path(check_id(_RESOURCE, dataset_id)), _RESOURCE, dataset_id)
        with self._lock:
            self._meta_cache.pop(dataset_id, None)
        if self.quota is not None:
            self.quota.removed()

    def exists(self, dataset_id: str) -> bool:
        """True if a dataset with this (well-formed) ID is stored."""
        return ID_RE.fullmatch(dataset_id) is not None and self._path(dataset_id).is_file()

    # -- internals ---------------------------------------------------------------------------

    def _read(
        self, dataset_id: str
    ) -> tuple[np.ndarray | None, dict[str, np.ndarray], np.ndarray, DatasetMeta]:
        """``(X or None for a table, columns, y, meta)``; a damaged file is a ``Conflict``."""
        path = self._path(check_id(_RESOURCE, dataset_id))
        with self._open(path, dataset_id) as npz:
            meta = _read_meta(npz, dataset_id)
            try:
                X = None
                if meta.layout == "arrays":
                    X, y = npz["X"], npz["y"]
                    _expect(X.ndim == 2 and X.shape == (meta.n_samples, meta.n_features))
                    columns = {f["name"]: X[:, j] for j, f in enumerate(meta.features)}
                else:
                    columns = _decode_columns(npz, meta)
                    y = _decode_labels(npz, meta)
                _expect(y.shape == (meta.n_samples,))
            except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
                raise _corrupt(dataset_id, exc) from None
        return X, columns, y, meta

    def _write(self, meta: DatasetMeta, arrays: dict[str, np.ndarray]) -> None:
        """Write the file atomically, within the storage quota (507 before writing)."""
        meta_bytes = np.frombuffer(orjson.dumps(meta.to_json()), dtype=np.uint8)
        if self.quota is not None:  # an uncompressed .npz: its arrays plus headers
            size = sum(a.nbytes for a in arrays.values()) + meta_bytes.nbytes
            self.quota.check(meta.owner, size + 256 * (len(arrays) + 1))

        def write(fh: BinaryIO) -> None:
            np.savez(fh, **arrays, meta=meta_bytes)  # type: ignore[arg-type]  # (numpy stubs)

        path = self._path(meta.id)
        write_atomic(path, write)
        if self.quota is not None:
            self.quota.added(meta.owner, path.stat().st_size)

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


def _check_task(task: str) -> None:
    if task not in ("classification", "regression"):
        raise InvalidInput(("body", "task"), "task must be 'classification' or 'regression'")


def distinct_sorted(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` for a 1-D array: distinct values by hashing, then sorting the few
    (much faster than sorting every row when there are few distinct values)."""
    return np.sort(np.unique(values, sorted=False))


def _factorise(values: np.ndarray, known: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """``(categories, codes)`` of a text column, categories sorted by code point with ``""``
    (missing) first when present. ``known``: the column's distinct values as the parser already
    found them (sorted), which saves hashing every row again; checked, never trusted."""
    if known is not None:
        categories = np.asarray(["", *(k for k in known if k)], dtype=values.dtype)
        codes = np.searchsorted(categories, values)
        found = categories[np.minimum(codes, categories.size - 1)]
        if np.array_equal(found, values):
            return categories, codes.astype(np.int32)
    categories = distinct_sorted(values)
    return categories, np.searchsorted(categories, values).astype(np.int32)


def _encode_column(
    j: int,
    name: str,
    values: np.ndarray,
    n_samples: int,
    arrays: dict[str, np.ndarray],
    known: Sequence[str] | None = None,
) -> tuple[dict[str, Any], Bound, Bound]:
    """Put feature ``j`` into ``arrays`` (see the module doc); its feature entry and bounds
    (``known``: a text column's distinct values, if already found)."""
    values = np.asarray(values)
    if values.shape != (n_samples,) or values.dtype.kind not in "fU":
        raise InvalidInput(
            ("body", "columns", name),
            f"column {name!r} must hold one number or text per row ({n_samples} rows)",
        )
    if values.dtype.kind == "f":
        if np.isinf(values).any():
            raise InvalidInput(("body", "columns", name), f"column {name!r} holds infinity")
        arrays[f"f{j}"] = values.astype(np.float64, copy=False)  # not a second copy
        missing = int(np.isnan(values).sum())
        present = values[~np.isnan(values)]
        low, high = (float(present.min()), float(present.max())) if present.size else (None, None)
        return {"name": name, "type": "numeric", "missing": missing}, low, high
    categories, codes = _factorise(values, known)
    if categories.size and categories[0] == "":  # "" (missing) sorts first
        categories, codes = categories[1:], codes - 1
    categories = categories.astype(f"U{max(1, categories.itemsize // 4)}")  # never U0
    arrays[f"f{j}_code"], arrays[f"f{j}_cats"] = codes, categories
    feature = {
        "name": name,
        "type": "categorical",
        "missing": int(np.count_nonzero(codes < 0)),
        "categories": categories.tolist(),
        "n_categories": int(categories.size),
    }
    return feature, None, None


def _decode_columns(npz: Any, meta: DatasetMeta) -> dict[str, np.ndarray]:
    """The feature columns of a ``table`` file (``ValueError`` if they are inconsistent)."""
    columns: dict[str, np.ndarray] = {}
    for j, feature in enumerate(meta.features):
        if feature["type"] == "numeric":
            values = npz[f"f{j}"]
            _expect(values.dtype == np.float64)
        else:
            codes, categories = npz[f"f{j}_code"], npz[f"f{j}_cats"]
            values = _decode_codes(codes, categories, missing=True)
        _expect(values.shape == (meta.n_samples,))
        columns[str(feature["name"])] = values
    return columns


def _decode_labels(npz: Any, meta: DatasetMeta) -> np.ndarray:
    if meta.task == "regression":
        y: np.ndarray = npz["y"]
        _expect(y.dtype == np.float64)
        return y
    return _decode_codes(npz["y_code"], npz["classes"], missing=False)


def _decode_codes(codes: np.ndarray, table: np.ndarray, *, missing: bool) -> np.ndarray:
    """``table[codes]``; with ``missing``, code -1 is ``""`` (``table`` is unicode then)."""
    _expect(codes.dtype == np.int32 and codes.ndim == 1 and table.ndim == 1)
    _expect(table.dtype.kind == "U" or (not missing and table.dtype == np.int64))
    low = -1 if missing else 0
    _expect(codes.size == 0 or (int(codes.min()) >= low and int(codes.max()) < table.size))
    if missing:
        table = np.concatenate([np.array([""], dtype=table.dtype), table])
        codes = codes + 1
    decoded: np.ndarray = table[codes]
    return decoded


def _expect(condition: bool) -> None:
    """A consistency check of a stored file: ``ValueError`` (reported as damage) if it fails."""
    if not condition:
        raise ValueError("the dataset file is inconsistent")


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
    if y.dtype.kind == "U":
        return y
    if y.dtype.kind in "SO":
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
