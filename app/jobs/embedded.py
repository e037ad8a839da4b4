"""EmbeddedRunner: training jobs in child processes supervised by the server itself.

Process model
    Each running job is one child process from a ``forkserver`` context (``spawn`` where there is
    none), never a bare fork of the server. The fork server preloads ``mlp_engine`` and
    :mod:`app.jobs.execute`, so a job process starts in a few milliseconds, and it is started with
    ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` = 1 so jobs and requests
    do not fight over the cores. Each job process runs at nice ``MLP_JOB_PRIORITY`` (10): the
    server's requests get most of a contended core and preempt it on waking (docs/benchmarks.md,
    HTTP: predict p99 with two jobs training, 4x the idle p99 at nice 0, 2x in ``SCHED_IDLE``).
    ``SCHED_IDLE`` (``MLP_JOB_PRIORITY=idle``, the default until issue 18's loaded runs) yields
    to any other process too: with both cores busy elsewhere a job got almost no CPU. The
    event loop never trains: the API calls the runner's synchronous methods from its thread
    pool, and :meth:`EmbeddedRunner.events` polls the database from a worker thread.

Supervisor
    One daemon thread per runner claims queued jobs in FIFO order while fewer than
    ``max_concurrent_jobs`` run (counted in the database, so the cap holds across
    ``uvicorn --workers N``), starts their processes, heartbeats them, forwards cancellations
    down each job's pipe, kills a job that ignores a cancel for ``job_cancel_grace_seconds`` or
    runs past ``job_timeout_seconds``, and reaps children. A child that exits without a final
    state is re-queued once, then failed ``interrupted``.

Recovery
    A running job whose owner stopped heartbeating (``stale_after`` seconds) or whose owner
    process is known to be dead (same host and PID namespace, PID gone) is released by whichever
    runner notices first: re-run once, then failed ``interrupted``. Its old process cannot run on:
    it exits as soon as its pipe to the dead server reaches end-of-file.

Shutdown
    :meth:`EmbeddedRunner.stop` stops claiming and tells every child to stop after its current
    epoch; each puts its job back in the queue (without counting the attempt) and the next start
    resumes it. Children that do not stop in time are killed and their jobs re-queued the same way.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from app.jobs import execute, frames
from app.jobs.base import ERROR_TIMEOUT, JobRecord, JobRunner, JobSpec
from app.jobs.core import (
    MAX_ATTEMPTS,
    FinalState,
    RunnerCore,
    clean_snapshots,
    process_alive,
    snapshot_path,
)
from app.jobs.sqlite_store import DB_FILENAME, RunnerIdentity, SQLiteJobStore
from app.settings import Settings
from app.storage.ids import new_id

__all__ = ["EmbeddedRunner"]

logger = logging.getLogger(__name__)

# Environment of job processes (and of the fork server they come from).
JOB_ENVIRONMENT = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}
# "__main__" as in the stdlib default: children then do not re-import the main module each.
_PRELOAD = ["__main__", "mlp_engine", "app.jobs.execute"]
_ENV_LOCK = threading.Lock()
# After terminate/kill, how long to wait for a child before giving up on it (seconds).
_KILL_WAIT = 1.0

StopReason = Literal["cancel", "timeout", "stop", "lost"]


@contextmanager
def _job_environment() -> Iterator[None]:
    """Temporarily give ``os.environ`` the job processes' variables (a started fork server or
    spawned child keeps the environment it was started with)."""
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in JOB_ENVIRONMENT}
        os.environ.update(JOB_ENVIRONMENT)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _mp_context() -> ForkServerContext | SpawnContext:
    """``forkserver`` with the engine preloaded, else ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _local_scope() -> str:
    """Host, PID namespace and boot: two runners with the same scope see the same PIDs."""
    parts = [socket.gethostname()]
    try:
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        parts.append("-")
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    except OSError:
        parts.append("-")
    return "|".join(parts)


@dataclass
class _Child:
    """A job process this runner started."""

    job_id: str
    run_id: str
    process: BaseProcess
    conn: Connection  # send end of the pipe; the child blocks on the other end
    deadline: float  # monotonic time of the job timeout
    reason: StopReason | None = None
    signalled_at: float | None = None  # when the cancel/stop message was sent
    killed_at: float | None = None

    def send(self, message: str) -> None:
        with contextlib.suppress(OSError):  # the child is gone already; the reaper sees it
            self.conn.send(message)


