"""The code a job process runs: load the dataset, fit, save the model, write the final state.

:func:`run_job` is the process entry point (started by :class:`~app.jobs.embedded.EmbeddedRunner`
from a ``forkserver`` or ``spawn`` context). It opens its own SQLite connection and starts a
watchdog thread that blocks on the pipe from the server: a ``"cancel"`` or ``"stop"`` message
raises a flag that the epoch callback reads, and end-of-file (the server died, e.g. ``kill -9``)
ends the process at once with ``os._exit`` so that a job never runs unsupervised; its row stays
``running`` and start-up recovery re-runs it.

:func:`execute_job` is the job itself, separate so tests can run it in-process. It writes every
state change through a :class:`JobSink`: the SQLite store here, the Redis store on RQ workers
(:mod:`app.jobs.rq_worker_side`), so both back-ends share one training loop.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import mlp_engine
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import core
from app.jobs.base import (
    ERROR_DISK_FULL,
    ERROR_DIVERGED,
    ERROR_INTERNAL,
    ERROR_INVALID_DATA,
    ERROR_TIMEOUT,
    JobRecord,
    JobSpec,
    JobStatus,
)
from app.jobs.core import FinalState, Progress, Report, Rows, snapshot_path
from app.jobs.folds import fit_job
from app.jobs.frames import JobFrames, job_frames_path, save_job_model
from app.jobs.sqlite_store import DB_FILENAME, SQLiteJobStore
from app.storage.datasets import DatasetMeta, DatasetStore

__all__ = [
    "MSG_CANCEL",
    "MSG_STOP",
    "JobControl",
    "JobSink",
    "JobTimeout",
    "RunOptions",
    "execute_job",
    "run_job",
    "snapshot_path",
]

logger = logging.getLogger(__name__)

# Messages the supervisor sends down the pipe.
MSG_CANCEL = "cancel"  # the user cancelled: stop after this epoch, end `cancelled`
MSG_STOP = "stop"  # the server shuts down: stop after this epoch, go back to the queue
# Exit status of a job process whose server is gone.
EXIT_ORPHANED = 70
_INTERNAL_MESSAGE = "the job failed because of an internal error (details are in the server log)"
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_METRIC_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
# Never write snapshots more often than this (seconds), however short the epochs.
_MIN_SNAPSHOT_INTERVAL = 0.25

Outcome = Literal["succeeded", "failed", "cancelled", "requeued", "lost"]


class JobSink(Protocol):
    """Where a running job records its state. Every write is fenced by ``run_id``: it applies
    only while the job is ``running`` under that run (see :class:`SQLiteJobStore`, which is one)."""

    def begin_run(self, job_id: str, run_id: str, pid: int) -> JobRecord | None:
        """The run starts in process ``pid``; None if it is no longer current (skip the job)."""

    def report(self, job_id: str, run_id: str, rows: Rows, progress: Progress) -> Report:
        """Append history rows and set the latest progress; tells whether a cancel is pending."""

    def finish(self, job_id: str, run_id: str, final: FinalState) -> bool:
        """Write the final state; False if the run was no longer current."""

    def requeue(self, job_id: str, run_id: str) -> str | None:
        """Back to the queue without counting the attempt (shutdown); the new status or None."""


class JobTimeout(Exception):
    """Raised inside a job by its back-end when it runs past ``MLP_JOB_TIMEOUT_SECONDS``."""


@dataclass(frozen=True)
class RunOptions:
    """How to run one job, besides the data dir and the job ID (picklable: it crosses into the
    job process): the run's fencing token, how often to write progress and snapshots, and the
    logging of the process."""

    run_id: str
    progress_interval_seconds: float = core.PROGRESS_INTERVAL_SECONDS
    snapshot_every_epochs: int = core.SNAPSHOT_EVERY_EPOCHS
    log_level: str = "info"
    log_json: bool = True
    # Nice value (0-19) or "idle" (``MLP_JOB_PRIORITY``) the process takes before it says
    # ``running``: whoever sees the job running sees it below the requests. None: unchanged.
    priority: int | str | None = None


@dataclass
class JobControl:
    """Flags raised in a running job by the supervisor (through the watchdog) or by SIGTERM."""

    cancel: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def stopping(self) -> bool:
        """True once training should stop after the current epoch."""
        return self.cancel.is_set() or self.stop.is_set()


# -- the process entry point ------------------------------------------------------------------


def run_job(
    data_dir: str, job_id: str, parent_pid: int, conn: Connection, options: RunOptions
) -> None:
    """Entry point of a job process: watchdog on ``conn``, then :func:`execute_job`."""
    _configure_logging(options)
    if options.priority is not None:
        lower_priority(0, options.priority)
    control = JobControl()
    # Ctrl-C reaches the whole process group: the server decides what happens to its jobs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM (e.g. the whole group is stopped): finish the epoch and go back to the queue.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: control.stop.set())
    watchdog = threading.Thread(
        target=_watch_server,
        args=(conn, parent_pid, control),
        name=f"mlp-job-watchdog-{job_id}",
        daemon=True,
    )
    watchdog.start()
    store = SQLiteJobStore(Path(data_dir) / DB_FILENAME)
    try:
        execute_job(store, Path(data_dir), job_id, control, options)
    finally:
        control.done.set()
        store.close()


def lower_priority(pid: int, priority: int | str) -> None:
    """Put process ``pid`` (0: this one) below every request, best effort: nice ``priority``
    (0-19), or ``"idle"`` for the ``SCHED_IDLE`` class (nice 19 where that class does not exist).
    """
    try:
        if priority != "idle":
            os.setpriority(os.PRIO_PROCESS, pid, int(priority))
        elif hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        else:  # pragma: no cover - not Linux
            os.setpriority(os.PRIO_PROCESS, pid, 19)
    except OSError as exc:  # e.g. the process is gone already; the job still runs
        logger.warning(
            "could not lower the priority of job process %d: %s", pid or os.getpid(), exc
        )


def _configure_logging(options: RunOptions) -> None:
    try:
        from app.logging import configure_logging

        configure_logging(options.log_level, options.log_json)
    except Exception:  # logging must never stop a job
        logging.basicConfig(level=options.log_level.upper())


def _watch_server(conn: Connection, parent_pid: int, control: JobControl) -> None:
    """Relay the server's messages into ``control``; exit the process when the server is gone.

    End-of-file on the pipe means every copy of the server's end is closed: the server died.
    The parent-PID check also catches a server that lost the pipe some other way.
    """
    while True:
        try:
            if conn.poll(1.0):
                message = conn.recv()
                if message == MSG_CANCEL:
                    control.cancel.set()
                elif message == MSG_STOP:
                    control.stop.set()
                continue
            if core.process_alive(parent_pid):
                continue
        except (EOFError, OSError):
            pass
        if control.done.is_set():
            return
        logger.warning("job process %d: server %d is gone; exiting now", os.getpid(), parent_pid)
        os._exit(EXIT_ORPHANED)


# -- the job ----------------------------------------------------------------------------------


def execute_job(
    store: JobSink,
    data_dir: Path,
    job_id: str,
    control: JobControl,
    options: RunOptions,
) -> Outcome:
    """Run one claimed job to its final state and write that state (fenced by ``run_id``).

    Returns what happened: a final status, ``"requeued"`` (server shutdown) or ``"lost"``
    (the run stopped being current: the job was recovered elsewhere or already ended).
    """
    record = store.begin_run(job_id, options.run_id, os.getpid())
    if record is None:
        logger.info("job %s: run %s is no longer current; nothing to do", job_id, options.run_id)
        return "lost"
    logger.info("job %s: started (attempt %d)", job_id, record.attempts)
    try:
        return _execute(store, Path(data_dir), job_id, record.spec, control, options)
    finally:
        snapshot_path(data_dir, job_id).unlink(missing_ok=True)
        job_frames_path(data_dir, job_id).unlink(missing_ok=True)


def _execute(
    store: JobSink,
    data_dir: Path,
    job_id: str,
    spec: JobSpec,
    control: JobControl,
    options: RunOptions,
) -> Outcome:
    run_id = options.run_id
    try:
        X, y, meta = _load_dataset(data_dir, spec.dataset_id)
    except (NotFound, Conflict) as exc:
        return _fail(store, job_id, run_id, ERROR_INVALID_DATA, exc.message)
    if meta.task != spec.task:
        message = f"dataset {spec.dataset_id!r} is for {meta.task}, not {spec.task}"
        return _fail(store, job_id, run_id, ERROR_INVALID_DATA, message)

    epochs = int(spec.training.get("epochs", 0)) or None
    reporter = _Reporter(store, job_id, run_id, epochs, options.progress_interval_seconds)
    snapshots = _Snapshotter(snapshot_path(data_dir, job_id), options)
    frames = JobFrames(job_frames_path(data_dir, job_id))  # replay (app/jobs/frames.py)
    estimator: Any = None

    def on_epoch(epoch: int, metrics: Mapping[str, Any]) -> bool:
        reporter.add(epoch, metrics)
        frames.add(epoch, estimator)
        snapshots.maybe_write(epoch, estimator)
        return not (control.stopping() or reporter.cancel_seen or reporter.lost)

    try:
        estimator = _build_estimator(spec)
        fit_job(estimator, X, y, meta, spec, on_epoch)  # all rows, or a CV fold's training rows
    except JobTimeout as exc:
        return _fail(store, job_id, run_id, ERROR_TIMEOUT, _message(exc), reporter)
    except mlp_engine.DivergedError as exc:
        return _fail(store, job_id, run_id, ERROR_DIVERGED, str(exc), reporter)
    except (ValueError, InvalidInput) as exc:
        return _fail(store, job_id, run_id, ERROR_INVALID_DATA, _message(exc), reporter)
    except Exception:
        logger.exception("job %s: training failed", job_id)
        return _fail(store, job_id, run_id, ERROR_INTERNAL, _INTERNAL_MESSAGE, reporter)

    if reporter.lost:
        logger.warning("job %s: run %s was taken over; stopping", job_id, run_id)
        return "lost"
    final: JobStatus = "succeeded"
    if control.cancel.is_set() or reporter.cancel_seen:
        if not reporter.keep_requested():
            return _end(store, job_id, run_id, "cancelled", reporter)
        final = "cancelled"  # cancel?keep=true: what was learnt is saved as the job's model
    elif control.stop.is_set():
        reporter.flush()
        status = store.requeue(job_id, run_id)
        logger.info("job %s: stopped for shutdown (%s)", job_id, status or "no longer current")
        return "requeued" if status == "queued" else "lost"
    frames.keep(data_dir, spec.model_id)  # before the model file: a model has its frames
    return _save(store, data_dir, job_id, run_id, spec, estimator, reporter, meta.label, final)


def _load_dataset(data_dir: Path, dataset_id: str) -> tuple[Any, Any, DatasetMeta]:
    """``(X, y, meta)``: ``X`` a 2-D array for an ``X``/``y`` dataset, a table
    (``{name: column}``) for a table dataset."""
    datasets = DatasetStore(data_dir, clean_temp=False)
    if datasets.get(dataset_id).layout == "table":
        return datasets.load_table(dataset_id)
    return datasets.load(dataset_id)


def _save(
    store: JobSink,
    data_dir: Path,
    job_id: str,
    run_id: str,
    spec: JobSpec,
    estimator: Any,
    reporter: _Reporter,
    label: str | None,
    status: JobStatus = "succeeded",
) -> Outcome:
    """Save the trained model under the job's model ID, then end the job ``status``."""
    try:
        save_job_model(data_dir, job_id, spec, estimator, label)
    except JobTimeout as exc:
        return _fail(store, job_id, run_id, ERROR_TIMEOUT, _message(exc), reporter)
    except Exception as exc:
        if _is_disk_full(exc):
            logger.error("job %s: no space left while saving model %s", job_id, spec.model_id)
            message = "no space left on the device while saving the model; older models are intact"
            return _fail(store, job_id, run_id, ERROR_DISK_FULL, message, reporter)
        logger.exception("job %s: saving model %s failed", job_id, spec.model_id)
        return _fail(store, job_id, run_id, ERROR_INTERNAL, _INTERNAL_MESSAGE, reporter)
    return _end(store, job_id, run_id, status, reporter, model_id=spec.model_id)


