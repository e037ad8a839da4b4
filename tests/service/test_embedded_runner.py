"""EmbeddedRunner with real job processes, the real engine and the real stores on a temp dir.

Covers: success with a model and history; FIFO behind a concurrency of one; QueueFull; cancel of
a queued job, of a running job, and of one that ignores the cancel (killed after the grace);
divergence; missing dataset; disk full; timeout; kill -9 of a job process (re-run once, then
`interrupted`); a job process whose server is killed exits, and a new runner finishes the job;
SIGTERM-style stop re-queues and the next start resumes; SSE events.

No test depends on the machine's speed: a job that must still run when the test acts is
endless (``FOREVER``) and is made finite (:func:`helpers.jobdb.set_epochs`) only once the run
that must not end is gone; a job that must ignore its cancel is frozen with SIGSTOP; what must
not happen is checked after an event that would have followed it (a log record, a recovery pass).
"""

from __future__ import annotations

import asyncio
import errno
import io
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.jobdb import running_pid, set_epochs
from helpers.processes import pid_gone
from helpers.specs import FOREVER, make_spec, settings_for, stored_dataset
from helpers.waiting import TERMINAL, wait_for

import mlp_engine
from app.jobs.base import JobEvent, JobNotFound, JobRecord, JobStateError, QueueFull
from app.jobs.core import snapshot_path
from app.jobs.embedded import JOB_ENVIRONMENT, EmbeddedRunner, _local_scope
from app.jobs.execute import JobControl, RunOptions, execute_job
from app.jobs.frames import job_frames_path, model_frames_path
from app.jobs.sqlite_store import DB_FILENAME, RunnerIdentity, SQLiteJobStore
from app.storage.models import ModelStore

# -- helpers ----------------------------------------------------------------------------------


