"""What both job back-ends share: the store-facing records, small pure helpers, snapshot files
and :class:`RunnerCore`, the part of a :class:`~app.jobs.base.JobRunner` that only reads.

The embedded back-end (:mod:`app.jobs.embedded` over :mod:`app.jobs.sqlite_store`) and the RQ
back-end (:mod:`app.jobs.rq_runner` over :mod:`app.jobs.redis_store`) differ in how jobs are
queued, run and supervised; reading a job, listing jobs, streaming its events, serving its
snapshot and the ``Retry-After`` estimate are the same code, here.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from app.jobs.base import (
    PROGRESS_INTERVAL_SECONDS,
    SNAPSHOT_EVERY_EPOCHS,
    TERMINAL_STATUSES,
    JobEvent,
    JobNotFound,
    JobRecord,
    JobStatus,
)
from app.storage.ids import ID_RE

__all__ = [
    "DEFAULT_JOB_SECONDS",
    "JOB_STATUSES",
    "MAX_ATTEMPTS",
    "MAX_LIST",
    "PROGRESS_INTERVAL_SECONDS",
    "SNAPSHOT_EVERY_EPOCHS",
    "EventState",
    "FinalState",
    "JobReader",
    "Progress",
    "Report",
    "Rows",
    "RunnerCore",
    "clamp_limit",
    "clean_snapshots",
    "dumps",
    "estimate_retry_after",
    "from_timestamp",
    "process_alive",
    "replace_snapshot",
    "snapshot_path",
]

logger = logging.getLogger(__name__)

JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
# A job is run at most this many times when its process or worker dies (then it fails).
MAX_ATTEMPTS = 2
# Listings return at most this many records.
MAX_LIST = 1000
# Mean job duration assumed for Retry-After before any job has finished (seconds), and the cap.
DEFAULT_JOB_SECONDS = 10.0
RETRY_AFTER_MAX = 600
# Temp files of snapshots older than this are left-overs of a killed job (seconds).
_STALE_TEMP_SECONDS = 600.0
_TEMP_PREFIX = ".tmp-"

Rows = Iterable[Mapping[str, Any]]
Progress = Mapping[str, Any] | None


@dataclass(frozen=True)
class Report:
    """Answer to a progress write: is the run still the job's current run, is a cancel
    pending, and did it ask to keep the model (``cancel?keep=true``)?"""

    owned: bool
    cancel_requested: bool
    keep: bool = False


@dataclass(frozen=True)
class FinalState:
    """The final state a run writes: a terminal status, the model or the error, and the
    history rows and progress not yet written."""

    status: JobStatus
    model_id: str | None = None
    error: Mapping[str, str] | None = None
    rows: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    progress: Progress = None

    def __post_init__(self) -> None:
        if self.status not in TERMINAL_STATUSES:
            raise ValueError(f"a final state needs a terminal status, got {self.status!r}")


@dataclass(frozen=True)
class EventState:
    """What the SSE stream needs from one poll: the job's state, the history rows after the
    poll's cursor, and the cursor to pass to the next poll."""

    status: JobStatus
    run_id: str | None
    model_id: str | None
    error: dict[str, str] | None
    rows: list[dict[str, Any]]
    cursor: int


def dumps(value: Any) -> str:
    """Compact JSON, refusing NaN and infinities (records hold finite metrics only)."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def from_timestamp(value: float | str | None) -> datetime | None:
    """A stored unix time as an aware UTC datetime (None or empty stays None)."""
    return None if value is None or value == "" else datetime.fromtimestamp(float(value), UTC)


def clamp_limit(limit: int) -> int:
    """A listing's ``limit`` within 1..:data:`MAX_LIST`."""
    return max(1, min(int(limit), MAX_LIST))


