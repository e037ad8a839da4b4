"""The RQ back-end keeps a job's owner (issue 18, item 2) and tells a queued job's place in RQ's
queue (``queue_position``), against a real redis-server and a real worker process."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from helpers.rq_backend import WorkerProcess
from helpers.specs import FOREVER
from helpers.waiting import TERMINAL, wait_for
from rq_helpers import make_spec

from app.jobs.base import JobRecord
from app.jobs.rq_runner import RQRunner
from app.storage.models import ModelStore

pytestmark = [pytest.mark.rq, pytest.mark.slow]

RunnerFactory = Callable[..., RQRunner]
WorkerFactory = Callable[..., WorkerProcess]


def wait_status(runner: RQRunner, job_id: str, statuses: Collection[str] = TERMINAL) -> JobRecord:
    def reached() -> JobRecord | None:
        record = runner.get(job_id)
        return record if record.status in statuses else None

    result: JobRecord = wait_for(reached, 60, f"job {job_id} to reach {sorted(statuses)}")
    return result


def test_a_jobs_owner_survives_in_redis_and_on_its_model(
    make_runner: RunnerFactory,
    start_worker: WorkerFactory,
    dataset_id: str,
    data_dir: Path,
    redis_url: str,
) -> None:
    runner = make_runner()
    start_worker()
    owned = runner.submit(replace(make_spec(dataset_id, "mdl_alice"), owner="alice"))
    unowned = runner.submit(make_spec(dataset_id, "mdl_open"))
    for record in (owned, unowned):
        assert wait_status(runner, record.id).status == "succeeded"
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        spec = json.loads(client.hget(f"mlp:job:{owned.id}", "spec") or "{}")
    assert spec["owner"] == "alice"
    assert runner.get(owned.id).owner == "alice" and runner.get(unowned.id).owner is None
    assert [r.id for r in runner.list(owner="alice")] == [owned.id]
    assert [r.id for r in runner.list("succeeded", owner="alice")] == [owned.id]
    assert runner.list("queued", owner="alice") == [] and runner.list(owner="bob") == []
    assert {r.id for r in runner.list()} == {owned.id, unowned.id}
    models = ModelStore(data_dir)
    assert models.get("mdl_alice").owner == "alice" and models.get("mdl_open").owner is None


def test_queued_jobs_know_their_place_in_rqs_queue(
    make_runner: RunnerFactory, start_worker: WorkerFactory, dataset_id: str
) -> None:
    runner = make_runner(max_concurrent_jobs=1)
    start_worker()  # one worker: one job at a time
    running = runner.submit(make_spec(dataset_id, "mdl_forever", **FOREVER))
    wait_status(runner, running.id, {"running"})
    second = runner.submit(make_spec(dataset_id, "mdl_second"))
    third = runner.submit(make_spec(dataset_id, "mdl_third"))
    assert (second.queue_position, third.queue_position) == (0, 1)
    assert runner.get(second.id).queue_position == 0
    assert runner.get(third.id).queue_position == 1
    assert runner.get(running.id).queue_position is None
    listed = {r.id: r.queue_position for r in runner.list()}
    assert listed == {running.id: None, second.id: 0, third.id: 1}
    runner.cancel(second.id)
    assert runner.get(third.id).queue_position == 0
    runner.cancel(running.id)
    done = wait_status(runner, third.id)
    assert done.status == "succeeded" and done.queue_position is None
