"""The HTTP API with ``MLP_JOB_BACKEND=rq``: a real uvicorn server, a real redis-server and a
real ``python -m app.rq_worker``; generate the notebook dataset, train it with the notebook's
setup, follow the SSE stream to its end, predict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers.events import read_events
from helpers.server import RQBackend, Server
from helpers.specs import notebook_job
from helpers.waiting import wait_for

pytestmark = [pytest.mark.rq, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def rq_api(redis_url: str, data_dir: Path, tmp_path: Path) -> Iterator[Server]:
    """The API server on the RQ back-end with one worker process (one job at a time)."""
    log_dir = tmp_path / "server"
    log_dir.mkdir()
    server = Server(data_dir, log_dir, {}, RQBackend(redis_url, workers=1))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_notebook_workflow_on_rq_workers(rq_api: Server) -> None:
    with httpx.Client(base_url=rq_api.base_url, timeout=30) as client:
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text

        response = client.post("/v1/datasets/generate", json={"kind": "notebook", "seed": 0})
        assert response.status_code == 201, response.text
        dataset = response.json()

        response = client.post("/v1/jobs", json=notebook_job(dataset["id"], name="notebook on rq"))
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/v1/jobs/{job['id']}"

        events = read_events(client, job["id"])
        kinds = [kind for kind, _ in events]
        assert kinds == ["progress"] * 200 + ["status"]
        assert [data["epoch"] for _, data in events[:-1]] == list(range(1, 201))
        final = events[-1][1]
        assert final["status"] == "succeeded", (final, rq_api.worker_log())

        job = client.get(f"/v1/jobs/{job['id']}").json()
        assert job["status"] == "succeeded" and len(job["history"]) == 200
        assert job["model_id"] == final["model_id"]

        data = client.get(f"/v1/datasets/{dataset['id']}/data").json()
        response = client.post(f"/v1/models/{final['model_id']}/predict", json={"X": data["X"]})
        assert response.status_code == 200, response.text
        predictions = np.asarray(response.json()["predictions"])
        assert (predictions == np.asarray(data["y"])).mean() >= 0.95
        # Trained on the worker: its job process logs the end just after recording it, so the
        # line may follow the status event the stream already delivered.
        ended = f"job {job['id']}: succeeded"
        wait_for(lambda: ended in rq_api.worker_log(), 60, "the worker to log the job's end")
