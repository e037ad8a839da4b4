"""The worker side of the RQ back-end: :class:`RQTrainingWorker` (run by
``python -m app.rq_worker``), :func:`run_rq_job` (the RQ job function, run in a work horse) and
:func:`on_rq_failure` (RQ's failure callback for abandoned runs).

A run on a worker
    :class:`RQTrainingWorker` is RQ's forking ``Worker``: each job runs in a work horse forked
    from a worker that has the engine (and NumPy with one BLAS thread) already imported.
    :func:`run_rq_job` calls :func:`app.jobs.execute.execute_job`, the same training loop as the
    embedded back-end, with the Redis store as its sink and the RQ execution ID as the run's
    fencing token. A heartbeat thread in the horse refreshes the record every
    :data:`HEARTBEAT_INTERVAL` seconds, raises the cooperative cancel flag that the training
    loop checks after every epoch, and ends the horse if its worker dies (``PR_SET_PDEATHSIG``
    plus a parent-PID check), so a job never runs unsupervised.

Failures and shutdown are described in :mod:`app.jobs.rq_runner`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from rq import Queue, Worker
from rq.exceptions import AbandonedJobError, NoSuchJobError, StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

from app.jobs import core, execute, frames
from app.jobs.base import ERROR_TIMEOUT, JobRecord
from app.jobs.core import FinalState, Progress, Report, Rows, snapshot_path
from app.jobs.redis_store import DEFAULT_PREFIX, RedisJobStore, SettleReason
from app.jobs.rq_queue import LIVE_RQ_STATUSES, STALE_AFTER, requeue_ended
from app.settings import Settings

__all__ = [
    "HEARTBEAT_INTERVAL",
    "RQJobTimeout",
    "RQTrainingWorker",
    "on_rq_failure",
    "run_rq_job",
]

logger = logging.getLogger(__name__)

# A running job's horse refreshes its record this often (and reads the cancel flag).
HEARTBEAT_INTERVAL = 0.5
# How long the worker's pub/sub thread blocks in one read (see RQTrainingWorker.subscribe).
PUBSUB_POLL_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1
EXIT_ORPHANED = execute.EXIT_ORPHANED


class RQJobTimeout(JobTimeoutException, execute.JobTimeout):
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


_horse: _HorseContext | None = None  # set in the work horse by RQTrainingWorker.perform_job


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

    def __init__(self, store: RedisJobStore, control: execute.JobControl, parent_pid: int) -> None:
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

    def report(self, job_id: str, run_id: str, rows: Rows, progress: Progress) -> Report:
        """Progress rows (fenced by the run)."""
        return self.store.report(job_id, run_id, rows, progress)

    def finish(self, job_id: str, run_id: str, final: FinalState) -> bool:
        """The final state (fenced by the run)."""
        self._done.set()
        return self.store.finish(job_id, run_id, final)

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
    progress_interval_seconds: float = core.PROGRESS_INTERVAL_SECONDS,
    snapshot_every_epochs: int = core.SNAPSHOT_EVERY_EPOCHS,
) -> dict[str, str]:
    """The RQ job function (runs in a work horse of :class:`RQTrainingWorker`): train the service's
    job ``job_id`` with :func:`app.jobs.execute.execute_job`. Returns ``{"job_id", "outcome"}``
    (kept ``RESULT_TTL`` seconds by RQ); the service's record holds the real result."""
    context = _horse if _horse is not None else _fallback_context()
    store = RedisJobStore(
        context.connection, prefix=prefix, owner=context.worker, stale_after=STALE_AFTER
    )
    control = execute.JobControl()
    # SIGTERM from our worker (warm shutdown): finish the epoch, go back to the queue.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: control.stop.set())
    sink = _HorseSink(store, control, context.parent_pid)
    options = execute.RunOptions(
        run_id=context.run_id,
        progress_interval_seconds=progress_interval_seconds,
        snapshot_every_epochs=snapshot_every_epochs,
        log_level=context.log_level,
        log_json=context.log_json,
    )
    try:
        outcome: str = execute.execute_job(sink, context.data_dir, job_id, control, options)
    except execute.JobTimeout as exc:  # raised outside the training loop
        error = {"code": ERROR_TIMEOUT, "message": str(exc)[:500]}
        ended = store.finish(job_id, context.run_id, FinalState("failed", error=error))
        outcome = "failed" if ended else "lost"
    finally:
        sink.close()
    return {"job_id": job_id, "outcome": outcome}


