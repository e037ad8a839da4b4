"""RQRunner against a real redis-server and real ``python -m app.rq_worker`` processes.

Covers: a job trained on a worker (progress and history while it runs, SSE events, a model that
predicts, the live snapshot); the 429 capacity rule; kill -9 of a worker mid-job (its job
process dies with it, the job goes back to the queue and a new worker finishes it) and a second
death (``failed``/``worker_lost``); kill -9 of the job process only (RQ's retry on the same
worker, same model ID); two workers training two jobs at the same time; cancel of a running job,
of a queued one, and of one that ignores the cancel (RQ's stop command after the grace); the
job timeout; SIGTERM of a worker (the job is re-queued without counting the attempt);
readiness; unknown jobs.

No test depends on the machine's speed: a job that must still run when the test acts is
endless (``FOREVER``) and is made finite (:func:`finite`) only once the run that must not end
is gone; a job that must ignore its cancel is frozen with SIGSTOP; a job that must not be
delivered is proven skipped by a later job that the same single worker finishes first.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import threading
import zlib
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from helpers.processes import pid_gone
from helpers.rq_backend import WorkerProcess
from helpers.server import free_port
from helpers.specs import FOREVER, make_data, settings_for
from helpers.waiting import TERMINAL, wait_for
from rq.job import Job
from rq.serializers import JSONSerializer
from rq_helpers import make_spec

import mlp_engine
from app.jobs.base import JobEvent, JobNotFound, JobRecord, JobStateError, QueueFull
from app.jobs.rq_runner import RQRunner
from app.storage.models import ModelStore
from mlp_engine.frames import load_frames

pytestmark = [pytest.mark.rq, pytest.mark.slow]

RunnerFactory = Callable[..., RQRunner]
WorkerFactory = Callable[..., WorkerProcess]


def wait_status(
    runner: RQRunner, job_id: str, statuses: Collection[str] = TERMINAL, timeout: float = 60.0
) -> JobRecord:
    """Poll until the job reaches one of ``statuses``."""

    def reached() -> JobRecord | None:
        record = runner.get(job_id)
        return record if record.status in statuses else None

    result: JobRecord = wait_for(reached, timeout, f"job {job_id} to reach {sorted(statuses)}")
    return result


def wait_epoch(runner: RQRunner, job_id: str, epoch: int, timeout: float = 90.0) -> JobRecord:
    """Poll until the running job has reported ``epoch`` epochs."""

    def reached() -> JobRecord | None:
        record = runner.get(job_id)
        if record.status in TERMINAL:
            raise AssertionError(f"job {job_id} ended {record.status}: {record.error}")
        progress = record.progress or {}
        return record if record.status == "running" and progress.get("epoch", 0) >= epoch else None

    result: JobRecord = wait_for(reached, timeout, f"job {job_id} to reach epoch {epoch}")
    return result


def job_pid(runner: RQRunner, job_id: str) -> int:
    """The work horse running the job (recorded by its run)."""
    pid = runner.store.fields(job_id, "pid")["pid"]
    assert pid is not None, f"job {job_id} has no process"
    return int(pid)


def finite(runner: RQRunner, job_id: str, epochs: int) -> None:
    """Give an endless job ``epochs`` epochs from its next run on (a run reads the job's spec
    when it begins; the run going on now stays endless)."""
    key = f"{runner.prefix}:job:{job_id}"
    spec = json.loads(runner.connection.hget(key, "spec") or b"{}")
    spec["training"]["epochs"] = epochs
    runner.connection.hset(key, "spec", json.dumps(spec))


def collect_events(runner: RQRunner, job_id: str) -> list[JobEvent]:
    async def collect() -> list[JobEvent]:
        return [event async for event in runner.events(job_id)]

    return asyncio.run(asyncio.wait_for(collect(), 120))


def test_job_runs_on_a_worker_with_progress_events_and_a_model(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str, data_dir: Path
) -> None:
    runner = make_runner(snapshot_every_epochs=2)
    start_worker()
    # While it runs (endless until cancelled): progress, history, counts, a live snapshot.
    live = runner.submit(make_spec(dataset_id, "model_live", **FOREVER))
    assert live.status == "queued" and live.attempts == 0
    running = wait_epoch(runner, live.id, 20)
    progress = running.progress or {}
    assert progress["epoch"] >= 20 and progress["epochs"] == FOREVER["epochs"]
    assert [row["epoch"] for row in running.history] == list(range(1, len(running.history) + 1))
    assert runner.counts()["running"] == 1
    assert [r.id for r in runner.list("running")] == [live.id]
    snapshot = wait_for(lambda: runner.snapshot(live.id), 60, "a weights snapshot")
    assert mlp_engine.load(io.BytesIO(snapshot)).predict(np.zeros((1, 2))).shape == (1,)
    streamed: list[JobEvent] = []
    stream = threading.Thread(target=lambda: streamed.extend(collect_events(runner, live.id)))
    stream.start()
    runner.cancel(live.id)
    stream.join(90)
    assert [e.event for e in streamed[:-1]] == ["progress"] * (len(streamed) - 1)
    assert [e.data["epoch"] for e in streamed[:-1]] == list(range(1, len(streamed)))
    assert streamed[-1].data["status"] == "cancelled"
    assert wait_status(runner, live.id).status == "cancelled"

    record = runner.submit(make_spec(dataset_id, "model_ok", epochs=300, batch_size=1))
    events = collect_events(runner, record.id)
    assert [e.event for e in events[:-1]] == ["progress"] * 300
    assert [e.data["epoch"] for e in events[:-1]] == list(range(1, 301))
    assert events[-1].event == "status"
    assert events[-1].data == {
        "id": record.id,
        "status": "succeeded",
        "model_id": "model_ok",
        "error": None,
    }

    done = runner.get(record.id)
    assert done.status == "succeeded" and done.attempts == 1 and done.error is None
    assert done.started_at is not None and done.finished_at is not None
    assert done.started_at <= done.finished_at and len(done.history) == 300
    assert runner.snapshot(record.id) is None
    assert runner.counts() == {
        "queued": 0,
        "running": 0,
        "succeeded": 1,
        "failed": 0,
        "cancelled": 1,
    }
    X, y = make_data()
    model = ModelStore(data_dir).load("model_ok")
    assert (model.predict(X) == y).mean() > 0.8
    # RQ's own copy: same ID, JSON (never pickle), finished.
    rq_job = Job.fetch(record.id, connection=runner.connection, serializer=JSONSerializer)
    assert rq_job.get_status() == "finished"
    assert rq_job.kwargs["prefix"] == "mlp"
    raw = runner.connection.hget(f"rq:job:{record.id}", "data")
    assert raw is not None
    function, _instance, args, _kwargs = json.loads(zlib.decompress(raw))  # JSON, no pickle
    assert function == "app.jobs.rq_worker_side.run_rq_job" and args == [record.id]


def test_queue_full_is_429_semantics(make_runner: RunnerFactory, dataset_id: str) -> None:
    runner = make_runner(max_concurrent_jobs=1, max_queued_jobs=1)
    runner.submit(make_spec(dataset_id, "m1"))
    runner.submit(make_spec(dataset_id, "m2"))
    with pytest.raises(QueueFull) as info:
        runner.submit(make_spec(dataset_id, "m3"))
    assert info.value.capacity == 2 and info.value.retry_after >= 1
    assert runner.counts()["queued"] == 2


def test_kill9_of_a_worker_requeues_its_job_and_a_new_worker_finishes_it(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str, data_dir: Path
) -> None:
    runner = make_runner()
    first = start_worker()
    record = runner.submit(make_spec(dataset_id, "model_retry", **FOREVER))
    wait_epoch(runner, record.id, 50)
    horse = job_pid(runner, record.id)

    first.kill9()
    wait_for(lambda: pid_gone(horse), 30, "the job process to die with its worker")
    # Never stuck in `running`: RQ's abandoned-job cleanup (run by the API) re-queues it.
    queued = wait_status(runner, record.id, ("queued",), timeout=60)
    assert queued.attempts == 1 and queued.error is None

    finite(runner, record.id, 600)
    start_worker()
    done = wait_status(runner, record.id)
    assert done.status == "succeeded", done.error
    assert done.attempts == 2 and done.model_id == "model_retry"
    assert [row["epoch"] for row in done.history] == list(range(1, 601))
    assert ModelStore(data_dir).load("model_retry").predict(np.zeros((3, 2))).shape == (3,)


def test_second_worker_death_fails_the_job_worker_lost(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str
) -> None:
    runner = make_runner()
    first = start_worker()
    record = runner.submit(make_spec(dataset_id, "model_lost", **FOREVER))
    wait_epoch(runner, record.id, 5)
    first.kill9()
    wait_status(runner, record.id, ("queued",), timeout=60)

    second = start_worker()
    wait_for(lambda: runner.get(record.id).attempts == 2, 60, "the second run")
    wait_epoch(runner, record.id, 5)
    horse = job_pid(runner, record.id)
    second.kill9()
    wait_for(lambda: pid_gone(horse), 30, "the job process to die with its worker")

    failed = wait_status(runner, record.id, timeout=60)
    assert failed.status == "failed" and failed.attempts == 2
    assert failed.error is not None and failed.error["code"] == "worker_lost"
    assert failed.model_id is None and failed.finished_at is not None
    # Nothing delivers it again: a fresh worker (FIFO, one job at a time) finishes a job
    # submitted after it without having been handed the failed one.
    third = start_worker()
    after = runner.submit(make_spec(dataset_id, "model_after"))
    assert wait_status(runner, after.id).status == "succeeded"
    assert runner.get(record.id).status == "failed"
    assert record.id not in third.log()
    assert runner.counts()["running"] == 0


def test_kill9_of_the_job_process_is_retried_by_its_worker(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str, data_dir: Path
) -> None:
    runner = make_runner()
    worker = start_worker()
    record = runner.submit(make_spec(dataset_id, "model_horse", **FOREVER))
    wait_epoch(runner, record.id, 20)
    finite(runner, record.id, 400)  # for the retry
    os.kill(job_pid(runner, record.id), signal.SIGKILL)
    done = wait_status(runner, record.id)
    assert done.status == "succeeded", done.error
    assert done.attempts == 2 and job_pid_or_none(runner, record.id) is None
    assert worker.process.poll() is None  # the worker survived its job process
    assert "Work-horse terminated unexpectedly" in worker.log()
    models = sorted(p.name for p in (data_dir / "models").glob("*.npz"))
    assert models == ["model_horse.frames.npz", "model_horse.npz"]  # the model and its replay

    # A second death of the job process: failed worker_lost, at once.
    again = runner.submit(make_spec(dataset_id, "model_horse2", **FOREVER))
    for attempt in (1, 2):
        wait_for(lambda a=attempt: runner.get(again.id).attempts == a, 60, f"run {attempt}")
        wait_epoch(runner, again.id, 5)
        os.kill(job_pid(runner, again.id), signal.SIGKILL)
    failed = wait_status(runner, again.id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error["code"] == "worker_lost" and failed.attempts == 2


def job_pid_or_none(runner: RQRunner, job_id: str) -> str | None:
    return runner.store.fields(job_id, "pid")["pid"]


def test_two_workers_train_two_jobs_at_the_same_time(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str
) -> None:
    runner = make_runner(max_concurrent_jobs=2)
    start_worker()
    start_worker()
    first = runner.submit(make_spec(dataset_id, "model_a", **FOREVER))
    second = runner.submit(make_spec(dataset_id, "model_b", **FOREVER))
    wait_for(
        lambda: runner.counts()["running"] == 2, 60, "both jobs to be running at the same time"
    )
    workers = {runner.store.fields(j, "worker")["worker"] for j in (first.id, second.id)}
    assert len(workers) == 2
    for job in (first, second):
        runner.cancel(job.id)
    assert {wait_status(runner, j.id).status for j in (first, second)} == {"cancelled"}


def test_cancel_a_running_job(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str, data_dir: Path
) -> None:
    # A grace far longer than the wait: only the job itself can end the run.
    runner = make_runner(job_cancel_grace_seconds=300)
    worker = start_worker()
    record = runner.submit(make_spec(dataset_id, "model_cancel", **FOREVER))
    wait_epoch(runner, record.id, 10)
    requested = runner.cancel(record.id)
    assert requested.status == "running" and requested.cancel_requested
    done = wait_status(runner, record.id)
    assert done.status == "cancelled" and done.model_id is None and done.error is None
    assert done.history and done.finished_at is not None
    assert not (data_dir / "models" / "model_cancel.npz").exists()
    assert "stopped by user" not in worker.log()  # it stopped by itself, after its epoch
    with pytest.raises(JobStateError):
        runner.cancel(record.id)


def test_cancel_keep_saves_the_model_and_its_frames(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str, data_dir: Path
) -> None:
    runner = make_runner(job_cancel_grace_seconds=300)
    start_worker()
    record = runner.submit(make_spec(dataset_id, "model_kept", **FOREVER))
    wait_epoch(runner, record.id, 5)
    requested = runner.cancel(record.id, keep=True)
    assert requested.status == "running" and requested.cancel_requested
    assert runner.store.fields(record.id, "cancel_keep")["cancel_keep"] == "1"  # stored
    done = wait_status(runner, record.id)
    assert done.status == "cancelled" and done.model_id == "model_kept" and done.error is None
    model = ModelStore(data_dir).load("model_kept")
    assert model.predict(np.zeros((3, 2))).shape == (3,)
    assert model.metadata_["job_id"] == record.id
    frames = load_frames(
        data_dir / "models" / "model_kept.frames.npz", n_parameters=None, max_bytes=1 << 20
    )
    assert frames.epochs[0] == 1 and frames.epochs[-1] == len(done.history)
    assert not (data_dir / "snapshots" / f"{record.id}.frames.npz").exists()


def test_cancel_a_queued_job(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str
) -> None:
    runner = make_runner()
    worker = start_worker()
    busy = runner.submit(make_spec(dataset_id, "model_busy", **FOREVER))
    wait_epoch(runner, busy.id, 2)
    queued = runner.submit(make_spec(dataset_id, "model_queued"))
    cancelled = runner.cancel(queued.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    rq_job = Job.fetch(queued.id, connection=runner.connection, serializer=JSONSerializer)
    assert rq_job.get_status() == "canceled"

    runner.cancel(busy.id)
    assert wait_status(runner, busy.id).status == "cancelled"
    # The worker is free; a job submitted now runs only after anything queued before it.
    after = runner.submit(make_spec(dataset_id, "model_after"))
    assert wait_status(runner, after.id).status == "succeeded"
    never = runner.get(queued.id)
    assert never.status == "cancelled" and never.started_at is None and never.attempts == 0
    assert queued.id not in worker.log()  # never delivered, not even to be skipped


def test_a_queued_job_cancelled_after_delivery_is_skipped(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str
) -> None:
    runner = make_runner()
    record = runner.submit(make_spec(dataset_id, "model_skip"))
    runner.store.request_cancel(record.id)  # the record only: RQ still delivers the job
    worker = start_worker()
    rq_job = Job.fetch(record.id, connection=runner.connection, serializer=JSONSerializer)
    # The worker has to start first (seconds on a loaded machine).
    wait_for(lambda: rq_job.get_status() == "finished", 90, "the worker to skip the job")
    assert "not run (skip, cancelled)" in worker.log()
    skipped = runner.get(record.id)
    assert skipped.status == "cancelled" and skipped.started_at is None


def test_a_job_that_ignores_its_cancel_is_stopped_after_the_grace(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str
) -> None:
    runner = make_runner(job_cancel_grace_seconds=0.3)
    worker = start_worker()
    record = runner.submit(make_spec(dataset_id, "model_stubborn", **FOREVER))
    wait_epoch(runner, record.id, 2)
    horse = job_pid(runner, record.id)
    os.kill(horse, signal.SIGSTOP)  # frozen mid-epoch: it can never see its cancel flag
    runner.cancel(record.id)
    done = wait_status(runner, record.id)
    assert done.status == "cancelled" and done.model_id is None
    assert "stopped by user" in worker.log()  # RQ's stop command killed the job process
    wait_for(lambda: pid_gone(horse), 30, "the frozen job process to be killed")


def test_cancel_keep_of_a_job_stopped_after_the_grace_keeps_its_snapshot(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str, data_dir: Path
) -> None:
    runner = make_runner(job_cancel_grace_seconds=0.3, snapshot_every_epochs=1)
    start_worker()
    record = runner.submit(make_spec(dataset_id, "model_stopped_kept", **FOREVER))
    wait_epoch(runner, record.id, 2)
    wait_for(lambda: runner.snapshot(record.id), 30, "a weights snapshot")
    horse = job_pid(runner, record.id)
    os.kill(horse, signal.SIGSTOP)  # frozen mid-epoch: it can never save its model itself
    snapshot = mlp_engine.load(io.BytesIO(runner.snapshot(record.id) or b""))
    runner.cancel(record.id, keep=True)
    done = wait_status(runner, record.id)
    assert done.status == "cancelled" and done.model_id == "model_stopped_kept"
    model = ModelStore(data_dir).load("model_stopped_kept")
    X = np.array([[0.5, -0.5], [1.0, 2.0]])
    np.testing.assert_array_equal(model.predict_proba(X), snapshot.predict_proba(X))
    wait_for(lambda: pid_gone(horse), 30, "the frozen job process to be killed")


def test_job_timeout_fails_the_job(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str
) -> None:
    runner = make_runner(job_timeout_seconds=1.0)
    start_worker()
    record = runner.submit(make_spec(dataset_id, "model_slow", **FOREVER))
    done = wait_status(runner, record.id, timeout=90)  # a worker start, then the 1 s
    assert done.status == "failed" and done.error is not None
    assert done.error["code"] == "timeout" and done.attempts == 1
    assert done.history  # it did train until the deadline


def test_sigterm_of_a_worker_requeues_its_job_without_counting_the_attempt(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str
) -> None:
    runner = make_runner()
    worker = start_worker()
    record = runner.submit(make_spec(dataset_id, "model_term", **FOREVER))
    wait_epoch(runner, record.id, 20)
    assert worker.terminate(timeout=30) == 0
    requeued = runner.get(record.id)
    assert requeued.status == "queued" and requeued.attempts == 0
    finite(runner, record.id, 50)
    start_worker()
    done = wait_status(runner, record.id)
    assert done.status == "succeeded" and done.attempts == 1


def test_several_workers_from_one_command(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str
) -> None:
    runner = make_runner(max_concurrent_jobs=2)
    group = start_worker(count=2)
    ids = [runner.submit(make_spec(dataset_id, f"m{i}", **FOREVER)).id for i in (1, 2)]
    wait_for(lambda: runner.counts()["running"] == 2, 60, "two jobs running at once")
    for job_id in ids:
        runner.cancel(job_id)
    assert all(wait_status(runner, i).status == "cancelled" for i in ids)
    # Both workers idle in their dequeue: a warm shutdown ends them at once (it once waited
    # up to 60 s for RQ's pub/sub thread; see RQTrainingWorker.subscribe).
    assert group.terminate(timeout=15) == 0


def test_unknown_jobs_and_readiness(
    make_runner: RunnerFactory, redis_url: str, data_dir: Path
) -> None:
    runner = make_runner()
    assert runner.ready()
    for bad in ("job_missing", "../etc/passwd"):
        with pytest.raises(JobNotFound):
            runner.get(bad)
        with pytest.raises(JobNotFound):
            runner.events(bad)
        with pytest.raises(JobNotFound):
            runner.cancel(bad)
        assert runner.snapshot(bad) is None
    runner.stop()
    assert not runner.ready()

    nowhere = RQRunner(settings_for(data_dir, f"redis://127.0.0.1:{free_port()}/0"))
    nowhere.start()
    try:
        assert not nowhere.ready()
        with pytest.raises(redis.ConnectionError):
            nowhere.counts()
    finally:
        nowhere.stop()


def test_records_have_no_expiry(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str, redis_url: str
) -> None:
    runner = make_runner()
    start_worker()
    record = runner.submit(make_spec(dataset_id, "model_ttl"))
    assert wait_status(runner, record.id).status == "succeeded"
    client = redis.Redis.from_url(redis_url)
    keys: list[Any] = client.keys("mlp:*")
    assert keys and all(client.ttl(key) == -1 for key in keys)
