"""The job-runner interface shared by every back-end (embedded processes today, RQ later).

The HTTP layer only ever talks to a :class:`JobRunner`; swapping the back-end must not change
the API. Records are plain dataclasses so they serialise the same way from SQLite or Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from app.errors import Conflict, NotFound, ServiceError

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
# Defaults of MLP_PROGRESS_INTERVAL_SECONDS and MLP_SNAPSHOT_EVERY_EPOCHS (also the defaults of
# a run's options): progress is written at most every 0.2 s, a weights snapshot every 5 epochs.
PROGRESS_INTERVAL_SECONDS = 0.2
SNAPSHOT_EVERY_EPOCHS = 5

# Error codes a job can end with (``JobRecord.error["code"]``).
ERROR_DIVERGED = "diverged"  # non-finite loss or weights
ERROR_INTERRUPTED = "interrupted"  # the job's process died twice (server crash, kill -9)
ERROR_DISK_FULL = "disk_full"  # no space left while saving the model
ERROR_TIMEOUT = "timeout"  # ran longer than MLP_JOB_TIMEOUT_SECONDS
ERROR_INVALID_DATA = "invalid_data"  # the dataset vanished or does not fit the request
ERROR_WORKER_LOST = "worker_lost"  # RQ back-end: the worker died twice
ERROR_INTERNAL = "internal"  # anything else (details are logged, never returned)


class JobError(ServiceError):
    """Base class of the runner's typed errors (service errors: each carries its HTTP status)."""


class JobNotFound(JobError, NotFound):
    """An unknown job (HTTP 404)."""

    def __init__(self, job_id: str) -> None:
        NotFound.__init__(self, "job", job_id)
        self.job_id = job_id


class JobStateError(JobError, Conflict):
    """The job is in the wrong state for the request (HTTP 409)."""


class QueueFull(JobError):
    """Running + queued jobs are at capacity (HTTP 429 with Retry-After)."""

    status_code = 429
    code = "queue_full"

    def __init__(self, capacity: int, retry_after: int) -> None:
        super().__init__(
            f"the job queue is full ({capacity} running or queued jobs); retry in {retry_after} s"
        )
        self.capacity = capacity
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {**super().body(), "retry_after": self.retry_after}

    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, int(self.retry_after)))}


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to run a job; validated by the API before it gets here.

    ``training`` holds the engine's keyword arguments (``MLPClassifier(**training)``) with every
    default already resolved; ``architecture`` is ``{"hidden_layers": [...], "activation": ...}``.
    ``model_id`` is chosen at submission so that a re-run overwrites the same model atomically.
    """

    dataset_id: str
    task: Literal["classification", "regression"]
    architecture: dict[str, Any]
    training: dict[str, Any]
    model_id: str
    name: str | None = None
    # The owner identity (``app.owners``) of the key that submitted it; None without keys.
    owner: str | None = None
    # The sweep this job is a trial (or the refit) of (``app.services.sweeps``).
    sweep_id: str | None = None
    # A cross-validation fold job: ``{"k", "fold", "seed"}``; it trains on the other k - 1 folds
    # and its model's ``evaluation.test`` is measured on this fold (``app.jobs.folds``).
    cv_fold: dict[str, int] | None = None


@dataclass
class JobRecord:
    """The public state of one job (the API's ``JobPublic`` is built from this)."""

    id: str
    status: JobStatus
    created_at: datetime
    spec: JobSpec
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Latest per-epoch row: {epoch, epochs, loss, accuracy?, val_loss?, val_accuracy?}.
    progress: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    model_id: str | None = None  # set once the model file is completely written
    error: dict[str, str] | None = None  # {"code": ..., "message": ...}
    attempts: int = 0
    cancel_requested: bool = False
    cancel_keep: bool = False  # the cancel asked to keep the model (cancel?keep=true)
    # Queued: how many jobs the runner will start before this one (0 = next); else None.
    queue_position: int | None = None

    @property
    def owner(self) -> str | None:
        """The owner identity of the key that submitted the job (``app.owners``)."""
        return self.spec.owner


@dataclass(frozen=True)
class JobEvent:
    """One server-sent event: ``progress`` (data = a history row) or ``status`` (the final one)."""

    event: Literal["progress", "status"]
    data: dict[str, Any]


class JobRunner(Protocol):
    """What the API needs from a job back-end."""

    def start(self) -> None:
        """Recover interrupted jobs, then begin running queued ones."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling; running jobs are interrupted and re-queued for the next start."""

    def ready(self) -> bool:
        """True once recovery has run and the runner can accept and run jobs."""

    def submit(self, spec: JobSpec, job_id: str | None = None) -> JobRecord:
        """Queue a job (FIFO) under ``job_id`` (a new ID when None). Raises :class:`QueueFull`
        when at capacity, :class:`JobStateError` when ``job_id`` already exists."""

    def get(self, job_id: str) -> JobRecord:
        """Raises :class:`JobNotFound`."""

    def list(
        self, status: JobStatus | None = None, limit: int = 100, owner: str | None = None
    ) -> list[JobRecord]:
        """Newest first, optionally filtered by status and by ``owner`` (an owner identity;
        None: every job). ``history`` may be left empty (a listing would carry every epoch of
        every job); :meth:`get` returns it."""

    def cancel(self, job_id: str, keep: bool = False) -> JobRecord:
        """Request cancellation. Queued: cancelled at once. Running: stops within one epoch,
        killed after the grace period; with ``keep`` the run saves what it learnt as the job's
        model first. Raises :class:`JobStateError` if already terminal."""

    def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """Progress events for every reported epoch (from the start), then one final status
        event; ends when the job is terminal. Raises :class:`JobNotFound` before yielding."""

    def snapshot(self, job_id: str, max_bytes: int | None = None) -> bytes | None:
        """The latest weights snapshot of a running job as model-file bytes (``.npz``), if any;
        at most ``max_bytes + 1`` bytes (more than ``max_bytes``: the file is over the limit)."""

    def counts(self) -> dict[str, int]:
        """Number of jobs per status (for /metrics)."""