def warnings_with(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """Messages of the captured warnings (and worse) that contain ``text``."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and text in r.getMessage()
    ]


@pytest.fixture
def dataset_id(data_dir: Path) -> str:
    """A stored 200-row two-class dataset (``data_dir`` is the directory's fixture)."""
    return stored_dataset(data_dir)


RunnerFactory = Callable[..., EmbeddedRunner]


@pytest.fixture
def make_runner(data_dir: Path) -> Iterator[RunnerFactory]:
    """Build and start runners with fast heartbeats; every one is stopped at teardown."""
    runners: list[EmbeddedRunner] = []

    def factory(start: bool = True, stale_after: float = 1.0, **overrides: Any) -> EmbeddedRunner:
        runner = EmbeddedRunner(
            settings_for(data_dir, **overrides),
            heartbeat_interval=0.2,
            stale_after=stale_after,
            poll_interval=0.05,
            events_poll_interval=0.05,
        )
        runners.append(runner)
        if start:
            runner.start()
        return runner

    yield factory
    for runner in runners:
        runner.stop(timeout=5.0)


# Waits only turn a hang into a failure: a job start is a process spawn plus imports, which on
# a loaded 2-core machine (busy neighbours, a parallel suite) can take many seconds.
WAIT = 120.0


def wait_terminal(runner: EmbeddedRunner, job_id: str, timeout: float = WAIT) -> JobRecord:
    def ended() -> JobRecord | None:
        record = runner.get(job_id)
        return record if record.status in TERMINAL else None

    return wait_for(ended, timeout, f"job {job_id} to end")


def wait_running(runner: EmbeddedRunner, data_dir: Path, job_id: str) -> int:
    """Wait until the job runs and has reported an epoch; return its process ID."""
    wait_for(lambda: runner.get(job_id).progress is not None, WAIT, f"job {job_id} to report")
    pid = running_pid(data_dir, job_id)
    assert pid is not None
    return pid


# -- the happy paths --------------------------------------------------------------------------


def test_job_runs_to_succeeded_with_model_and_history(
    make_runner: RunnerFactory, data_dir: Path, dataset_id: str
) -> None:
    runner = make_runner()
    assert runner.ready()
    submitted = runner.submit(make_spec(dataset_id, epochs=8))
    assert submitted.status == "queued"
    record = wait_terminal(runner, submitted.id)
    assert record.status == "succeeded", record.error
    assert record.model_id == "model_1" and record.error is None
    assert [row["epoch"] for row in record.history] == list(range(1, 9))
    assert {"loss", "accuracy"} <= set(record.history[-1])
    assert record.progress is not None
    assert (record.progress["epoch"], record.progress["epochs"]) == (8, 8)
    assert record.started_at is not None and record.finished_at is not None
    assert record.created_at <= record.started_at <= record.finished_at
    assert record.attempts == 1
    meta = ModelStore(data_dir).get("model_1")
    assert meta.job_id == submitted.id and meta.dataset_id == dataset_id
    assert runner.snapshot(submitted.id) is None  # removed when the job ends
    assert runner.counts()["succeeded"] == 1
    assert [r.id for r in runner.list("succeeded")] == [submitted.id]


def test_two_jobs_behind_concurrency_one_run_in_order(
    make_runner: RunnerFactory, dataset_id: str
) -> None:
    runner = make_runner(max_concurrent_jobs=1)
    first = runner.submit(make_spec(dataset_id, "m_first", epochs=40, batch_size=4))
    second = runner.submit(make_spec(dataset_id, "m_second", epochs=5))
    a = wait_terminal(runner, first.id)
    b = wait_terminal(runner, second.id)
    assert (a.status, b.status) == ("succeeded", "succeeded")
    assert a.finished_at is not None and b.started_at is not None
    assert a.finished_at <= b.started_at
    assert [r.id for r in runner.list()] == [second.id, first.id]  # newest first


def test_events_yield_every_epoch_then_status(make_runner: RunnerFactory, dataset_id: str) -> None:
    runner = make_runner()
    with pytest.raises(JobNotFound):
        runner.events("job_unknown")
    job = runner.submit(make_spec(dataset_id, epochs=30, batch_size=8))

    async def collect() -> list[JobEvent]:
        return [event async for event in runner.events(job.id)]

    events = asyncio.run(collect())
    progress = [e for e in events if e.event == "progress"]
    assert [e.data["epoch"] for e in progress] == list(range(1, 31))
    assert events[-1].event == "status"
    assert events[-1].data == {
        "id": job.id,
        "status": "succeeded",
        "model_id": "model_1",
        "error": None,
    }
    # A stream opened after the end replays the history, then the status.
    again = asyncio.run(collect())
    assert [e.event for e in again] == ["progress"] * 30 + ["status"]


# -- capacity and cancellation ----------------------------------------------------------------


def test_queue_full_and_cancel_of_queued_and_running_jobs(
    make_runner: RunnerFactory, data_dir: Path, dataset_id: str
) -> None:
    # A grace far longer than the wait: only the job itself can end its run.
    runner = make_runner(max_concurrent_jobs=1, max_queued_jobs=1, job_cancel_grace_seconds=300)
    running = runner.submit(make_spec(dataset_id, "m_running", **FOREVER))
    queued = runner.submit(make_spec(dataset_id, "m_queued", epochs=5))
    with pytest.raises(QueueFull) as info:
        runner.submit(make_spec(dataset_id, "m_rejected"))
    assert info.value.capacity == 2 and info.value.retry_after >= 1
    pid = wait_running(runner, data_dir, running.id)

    # BLAS threads are limited in the job process.
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for key, value in JOB_ENVIRONMENT.items():
        assert f"{key}={value}".encode() in environ
    # A snapshot of the live weights is a loadable model file.
    snapshot = wait_for(lambda: runner.snapshot(running.id), WAIT, "a snapshot")
    assert mlp_engine.load(io.BytesIO(snapshot)).layers_[0] == 2

    cancelled = runner.cancel(queued.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(JobStateError):
        runner.cancel(queued.id)

    assert runner.cancel(running.id).cancel_requested
    record = wait_terminal(runner, running.id)  # stopped at an epoch end
    assert record.status == "cancelled" and record.model_id is None
    assert record.history and record.error is None
    assert not (data_dir / "models" / "m_running.npz").exists()
    assert runner.snapshot(running.id) is None
    wait_for(lambda: pid_gone(pid), 30.0, "the job process to exit")
    with pytest.raises(JobNotFound):
        runner.cancel("job_unknown")


def test_cancel_kills_a_job_that_does_not_stop_within_the_grace(
    make_runner: RunnerFactory,
    data_dir: Path,
    dataset_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Progress is written once a minute: once its first snapshot exists, the job is inside
    # fit() and holds no database lock, so it can be frozen there.
    runner = make_runner(
        job_cancel_grace_seconds=0.3, progress_interval_seconds=60, snapshot_every_epochs=1
    )
    job = runner.submit(make_spec(dataset_id, **FOREVER))
    wait_for(snapshot_path(data_dir, job.id).exists, WAIT, "the first epoch's snapshot")
    pid = running_pid(data_dir, job.id)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # frozen mid-epoch: it can never see the cancel
    runner.cancel(job.id)
    record = wait_terminal(runner, job.id)
    assert record.status == "cancelled" and record.model_id is None
    wait_for(lambda: pid_gone(pid), 30.0, "the frozen job process to be killed")
    assert warnings_with(caplog, "did not stop within 0.3 s; killing")


def test_cancel_keep_of_a_job_killed_after_the_grace_keeps_its_snapshot(
    make_runner: RunnerFactory, data_dir: Path, dataset_id: str
) -> None:
    runner = make_runner(
        job_cancel_grace_seconds=0.3, progress_interval_seconds=60, snapshot_every_epochs=1
    )
    job = runner.submit(make_spec(dataset_id, **FOREVER))
    wait_for(snapshot_path(data_dir, job.id).exists, WAIT, "the first epoch's snapshot")
    wait_for(job_frames_path(data_dir, job.id).exists, WAIT, "the first frames")
    pid = running_pid(data_dir, job.id)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # frozen mid-epoch: it can never save its model itself
    snapshot = mlp_engine.load(snapshot_path(data_dir, job.id))
    assert runner.cancel(job.id, keep=True).cancel_keep
    record = wait_terminal(runner, job.id)
    assert record.status == "cancelled" and record.model_id == job.spec.model_id
    model = ModelStore(data_dir).load(record.model_id)
    X = np.array([[0.1, 0.2], [-0.3, 0.4]])
    np.testing.assert_array_equal(model.predict_proba(X), snapshot.predict_proba(X))
    assert model.metadata_["job_id"] == job.id
    assert model_frames_path(data_dir, record.model_id).exists()
    assert not job_frames_path(data_dir, job.id).exists()
    wait_for(lambda: pid_gone(pid), 30.0, "the frozen job process to be killed")


def test_timeout(make_runner: RunnerFactory, dataset_id: str) -> None:
    runner = make_runner(job_timeout_seconds=0.5)
    job = runner.submit(make_spec(dataset_id, **FOREVER))
    record = wait_terminal(runner, job.id)
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "timeout"


# -- failures ---------------------------------------------------------------------------------


def test_diverging_job_fails_diverged_without_a_model(
    make_runner: RunnerFactory, data_dir: Path
) -> None:
    dataset_id = stored_dataset(data_dir, "huge", scale=1e150)
    runner = make_runner()
    spec = make_spec(dataset_id, epochs=50, learning_rate=10.0, optimizer="sgd", standardize=False)
    record = wait_terminal(runner, runner.submit(spec).id)
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "diverged"
    assert "epoch 1" in record.error["message"]
    assert record.model_id is None
    assert not (data_dir / "models" / "model_1.npz").exists()


def test_missing_dataset_fails_invalid_data(make_runner: RunnerFactory) -> None:
    runner = make_runner()
    record = wait_terminal(runner, runner.submit(make_spec("ds_missing")).id)
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "invalid_data"
    assert "ds_missing" in record.error["message"]


def test_disk_full_while_saving_fails_disk_full_and_keeps_older_models(
    data_dir: Path, dataset_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs the job function in-process so the model store can be made to hit ENOSPC."""
    store = SQLiteJobStore(data_dir / DB_FILENAME)
    owner = RunnerIdentity("test", "scope", os.getpid())

    def run(model_id: str) -> JobRecord:
        job_id = f"job_{model_id}"
        store.insert(job_id, make_spec(dataset_id, model_id), capacity=10, concurrency=1)
        claim = store.claim(owner, max_running=1)
        assert claim is not None and claim.job_id == job_id
        execute_job(store, data_dir, job_id, JobControl(), RunOptions(run_id=claim.run_id))
        record = store.get(job_id)
        assert record is not None
        return record

    assert run("m_old").status == "succeeded"

    def no_space(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ModelStore, "save", no_space)
    record = run("m_new")
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "disk_full"
    assert record.model_id is None and len(record.history) == 5
    monkeypatch.undo()
    assert ModelStore(data_dir).get("m_old").id == "m_old"  # the older model is intact
    store.close()


# -- processes dying --------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_job_process_is_rerun_once_then_interrupted(
    make_runner: RunnerFactory, data_dir: Path, dataset_id: str
) -> None:
    runner = make_runner(max_concurrent_jobs=2)
    # Killed once: re-run, and the re-run succeeds.
    once = runner.submit(make_spec(dataset_id, "m_once", **FOREVER))
    # Killed twice: failed `interrupted`.
    twice = runner.submit(make_spec(dataset_id, "m_twice", **FOREVER))
    pid_once = wait_running(runner, data_dir, once.id)
    pid_twice = wait_running(runner, data_dir, twice.id)
    set_epochs(data_dir, once.id, 150)  # for its re-run
    os.kill(pid_once, signal.SIGKILL)
    os.kill(pid_twice, signal.SIGKILL)
    new_pid = wait_for(
        lambda: (p := running_pid(data_dir, twice.id)) not in (None, pid_twice) and p,
        WAIT,
        "the re-run",
    )
    assert runner.get(twice.id).attempts == 2
    os.kill(new_pid, signal.SIGKILL)

    record = wait_terminal(runner, twice.id)
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "interrupted" and record.attempts == 2
    record = wait_terminal(runner, once.id)
    assert record.status == "succeeded" and record.attempts == 2
    assert [row["epoch"] for row in record.history] == list(range(1, 151))


_SERVER_SCRIPT = """
import sys, time
from pathlib import Path
from app.jobs.embedded import EmbeddedRunner
from app.settings import Settings
settings = Settings(data_dir=Path(sys.argv[1]), max_concurrent_jobs=1, log_json=False,
                    progress_interval_seconds=0.05)
runner = EmbeddedRunner(settings, heartbeat_interval=0.2, stale_after=1.0, poll_interval=0.05)
runner.start()
time.sleep(600)
"""


@pytest.mark.slow
def test_job_process_exits_when_its_server_is_killed_and_a_restart_finishes_the_job(
    make_runner: RunnerFactory, data_dir: Path, dataset_id: str
) -> None:
    submitter = make_runner(start=False)  # submits only; the server in a subprocess runs it
    assert not submitter.ready()
    job = submitter.submit(make_spec(dataset_id, **FOREVER))
    server = subprocess.Popen([sys.executable, "-c", _SERVER_SCRIPT, str(data_dir)])
    try:
        pid = wait_running(submitter, data_dir, job.id)
        server.kill()  # kill -9: no shutdown code runs in the server
        server.wait(10)
        wait_for(lambda: pid_gone(pid), 30.0, "the orphaned job process to exit")
        record = submitter.get(job.id)
        assert record.status == "running"  # nobody finished it; recovery's turn
        set_epochs(data_dir, job.id, 300)  # for its re-run
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)

    restarted = make_runner()  # sees the dead owner's PID is gone: re-runs at once
    record = wait_terminal(restarted, job.id)
    assert record.status == "succeeded" and record.attempts == 2
    assert [row["epoch"] for row in record.history] == list(range(1, 301))


@pytest.mark.slow
def test_stop_requeues_running_jobs_and_the_next_start_resumes_them(
    make_runner: RunnerFactory, data_dir: Path, dataset_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = make_runner()
    job = first.submit(make_spec(dataset_id, **FOREVER))
    pid = wait_running(first, data_dir, job.id)
    first.stop(timeout=30.0)
    assert not warnings_with(caplog, "did not stop in time")  # it stopped after its epoch
    assert not first.ready()
    assert pid_gone(pid)
    record = first.get(job.id)
    assert (record.status, record.attempts) == ("queued", 0)  # a clean stop is no attempt

    set_epochs(data_dir, job.id, 200)
    second = make_runner()
    record = wait_terminal(second, job.id)
    assert record.status == "succeeded" and record.attempts == 1


def test_job_of_a_runner_that_stopped_heartbeating_is_recovered(
    make_runner: RunnerFactory, data_dir: Path, dataset_id: str
) -> None:
    """An owner on another host (its PID cannot be checked) is judged by its heartbeat alone."""
    store = SQLiteJobStore(data_dir / DB_FILENAME)
    job_id = "job_orphan"
    store.insert(job_id, make_spec(dataset_id), capacity=10, concurrency=1)
    ghost = RunnerIdentity("ghost", "another-host|pid:[1]|boot", 1)
    claim = store.claim(ghost, max_running=1)
    assert claim is not None
    runner = make_runner(stale_after=3600.0)  # start() runs one recovery pass
    record = runner.get(job_id)
    assert (record.status, record.attempts) == ("running", 1)  # a fresh heartbeat: left alone
    with sqlite3.connect(data_dir / DB_FILENAME) as conn:  # the ghost's heartbeat goes stale
        conn.execute("UPDATE jobs SET heartbeat_at = heartbeat_at - 7200 WHERE id = ?", (job_id,))
    record = wait_terminal(runner, job_id)
    assert record.status == "succeeded" and record.attempts == 2
    store.close()


def test_start_removes_the_snapshot_temp_files_of_a_job_whose_runner_died(
    make_runner: RunnerFactory, data_dir: Path, dataset_id: str
) -> None:
    """kill -9 during a snapshot write leaves ``.tmp-<job>.<random>.npz``: the next start
    releases the job, then removes its left-overs (the CI failure of test_durability)."""
    store = SQLiteJobStore(data_dir / DB_FILENAME)
    job_id = "job_killed_mid_write"
    store.insert(job_id, make_spec(dataset_id), capacity=10, concurrency=1)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    ghost = RunnerIdentity("ghost", _local_scope(), int(dead.stdout))  # a dead local PID
    assert store.claim(ghost, max_running=1) is not None
    snapshots = data_dir / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    left_over = [snapshots / f".tmp-{job_id}.k1ll3d.npz", snapshots / f".tmp-{job_id}.fr4m3s.npz"]
    other = snapshots / ".tmp-job_elsewhere.wr1t1ng.npz"  # a running job's write under way
    for path in [*left_over, other]:
        path.write_bytes(b"half a snapshot")
    store.insert("job_elsewhere", make_spec(dataset_id), capacity=10, concurrency=2)
    alive = RunnerIdentity("alive", "another-host|pid:[1]|boot", 1)  # judged by its heartbeat
    assert store.claim(alive, max_running=2) is not None
    make_runner(stale_after=3600.0, max_concurrent_jobs=1)
    assert [path.exists() for path in left_over] == [False, False]
    assert other.exists()
    store.close()
