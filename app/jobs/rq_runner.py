"""RQRunner: training jobs on RQ (Redis Queue) workers, on any number of hosts, same API.

Chosen with ``MLP_JOB_BACKEND=rq`` and ``MLP_REDIS_URL``; workers are ``python -m app.worker``.

Two records per job
    The service's own record (:class:`~app.jobs.redis_store.RedisJobStore`: status, progress,
    history, error, attempts) is what the API shows; it never expires. The RQ job (same ID,
    JSON serializer, never pickle) is only the delivery: queue position, the worker running it,
    its timeout and retry budget. Its result and failure TTLs (:data:`RESULT_TTL`,
    :data:`FAILURE_TTL`) therefore cannot lose anything the API shows.

A run on a worker
    :class:`MLPWorker` is RQ's forking ``Worker``: each job runs in a work horse forked from a
    worker that has the engine (and NumPy with one BLAS thread) already imported.
    :func:`run_rq_job` is the RQ job function: it calls :func:`app.jobs.worker.execute_job`,
    the same training loop as the embedded back-end, with the Redis store as its sink and the
    RQ execution ID as the run's fencing token. A heartbeat thread in the horse refreshes the
    record every :data:`HEARTBEAT_INTERVAL` seconds, raises the cooperative cancel flag that
    the training loop checks after every epoch, and ends the horse if its worker dies
    (``PR_SET_PDEATHSIG`` plus a parent-PID check), so a job never runs unsupervised.

Cancel
    Queued: cancelled at once in the record (and removed from RQ's queue; a worker that
    dequeues it anyway skips it). Running: the flag is set, the run stops after its epoch; a run
    still going after ``MLP_JOB_CANCEL_GRACE_SECONDS`` gets RQ's ``send_stop_job_command`` (its
    worker kills the horse) from the maintenance thread of any API process.

Failures (at most :data:`~app.jobs.sqlite_store.MAX_ATTEMPTS` runs, then ``worker_lost``)
    * the horse dies (``kill -9``, OOM): its worker notices at once and RQ's failure handling
      runs; :meth:`MLPWorker.handle_job_failure` settles the record first (queued again, or
      ``failed``/``worker_lost``, ``cancelled`` after a stop, ``failed``/``timeout``) and tells
      RQ whether to use the job's ``Retry(max=1)``;
    * the whole worker dies (host crash, ``kill -9`` of the worker): RQ's abandoned-job handling
      (``StartedJobRegistry.cleanup``) finds the execution once its heartbeat is older than the
      worker's ``--abandon-after`` (15 s by default instead of RQ's 60 s + monitoring interval),
      calls :func:`on_rq_failure` (which settles the record) and retries. That cleanup runs in
      each worker's maintenance (``--maintenance-interval``, 10 s) and in every API process
      every ``cleanup_interval`` seconds (under RQ's maintenance lock), so it also happens while
      every worker is busy or dead;
    * anything else (a lost callback, a stuck maintenance lock, a record left ``queued`` with no
      RQ job): the API's reconcile pass settles a running record whose heartbeat is older than
      ``lost_after`` and re-enqueues queued records that RQ no longer has.
    A worker that receives SIGTERM (``docker compose stop``) tells its horse to stop after the
    epoch; the job goes back to the queue without counting the attempt.

Capacity
    Identical to the embedded runner: running + queued jobs over ``MLP_MAX_CONCURRENT_JOBS +
    MLP_MAX_QUEUED_JOBS`` raise :class:`~app.jobs.base.QueueFull`. The number of jobs that run
    at once is the number of workers; set ``MLP_MAX_CONCURRENT_JOBS`` to it.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import ctypes
import logging
import math
import os
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import redis
from rq import Callback, Queue, Retry, Worker
from rq.command import send_stop_job_command
from rq.exceptions import (
    AbandonedJobError,
    DuplicateJobError,
    InvalidJobOperation,
    NoSuchJobError,
)
from rq.executions import Execution
from rq.job import Job
from rq.job import JobStatus as RQJobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import JobTimeoutException, TimerDeathPenalty, UnixSignalDeathPenalty

from app.jobs import worker as job_worker
from app.jobs.base import (
    ERROR_TIMEOUT,
    TERMINAL_STATUSES,
    JobEvent,
    JobNotFound,
    JobRecord,
    JobRunner,
    JobSpec,
    JobStatus,
)
from app.jobs.redis_store import DEFAULT_PREFIX, RedisJobStore, SettleReason
from app.jobs.sqlite_store import Report
from app.settings import Settings
from app.storage.ids import ID_RE, new_id

__all__ = [
    "DEFAULT_QUEUE",
    "FAILURE_TTL",
    "HEARTBEAT_INTERVAL",
    "RESULT_TTL",
    "MLPWorker",
    "RQRunner",
    "enqueue_job",
    "on_rq_failure",
    "run_rq_job",
]

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "mlp-jobs"
JOB_FUNCTION = "app.jobs.rq_runner.run_rq_job"
FAILURE_CALLBACK = "app.jobs.rq_runner.on_rq_failure"
# RQ's copy of a finished / failed job (for `rq info` and debugging); the service's record,
# which the API shows, has no expiry.
RESULT_TTL = 24 * 3600
FAILURE_TTL = 7 * 24 * 3600
# A running job's horse refreshes its record this often (and reads the cancel flag).
HEARTBEAT_INTERVAL = 0.5
# Another delivery of a job may take over a run whose heartbeat is older than this (seconds).
STALE_AFTER = 10.0
# RQ statuses in which the RQ job will still be (or is being) delivered to a worker.
_LIVE_RQ_STATUSES = frozenset(
    {RQJobStatus.QUEUED, RQJobStatus.STARTED, RQJobStatus.SCHEDULED, RQJobStatus.DEFERRED}
)
_PR_SET_PDEATHSIG = 1
EXIT_ORPHANED = job_worker.EXIT_ORPHANED


# -- enqueueing -------------------------------------------------------------------------------


def enqueue_job(
    queue: Queue,
    job_id: str,
    *,
    timeout: float,
    kwargs: Mapping[str, Any],
    replace: bool = False,
) -> Job:
    """Put the service's job ``job_id`` on RQ: JSON serializer (the queue's), RQ job ID = the
    service's job ID, a hard timeout, one retry after a worker death, :func:`on_rq_failure`
    for abandoned runs, and no TTL while queued. ``replace`` first deletes an RQ job of that ID
    that ended (its record was put back in the queue)."""
    if replace:
        with contextlib.suppress(NoSuchJobError):
            Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).delete()
    return queue.enqueue_call(
        JOB_FUNCTION,
        args=(job_id,),
        kwargs=dict(kwargs),
        timeout=max(1, math.ceil(timeout)),
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        ttl=None,
        job_id=job_id,
        retry=Retry(max=1),
        on_failure=Callback(FAILURE_CALLBACK),
        description=f"train {job_id}",
        unique=True,
    )


def _requeue_ended(queue: Queue, job: Job) -> None:
    """Enqueue again an RQ job that ended while its record went back to ``queued``."""
    enqueue_job(queue, job.id, timeout=float(job.timeout or 1), kwargs=job.kwargs, replace=True)
    logger.info("job %s: back in RQ queue %s", job.id, queue.name)


# -- the work horse ---------------------------------------------------------------------------


class RQJobTimeout(JobTimeoutException, job_worker.JobTimeout):
    """RQ's job timeout, recognised by the training loop (``failed`` with code ``timeout``)."""