def _build_estimator(spec: JobSpec) -> Any:
    """``MLPClassifier`` / ``MLPRegressor`` from the job's architecture and training settings."""
    cls = mlp_engine.MLPClassifier if spec.task == "classification" else mlp_engine.MLPRegressor
    arch = spec.architecture
    return cls(
        hidden_layers=tuple(arch["hidden_layers"]),
        activation=arch["activation"],
        **spec.training,
    )


def _end(
    store: JobSink,
    job_id: str,
    run_id: str,
    status: JobStatus,
    reporter: _Reporter,
    *,
    model_id: str | None = None,
    error: dict[str, str] | None = None,
) -> Outcome:
    rows, progress = reporter.drain()
    final = FinalState(status, model_id=model_id, error=error, rows=rows, progress=progress)
    if store.finish(job_id, run_id, final):
        logger.info(
            "job %s: %s%s", job_id, status, f" ({error['code']})" if error is not None else ""
        )
        return cast(Outcome, status)  # a terminal status
    logger.warning("job %s: run %s is no longer current; %s not recorded", job_id, run_id, status)
    return "lost"


def _fail(
    store: JobSink,
    job_id: str,
    run_id: str,
    code: str,
    message: str,
    reporter: _Reporter | None = None,
) -> Outcome:
    reporter = reporter or _Reporter(store, job_id, run_id, None, 0.0)
    return _end(store, job_id, run_id, "failed", reporter, error={"code": code, "message": message})


