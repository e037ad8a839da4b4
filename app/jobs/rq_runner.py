"""RQRunner: training jobs on RQ (Redis Queue) workers, on any number of hosts, same API.

Chosen with ``MLP_JOB_BACKEND=rq`` and ``MLP_REDIS_URL``; workers are ``python -m app.rq_worker``
(:mod:`app.jobs.rq_worker_side`); :mod:`app.jobs.rq_queue` is what both sides share.

Two records per job
    The service's own record (:class:`~app.jobs.redis_store.RedisJobStore`: status, progress,
    history, error, attempts) is what the API shows; it never expires. The RQ job (same ID,
    JSON serializer, never pickle) is only the delivery: queue position, the worker running it,
    its timeout and retry budget. Its result and failure TTLs
    (:data:`~app.jobs.rq_queue.RESULT_TTL`, :data:`~app.jobs.rq_queue.FAILURE_TTL`) therefore
    cannot lose anything the API shows.

A run on a worker
    See :mod:`app.jobs.rq_worker_side`: a forking RQ worker trains each job in a work horse with
    the same training loop as the embedded back-end; the horse heartbeats the record, mirrors
    the cancel flag and dies with its worker.

Cancel
    Queued: cancelled at once in the record (and removed from RQ's queue; a worker that
    dequeues it anyway skips it). Running: the flag is set, the run stops after its epoch; a run
    still going after ``MLP_JOB_CANCEL_GRACE_SECONDS`` gets RQ's ``send_stop_job_command`` (its
    worker kills the horse) from the maintenance thread of any API process.

Failures (at most :data:`~app.jobs.core.MAX_ATTEMPTS` runs, then ``worker_lost``)
    * the horse dies (``kill -9``, OOM): its worker notices at once and RQ's failure handling
      runs; :meth:`~app.jobs.rq_worker_side.RQTrainingWorker.handle_job_failure` settles the
      record first (queued again, or ``failed``/``worker_lost``, ``cancelled`` after a stop,
      ``failed``/``timeout``) and tells RQ whether to use the job's ``Retry(max=1)``;
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

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from rq import Queue
from rq.command import send_stop_job_command
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from app.jobs.base import JobRecord, JobRunner, JobSpec
from app.jobs.core import RunnerCore, clean_snapshots
from app.jobs.redis_store import DEFAULT_PREFIX, RedisJobStore
from app.jobs.rq_queue import DEFAULT_QUEUE, LIVE_RQ_STATUSES, STALE_AFTER, enqueue_job

# RQ jobs enqueued before the worker side moved name their function here: keep it importable.
from app.jobs.rq_worker_side import on_rq_failure, run_rq_job  # noqa: F401
from app.settings import Settings
from app.storage.ids import new_id

__all__ = ["DEFAULT_QUEUE", "RQRunner"]

logger = logging.getLogger(__name__)


class RQRunner(RunnerCore):
    """The RQ job back-end of the API (see the module docstring)."""

    store: RedisJobStore

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
            self._reconcile()
            self._clean_snapshots()  # after reconciling: the jobs it released are not running
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

    def submit(self, spec: JobSpec, job_id: str | None = None) -> JobRecord:
        """Record the job and put it on RQ's queue; :class:`~app.jobs.base.QueueFull` when
        running + queued jobs reach ``max_concurrent_jobs + max_queued_jobs``."""
        settings = self.settings
        job_id = job_id or new_id("job_")
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
        return self.positioned(record)

    def queue_order(self) -> list[str]:
        """Queued jobs in the order RQ will deliver them (its queue, front first), then any
        queued record RQ does not hold yet (the reconcile pass enqueues it at the back)."""
        queued = self.store.ids("queued")
        waiting = set(queued)
        order = [i for i in self.queue.get_job_ids() if i in waiting]
        placed = set(order)
        return order + [i for i in queued if i not in placed]

    def cancel(self, job_id: str, keep: bool = False) -> JobRecord:
        """Queued: cancelled at once (and taken off RQ's queue). Running: the run stops after its
        epoch (saving its model with ``keep``); RQ's stop command follows after the grace
        period. Terminal: ``JobStateError``."""
        self._check_id(job_id)
        record, running = self.store.request_cancel(job_id, keep)
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
            if rq_job is not None and rq_job.get_status(refresh=False) in LIVE_RQ_STATUSES:
                continue
            updated = self.store.fields(job_id, "status", "updated_at")
            recent = now - float(updated["updated_at"] or 0) < self.reconcile_interval
            if updated["status"] != "queued" or recent:
                continue  # just submitted or settled: its enqueue may be under way
            logger.warning("job %s: queued but not on RQ's queue; enqueueing it again", job_id)
            self._enqueue(job_id, replace=True)

    def _clean_snapshots(self) -> None:
        """Remove snapshot files of jobs that are not running (a killed horse leaves one)."""
        clean_snapshots(self.data_dir, self.store.ids("running"))


if TYPE_CHECKING:  # mypy proves the runner implements the whole interface
    _CHECK_PROTOCOL: type[JobRunner] = RQRunner
