"""Training never gets in the way of requests.

* ``[embedded]``: job processes are children of the server, at nice ``MLP_JOB_PRIORITY`` (10);
  ``idle`` moves them to the ``SCHED_IDLE`` class instead (``test_idle_priority...``).
* ``[rq]``: the job runs in a work horse forked by an RQ worker, a process of its own outside
  the API's process tree (on another core or host), so there is nothing to demote: the test
  asserts that the job's process (the PID recorded in Redis) descends from the worker and not
  from the server, and that the server stays in the normal class.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
import redis
from helpers.jobdb import running_pid
from helpers.processes import ancestors
from helpers.specs import FOREVER, LONG_JOB_ENV
from helpers.waiting import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's"),
]


def _running_pid(server: Any, job_id: str) -> int | None:
    """The PID recorded for ``job_id`` while it runs (SQLite or Redis, by back-end)."""
    if server.backend == "rq":
        with redis.Redis.from_url(server.rq.redis_url, decode_responses=True) as client:
            status, pid = client.hmget(f"mlp:job:{job_id}", ["status", "pid"])
        return int(pid) if status == "running" and pid else None
    return running_pid(server.data_dir, job_id)


def test_job_processes_run_below_the_server(start_server: Any) -> None:
    server = start_server(**LONG_JOB_ENV)
    with server.client() as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 200})
        job = client.post(
            "/v1/jobs",
            json={
                "dataset_id": dataset.json()["id"],
                "training": FOREVER,
            },
        )
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        pid = wait_for(lambda: _running_pid(server, job_id), 60, "the job to run")
        assert os.sched_getscheduler(server.pid) == os.SCHED_OTHER
        if server.backend == "rq":
            (worker,) = server.workers
            chain = ancestors(pid)
            assert worker.pid in chain, (pid, chain)
            assert server.pid not in chain, (pid, chain)
        else:
            assert os.sched_getscheduler(pid) == os.SCHED_OTHER
            assert os.getpriority(os.PRIO_PROCESS, pid) == 10
            assert os.getpriority(os.PRIO_PROCESS, server.pid) == 0
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
