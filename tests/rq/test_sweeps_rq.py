"""Sweeps over real RQ workers (RELIABILITY.md item 30): the sweep service as the API runs it
(its advancing loop included) over :class:`RQRunner`, real redis-server, real worker processes.
A worker killed with -9 mid-sweep costs its job one attempt and the sweep still finishes, with
exactly one job per trial and fold; cancelling leaves no job running."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.rq_backend import WorkerProcess
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
    job_id = running_job(service, sweep_id)
    wait_for(lambda: (runner.get(job_id).progress or {}).get("epoch", 0) >= 2, 60, "epochs")
    for worker in workers:
        if job_id in worker.log() or worker is workers[-1]:
            worker.kill9()
            break
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
    runner = make_runner(max_concurrent_jobs=2, max_queued_jobs=20)
    start_worker()
    service = sweeps(runner)
    sweep_id = create(service, dataset_id, epochs=5000)
    running_job(service, sweep_id)
    service.cancel(sweep_id)
    done = wait_for(
        lambda: (d := service.get(sweep_id))["status"] in TERMINAL and d, 120, "the sweep"
    )
    assert done["status"] == "cancelled"
    assert runner.counts()["running"] == 0 and runner.counts()["queued"] == 0
