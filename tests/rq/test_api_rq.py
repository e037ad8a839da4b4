"""The HTTP API with ``MLP_JOB_BACKEND=rq``: a real uvicorn server, a real redis-server and a
real ``python -m app.rq_worker``; generate the notebook dataset, train it with the notebook's
setup, follow the SSE stream to its end, predict."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from rq_helpers import ApiServer, WorkerProcess, worker_env

pytestmark = [pytest.mark.rq, pytest.mark.integration, pytest.mark.slow]

# The teaching notebook's network and training, exactly.
NOTEBOOK_JOB = {
    "name": "notebook on rq",
    "architecture": {"hidden_layers": [5, 3], "activation": "relu"},
    "training": {
        "epochs": 200,
        "learning_rate": 0.001,
        "batch_size": 1,
        "optimizer": "sgd",
        "momentum": 0.0,
        "init": "notebook",
        "shuffle": False,
        "standardize": False,
        "seed": 1,
    },
}


@pytest.fixture
def rq_api(redis_url: str, data_dir: Path, tmp_path: Path) -> Iterator[ApiServer]:
    """The API server on the RQ back-end (one worker's worth of concurrency)."""
    log_dir = tmp_path / "server"
    log_dir.mkdir()
    env = worker_env(
        data_dir,
        redis_url,
        MLP_JOB_BACKEND="rq",
        MLP_MAX_CONCURRENT_JOBS="1",
        MLP_WORKERS="1",
    )
    server = ApiServer(env, log_dir / "server.log")
    yield server
    server.stop()


def read_events(client: httpx.Client, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Follow ``/events`` to its end, parsing each ``event:``/``data:`` block."""
    events: list[tuple[str, dict[str, Any]]] = []
    kind, data = "", ""
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and kind:
                events.append((kind, json.loads(data)))
                kind, data = "", ""
    return events


def test_notebook_workflow_on_rq_workers(
    rq_api: ApiServer, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker()
    with httpx.Client(base_url=rq_api.base_url, timeout=30) as client:
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text

        response = client.post("/v1/datasets/generate", json={"kind": "notebook", "seed": 0})
        assert response.status_code == 201, response.text
        dataset = response.json()

        response = client.post("/v1/jobs", json={**NOTEBOOK_JOB, "dataset_id": dataset["id"]})
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/v1/jobs/{job['id']}"

        events = read_events(client, job["id"])
        kinds = [kind for kind, _ in events]
        assert kinds == ["progress"] * 200 + ["status"]
        assert [data["epoch"] for _, data in events[:-1]] == list(range(1, 201))
        final = events[-1][1]
        assert final["status"] == "succeeded", (final, worker.log())

        job = client.get(f"/v1/jobs/{job['id']}").json()
        assert job["status"] == "succeeded" and len(job["history"]) == 200
        assert job["model_id"] == final["model_id"]

        data = client.get(f"/v1/datasets/{dataset['id']}/data").json()
        response = client.post(f"/v1/models/{final['model_id']}/predict", json={"X": data["X"]})
        assert response.status_code == 200, response.text
        predictions = np.asarray(response.json()["predictions"])
        assert (predictions == np.asarray(data["y"])).mean() >= 0.95
        assert f"job {job['id']}: succeeded" in worker.log()  # trained on the worker
