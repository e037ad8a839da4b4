"""ModelStore: engine model files (``.npz``) under ``<data_dir>/models``, with cached loads.

The service's own metadata (name, job_id, dataset_id, created_at) lives inside the model file
(``est.save(fh, metadata=...)``, read back as ``est.metadata_``), so a model is one file and
appears only once that file is completely written (atomic ``os.replace``). Loaded estimators are
kept in an LRU cache keyed by ID and file identity ``(st_ino, st_mtime_ns, st_size)``: a predict
costs one ``stat``, and a file replaced by a job retry is read again.
"""

from __future__ import annotations

import builtins
import io
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

import mlp_engine
from app.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from app.storage.files import FileIdentity, delete_file, file_identity, newest_first, stored_ids
from app.storage.ids import ID_RE, check_id, new_id
from app.storage.quota import StorageQuota
from mlp_engine import MLPClassifier, MLPRegressor
from mlp_engine.estimators import from_config
from mlp_engine.persistence import load_model_file, remove_stale_temp_files, write_atomic

__all__ = ["Estimator", "ModelMeta", "ModelStore", "model_owner"]

logger = logging.getLogger(__name__)

_SUFFIX = ".npz"
_RESOURCE = "model"
_INVALID = "not a valid model file"
# get_params() keys that describe the architecture rather than the training run.
_ARCHITECTURE_KEYS = frozenset({"hidden_layers", "hidden_layer_sizes", "activation"})


Estimator = MLPClassifier | MLPRegressor


@dataclass(frozen=True)
class ModelMeta:
    """What the API shows about a stored model."""

    id: str
    name: str
    created_at: datetime
    job_id: str | None
    dataset_id: str | None
    task: str
    classes: list[int | str] | None
    layers: list[int]
    activation: str
    training: dict[str, Any]
    metrics: dict[str, Any]
    n_parameters: int
    size_bytes: int
    label: str | None = None
    features: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None
    crossed_features: list[str] = field(default_factory=list)
    # The owner identity (``app.owners``) of the key that created it; None without keys.
    owner: str | None = None


def model_nbytes(model: Estimator) -> int:
    """Bytes of the NumPy arrays an estimator holds directly (weights, biases, its split
    record): most of what keeping it in memory costs."""
    total = 0
    for value in vars(model).values():
        arrays = value if isinstance(value, list | tuple) else (value,)
        total += sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
    return total


