"""Sweeps over real RQ workers (RELIABILITY.md item 30): the sweep service as the API runs it
(its advancing loop included) over :class:`RQRunner`, real redis-server, real worker processes.
A worker killed with -9 mid-sweep costs its job one attempt and the sweep still finishes, with
exactly one job per trial and fold; cancelling leaves no job running.

No test depends on the machine's speed: the job whose worker is killed is frozen (SIGSTOP) first,
so it is still mid-run at the kill; the sweep that is cancelled has endless trials (FOREVER)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.processes import ancestors
from helpers.rq_backend import WorkerProcess
from helpers.specs import FOREVER, LONG_JOB_LIMITS
from helpers.waiting import TERMINAL, wait_for

from app.jobs.rq_runner import RQRunner
from app.schemas.sweeps import SweepCreate
from app.services.sweeps import SweepDriver, SweepService, open_sweep_store
from app.storage.datasets import DatasetStore
from app.storage.models import ModelStore

pytestmark = pytest.mark.rq

Service = Callable[[RQRunner], SweepService]


@pytest.fixture
def sweeps(data_dir: Path) -> Iterator[Service]:
    """``sweeps(runner)`` -> a sweep service with its advancing loop running (stopped after)."""
    drivers: list[SweepDriver] = []

    def factory(runner: RQRunner) -> SweepService:
        store = open_sweep_store(runner, data_dir)
        datasets, models = DatasetStore(data_dir), ModelStore(data_dir)
        service = SweepService(runner.settings, datasets, models, runner, store)
        drivers.append(SweepDriver(service, 0.1))
        drivers[-1].start()
        return service

    yield factory
    for driver in drivers:
        driver.stop()


def create(service: SweepService, dataset_id: str, epochs: int, **extra: Any) -> str:
    body = {
        "dataset_id": dataset_id,
        "training": {"epochs": epochs, "batch_size": 1},
        "search": {"space": {"learning_rate": [0.01, 0.003]}},
        "cv_folds": 2,
        "max_parallel": 2,
        **extra,
    }
    doc: dict[str, Any] = service.create(SweepCreate.model_validate(body))
    return str(doc["id"])


def running_job(service: SweepService, sweep_id: str) -> str:
    def found() -> str | None:
        for trial in service.get(sweep_id)["trials"]:
            for job_id in trial["job_ids"]:
                if service.jobs.get(job_id).status == "running":
                    return str(job_id)
        return None

    return wait_for(found, 60, "a trial's job to run")


def freeze_a_running_job(runner: RQRunner, service: SweepService, sweep_id: str) -> tuple[str, int]:
    """A trial's job frozen mid-run with SIGSTOP (so it cannot end before the test acts): its
    ID and its job process's PID. A job seen running may end before the signal: then another."""

    def frozen() -> tuple[str, int] | None:
        job_id = running_job(service, sweep_id)
        pid = runner.store.fields(job_id, "pid")["pid"]
        if pid is None:
            return None
        os.kill(int(pid), signal.SIGSTOP)
        if runner.get(job_id).status == "running" and (
            runner.store.fields(job_id, "pid")["pid"] == pid
        ):
            return job_id, int(pid)
        os.kill(int(pid), signal.SIGCONT)  # it ended (or moved on) first: not this one
        return None

    return wait_for(frozen, 120, "a running trial's job to freeze")


def test_kill9_of_a_worker_mid_sweep_then_the_sweep_finishes(
    make_runner: Callable[..., RQRunner],
    start_worker: Callable[..., WorkerProcess],
    sweeps: Service,
    dataset_id: str,
) -> None:
    runner = make_runner(max_concurrent_jobs=2, max_queued_jobs=20)
    workers = [start_worker(), start_worker()]
    service = sweeps(runner)
    sweep_id = create(service, dataset_id, epochs=40)
    # 40 epochs take well under a second: frozen, the job is sure to be mid-run at the kill.
    job_id, horse = freeze_a_running_job(runner, service, sweep_id)
    (owner,) = [worker for worker in workers if worker.pid in ancestors(horse)]
    owner.kill9()  # its job process dies with it (SIGKILL ends a stopped process too)
    start_worker()
    done = wait_for(
        lambda: (d := service.get(sweep_id))["status"] in TERMINAL and d, 300, "the sweep"
    )
    assert done["status"] == "succeeded", done
    assert runner.get(job_id).status == "succeeded"
    ids = [j for t in done["trials"] for j in t["job_ids"]] + [done["best"]["job_id"]]
    assert len(set(ids)) == 2 * 2 + 1  # one job per trial and fold, and the refit
    mine = [r for r in runner.list(limit=100) if r.spec.sweep_id == sweep_id]
    assert sorted(r.id for r in mine) == sorted(ids)
    assert max(r.attempts for r in mine) == 2  # the killed run, then exactly one re-run


def test_cancel_on_rq_leaves_no_job_running(
    make_runner: Callable[..., RQRunner],
    start_worker: Callable[..., WorkerProcess],
    sweeps: Service,
    dataset_id: str,
) -> None:
    runner = make_runner(
        max_concurrent_jobs=2, max_queued_jobs=20, sweep_compute_budget=1e18, **LONG_JOB_LIMITS
    )
    start_worker()
    service = sweeps(runner)
    # Endless trials: a sweep that merely takes a while could end before the cancel.
    sweep_id = create(service, dataset_id, epochs=FOREVER["epochs"])
    running_job(service, sweep_id)
    service.cancel(sweep_id)
    done = wait_for(
        lambda: (d := service.get(sweep_id))["status"] in TERMINAL and d, 120, "the sweep"
    )
    assert done["status"] == "cancelled"
    assert runner.counts()["running"] == 0 and runner.counts()["queued"] == 0