def estimate_retry_after(
    durations: Sequence[float], oldest_start: float | None, now: float, concurrency: int
) -> int:
    """Seconds until a job slot is likely to free up, for ``Retry-After`` (1 to 600).

    The mean of recent run ``durations`` (:data:`DEFAULT_JOB_SECONDS` without any) minus how
    long the oldest running job (started at unix time ``oldest_start``) has run; with nothing
    running, the queue drains ``concurrency`` jobs at a time, so the mean over ``concurrency``.
    """
    mean = sum(durations) / len(durations) if durations else DEFAULT_JOB_SECONDS
    running_for = None if oldest_start is None else now - oldest_start
    estimate = mean / max(1, concurrency) if running_for is None else mean - running_for
    return int(min(RETRY_AFTER_MAX, max(1, math.ceil(estimate))))


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (a dead process not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def snapshot_path(data_dir: Path, job_id: str) -> Path:
    """Where the latest weights of a running job are kept (for live boundaries)."""
    return Path(data_dir) / "snapshots" / f"{job_id}.npz"


def replace_snapshot(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Atomically replace the disposable file ``path`` in the snapshots directory (temp file +
    ``os.replace``, not fsynced). The temp file is named after its job (``.tmp-<job>.<random>``)
    so that :func:`clean_snapshots` can tell a killed job's left-over from a write under way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = path.name.split(".")[0]
    fd, temp = tempfile.mkstemp(prefix=f"{_TEMP_PREFIX}{owner}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _snapshot_owner(name: str) -> str | None:
    """The job a snapshot file (``<job>.npz``, ``<job>.frames.npz``) or a temp file named by
    :func:`replace_snapshot` belongs to; None for a temp file without one (older versions)."""
    if not name.startswith(_TEMP_PREFIX):
        return name.split(".")[0]
    parts = name[len(_TEMP_PREFIX) :].split(".")
    return parts[0] if len(parts) == 3 else None


def clean_snapshots(data_dir: Path, running: Iterable[str]) -> None:
    """Remove the snapshots of jobs that are not ``running``, and the temp files left by such
    a job killed while writing one. A temp file with no job in its name is removed when older
    than 10 minutes (younger, it may be a write under way)."""
    directory = Path(data_dir) / "snapshots"
    if not directory.is_dir():
        return
    keep = set(running)
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for path in directory.iterdir():
        try:
            if path.suffix != ".npz":
                continue
            owner = _snapshot_owner(path.name)
            if owner is None:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            elif owner not in keep:
                path.unlink(missing_ok=True)
        except OSError:
            logger.warning("could not remove stale snapshot file %s", path.name)


class JobReader(Protocol):
    """The reading side of a job store, as :class:`RunnerCore` uses it."""

    def get(self, job_id: str) -> JobRecord | None: ...

    def list(
        self, status: JobStatus | None = None, limit: int = 100, owner: str | None = None
    ) -> builtins.list[JobRecord]: ...

    def queue_order(self) -> builtins.list[str]: ...

    def exists(self, job_id: str) -> bool: ...

    def status(self, job_id: str) -> str | None: ...

    def counts(self) -> dict[str, int]: ...

    def event_state(self, job_id: str, cursor: int) -> EventState | None: ...


class RunnerCore:
    """The read methods of a :class:`~app.jobs.base.JobRunner`, over ``self.store``.

    A back-end sets ``store``, ``data_dir`` and ``events_poll_interval`` and adds ``start``,
    ``stop``, ``ready``, ``submit`` and ``cancel`` (which should call :meth:`_check_id`)."""

    store: JobReader
    data_dir: Path
    events_poll_interval: float

    @staticmethod
    def _check_id(job_id: str) -> None:
        """:class:`~app.jobs.base.JobNotFound` for a string that cannot be a job ID."""
        if not ID_RE.fullmatch(job_id):
            raise JobNotFound(job_id)

    def get(self, job_id: str) -> JobRecord:
        """One job with its history; :class:`~app.jobs.base.JobNotFound` if unknown."""
        self._check_id(job_id)
        record = self.store.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return self.positioned(record)

    def list(
        self, status: JobStatus | None = None, limit: int = 100, owner: str | None = None
    ) -> builtins.list[JobRecord]:
        """Newest first, optionally filtered by status and owner identity (``history`` left
        empty in listings); queued jobs carry their ``queue_position``."""
        records = self.store.list(status, limit, owner)
        if not any(r.status == "queued" for r in records):
            return records
        order = {job_id: i for i, job_id in enumerate(self.queue_order())}
        return [self._place(r, order) for r in records]

    def queue_order(self) -> builtins.list[str]:
        """IDs of the queued jobs in the order this runner will start them."""
        return self.store.queue_order()

    def positioned(self, record: JobRecord) -> JobRecord:
        """``record`` with its ``queue_position`` when it is queued."""
        if record.status != "queued":
            return record
        return self._place(record, {job_id: i for i, job_id in enumerate(self.queue_order())})

    @staticmethod
    def _place(record: JobRecord, order: Mapping[str, int]) -> JobRecord:
        """A queued record missing from ``order`` (just submitted or cancelled meanwhile) is
        counted last."""
        if record.status != "queued":
            return record
        return replace(record, queue_position=order.get(record.id, len(order)))

    def counts(self) -> dict[str, int]:
        """Number of jobs per status."""
        return self.store.counts()

    def snapshot(self, job_id: str, max_bytes: int | None = None) -> bytes | None:
        """The latest weights snapshot of a running job (model-file bytes), if any; at most
        ``max_bytes + 1`` bytes are read (a longer answer means the file is over the limit).

        Only while the job is running: a run records its final state before it deletes its
        snapshot, and a finished job's picture comes from its model."""
        if not ID_RE.fullmatch(job_id) or self.store.status(job_id) != "running":
            return None
        try:
            with snapshot_path(self.data_dir, job_id).open("rb") as fh:
                return fh.read(-1 if max_bytes is None else max_bytes + 1)
        except OSError:
            return None

    def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """Progress events for every epoch of the current run, then one ``status`` event.
        Raises :class:`~app.jobs.base.JobNotFound` here, at the call, for an unknown job."""
        self._check_id(job_id)
        if not self.store.exists(job_id):
            raise JobNotFound(job_id)
        return self._events(job_id)

    async def _events(self, job_id: str) -> AsyncIterator[JobEvent]:
        cursor = 0
        run_id: str | None = None
        while True:
            state = await asyncio.to_thread(self.store.event_state, job_id, cursor)
            if state is None:
                return
            if state.run_id is not None and state.run_id != run_id:
                if run_id is not None:  # the job is being re-run: its history starts over
                    state = await asyncio.to_thread(self.store.event_state, job_id, 0)
                    if state is None:
                        return
                run_id = state.run_id
            for row in state.rows:
                yield JobEvent("progress", row)
            cursor = state.cursor
            if state.status in TERMINAL_STATUSES:
                data = {
                    "id": job_id,
                    "status": state.status,
                    "model_id": state.model_id,
                    "error": state.error,
                }
                yield JobEvent("status", data)
                return
            await asyncio.sleep(self.events_poll_interval)