class _JobDeathPenalty(UnixSignalDeathPenalty):
    """RQ's SIGALRM timeout, raising :class:`RQJobTimeout` for jobs (other uses unchanged)."""

    def __init__(
        self, timeout: int, exception: type[BaseException] = JobTimeoutException, **kwargs: Any
    ) -> None:
        if exception is JobTimeoutException:
            exception = RQJobTimeout
        super().__init__(timeout, exception, **kwargs)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _HorseContext:
    """What :func:`run_rq_job` needs from the worker that forked the horse."""

    worker: str
    run_id: str
    connection: redis.Redis
    data_dir: Path
    parent_pid: int
    log_level: str
    log_json: bool


_horse: _HorseContext | None = None  # set in the work horse by MLPWorker.perform_job


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (best effort elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl
        os._exit(EXIT_ORPHANED)


class _HorseSink:
    """The Redis store as the training loop's sink, plus the run's heartbeat thread (started
    once the run has begun): it refreshes the record, mirrors the cancel flag into ``control``
    and ends the process if the worker that forked it is gone."""

    def __init__(
        self, store: RedisJobStore, control: job_worker.JobControl, parent_pid: int
    ) -> None:
        self.store = store
        self.control = control
        self.parent_pid = parent_pid
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def begin_run(self, job_id: str, run_id: str, pid: int) -> JobRecord | None:
        """Begin the run (see :meth:`RedisJobStore.begin`); start heartbeating if it may go."""
        outcome, status = self.store.begin(job_id, run_id, pid)
        if outcome != "ok":
            logger.info("job %s: not run (%s%s)", job_id, outcome, f", {status}" if status else "")
            return None
        self._thread = threading.Thread(
            target=self._beat, args=(job_id, run_id), name=f"mlp-heartbeat-{job_id}", daemon=True
        )
        self._thread.start()
        return self.store.get(job_id, history=False)

    def report(
        self,
        job_id: str,
        run_id: str,
        rows: Iterable[Mapping[str, Any]],
        progress: Mapping[str, Any] | None,
    ) -> Report:
        """Progress rows (fenced by the run)."""
        return self.store.report(job_id, run_id, rows, progress)

    def finish(
        self,
        job_id: str,
        run_id: str,
        status: JobStatus,
        *,
        model_id: str | None = None,
        error: Mapping[str, str] | None = None,
        rows: Iterable[Mapping[str, Any]] = (),
        progress: Mapping[str, Any] | None = None,
    ) -> bool:
        """The final state (fenced by the run)."""
        self._done.set()
        return self.store.finish(
            job_id, run_id, status, model_id=model_id, error=error, rows=rows, progress=progress
        )

    def requeue(self, job_id: str, run_id: str) -> str | None:
        """Back to the queue after a warm shutdown (fenced by the run)."""
        self._done.set()
        return self.store.requeue(job_id, run_id)

    def close(self) -> None:
        """Stop the heartbeat thread."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(2 * HEARTBEAT_INTERVAL)

    def _beat(self, job_id: str, run_id: str) -> None:
        while not self._done.wait(HEARTBEAT_INTERVAL):
            if os.getppid() != self.parent_pid:
                logger.warning(
                    "job %s: its worker %d is gone; exiting now", job_id, self.parent_pid
                )
                os._exit(EXIT_ORPHANED)
            try:
                report = self.store.heartbeat(job_id, run_id)
            except redis.RedisError as exc:
                logger.warning("job %s: heartbeat failed: %s", job_id, exc)
                continue
            if not report.owned:
                logger.warning("job %s: run %s is no longer current; stopping", job_id, run_id)
                self.control.stop.set()
                return
            if report.cancel_requested and not self.control.cancel.is_set():
                logger.info("job %s: cancel requested; stopping after this epoch", job_id)
                self.control.cancel.set()


def run_rq_job(
    job_id: str,
    *,
    prefix: str = DEFAULT_PREFIX,
    progress_interval_seconds: float = 0.2,
    snapshot_every_epochs: int = 5,
) -> dict[str, str]:
    """The RQ job function (runs in a work horse of :class:`MLPWorker`): train the service's
    job ``job_id`` with :func:`app.jobs.worker.execute_job`. Returns ``{"job_id", "outcome"}``
    (kept ``RESULT_TTL`` seconds by RQ); the service's record holds the real result."""
    context = _horse if _horse is not None else _fallback_context()
    store = RedisJobStore(
        context.connection, prefix=prefix, owner=context.worker, stale_after=STALE_AFTER
    )
    control = job_worker.JobControl()
    # SIGTERM from our worker (warm shutdown): finish the epoch, go back to the queue.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: control.stop.set())
    sink = _HorseSink(store, control, context.parent_pid)
    options = job_worker.WorkerOptions(
        run_id=context.run_id,
        progress_interval_seconds=progress_interval_seconds,
        snapshot_every_epochs=snapshot_every_epochs,
        log_level=context.log_level,
        log_json=context.log_json,
    )
    try:
        outcome: str = job_worker.execute_job(sink, context.data_dir, job_id, control, options)
    except job_worker.JobTimeout as exc:  # raised outside the training loop
        error = {"code": ERROR_TIMEOUT, "message": str(exc)[:500]}
        outcome = (
            "failed" if store.finish(job_id, context.run_id, "failed", error=error) else "lost"
        )
    finally:
        sink.close()
    return {"job_id": job_id, "outcome": outcome}


def _fallback_context() -> _HorseContext:
    """The context when the job runs under a plain ``rq worker`` instead of :class:`MLPWorker`
    (supported, without the shortened abandoned-job detection)."""
    from rq import get_current_job

    settings = Settings()
    job = get_current_job()
    connection = job.connection if job is not None else redis.Redis.from_url(settings.redis_url)
    return _HorseContext(
        worker=os.environ.get("RQ_WORKER_ID", ""),
        run_id=uuid.uuid4().hex,
        connection=connection,
        data_dir=Path(settings.data_dir),
        parent_pid=os.getppid(),
        log_level=settings.log_level,
        log_json=settings.log_json,
    )


# -- the worker -------------------------------------------------------------------------------


class MLPWorker(Worker):
    """RQ's forking worker, adapted to the service's job records.

    * ``abandon_after``: seconds without a heartbeat from the worker before RQ's
      ``StartedJobRegistry.cleanup`` treats a job as abandoned (RQ's default is the monitoring
      interval + 60 s);
    * failures of a run (dead horse, stop command, hard timeout) settle the service's record
      before RQ decides on its retry;
    * a warm shutdown (SIGTERM) stops the running job after its epoch and re-queues it.
    """

    death_penalty_class = _JobDeathPenalty

    def __init__(
        self,
        *args: Any,
        data_dir: Path,
        abandon_after: float = 15.0,
        prefix: str = DEFAULT_PREFIX,
        log_level: str = "info",
        log_json: bool = True,
        **kwargs: Any,
    ) -> None:
        """RQ's ``Worker`` arguments, plus where the data dir is and the settings above."""
        super().__init__(*args, **kwargs)
        self.data_dir = Path(data_dir)
        self.abandon_after = abandon_after
        self.prefix = prefix
        self.log_level = log_level
        self.log_json = log_json

    def _store(self) -> RedisJobStore:
        return RedisJobStore(self.connection, prefix=self.prefix, stale_after=STALE_AFTER)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """How long an execution stays "started" without a heartbeat (whole seconds)."""
        interval = float(self.job_monitoring_interval)
        return max(1, math.ceil(max(self.abandon_after, interval + 1.0)))

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        """In the work horse: die with the worker, then run the job under RQ's control."""
        global _horse
        parent = os.getppid()
        _die_with_parent(parent)
        _horse = _HorseContext(
            worker=self.name,
            run_id=execution.id,
            connection=self.connection,
            data_dir=self.data_dir,
            parent_pid=parent,
            log_level=self.log_level,
            log_json=self.log_json,
        )
        return bool(super().perform_job(job, queue, execution))

    def handle_warm_shutdown_request(self) -> None:
        """SIGTERM/SIGINT: the horse stops after its epoch and re-queues its job."""
        super().handle_warm_shutdown_request()  # type: ignore[no-untyped-call]
        if self.horse_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.horse_pid, signal.SIGTERM)

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: StartedJobRegistry | None = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        """Settle the service's record of the run that failed, then let RQ record the failure
        (retrying only if the record went back to the queue)."""
        try:
            self._settle(job, execution)
        except Exception:  # RQ's own bookkeeping must still run
            logger.exception("job %s: could not settle the failed run", job.id)
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    def _settle(self, job: Job, execution: Execution | None) -> None:
        store = self._store()
        reason: SettleReason = "lost"
        if self._stopped_job_id == job.id:
            reason = "stopped"
        elif job.timeout and job.started_at is not None:
            elapsed = time.time() - job.started_at.timestamp()
            if elapsed >= float(job.timeout):
                reason = "timeout"
        if execution is not None:
            new = store.settle(job.id, execution.id, reason, timeout_seconds=job.timeout)
        else:
            stale = time.time() - STALE_AFTER
            new = store.settle(job.id, None, reason, stale_before=stale)
        status = new if new not in (None, "alive") else store.status(job.id)
        if new is not None and new != "alive":
            logger.warning(
                "job %s: its run ended without a final state (%s); now %s", job.id, reason, new
            )
            job_worker.snapshot_path(self.data_dir, job.id).unlink(missing_ok=True)
        if status != "queued":
            job.retries_left = 0  # nothing to run again (ended, or another run is alive)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job in a horse; afterwards make sure a job whose record went back to the
        queue (warm shutdown, or a retry RQ would not make) is on RQ's queue again."""
        super().execute_job(job, queue)
        try:
            if self._store().status(job.id) != "queued":
                return
            current = Job.fetch(job.id, connection=self.connection, serializer=self.serializer)
            if current.get_status(refresh=False) not in _LIVE_RQ_STATUSES:
                _requeue_ended(queue, current)
        except NoSuchJobError:
            logger.warning("job %s: queued, but RQ lost it; the API will enqueue it again", job.id)
        except Exception:
            logger.exception("job %s: could not check whether it must be enqueued again", job.id)