class EmbeddedRunner(RunnerCore):
    """The default job back-end: SQLite queue + one supervised child process per running job."""

    store: SQLiteJobStore

    def __init__(
        self,
        settings: Settings,
        *,
        heartbeat_interval: float = 1.0,
        stale_after: float = 5.0,
        poll_interval: float = 0.1,
        events_poll_interval: float = 0.15,
    ) -> None:
        """Nothing is started here (see :meth:`start`); the database is opened and migrated."""
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = SQLiteJobStore(self.data_dir / DB_FILENAME)
        self.identity = RunnerIdentity(uuid.uuid4().hex, _local_scope(), os.getpid())
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.poll_interval = poll_interval
        self.events_poll_interval = events_poll_interval
        self._ctx = _mp_context()
        self._children: dict[str, _Child] = {}  # touched by the supervisor thread only
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stop_deadline = 0.0
        self._recovered = False
        self._claim_after = 0.0
        self._last_write_ok = float("-inf")
        self._wake_r = self._wake_w = -1  # self-pipe that wakes the supervisor (see start())

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Recover jobs of dead runners, then start the supervisor thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        try:
            self._heartbeat()
            self._recover()
            self._clean_snapshots()  # after recovery: the jobs it released are not running
        except Exception:  # the supervisor retries; ready() stays False meanwhile
            logger.exception("job recovery at start-up failed")
        self._thread = threading.Thread(target=self._supervise, name="mlp-job-supervisor")
        self._thread.daemon = True
        self._thread.start()
        logger.info(
            "job runner started (%s, max %d concurrent jobs)",
            self._ctx.get_start_method(),
            self.settings.max_concurrent_jobs,
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop claiming; running jobs stop after their epoch and go back to the queue (killed
        and re-queued if they take longer than ``timeout``)."""
        thread = self._thread
        if thread is None:
            return
        self._stop_deadline = time.monotonic() + max(0.0, timeout)
        self._stopping.set()
        self._wake()
        thread.join(timeout + 2 * _KILL_WAIT)
        if thread.is_alive():  # pragma: no cover - the supervisor is stuck in the database
            logger.error("job supervisor did not stop in time")
        self._thread = None
        wake_r, wake_w = self._wake_r, self._wake_w
        self._wake_r = self._wake_w = -1
        os.close(wake_r)
        os.close(wake_w)
        try:
            self.store.remove_runner(self.identity.owner)
        except Exception:
            logger.warning("could not unregister runner %s", self.identity.owner)
        self.store.close()
        logger.info("job runner stopped")

    def ready(self) -> bool:
        """Recovery ran, the supervisor runs, and the database took a write recently."""
        thread = self._thread
        recent = time.monotonic() - self._last_write_ok < max(3 * self.heartbeat_interval, 5.0)
        return (
            self._recovered
            and thread is not None
            and thread.is_alive()
            and not self._stopping.is_set()
            and recent
        )

    # -- the API's side ----------------------------------------------------------------------

    def submit(self, spec: JobSpec, job_id: str | None = None) -> JobRecord:
        """Queue a job (FIFO); :class:`~app.jobs.base.QueueFull` when running + queued jobs
        reach ``max_concurrent_jobs + max_queued_jobs``."""
        capacity = self.settings.max_concurrent_jobs + self.settings.max_queued_jobs
        record = self.store.insert(
            job_id or new_id("job_"),
            spec,
            capacity=capacity,
            concurrency=self.settings.max_concurrent_jobs,
        )
        record = self.positioned(record)  # before the wake: it may be claimed at once
        self._wake()
        return record

    def cancel(self, job_id: str, keep: bool = False) -> JobRecord:
        """Queued: cancelled at once. Running: the supervisor tells the process to stop after
        its epoch and kills it after the grace period; with ``keep`` the run saves its model
        first. Terminal: ``JobStateError``."""
        self._check_id(job_id)
        record = self.store.request_cancel(job_id, keep)
        self._wake()
        return record

    # -- the supervisor ----------------------------------------------------------------------

    def _wake(self) -> None:
        fd = self._wake_w
        if fd < 0:  # not started
            return
        with contextlib.suppress(OSError):  # BlockingIOError: already woken (pipe full)
            os.write(fd, b"\0")

    def _supervise(self) -> None:
        """The supervisor thread: tick until stopped, then shut the children down."""
        self._warm_up()
        next_heartbeat = next_recovery = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            try:
                self._reap()
                if now >= next_heartbeat:
                    self._heartbeat()
                    next_heartbeat = now + self.heartbeat_interval
                if now >= next_recovery:
                    self._recover()
                    next_recovery = now + min(self.heartbeat_interval, self.stale_after / 2)
                self._sync_flags(now)
                self._enforce_deadlines(now)
                self._fill_slots()
            except Exception:  # e.g. the database is locked or the disk is gone: retry
                logger.exception("job supervisor tick failed")
                self._stopping.wait(1.0)
            self._wait(self.poll_interval)
        try:
            self._shutdown_children()
        except Exception:  # pragma: no cover - last resort
            logger.exception("job supervisor shutdown failed")

    def _warm_up(self) -> None:
        """Start the fork server now (it preloads the engine) so the first job starts fast."""
        if not isinstance(self._ctx, ForkServerContext):
            return
        try:
            with _job_environment():
                multiprocessing.forkserver.ensure_running()
        except Exception:  # the first job start will try again and report the error
            logger.exception("could not start the job fork server")

    def _wait(self, timeout: float) -> None:
        """Sleep until a child exits, the runner is woken, or ``timeout`` passes."""
        handles: list[int] = [self._wake_r]
        handles.extend(child.process.sentinel for child in self._children.values())
        multiprocessing.connection.wait(handles, timeout)
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _heartbeat(self) -> None:
        self.store.heartbeat(self.identity)
        self._last_write_ok = time.monotonic()

    def _recover(self) -> None:
        """Release running jobs of dead runners (stale heartbeat, or a dead local process)."""
        dead = [
            owner.owner
            for owner in self.store.foreign_owners(self.identity.owner)
            if owner.scope == self.identity.scope and owner.pid and not process_alive(owner.pid)
        ]
        released = self.store.recover(
            stale_before=time.time() - self.stale_after,
            dead_owners=dead,
            exclude_owner=self.identity.owner,
            max_attempts=MAX_ATTEMPTS,
        )
        for job_id, status in released:
            logger.warning("job %s: its runner died; now %s", job_id, status)
            if status != "running":
                snapshot_path(self.data_dir, job_id).unlink(missing_ok=True)
        self._recovered = True

    def _fill_slots(self) -> None:
        """Claim queued jobs (FIFO) while the global concurrency cap allows, and start them."""
        if time.monotonic() < self._claim_after:  # a process failed to start: back off
            return
        while not self._stopping.is_set() and self.store.has_queued():
            claim = self.store.claim(self.identity, self.settings.max_concurrent_jobs)
            if claim is None:
                return
            if not self._start_child(claim.job_id, claim.run_id):
                return

    def _start_child(self, job_id: str, run_id: str) -> bool:
        options = execute.RunOptions(
            run_id=run_id,
            progress_interval_seconds=self.settings.progress_interval_seconds,
            snapshot_every_epochs=self.settings.snapshot_every_epochs,
            log_level=self.settings.log_level,
            log_json=self.settings.log_json,
            priority=self.settings.job_priority,
        )
        child_end, server_end = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=execute.run_job,
            args=(str(self.data_dir), job_id, os.getpid(), child_end, options),
            name=f"mlp-job-{job_id}",
            daemon=True,
        )
        try:
            with _job_environment():
                process.start()
        except Exception:
            logger.exception("job %s: could not start its process; back to the queue", job_id)
            server_end.close()
            self.store.requeue(job_id, run_id)
            self._claim_after = time.monotonic() + 1.0
            return False
        finally:
            child_end.close()  # only the child may hold it: its EOF must mean "server gone"
        pid = cast(int, process.pid)  # set by start()
        # Both sides lower it, so that the PID is never seen at nice 0: the child before it
        # says ``running`` (begin_run), this side before it records the PID (set_pid).
        execute.lower_priority(pid, self.settings.job_priority)
        deadline = time.monotonic() + self.settings.job_timeout_seconds
        self._children[job_id] = _Child(job_id, run_id, process, server_end, deadline)
        self.store.set_pid(job_id, run_id, pid)
        logger.info("job %s: process %d started", job_id, pid)
        return True

    def _sync_flags(self, now: float) -> None:
        """Forward cancellations to children; stop children whose job is no longer theirs."""
        if not self._children:
            return
        owned = self.store.owned_running(self.identity.owner)
        for child in self._children.values():
            if child.reason is not None or child.process.exitcode is not None:
                continue
            current = owned.get(child.job_id)
            if current is None or current[0] != child.run_id:
                # Ended (the child wrote its final state and is exiting) or taken over.
                self._signal(child, "lost", execute.MSG_STOP, now)
            elif current[1]:
                logger.info("job %s: cancel requested; telling process to stop", child.job_id)
                self._signal(child, "cancel", execute.MSG_CANCEL, now)

    @staticmethod
    def _signal(child: _Child, reason: StopReason, message: str, now: float) -> None:
        child.reason = reason
        child.signalled_at = now
        child.send(message)

    def _enforce_deadlines(self, now: float) -> None:
        """Kill children past the job timeout, or still alive after a cancel's grace period."""
        grace = self.settings.job_cancel_grace_seconds
        for child in self._children.values():
            if child.process.exitcode is not None:
                continue
            if child.reason is None and now >= child.deadline:
                logger.warning("job %s: timed out; killing its process", child.job_id)
                child.reason, child.signalled_at = "timeout", now
                self._kill(child, now)
            elif (
                child.signalled_at is not None
                and child.killed_at is None
                and now - child.signalled_at >= grace
            ):
                logger.warning("job %s: did not stop within %g s; killing", child.job_id, grace)
                self._kill(child, now)

    def _keep(self, job_id: str) -> str | None:
        """``cancel?keep=true`` of a run killed after the grace period: its latest snapshot
        becomes the job's model (the model ID; None without keep or without a snapshot)."""
        return frames.keep_if_asked(self.data_dir, job_id, self.store.get(job_id))

    @staticmethod
    def _kill(child: _Child, now: float) -> None:
        child.killed_at = now
        with contextlib.suppress(OSError, ValueError):  # already gone
            child.process.kill()

    def _reap(self) -> None:
        """Settle every child that has exited."""
        for child in builtins.list(self._children.values()):
            if child.process.exitcode is None:
                continue
            self._settle(child)

    def _settle(self, child: _Child) -> None:
        """Write the final state a dead child could not write itself (fenced by run_id, so a
        state the child did write is left alone)."""
        exitcode = child.process.exitcode
        self._children.pop(child.job_id, None)
        child.conn.close()
        child.process.join(0)
        child.process.close()
        job_id, run_id = child.job_id, child.run_id
        result: str | None
        if child.reason == "cancel":
            model_id = self._keep(job_id)
            ok = self.store.finish(job_id, run_id, FinalState("cancelled", model_id=model_id))
            result = "cancelled" if ok else None
        elif child.reason == "timeout":
            limit = self.settings.job_timeout_seconds
            error = {"code": ERROR_TIMEOUT, "message": f"the job ran longer than {limit:g} s"}
            ok = self.store.finish(job_id, run_id, FinalState("failed", error=error))
            result = "failed (timeout)" if ok else None
        elif child.reason == "stop":
            result = self.store.requeue(job_id, run_id)
        elif child.reason == "lost":
            result = None
        else:
            result = self.store.release(job_id, run_id, MAX_ATTEMPTS)
        if result is not None:
            logger.warning("job %s: process exited (code %s); job %s", job_id, exitcode, result)
        snapshot_path(self.data_dir, job_id).unlink(missing_ok=True)
        frames.job_frames_path(self.data_dir, job_id).unlink(missing_ok=True)

    def _shutdown_children(self) -> None:
        """Tell every child to stop, wait until the stop deadline, kill the rest, re-queue."""
        now = time.monotonic()
        for child in self._children.values():
            if child.reason is None:  # cancelled, timed-out or lost children were told already
                self._signal(child, "stop", execute.MSG_STOP, now)
        soft_deadline = self._stop_deadline - _KILL_WAIT
        while self._children and time.monotonic() < soft_deadline:
            sentinels = [child.process.sentinel for child in self._children.values()]
            multiprocessing.connection.wait(sentinels, min(0.1, soft_deadline - time.monotonic()))
            self._reap()
        stragglers = builtins.list(self._children.values())
        for child in stragglers:
            logger.warning("job %s: did not stop in time; killing", child.job_id)
            self._kill(child, time.monotonic())
        give_up = time.monotonic() + _KILL_WAIT
        for child in stragglers:
            child.process.join(max(0.0, give_up - time.monotonic()))
            if child.process.exitcode is not None:
                self._settle(child)

    def _clean_snapshots(self) -> None:
        """Remove snapshot files of jobs that are not running (see :func:`clean_snapshots`)."""
        clean_snapshots(self.data_dir, (record.id for record in self.store.list("running", 1000)))


if TYPE_CHECKING:  # mypy proves the runner implements the whole interface
    _CHECK_PROTOCOL: type[JobRunner] = EmbeddedRunner
