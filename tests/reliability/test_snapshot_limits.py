"""Issue 18 "What to build" item 5: a running job's weights snapshot is read under the same size
limits as model files (``MLP_MAX_MODEL_BYTES`` on the file and on what its members declare).

The job process is stopped (SIGSTOP) while a hostile file is planted in its place, so the
planted file stays there for the request; Python's allocations (NumPy's included) are traced
around the request, so a snapshot inflated in memory would show as hundreds of MB.
"""

from __future__ import annotations

import os
import signal
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from helpers.inprocess import make_settings, serve, wait_for_job
from helpers.jobdb import running_pid
from helpers.model_files import write_consistent_zip_bomb
from helpers.specs import FOREVER, LONG_JOB_LIMITS

from app.jobs.core import snapshot_path

LIMIT = 1 * 2**20  # MLP_MAX_MODEL_BYTES for these tests
BOMB_UNITS = 300 * 2**20 // 16  # W0 (1, units) + b0 (units,) float64: 300 MB once inflated
MEMORY_BOUND = 32 * 2**20
# Runs until cancelled: a job that merely takes seconds could end between its first snapshot
# and the SIGSTOP (no process to stop, or a final model in place of the snapshot).
LONG_JOB: dict[str, Any] = {
    "architecture": {"hidden_layers": [16, 16]},
    "training": {**FOREVER, "optimizer": "sgd", "seed": 0},
}


@asynccontextmanager
async def stopped_running_job(data_dir: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client and a running job that has written a snapshot, its process stopped."""
    settings = make_settings(
        data_dir, max_model_bytes=LIMIT, snapshot_every_epochs=1, **LONG_JOB_LIMITS
    )
    async with serve(settings) as client:
        generated = await client.post(
            "/v1/datasets/generate", json={"kind": "xor", "n_samples": 200}
        )
        body = {"dataset_id": generated.json()["id"], **LONG_JOB}
        job_id = (await client.post("/v1/jobs", json=body)).json()["id"]
        url = f"/v1/jobs/{job_id}/boundary"
        with anyio.fail_after(60):
            while (await client.get(url, params={"resolution": 3})).status_code != 200:
                await anyio.sleep(0.05)
        pid = running_pid(data_dir, job_id)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            yield client, job_id
        finally:
            os.kill(pid, signal.SIGCONT)
            await client.post(f"/v1/jobs/{job_id}/cancel")
            await wait_for_job(client, job_id)


async def traced_get(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, int]:
    """The response and the peak of traced allocations while it was served."""
    tracemalloc.start()
    try:
        response = await client.get(url, params={"resolution": 3})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, peak


@pytest.mark.anyio
async def test_a_planted_zip_bomb_snapshot_is_a_409_without_inflating_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with stopped_running_job(data_dir) as (client, job_id):
        path = snapshot_path(data_dir, job_id)
        write_consistent_zip_bomb(path, BOMB_UNITS)
        assert path.stat().st_size < LIMIT  # small on disk: only the declared sizes tell
        response, peak = await traced_get(client, f"/v1/jobs/{job_id}/boundary")
        assert peak < MEMORY_BOUND, peak
        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert job_id in detail and "snapshot cannot be read" in detail and "limit" in detail


@pytest.mark.anyio
async def test_a_planted_oversized_snapshot_is_a_409_naming_the_limit(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with stopped_running_job(data_dir) as (client, job_id):
        snapshot_path(data_dir, job_id).write_bytes(os.urandom(256) * (64 * 2**20 // 256))
        response, peak = await traced_get(client, f"/v1/jobs/{job_id}/boundary")
        assert peak < MEMORY_BOUND, peak  # the 64 MiB file was not read whole
        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert f"larger than {LIMIT} bytes" in detail and "MLP_MAX_MODEL_BYTES" in detail
