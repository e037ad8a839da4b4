"""The client's results: small frozen dataclasses holding the fields people use and the
server's whole document (``raw``), never bare dicts.

``Job``, ``Model`` and ``Sweep`` keep the client that fetched them, so ``job.wait()`` and
``model.predict(...)`` work; the async client returns ``AsyncJob``, ``AsyncModel`` and
``AsyncSweep``, whose methods are coroutines. Both share the fields of one base class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from mlp_client._core import TERMINAL
from mlp_client._progress import ProgressArg

if TYPE_CHECKING:
    from mlp_client._async import AsyncClient
    from mlp_client._sync import Client

__all__ = [
    "AsyncJob",
    "AsyncModel",
    "AsyncSweep",
    "Dataset",
    "Job",
    "JobEvent",
    "Model",
    "Prediction",
    "Sweep",
]


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _opt_dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class Dataset:
    """A stored dataset's metadata (``features``: one entry per column, on servers with table
    support)."""

    id: str
    name: str | None
    n_samples: int | None
    n_features: int | None
    task: str | None
    classes: list[Any] | None
    label: str | None
    features: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Dataset:
        return cls(
            id=str(doc["id"]),
            name=doc.get("name"),
            n_samples=doc.get("n_samples"),
            n_features=doc.get("n_features"),
            task=doc.get("task"),
            classes=doc.get("classes"),
            label=doc.get("label"),
            features=_list(doc.get("features")),
            raw=dict(doc),
        )


@dataclass(frozen=True)
class JobEvent:
    """One event of a job's stream: ``type`` ``progress`` (``data``: a history row with
    ``epoch``, ``loss``...) or, last, ``status`` (``data``: ``id, status, model_id, error``)."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Prediction:
    """A ``/predict`` answer: ``predictions`` (labels or values), and for classifiers
    ``probabilities`` (n_samples, n_classes) in ``classes`` order."""

    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Prediction:
        return cls(
            predictions=_list(doc.get("predictions")),
            probabilities=doc.get("probabilities"),
            classes=doc.get("classes"),
            raw=dict(doc),
        )


@dataclass(frozen=True)
class _JobFields:
    id: str
    status: str
    name: str | None
    model_id: str | None
    dataset_id: str | None
    progress: dict[str, Any] | None
    error: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def done(self) -> bool:
        """Whether the job has ended (succeeded, failed or cancelled)."""
        return self.status in TERMINAL

    @classmethod
    def _fields(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": str(doc["id"]),
            "status": str(doc.get("status")),
            "name": doc.get("name"),
            "model_id": doc.get("model_id"),
            "dataset_id": doc.get("dataset_id"),
            "progress": _opt_dict(doc.get("progress")),
            "error": _opt_dict(doc.get("error")),
            "raw": dict(doc),
        }


@dataclass(frozen=True)
class Job(_JobFields):
    """A training job (from :class:`~mlp_client.Client`)."""

    client: Client = field(repr=False, compare=False, kw_only=True)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], client: Client) -> Self:
        return cls(**cls._fields(doc), client=client)

    def refresh(self) -> Job:
        """The job as it is now."""
        return self.client.jobs.get(self.id)

    def wait(self, progress: ProgressArg = False, timeout: float | None = None) -> Model:
        """Follow the job to its end (see :meth:`~mlp_client.Client.jobs.wait`) -> its model."""
        return self.client.jobs.wait(self, progress=progress, timeout=timeout)

    def stream(self) -> Iterator[JobEvent]:
        """The job's events as they happen (progress rows, then its final status)."""
        return self.client.jobs.stream(self)

    def cancel(self) -> Job:
        """Ask the server to stop the job."""
        return self.client.jobs.cancel(self)


@dataclass(frozen=True)
class AsyncJob(_JobFields):
    """A training job (from :class:`~mlp_client.AsyncClient`): its methods are coroutines."""

    client: AsyncClient = field(repr=False, compare=False, kw_only=True)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], client: AsyncClient) -> Self:
        return cls(**cls._fields(doc), client=client)

    async def refresh(self) -> AsyncJob:
        return await self.client.jobs.get(self.id)

    async def wait(self, progress: ProgressArg = False, timeout: float | None = None) -> AsyncModel:
        return await self.client.jobs.wait(self, progress=progress, timeout=timeout)

    def stream(self) -> AsyncIterator[JobEvent]:
        return self.client.jobs.stream(self)

    async def cancel(self) -> AsyncJob:
        return await self.client.jobs.cancel(self)


@dataclass(frozen=True)
class _ModelFields:
    id: str
    name: str | None
    task: str | None
    classes: list[Any] | None
    layers: list[int]
    label: str | None
    features: list[dict[str, Any]]
    metrics: dict[str, Any]
    dataset_id: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def _fields(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": str(doc["id"]),
            "name": doc.get("name"),
            "task": doc.get("task"),
            "classes": doc.get("classes"),
            "layers": _list(doc.get("layers")),
            "label": doc.get("label"),
            "features": _list(doc.get("features")),
            "metrics": _opt_dict(doc.get("metrics")) or {},
            "dataset_id": doc.get("dataset_id"),
            "raw": dict(doc),
        }