class ModelStore:
    """Save, import, load (cached), list and delete models."""

    def __init__(
        self,
        data_dir: Path,
        *,
        cache_size: int = 32,
        cache_bytes: int = 256 * 2**20,
        max_model_bytes: int = 64 * 2**20,
        clean_temp: bool = True,
    ) -> None:
        self.root = Path(data_dir) / "models"
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(self.root)
        if clean_temp:
            remove_stale_temp_files(self.root)
        self.cache_size = max(1, cache_size)
        self.cache_bytes = max(0, cache_bytes)
        self._cached_bytes = 0
        self.max_model_bytes = max_model_bytes
        self.quota: StorageQuota | None = None  # the API's (app.storage.quota.attach_quota)
        self._lock = threading.Lock()
        # id -> (file identity, estimator, its arrays' bytes), least recently used first
        self._models: OrderedDict[str, tuple[FileIdentity, Estimator, int]] = OrderedDict()
        self._metas: dict[str, tuple[FileIdentity, ModelMeta]] = {}

    def save(
        self,
        model: Estimator,
        *,
        model_id: str,
        name: str | None,
        job_id: str | None,
        dataset_id: str | None,
        label: str | None = None,
        owner: str | None = None,
    ) -> ModelMeta:
        """Write ``model`` as ``<model_id>.npz`` atomically and durably (overwrites atomically).

        ``label`` is the name of the label column the model was trained on (default: the one
        in ``model.metadata_``, if any; None for ``X``/``y`` data); ``owner`` the creating
        key's identity (``app.owners``), stored only when set.
        """
        check_id(_RESOURCE, model_id)
        metadata = {
            "name": name or model_id,
            "job_id": job_id,
            "dataset_id": dataset_id,
            "label": label if label is not None else _str_or_none(model.metadata_.get("label")),
            "created_at": datetime.now(UTC).isoformat(),
        }
        if owner is not None:
            metadata["owner"] = owner
        path = self._path(model_id)

        def write(fh: BinaryIO) -> None:
            model.save(fh, metadata=metadata)

        write_atomic(path, write)
        identity = file_identity(path, _RESOURCE, model_id)
        if self.quota is not None:
            self.quota.added(owner, identity[2])
        meta = _build_meta(model_id, model, metadata, identity)
        with self._lock:
            self._metas[model_id] = (identity, meta)
        return meta

    def import_file(self, data: bytes, owner: str | None = None) -> ModelMeta:
        """Validate an uploaded model file with the engine's safe loader and store it anew,
        owned by ``owner`` (whatever owner the file names is not kept)."""
        if len(data) > self.max_model_bytes:
            raise PayloadTooLarge(
                f"the model file has {len(data)} bytes; at most {self.max_model_bytes} are allowed"
            )
        if self.quota is not None:
            self.quota.check(owner, len(data))
        try:
            # Limits as tight as the upload: a deflated member cannot expand past the size a
            # stored (uncompressed) model file of the allowed size could hold.
            weights, biases, config = load_model_file(
                io.BytesIO(data),
                max_member_bytes=self.max_model_bytes,
                max_total_bytes=self.max_model_bytes,
            )
            model = from_config(weights, biases, config)
        except mlp_engine.ModelFormatError as exc:
            message = str(exc)
            if not message.startswith(_INVALID):
                message = f"{_INVALID}: {message}"
            raise InvalidInput(("body",), message) from None
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:  # the safe loader should wrap everything; never leak internals
            logger.warning("model import rejected: %s: %s", type(exc).__name__, exc)
            raise InvalidInput(("body",), _INVALID) from None
        source = model.metadata_
        name = source.get("name")
        dataset_id = source.get("dataset_id")
        return self.save(
            model,
            model_id=new_id("mdl_"),
            name=name if isinstance(name, str) and name else None,
            job_id=None,
            dataset_id=dataset_id if _is_id(dataset_id) else None,
            owner=owner,
        )

    def get(self, model_id: str) -> ModelMeta:
        """Metadata of one model; ``NotFound("model", id)`` if it does not exist."""
        path = self._path(check_id(_RESOURCE, model_id))
        identity = file_identity(path, _RESOURCE, model_id)
        with self._lock:
            cached_meta = self._metas.get(model_id)
            cached_model = self._models.get(model_id)
        if cached_meta is not None and cached_meta[0] == identity:
            return cached_meta[1]
        if cached_model is not None and cached_model[0] == identity:
            identity, model, _ = cached_model
        else:
            identity, model = self._read(path, model_id)
        meta = _build_meta(model_id, model, model.metadata_, identity)
        with self._lock:
            self._metas[model_id] = (identity, meta)
        return meta

    def cached(self, model_id: str) -> Estimator | None:
        """The cached estimator if its file is unchanged, else ``None`` (one ``stat``, no read).

        This runs on every predict, on the event loop: a plain ``os.stat`` of a string path (no
        ``pathlib``) is the whole cost. The stat is what makes a file replaced or deleted by
        another process (a job retry, another ``MLP_HTTP_WORKERS`` process) visible at once.
        """
        check_id(_RESOURCE, model_id)
        try:
            st = os.stat(f"{self._root}/{model_id}{_SUFFIX}")
        except FileNotFoundError:
            raise NotFound(_RESOURCE, model_id) from None
        identity = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            entry = self._models.get(model_id)
            if entry is None or entry[0] != identity:
                return None
            self._models.move_to_end(model_id)
            return entry[1]

    def load(self, model_id: str) -> Estimator:
        """The fitted estimator, from the LRU cache unless its file changed."""
        model = self.cached(model_id)
        if model is not None:
            return model
        identity, model = self._read(self._path(model_id), model_id)
        self._remember(model_id, identity, model)
        return model

    def _remember(self, model_id: str, identity: FileIdentity, model: Estimator) -> None:
        """Cache ``model``, evicting the least recently used beyond ``cache_size`` models or
        ``cache_bytes`` bytes of arrays; a model larger than ``cache_bytes`` is not cached."""
        size = model_nbytes(model)
        with self._lock:
            old = self._models.pop(model_id, None)
            if old is not None:
                self._cached_bytes -= old[2]
            if size > self.cache_bytes:
                return
            self._models[model_id] = (identity, model, size)
            self._cached_bytes += size
            while len(self._models) > self.cache_size or self._cached_bytes > self.cache_bytes:
                self._cached_bytes -= self._models.popitem(last=False)[1][2]

    @property
    def cached_bytes(self) -> int:
        """Bytes of arrays held by the cache now."""
        return self._cached_bytes

    def path(self, model_id: str) -> Path:
        """The model file (for download); ``NotFound`` if it does not exist."""
        path = self._path(check_id(_RESOURCE, model_id))
        if not path.is_file():
            raise NotFound(_RESOURCE, model_id)
        return path

    def open_file(self, model_id: str) -> tuple[BinaryIO, int]:
        """The model file open for reading (the caller closes it) and its size; the open file
        stays readable if the model is deleted meanwhile. ``NotFound`` if it does not exist."""
        try:
            handle = open(self.path(model_id), "rb")  # noqa: SIM115  # the caller closes it
        except FileNotFoundError:
            raise NotFound(_RESOURCE, model_id) from None
        return handle, os.fstat(handle.fileno()).st_size

    def list(self) -> builtins.list[ModelMeta]:
        """Every completely written model, newest first (unreadable files are skipped)."""
        return newest_first(self._ids(), self.get)

    def count(self) -> int:
        """Number of model files (cheap: no file is read)."""
        return len(self._ids())

    def delete(self, model_id: str) -> None:
        """Remove a model; ``NotFound`` if it does not exist."""
        delete_file(self._path(check_id(_RESOURCE, model_id)), _RESOURCE, model_id)
        self.root.joinpath(f"{model_id}.frames.npz").unlink(missing_ok=True)  # its replay frames
        with self._lock:
            entry = self._models.pop(model_id, None)
            if entry is not None:
                self._cached_bytes -= entry[2]
            self._metas.pop(model_id, None)
        if self.quota is not None:
            self.quota.removed()

    # -- internals ---------------------------------------------------------------------------

    def _path(self, model_id: str) -> Path:
        return self.root / f"{model_id}{_SUFFIX}"

    def _ids(self) -> builtins.list[str]:
        return stored_ids(self.root, _SUFFIX)

    def load_bytes(self, data: bytes) -> Estimator:
        """A model from file bytes (a job's weights snapshot) under the import limits: members
        may declare at most ``max_model_bytes``. ``ModelFormatError`` otherwise."""
        limit = self.max_model_bytes
        weights, biases, config = load_model_file(
            io.BytesIO(data), max_member_bytes=limit, max_total_bytes=limit
        )
        return from_config(weights, biases, config)

    def _read(self, path: Path, model_id: str) -> tuple[FileIdentity, Estimator]:
        """Load a stored model file; identity comes from the open file (no stat/read race)."""
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                # Members may not declare more than the file's own size (what a stored model
                # holds) or the import limit: a planted zip bomb is refused before allocating.
                limit = max(self.max_model_bytes, st.st_size)
                weights, biases, config = load_model_file(
                    fh, max_member_bytes=limit, max_total_bytes=limit
                )
                model = from_config(weights, biases, config)
        except FileNotFoundError:
            raise NotFound(_RESOURCE, model_id) from None
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:
            logger.error("model %s cannot be loaded: %s: %s", model_id, type(exc).__name__, exc)
            raise Conflict(
                f"model {model_id!r} cannot be loaded: its file is damaged or unsupported"
            ) from None
        return (st.st_ino, st.st_mtime_ns, st.st_size), model


