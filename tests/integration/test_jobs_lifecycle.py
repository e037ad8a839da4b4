"""Jobs against a real server: kill -9 and restart, FIFO behind a concurrency of one, 429.

On both back-ends (``[embedded]``, ``[rq]``); where the meaning differs, so does the expectation:

* kill -9 of the API mid-job: the embedded runner's job process notices its server is gone and
  exits, and the restarted server runs the job again from the start; on RQ the job runs in a
  worker, not under the API, so the worker keeps training through the outage (the same run, one
  attempt) and the restarted API shows it finished.
* a concurrency of one: embedded, ``MLP_MAX_CONCURRENT_JOBS=1``; on RQ exactly one worker
  process. The 429 rule (running + queued >= concurrency + ``MLP_MAX_QUEUED_JOBS``) is the same.

No test depends on the machine's speed: a job that must still run when the test acts is endless
(``FOREVER``) and is cancelled, or given a finite epoch count for its next run, by the test.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
import redis
from helpers.jobdb import job_row, set_epochs
from helpers.processes import group_pids
from helpers.server import wait_for_epoch
from helpers.specs import FOREVER, LONG_JOB_ENV, notebook_job
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
    server = start_server(**LONG_JOB_ENV)
    # Embedded: the job must still be running at the kill, so it is endless until then (it
    # gets 400 epochs for its run after the restart). RQ: the worker trains the same run on
    # through the outage, so that run is finite from the start (ending early is harmless).
    epochs = FOREVER["epochs"] if backend == "embedded" else 400
    with server.client() as client:
        dataset_id = notebook_dataset(client)
        job = client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=epochs)).json()
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
        set_epochs(server.data_dir, job["id"], 400)

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
    server = start_server(
        workers=1, mlp_max_concurrent_jobs="1", mlp_max_queued_jobs="2", **LONG_JOB_ENV
    )
    with server.client() as client:
        dataset_id = notebook_dataset(client)
        # The slot is held until the test cancels it (a job that merely takes a while could end
        # before the request that must get 429), so the two behind it wait, in order.
        blocker = client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=FOREVER["epochs"]))
        first = client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=40))
        second = client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=20, seed=3))
        assert [r.status_code for r in (blocker, first, second)] == [202] * 3
        # One running (or about to) + two queued = capacity: the next one is refused.
        third = client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=20))
        assert third.status_code == 429, third.text
        assert int(third.headers["retry-after"]) >= 1
        assert "queue" in third.json()["detail"]
        held = blocker.json()["id"]
        assert client.post(f"/v1/jobs/{held}/cancel").status_code == 202
        assert wait_job(client, held)["status"] == "cancelled"

        a = wait_job(client, first.json()["id"])
        b = wait_job(client, second.json()["id"])
        assert a["status"] == b["status"] == "succeeded"
        finished, started = (
            datetime.fromisoformat(a["finished_at"]),
            datetime.fromisoformat(b["started_at"]),
        )
        assert finished <= started, (finished, started)
        jobs = client.get("/v1/jobs").json()["data"]
        assert [j["id"] for j in jobs] == [b["id"], a["id"], held]  # newest first; no 429 one
        assert client.post("/v1/jobs", json=notebook_job(dataset_id, epochs=1)).status_code == 202
