"""``queue_position`` of a queued job on the embedded runner (issue 16, "queued, N ahead"): the
number of queued jobs the runner starts before it, FIFO; null once the job runs or ends.
(The RQ runner's: tests/rq/test_rq_owners.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.inprocess import generate, make_settings, serve, wait_for_job
from helpers.specs import FOREVER, LONG_JOB_LIMITS

pytestmark = pytest.mark.anyio


async def _positions(client: httpx.AsyncClient) -> dict[str, Any]:
    listed = (await client.get("/v1/jobs")).json()["data"]
    return {job["id"]: job["queue_position"] for job in listed}


async def test_queued_jobs_know_how_many_are_ahead(data_dir: Path) -> None:
    settings = make_settings(data_dir, max_concurrent_jobs=1, **LONG_JOB_LIMITS)
    async with serve(settings) as client:
        dataset = (await generate(client, "xor", n_samples=40))["id"]
        body = {"dataset_id": dataset, "training": {"epochs": 2}}
        running = await client.post("/v1/jobs", json={**body, "training": FOREVER})
        first = running.json()["id"]
        await wait_for_job(client, first, until={"running"})  # the one slot is taken
        second = await client.post("/v1/jobs", json=body)
        third = await client.post("/v1/jobs", json=body)
        assert second.json()["queue_position"] == 0 and third.json()["queue_position"] == 1
        a, b = second.json()["id"], third.json()["id"]
        for job_id, position in ((a, 0), (b, 1), (first, None)):
            assert (await client.get(f"/v1/jobs/{job_id}")).json()["queue_position"] == position
        assert await _positions(client) == {first: None, a: 0, b: 1}
        queued = (await client.get("/v1/jobs?status=queued")).json()["data"]
        assert [(j["id"], j["queue_position"]) for j in queued] == [(b, 1), (a, 0)]

        assert (await client.post(f"/v1/jobs/{a}/cancel")).status_code == 202
        assert await _positions(client) == {first: None, a: None, b: 0}
        assert (await client.post(f"/v1/jobs/{first}/cancel")).status_code == 202
        done = await wait_for_job(client, b)
        assert done["status"] == "succeeded" and done["queue_position"] is None
