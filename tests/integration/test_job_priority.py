"""Training never gets in the way of requests: job processes run in the ``SCHED_IDLE`` class."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from typing import Any

import pytest

from app.jobs.sqlite_store import DB_FILENAME

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's"),
]


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
            with sqlite3.connect(server.data_dir / DB_FILENAME) as conn:
                row = conn.execute(
                    "SELECT pid FROM jobs WHERE id = ? AND status = 'running'", (job_id,)
                ).fetchone()
            pid = row[0] if row else None
            time.sleep(0.05)
        assert pid is not None, "the job never ran"
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        assert os.sched_getscheduler(server.pid) == os.SCHED_OTHER
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