def on_rq_failure(
    job: Job,
    connection: redis.Redis,
    exc_type: type[BaseException] | None,
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> None:
    """RQ failure callback. For an abandoned run (its worker died), settle the service's record
    before RQ decides on the retry; other failures are settled by
    :meth:`MLPWorker.handle_job_failure`."""
    if not (isinstance(exc_type, type) and issubclass(exc_type, AbandonedJobError)):
        return
    prefix = str((job.kwargs or {}).get("prefix", DEFAULT_PREFIX))
    store = RedisJobStore(connection, prefix=prefix, stale_after=STALE_AFTER)
    # RQ delivers a job to one worker at a time, so the record's current run is the abandoned
    # one. Its work horse died with its worker (PR_SET_PDEATHSIG); were it somehow still alive,
    # its next write would find the run settled and stop it (fencing).
    new = store.settle(job.id, None, "lost")
    status = new if new is not None else store.status(job.id)
    logger.warning("job %s: abandoned by its worker; now %s", job.id, status)
    if status == "queued":
        job.retries_left = max(1, job.retries_left or 0)  # RQ's cleanup enqueues it again
    else:
        job.retries_left = 0


# -- the API's side ---------------------------------------------------------------------------


class RQRunner:
    """The RQ job back-end of the API (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        queue_name: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        maintenance_interval: float = 1.0,
        cleanup_interval: float = 5.0,
        reconcile_interval: float = 10.0,
        lost_after: float = 60.0,
        events_poll_interval: float = 0.15,
    ) -> None:
        """Connects lazily; nothing runs until :meth:`start`. ``lost_after`` is how long a
        running record may go without a heartbeat before the reconcile pass gives its run up
        (RQ's abandoned-job handling normally acts well before)."""
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        name = queue_name or settings.rq_queue
        self.connection = redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=2.0, socket_timeout=5.0
        )
        self.queue = Queue(name, connection=self.connection, serializer=JSONSerializer)
        self.store = RedisJobStore(self.connection, prefix=prefix, stale_after=STALE_AFTER)
        self.prefix = prefix
        self.maintenance_interval = maintenance_interval
        self.cleanup_interval = cleanup_interval
        self.reconcile_interval = reconcile_interval
        self.lost_after = lost_after
        self.events_poll_interval = events_poll_interval
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Reconcile records with RQ once, then start the maintenance thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        try:
            self._clean_snapshots()
            self._reconcile()
        except Exception as exc:  # Redis down: the thread retries; ready() is False meanwhile
            logger.warning("RQ runner: start-up reconcile failed (%s)", exc)
        self._thread = threading.Thread(target=self._maintain, name="mlp-rq-maintenance")
        self._thread.daemon = True
        self._thread.start()
        logger.info("job runner started (RQ queue %s on %s)", self.queue.name, self._where())

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the maintenance thread. Jobs run on the workers and are not affected."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        self._thread = None
        self.connection.close()
        logger.info("job runner stopped")

    def ready(self) -> bool:
        """The maintenance thread runs and Redis answers."""
        thread = self._thread
        alive = thread is not None and thread.is_alive() and not self._stopping.is_set()
        return alive and self.store.ping()

    # -- the API's side ----------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> JobRecord:
        """Record the job and put it on RQ's queue; :class:`~app.jobs.base.QueueFull` when
        running + queued jobs reach ``max_concurrent_jobs + max_queued_jobs``."""
        settings = self.settings
        job_id = new_id("job_")
        record = self.store.submit(
            job_id,
            spec,
            capacity=settings.max_concurrent_jobs + settings.max_queued_jobs,
            concurrency=settings.max_concurrent_jobs,
        )
        try:
            self._enqueue(job_id)
        except redis.RedisError:  # recorded as queued: the reconcile pass enqueues it
            logger.exception("job %s: could not enqueue it on RQ (will retry)", job_id)
        return record

    def get(self, job_id: str) -> JobRecord:
        """One job with its history; :class:`~app.jobs.base.JobNotFound` if unknown."""
        record = self.store.get(job_id) if ID_RE.fullmatch(job_id) else None
        if record is None:
            raise JobNotFound(job_id)
        return record

    def list(self, status: JobStatus | None = None, limit: int = 100) -> builtins.list[JobRecord]:
        """Newest first, optionally filtered by status (``history`` left empty in listings)."""
        return self.store.list(status, limit)

    def cancel(self, job_id: str) -> JobRecord:
        """Queued: cancelled at once (and taken off RQ's queue). Running: the run stops after its
        epoch; RQ's stop command follows after the grace period. Terminal: ``JobStateError``."""
        if not ID_RE.fullmatch(job_id):
            raise JobNotFound(job_id)
        record, running = self.store.request_cancel(job_id)
        if running:
            self._wake.set()
        else:
            try:
                Job.fetch(job_id, connection=self.connection, serializer=JSONSerializer).cancel()
            except (NoSuchJobError, InvalidJobOperation, redis.RedisError) as exc:
                logger.info(
                    "job %s: not removed from RQ's queue (%s); workers skip it", job_id, exc
                )
        return record

    def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """Progress events for every epoch of the current run, then one ``status`` event.
        Raises :class:`~app.jobs.base.JobNotFound` here, at the call, for an unknown job."""
        if not ID_RE.fullmatch(job_id) or not self.store.exists(job_id):
            raise JobNotFound(job_id)
        return self._events(job_id)

    async def _events(self, job_id: str) -> AsyncIterator[JobEvent]:
        seen = 0  # history rows of the current run already sent
        run_id: str | None = None
        while True:
            state = await asyncio.to_thread(self.store.event_state, job_id, seen)
            if state is None:
                return
            if state.run_id is not None and state.run_id != run_id:
                if run_id is not None:  # the job is being re-run: its history starts over
                    seen = 0
                    state = await asyncio.to_thread(self.store.event_state, job_id, 0)
                    if state is None:
                        return
                run_id = state.run_id
            for row in state.rows:
                seen += 1
                yield JobEvent("progress", row)
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

    def snapshot(self, job_id: str) -> bytes | None:
        """The latest weights snapshot of a running job (the data dir is shared with workers)."""
        if not ID_RE.fullmatch(job_id) or self.store.status(job_id) != "running":
            return None
        try:
            return job_worker.snapshot_path(self.data_dir, job_id).read_bytes()
        except OSError:
            return None

    def counts(self) -> dict[str, int]:
        """Number of jobs per status."""
        return self.store.counts()

    # -- maintenance -------------------------------------------------------------------------

    def _where(self) -> str:
        kwargs = self.connection.connection_pool.connection_kwargs
        return f"{kwargs.get('host', 'unix socket')}:{kwargs.get('port', '')}/{kwargs.get('db', 0)}"

    def _job_kwargs(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "progress_interval_seconds": self.settings.progress_interval_seconds,
            "snapshot_every_epochs": self.settings.snapshot_every_epochs,
        }

    def _enqueue(self, job_id: str, *, replace: bool = False) -> None:
        try:
            enqueue_job(
                self.queue,
                job_id,
                timeout=self.settings.job_timeout_seconds,
                kwargs=self._job_kwargs(),
                replace=replace,
            )
        except DuplicateJobError:  # another API process enqueued it again just now
            logger.info("job %s: already enqueued again by another process", job_id)

    def _maintain(self) -> None:
        """The maintenance thread: stop commands, abandoned-job cleanup, reconcile."""
        next_cleanup = next_reconcile = time.monotonic()
        failing = False
        while not self._stopping.is_set():
            now = time.monotonic()
            try:
                self._enforce_cancels()
                if now >= next_cleanup:
                    self._cleanup_abandoned()
                    next_cleanup = now + self.cleanup_interval
                if now >= next_reconcile:
                    self._reconcile()
                    next_reconcile = now + self.reconcile_interval
                if failing:
                    logger.info("RQ runner: Redis answers again")
                failing = False
            except redis.RedisError as exc:
                if not failing:
                    logger.error("RQ runner: Redis is unavailable (%s); retrying", exc)
                failing = True
            except Exception:
                logger.exception("RQ runner: maintenance tick failed")
            self._wake.wait(self.maintenance_interval)
            self._wake.clear()

    def _enforce_cancels(self) -> None:
        """Send RQ's stop command for running jobs that ignored their cancel for the grace
        period (again every grace period while they keep running)."""
        grace = self.settings.job_cancel_grace_seconds
        now = time.time()
        for job_id in self.store.ids("running"):
            fields = self.store.fields(
                job_id, "cancel_requested", "cancel_requested_at", "stop_sent_at"
            )
            if fields["cancel_requested"] != "1":
                continue
            since = float(fields["stop_sent_at"] or fields["cancel_requested_at"] or now)
            if now - since < grace:
                continue
            try:
                send_stop_job_command(self.connection, job_id, serializer=JSONSerializer)
                logger.warning(
                    "job %s: still running %g s after its cancel; stopping it", job_id, grace
                )
            except (NoSuchJobError, InvalidJobOperation) as exc:
                logger.info("job %s: no RQ execution to stop (%s)", job_id, exc)
            self.store.mark_stop_sent(job_id)

    def _cleanup_abandoned(self) -> None:
        """RQ's abandoned-job handling for the queue (runs the failure callback, retries),
        under the same lock as the workers' maintenance."""
        if not self.queue.acquire_maintenance_lock():
            return
        try:
            StartedJobRegistry(queue=self.queue, death_penalty_class=TimerDeathPenalty).cleanup()
        finally:
            self.queue.release_maintenance_lock()  # type: ignore[no-untyped-call]

    def _reconcile(self) -> None:
        """The safety net: settle running records silent for ``lost_after`` seconds, and put
        queued records back on RQ's queue when RQ no longer has them."""
        now = time.time()
        for job_id in self.store.ids("running"):
            beat = self.store.fields(job_id, "heartbeat_at")["heartbeat_at"]
            if beat is not None and now - float(beat) < self.lost_after:
                continue
            new = self.store.settle(job_id, None, "lost", stale_before=now - self.lost_after)
            if new is not None and new != "alive":
                logger.warning(
                    "job %s: no heartbeat for %g s; now %s", job_id, self.lost_after, new
                )
                if new == "queued":
                    self._enqueue(job_id, replace=True)
        queued = self.store.ids("queued")
        if not queued:
            return
        rq_jobs = Job.fetch_many(queued, connection=self.connection, serializer=JSONSerializer)
        for job_id, rq_job in zip(queued, rq_jobs, strict=True):
            if rq_job is not None and rq_job.get_status(refresh=False) in _LIVE_RQ_STATUSES:
                continue
            updated = self.store.fields(job_id, "status", "updated_at")
            recent = now - float(updated["updated_at"] or 0) < self.reconcile_interval
            if updated["status"] != "queued" or recent:
                continue  # just submitted or settled: its enqueue may be under way
            logger.warning("job %s: queued but not on RQ's queue; enqueueing it again", job_id)
            self._enqueue(job_id, replace=True)

    def _clean_snapshots(self) -> None:
        """Remove snapshot files of jobs that are not running (a killed horse leaves one)."""
        directory = self.data_dir / "snapshots"
        if not directory.is_dir():
            return
        running = set(self.store.ids("running"))
        for path in directory.glob("*.npz"):
            if path.stem not in running:
                path.unlink(missing_ok=True)


if TYPE_CHECKING:  # mypy proves the runner implements the whole interface
    _CHECK_PROTOCOL: type[JobRunner] = RQRunner
