"""Jobs against a real server: kill -9 and restart, FIFO behind a concurrency of one, 429.

On both back-ends (``[embedded]``, ``[rq]``); where the meaning differs, so does the expectation:

* kill -9 of the API mid-job: the embedded runner's job process notices its server is gone and
  exits, and the restarted server runs the job again from the start; on RQ the job runs in a
  worker, not under the API, so the worker keeps training through the outage (the same run, one
  attempt) and the restarted API shows it finished.
* a concurrency of one: embedded, ``MLP_MAX_CONCURRENT_JOBS=1``; on RQ exactly one worker
  process. The 429 rule (running + queued >= concurrency + ``MLP_MAX_QUEUED_JOBS``) is the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
import redis
from helpers.jobdb import job_row
from helpers.processes import group_pids
from helpers.server import wait_for_epoch
from helpers.specs import notebook_job
from helpers.waiting import wait_for

pytestmark = pytest.mark.integration


def notebook_dataset(client: httpx.Client) -> str:
    response = client.post("/v1/datasets/generate", json={"kind": "notebook"})
    assert response.status_code == 201, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


def redis_record(server: Any, job_id: str) -> dict[str, str]:
    """The RQ back-end's record of ``job_id`` in Redis (``mlp:job:<id>``)."""
    with redis.Redis.from_url(server.rq.redis_url, decode_responses=True) as client:
        record: dict[str, str] = client.hgetall(f"mlp:job:{job_id}")
    return record


def test_kill_9_mid_job_then_restart_finishes_the_job(
    start_server: Any, wait_job: Any, backend: str
) -> None:
    server = start_server()
    with server.client() as client:
        dataset_id = notebook_dataset(client)
        job = client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=400)).json()
        running = wait_for_epoch(client, job["id"], 3)

    old_group = server.groups[-1]
    server.kill9()
    # The job process notices its server is gone and exits: nothing runs unsupervised.
    wait_for(lambda: not group_pids(old_group), 30, "the killed server's processes to exit")

    if backend == "rq":
        # No API process exists now, yet the worker goes on training the same run.
        (worker,) = server.workers
        before = redis_record(server, job["id"])

        def trained_on() -> bool:
            after = redis_record(server, job["id"])
            return after["status"] == "succeeded" or after["progress"] != before["progress"]

        wait_for(trained_on, 60, "the worker to train on without the API")
        assert worker.alive()
    else:  # the job was killed mid-run: nobody could record its end
        assert job_row(server.data_dir, job["id"])["status"] == "running"

    server.start()  # same data directory
    with server.client() as client:
        done = wait_job(client, job["id"], timeout=90)
        assert done["status"] == "succeeded", done["error"]
        assert done["progress"]["epoch"] == 400
        if backend == "rq":  # one run, never interrupted: same start time, one attempt
            assert done["started_at"] == running["started_at"]
            assert redis_record(server, job["id"])["attempts"] == "1"
            assert server.workers == [worker], "the worker was restarted"
        else:  # the restarted server ran it again from the start
            started = datetime.fromisoformat(done["started_at"])
            assert started > datetime.fromisoformat(running["started_at"])
        assert client.get(f"/v1/models/{done['model_id']}").status_code == 200
        assert client.get(f"/v1/datasets/{dataset_id}").status_code == 200


def test_fifo_behind_one_slot_and_429_when_full(start_server: Any, wait_job: Any) -> None:
    # On RQ the concurrency is the number of workers: exactly one (and the same capacity rule).
    server = start_server(workers=1, mlp_max_concurrent_jobs="1", mlp_max_queued_jobs="1")
    with server.client() as client:
        dataset_id = notebook_dataset(client)
        first = client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=40))
        second = client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=20, seed=3))
        assert (first.status_code, second.status_code) == (202, 202)
        # One running + one queued = capacity: the next one is refused with Retry-After.
        third = client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=20))
        assert third.status_code == 429, third.text
        assert int(third.headers["retry-after"]) >= 1
        assert "queue" in third.json()["detail"]

        a = wait_job(client, first.json()["id"])
        b = wait_job(client, second.json()["id"])
        assert a["status"] == b["status"] == "succeeded"
        finished, started = (
            datetime.fromisoformat(a["finished_at"]),
            datetime.fromisoformat(b["started_at"]),
        )
        assert finished <= started, (finished, started)
        jobs = client.get("/v1/jobs").json()["data"]
        assert [j["id"] for j in jobs] == [b["id"], a["id"]]  # newest first; the 429 left none
        assert client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=1)).status_code == 202