def _build_meta(
    model_id: str, model: Estimator, metadata: Mapping[str, Any], identity: FileIdentity
) -> ModelMeta:
    """``created_at`` falls back to the file's mtime for files without service metadata."""
    params = model.get_params()
    classes = model.classes_.tolist() if isinstance(model, MLPClassifier) else None
    name = metadata.get("name")
    return ModelMeta(
        id=model_id,
        name=name if isinstance(name, str) and name else model_id,
        created_at=_parse_time(metadata.get("created_at"), fallback_ns=identity[1]),
        job_id=_str_or_none(metadata.get("job_id")),
        dataset_id=_str_or_none(metadata.get("dataset_id")),
        task=model.task,
        classes=classes,
        layers=[int(n) for n in model.layers_],  # e.g. [2, 5, 3, 1]
        activation=str(params.get("activation")),
        training={k: _plain(v) for k, v in params.items() if k not in _ARCHITECTURE_KEYS},
        metrics={k: _plain(v) for k, v in model.metrics_.items()},
        n_parameters=int(model.n_parameters_),
        size_bytes=identity[2],
        label=_str_or_none(metadata.get("label")),
        features=model.features,
        evaluation=model.evaluation_,
        owner=_str_or_none(metadata.get("owner")),
        crossed_features=model.crossed_features,
    )


def model_owner(model: Estimator) -> str | None:
    """The owner identity stored in a model's file (None: no owner)."""
    return _str_or_none(model.metadata_.get("owner"))


def _plain(value: Any) -> Any:
    """NumPy scalars/arrays and tuples -> plain JSON-able Python values."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _parse_time(value: Any, *, fallback_ns: int) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.fromtimestamp(fallback_ns / 1e9, UTC)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None