@dataclass(frozen=True)
class Model(_ModelFields):
    """A trained model (from :class:`~mlp_client.Client`)."""

    client: Client = field(repr=False, compare=False, kw_only=True)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], client: Client) -> Self:
        return cls(**cls._fields(doc), client=client)

    def refresh(self) -> Model:
        return self.client.models.get(self.id)

    def prediction(self, data: Any) -> Prediction:
        """Labels, probabilities and classes in one request."""
        return self.client.models.prediction(self, data)

    def predict(self, data: Any) -> list[Any]:
        """Labels (classifiers) or values (regressors), one per row of ``data``."""
        return self.prediction(data).predictions

    def predict_proba(self, data: Any) -> list[list[float]]:
        """Class probabilities (n_samples, n_classes) in ``classes`` order."""
        return self.client.models.predict_proba(self, data)

    def evaluate(self, data: Any = None, label: str | None = None) -> dict[str, Any]:
        """``{"n_samples", "metrics"}`` on ``data`` (default: the training dataset)."""
        return self.client.models.evaluate(self, data, label=label)

    def boundary(self, format: str = "json", **query: Any) -> Any:
        """The decision-boundary grid (a dict) or, with ``format="png"``, the picture (bytes)."""
        return self.client.models.boundary(self, format=format, **query)

    def download(self, path: str | PathLike[str], format: str | None = None) -> Path:
        """Save the model file (``npz``, or ``onnx``; default from the path's suffix)."""
        return self.client.models.download(self, path, format=format)

    def delete(self) -> None:
        self.client.models.delete(self)


@dataclass(frozen=True)
class AsyncModel(_ModelFields):
    """A trained model (from :class:`~mlp_client.AsyncClient`): its methods are coroutines."""

    client: AsyncClient = field(repr=False, compare=False, kw_only=True)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], client: AsyncClient) -> Self:
        return cls(**cls._fields(doc), client=client)

    async def refresh(self) -> AsyncModel:
        return await self.client.models.get(self.id)

    async def prediction(self, data: Any) -> Prediction:
        return await self.client.models.prediction(self, data)

    async def predict(self, data: Any) -> list[Any]:
        return (await self.prediction(data)).predictions

    async def predict_proba(self, data: Any) -> list[list[float]]:
        return await self.client.models.predict_proba(self, data)

    async def evaluate(self, data: Any = None, label: str | None = None) -> dict[str, Any]:
        return await self.client.models.evaluate(self, data, label=label)

    async def boundary(self, format: str = "json", **query: Any) -> Any:
        return await self.client.models.boundary(self, format=format, **query)

    async def download(self, path: str | PathLike[str], format: str | None = None) -> Path:
        return await self.client.models.download(self, path, format=format)

    async def delete(self) -> None:
        await self.client.models.delete(self)


@dataclass(frozen=True)
class _SweepFields:
    id: str
    status: str
    metric: str | None
    trials: list[dict[str, Any]]
    leaderboard: list[int]
    best: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def _fields(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": str(doc["id"]),
            "status": str(doc.get("status")),
            "metric": doc.get("metric"),
            "trials": _list(doc.get("trials")),
            "leaderboard": _list(doc.get("leaderboard")),
            "best": _opt_dict(doc.get("best")),
            "raw": dict(doc),
        }

    def _best_model_id(self) -> str:
        model_id = (self.best or {}).get("model_id")
        if not isinstance(model_id, str):
            raise ValueError(f"sweep {self.id} has no best model (it is {self.status})")
        return model_id


@dataclass(frozen=True)
class Sweep(_SweepFields):
    """A hyper-parameter sweep (from :class:`~mlp_client.Client`)."""

    client: Client = field(repr=False, compare=False, kw_only=True)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], client: Client) -> Self:
        return cls(**cls._fields(doc), client=client)

    def refresh(self) -> Sweep:
        return self.client.sweeps.get(self.id)

    def wait(self, progress: ProgressArg = False, timeout: float | None = None) -> Sweep:
        """Follow the sweep to its end -> the finished sweep (``best``, ``leaderboard``)."""
        return self.client.sweeps.wait(self, progress=progress, timeout=timeout)

    def stream(self) -> Iterator[JobEvent]:
        return self.client.sweeps.stream(self)

    def cancel(self) -> Sweep:
        return self.client.sweeps.cancel(self)

    def best_model(self) -> Model:
        return self.client.models.get(self._best_model_id())


@dataclass(frozen=True)
class AsyncSweep(_SweepFields):
    """A hyper-parameter sweep (from :class:`~mlp_client.AsyncClient`)."""

    client: AsyncClient = field(repr=False, compare=False, kw_only=True)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], client: AsyncClient) -> Self:
        return cls(**cls._fields(doc), client=client)

    async def refresh(self) -> AsyncSweep:
        return await self.client.sweeps.get(self.id)

    async def wait(self, progress: ProgressArg = False, timeout: float | None = None) -> AsyncSweep:
        return await self.client.sweeps.wait(self, progress=progress, timeout=timeout)

    def stream(self) -> AsyncIterator[JobEvent]:
        return self.client.sweeps.stream(self)

    async def cancel(self) -> AsyncSweep:
        return await self.client.sweeps.cancel(self)

    async def best_model(self) -> AsyncModel:
        return await self.client.models.get(self._best_model_id())