def _fallback_context() -> _HorseContext:
    """The context when the job runs under a plain ``rq worker`` instead of
    :class:`RQTrainingWorker` (supported, without the shortened abandoned-job detection)."""
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


class RQTrainingWorker(Worker):
    """RQ's forking worker, adapted to the service's job records.

    * ``abandon_after``: seconds without a heartbeat from the worker before RQ's
      ``StartedJobRegistry.cleanup`` treats a job as abandoned (RQ's default is the monitoring
      interval + 60 s);
    * failures of a run (dead horse, stop command, hard timeout) settle the service's record
      before RQ decides on its retry;
    * a warm shutdown (SIGTERM) stops the running job after its epoch and re-queues it, and
      an idle worker exits within about a second (see :meth:`subscribe` and :meth:`_shutdown`).
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
        kept = self._keep(store, job.id) if reason == "stopped" else None
        if execution is not None:
            new = store.settle(
                job.id, execution.id, reason, timeout_seconds=job.timeout, kept_model_id=kept
            )
        else:
            stale = time.time() - STALE_AFTER
            new = store.settle(job.id, None, reason, stale_before=stale)
        status = new if new not in (None, "alive") else store.status(job.id)
        if new is not None and new != "alive":
            logger.warning(
                "job %s: its run ended without a final state (%s); now %s", job.id, reason, new
            )
            snapshot_path(self.data_dir, job.id).unlink(missing_ok=True)
            frames.job_frames_path(self.data_dir, job.id).unlink(missing_ok=True)
        if status != "queued":
            job.retries_left = 0  # nothing to run again (ended, or another run is alive)

    def _keep(self, store: RedisJobStore, job_id: str) -> str | None:
        """``cancel?keep=true`` of a run stopped after the grace period: its latest snapshot
        becomes the job's model (the model ID; None without keep or without a snapshot)."""
        return frames.keep_if_asked(self.data_dir, job_id, store.get(job_id, history=False))

    def subscribe(self) -> None:
        """RQ's subscription to the worker's command channel, with a pub/sub thread that waits
        at most :data:`PUBSUB_POLL_SECONDS` per call instead of RQ's 60 s.

        At shutdown RQ sends UNSUBSCRIBE, then calls the thread's ``stop()``, which (redis-py
        8) joins the thread without a timeout. If the thread has read the UNSUBSCRIBE reply
        and called ``get_message`` again before ``stop()`` cleared its running flag, it waits
        there for a subscription, up to its whole timeout: a warm shutdown of an idle worker
        then took up to 60 s (more often under load, when the main thread is slower)."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=PUBSUB_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def _shutdown(self) -> None:
        """Remember the stop request before RQ raises ``StopRequested`` into whatever an idle
        worker is doing: code that catches ``Exception`` there (a logging handler, a check
        after a job) would swallow it, and the worker would block in its next dequeue for
        ``dequeue_timeout`` (minutes). :meth:`dequeue_job_and_maintain_ttl` reads the flag."""
        self._stop_requested = True
        super()._shutdown()  # type: ignore[no-untyped-call]

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """RQ's blocking dequeue, unless a stop was requested (then ``StopRequested``)."""
        if self._stop_requested:
            raise StopRequested()
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job in a horse; afterwards make sure a job whose record went back to the
        queue (warm shutdown, or a retry RQ would not make) is on RQ's queue again."""
        super().execute_job(job, queue)
        try:
            if self._store().status(job.id) != "queued":
                return
            current = Job.fetch(job.id, connection=self.connection, serializer=self.serializer)
            if current.get_status(refresh=False) not in LIVE_RQ_STATUSES:
                requeue_ended(queue, current)
        except NoSuchJobError:
            logger.warning("job %s: queued, but RQ lost it; the API will enqueue it again", job.id)
        except StopRequested:  # SIGTERM now: the worker's loop must see it
            raise
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
    :meth:`RQTrainingWorker.handle_job_failure`."""
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
