"""Training never gets in the way of requests.

* ``[embedded]``: job processes are children of the server, moved to the ``SCHED_IDLE`` class.
* ``[rq]``: the job runs in a work horse forked by an RQ worker, a process of its own outside
  the API's process tree (on another core or host), so there is nothing to demote: the test
  asserts that the job's process (the PID recorded in Redis) descends from the worker and not
  from the server, and that the server stays in the normal class.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from app.jobs.sqlite_store import DB_FILENAME

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's"),
]


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        pid = _parent(pid)
        chain.append(pid)
    return chain


def _running_pid(server: Any, job_id: str) -> int | None:
    """The PID recorded for ``job_id`` while it runs (SQLite or Redis, by back-end)."""
    if server.backend == "rq":
        with redis.Redis.from_url(server.rq.redis_url, decode_responses=True) as client:
            status, pid = client.hmget(f"mlp:job:{job_id}", ["status", "pid"])
        return int(pid) if status == "running" and pid else None
    with sqlite3.connect(server.data_dir / DB_FILENAME) as conn:
        row = conn.execute(
            "SELECT pid FROM jobs WHERE id = ? AND status = 'running'", (job_id,)
        ).fetchone()
    return int(row[0]) if row and row[0] else None


def test_job_processes_run_below_the_server(start_server: Any) -> None:
    server = start_server()
    with server.client() as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 200})
        job = client.post(
            "/v1/jobs",
            json={
                "dataset_id": dataset.json()["id"],
                "training": {"epochs": 10_000, "batch_size": 1},
            },
        )
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        pid = None
        deadline = time.monotonic() + 60
        while pid is None and time.monotonic() < deadline:
            pid = _running_pid(server, job_id)
            time.sleep(0.05)
        assert pid is not None, "the job never ran"
        assert os.sched_getscheduler(server.pid) == os.SCHED_OTHER
        if server.backend == "rq":
            (worker,) = server.workers
            ancestors = _ancestors(pid)
            assert worker.pid in ancestors, (pid, ancestors)
            assert server.pid not in ancestors, (pid, ancestors)
        else:
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
