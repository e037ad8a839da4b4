"""Items 24-26 under load: the queue cap, predicts while jobs train, many train/predict cycles.

Item 24 is tested in full here. Items 25 and 26 are also benchmark figures (hundreds of
concurrent predicts with p99 ratios, 1,000 cycles): ``python bench/reliability_load.py``; the
tests below are their short versions (0 errors; memory and file descriptors flat).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from helpers.inprocess import make_settings, serve, wait_for_job
from helpers.jobdb import running_count
from helpers.server import Server
from helpers.server import wait_for_job as wait_for_job_http
from helpers.soak import kill_cycles
from helpers.specs import FOREVER, LONG_JOB_ENV, LONG_JOB_LIMITS
from helpers.waiting import wait_for_async

SLOW = {**FOREVER, "optimizer": "sgd"}  # runs until cancelled


@pytest.mark.anyio
async def test_more_jobs_than_capacity_get_429_and_running_jobs_never_exceed_the_cap(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    cap, queue = 2, 3
    settings = make_settings(
        data_dir, max_concurrent_jobs=cap, max_queued_jobs=queue, **LONG_JOB_LIMITS
    )
    async with serve(settings) as client:
        dataset = (
            await client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 100})
        ).json()
        body = {"dataset_id": dataset["id"], "architecture": {"hidden_layers": [4]}}
        slow = {**body, "training": SLOW}
        responses = await asyncio.gather(
            *(client.post("/v1/jobs", json=slow) for _ in range(4 * (cap + queue)))
        )
        accepted = [r for r in responses if r.status_code == 202]
        refused = [r for r in responses if r.status_code == 429]
        assert len(accepted) == cap + queue and len(accepted) + len(refused) == len(responses)
        for response in refused:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["code"] == "queue_full"
            assert response.json()["retry_after"] >= 1

        async def slots_full() -> bool:
            # Never more than the cap at any sample, until both slots are seen in use.
            listed = (await client.get("/v1/jobs", params={"status": "running"})).json()
            counts = (listed["count"], running_count(data_dir))
            assert max(counts) <= cap, counts
            return min(counts) == cap

        await wait_for_async(slots_full, 60, f"{cap} running jobs", interval=0.05)
        listed = (await client.get("/v1/jobs", params={"status": "queued"})).json()
        assert listed["count"] == queue, listed  # the others wait for a slot
        # Cancelling frees capacity: new jobs are accepted again and run to the end.
        for response in accepted:
            await client.post(f"/v1/jobs/{response.json()['id']}/cancel")
        quick = {**body, "training": {"epochs": 3}}
        retry = await client.post("/v1/jobs", json=quick)
        assert retry.status_code == 202, retry.text
        assert (await wait_for_job(client, retry.json()["id"]))["status"] == "succeeded"
        # A cancelled job stops after its epoch: the retry may take the first freed slot and
        # end before the other one has stopped, so wait for each before counting.
        for response in accepted:
            assert (await wait_for_job(client, response.json()["id"]))["status"] == "cancelled"
        assert running_count(data_dir) == 0


def predict_body() -> dict[str, Any]:
    return {"X": [[0.1 * i, -0.05 * i] for i in range(10)]}


@pytest.mark.integration
def test_hundreds_of_concurrent_predicts_while_jobs_train_have_no_errors(
    start_server: Any,
) -> None:
    server: Server = start_server(mlp_max_concurrent_jobs="2", **LONG_JOB_ENV)
    with server.client() as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "moons", "n_samples": 300})
        dataset_id = dataset.json()["id"]
        job = client.post("/v1/jobs", json={"dataset_id": dataset_id, "training": {"epochs": 5}})
        model_id = wait_for_job_http(client, job.json()["id"])["model_id"]
        trainers = [
            client.post(
                "/v1/jobs",
                json={"dataset_id": dataset_id, "training": SLOW},
            ).json()["id"]
            for _ in range(2)
        ]
        wait_for_job_http(client, trainers[0], until={"running"})

    async def burst(n: int) -> list[int]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as http:
            responses = await asyncio.gather(
                *(
                    http.post(f"/v1/models/{model_id}/predict", json=predict_body())
                    for _ in range(n)
                ),
                return_exceptions=True,
            )
        return [r.status_code if isinstance(r, httpx.Response) else -1 for r in responses]

    statuses = anyio.run(burst, 300)
    assert statuses.count(200) == len(statuses), sorted(set(statuses))
    with server.client() as client:
        record = client.get(f"/v1/jobs/{trainers[0]}").json()
        assert record["status"] == "running"  # the burst really ran while a job trained
        for job_id in trainers:
            client.post(f"/v1/jobs/{job_id}/cancel")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


@pytest.mark.integration
def test_train_predict_cycles_keep_memory_and_file_descriptors_flat(start_server: Any) -> None:
    cycles = kill_cycles(1) * 40  # RELIABILITY_KILL_CYCLES scales the cycles too (soak)
    server: Server = start_server()
    with server.client() as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 100})
        dataset_id = dataset.json()["id"]
        body = {"dataset_id": dataset_id, "architecture": {"hidden_layers": [6]}}

        def cycle() -> None:
            job = client.post("/v1/jobs", json={**body, "training": {"epochs": 2}}).json()
            done = wait_for_job_http(client, job["id"])
            assert done["status"] == "succeeded", done
            model_id = done["model_id"]
            assert client.post(f"/v1/models/{model_id}/predict", json=predict_body()).is_success
            assert client.get(f"/v1/models/{model_id}/boundary?resolution=30").is_success
            assert client.delete(f"/v1/models/{model_id}").status_code == 204

        for _ in range(10):  # warm-up: caches, the fork server, lazy imports
            cycle()
        rss, fds = server.rss_bytes(), open_fds(server.pid)
        for _ in range(cycles):
            cycle()
        rss_after, fds_after = server.rss_bytes(), open_fds(server.pid)
    assert fds_after - fds <= 3, (fds, fds_after)
    assert rss_after - rss < 24 * 2**20, (rss >> 20, rss_after >> 20)
