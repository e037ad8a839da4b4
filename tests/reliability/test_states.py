"""Items 21 and 22: models of unfinished jobs are 404/409 (never 5xx); /ready tells the truth.

Item 21 needs the ID a job's model *will* have: it is chosen at submission (so a re-run
overwrites the same file) but only published once the model exists, so the test reads it from
the job database, as a client guessing or replaying IDs could hold it.
Item 22: ``/ready`` is 503 before the lifespan ran, while start-up recovery keeps failing (a
locked database), and while the data directory cannot be written (a small tmpfs filled up:
root ignores permission bits, and a mount with open files cannot be remounted read-only), and
200 again once each is fixed.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.disk import fill_disk
from helpers.inprocess import make_settings, serve, wait_for_job
from helpers.jobdb import future_model_id
from helpers.specs import FOREVER, LONG_JOB_LIMITS
from helpers.waiting import wait_for_async

from app.jobs.embedded import EmbeddedRunner
from app.main import create_app

pytestmark = pytest.mark.anyio

SLOW = {**FOREVER, "optimizer": "sgd"}  # runs until cancelled


async def model_routes(client: httpx.AsyncClient, model_id: str) -> dict[str, int]:
    """Status of every route that reads a model, for ``model_id``."""
    statuses = {}
    for method, url, body in (
        ("GET", f"/v1/models/{model_id}", None),
        ("POST", f"/v1/models/{model_id}/predict", {"X": [[0.0, 1.0]]}),
        ("GET", f"/v1/models/{model_id}/boundary", None),
        ("GET", f"/v1/models/{model_id}/boundary?format=png", None),
        ("GET", f"/v1/models/{model_id}/download", None),
    ):
        response = await client.request(method, url, json=body)
        assert response.status_code < 500, (url, response.text)
        statuses[url] = response.status_code
    return statuses


async def test_models_of_jobs_that_have_not_succeeded_are_404_never_5xx(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, snapshot_every_epochs=1, **LONG_JOB_LIMITS)
    async with serve(settings) as client:
        dataset = (
            await client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 200})
        ).json()
        X = np.random.default_rng(21).normal(size=(30, 2)) * 1e150  # diverges at once
        failing = {
            "X": X.tolist(),
            "y": [k % 2 for k in range(30)],
            "training": {"learning_rate": 10.0, "standardize": False, "optimizer": "sgd"},
        }
        failed = (await client.post("/v1/jobs", json=failing)).json()
        failed = await wait_for_job(client, failed["id"])
        assert failed["status"] == "failed"
        slow = {"dataset_id": dataset["id"], "training": SLOW}
        running = (await client.post("/v1/jobs", json=slow)).json()
        await wait_for_job(client, running["id"], until={"running"})
        queued = (await client.post("/v1/jobs", json=slow)).json()
        cancelled = (await client.post("/v1/jobs", json=slow)).json()
        assert (await client.post(f"/v1/jobs/{cancelled['id']}/cancel")).status_code == 202
        # A half-written model file (what a crash mid-write leaves) is not a model either.
        (data_dir / "models" / ".tmp-half").write_bytes(b"PK\x03\x04")

        for job in (failed, running, queued, cancelled):
            record = (await client.get(f"/v1/jobs/{job['id']}")).json()
            assert record["model_id"] is None, record
            statuses = await model_routes(client, future_model_id(data_dir, job["id"]))
            assert set(statuses.values()) == {404}, (record["status"], statuses)
        assert (await client.get("/v1/models")).json()["count"] == 0
        # The job's own boundary: 409 (no snapshot / no model) or the live snapshot, never 5xx.
        for job, allowed in ((failed, {409}), (queued, {409}), (cancelled, {409})):
            response = await client.get(f"/v1/jobs/{job['id']}/boundary")
            assert response.status_code in allowed, response.text
        response = await client.get(f"/v1/jobs/{running['id']}/boundary")
        assert response.status_code in (200, 409), response.text
        for job in (running, queued):
            await client.post(f"/v1/jobs/{job['id']}/cancel")


# ------------------------------------------------------------------------ item 22: /ready


async def raw_get(app: Any, path: str) -> int:
    """GET through the ASGI app without running its lifespan."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.get(path)).status_code


async def ready_response(client: httpx.AsyncClient) -> httpx.Response | None:
    """``GET /ready`` if it answered 200, else ``None``."""
    response = await client.get("/ready")
    return response if response.status_code == 200 else None


async def test_ready_is_503_until_recovery_has_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(make_settings(tmp_path / "data"))
    assert await raw_get(app, "/ready") == 503  # the lifespan has not started
    recovery_allowed = threading.Event()
    failed_recoveries = 0
    real_recover = EmbeddedRunner._recover

    def recover(self: EmbeddedRunner) -> None:
        nonlocal failed_recoveries
        if not recovery_allowed.is_set():
            failed_recoveries += 1
            raise sqlite3.OperationalError("database is locked")
        real_recover(self)

    monkeypatch.setattr(EmbeddedRunner, "_recover", recover)
    async with serve(app.state.settings, app) as client:

        async def still_not_ready_after_failures() -> bool:
            seen = failed_recoveries  # every attempt so far failed, before this request
            response = await client.get("/ready")
            assert response.status_code == 503, response.text
            assert response.json()["checks"] == {"runner": False, "storage": True}
            return seen >= 3

        # At start-up and on each retry of the supervisor: 503 while recovery keeps failing.
        await wait_for_async(still_not_ready_after_failures, 60, "3 failed recoveries")
        recovery_allowed.set()
        response = await wait_for_async(lambda: ready_response(client), 30, "/ready to be 200")
        assert response.json()["status"] == "ready"
    assert await raw_get(app, "/ready") == 503  # stopped


async def test_ready_is_503_while_the_data_dir_cannot_be_written(small_disk: Path) -> None:
    async with serve(make_settings(small_disk / "data")) as client:
        assert (await client.get("/ready")).status_code == 200
        filler = fill_disk(small_disk, leave=0)
        try:
            response = await client.get("/ready")
            assert response.status_code == 503, response.text
            assert response.json()["checks"]["storage"] is False
            assert "storage" in response.json()["detail"]
        finally:
            filler.unlink()
        await wait_for_async(lambda: ready_response(client), 30, "/ready to be 200 again")