def _message(exc: Exception) -> str:
    text = exc.message if isinstance(exc, InvalidInput) else str(exc)
    return text[:500] or type(exc).__name__


def _is_disk_full(exc: BaseException | None) -> bool:
    """True if ``exc`` (or an exception it was raised from) is ENOSPC / EDQUOT."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _clean(value: Any) -> Any:
    """A JSON-safe metric: finite float, or None."""
    if value is None or isinstance(value, bool | str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


class _Reporter:
    """Buffers per-epoch rows and writes them at most every ``interval`` seconds (and always at
    the last epoch); each write also tells whether a cancel is pending or the run was lost."""

    def __init__(
        self,
        store: JobSink,
        job_id: str,
        run_id: str,
        epochs: int | None,
        interval: float,
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.run_id = run_id
        self.epochs = epochs
        self.interval = interval
        self.pending: list[dict[str, Any]] = []
        self.last_write = time.monotonic()
        self.cancel_seen = False
        self.lost = False

    def add(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Record one epoch; write if the interval passed or this is the last epoch."""
        row: dict[str, Any] = {"epoch": int(epoch)}
        row.update({key: _clean(value) for key, value in metrics.items() if key != "epoch"})
        self.pending.append(row)
        last = self.epochs is not None and epoch >= self.epochs
        if last or time.monotonic() - self.last_write >= self.interval:
            self.flush()

    def progress(self) -> dict[str, Any] | None:
        """The latest row as the API's ``progress`` object (every metric key present)."""
        if not self.pending:
            return None
        row = self.pending[-1]
        progress: dict[str, Any] = {"epoch": row["epoch"], "epochs": self.epochs}
        progress.update({key: row.get(key) for key in _METRIC_KEYS})
        return progress

    def drain(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The unwritten rows and the latest progress (for the final write)."""
        rows, progress = self.pending, self.progress()
        self.pending = []
        return rows, progress

    def keep_requested(self) -> bool:
        """Whether the pending cancel asked to keep the model (read now from the store)."""
        return not self.lost and self.store.report(self.job_id, self.run_id, (), None).keep

    def flush(self) -> None:
        """Write the buffered rows now."""
        if not self.pending or self.lost:
            return
        rows, progress = self.drain()
        report = self.store.report(self.job_id, self.run_id, rows, progress)
        self.last_write = time.monotonic()
        self.lost = not report.owned
        self.cancel_seen = self.cancel_seen or report.cancel_requested


class _Snapshotter:
    """Writes the live weights every ``snapshot_every_epochs`` epochs (not more often than a few
    times a second) for live boundaries. Snapshots are disposable: written atomically (temp
    file + ``os.replace``) but not fsynced, and skipped if the estimator cannot save mid-fit."""

    def __init__(self, path: Path, options: RunOptions) -> None:
        self.path = path
        self.every = max(1, options.snapshot_every_epochs)
        self.min_interval = max(options.progress_interval_seconds, _MIN_SNAPSHOT_INTERVAL)
        self.last_write = float("-inf")
        self.failures = 0

    def maybe_write(self, epoch: int, estimator: Any) -> None:
        """Write a snapshot if one is due."""
        if estimator is None or epoch % self.every or self.failures >= 3:
            return
        now = time.monotonic()
        if now - self.last_write < self.min_interval:
            return
        self.last_write = now
        try:
            core.replace_snapshot(self.path, estimator.save)
            self.failures = 0
        except Exception as exc:
            self.failures += 1
            logger.warning(
                "snapshot of %s skipped: %s: %s", self.path.stem, type(exc).__name__, exc
            )
