"""Replay against a real server, on both back-ends: the frames of a finished job and of its
model, the boundary at a recorded epoch, the GIF, and cancel?keep=true keeping a model that
loads and predicts."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.server import wait_for_epoch
from helpers.specs import FOREVER, LONG_JOB_ENV
from PIL import Image

import mlp_engine

pytestmark = pytest.mark.integration


def job_body(dataset_id: str, **training: Any) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "architecture": {"hidden_layers": [6, 4], "activation": "tanh"},
        "training": {"epochs": 120, "batch_size": 16, "seed": 2, **training},
    }


def xor_dataset(client: httpx.Client) -> str:
    response = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 100})
    assert response.status_code == 201, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


def epochs_of(client: httpx.Client, path: str) -> list[int]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    epochs: list[int] = response.json()["epochs"]
    return epochs


def test_replay_of_a_finished_job_and_of_its_model(start_server: Any, wait_job: Any) -> None:
    server = start_server()
    with server.client() as client:
        job = client.post("/v1/jobs", json=job_body(xor_dataset(client))).json()
        done = wait_job(client, job["id"])
        assert done["status"] == "succeeded", done
        model = f"/v1/models/{done['model_id']}"
        epochs = epochs_of(client, f"{model}/frames")
        assert len(epochs) == 100 and epochs[0] == 1 and epochs[-1] == 120
        assert epochs_of(client, f"/v1/jobs/{job['id']}/frames") == epochs
        middle = epochs[50]
        for path in (model, f"/v1/jobs/{job['id']}"):
            response = client.get(f"{path}/boundary", params={"epoch": middle, "resolution": 10})
            assert response.status_code == 200 and response.json()["epoch"] == middle
            assert client.get(f"{path}/boundary", params={"epoch": 121}).status_code == 404
        preview = client.get(f"{model}/boundary", params={"layer": 2, "unit": 3, "epoch": 1})
        assert preview.status_code == 200 and preview.json()["unit"] == 3
        gif = client.get(f"{model}/animation", timeout=120)
        assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
        with Image.open(io.BytesIO(gif.content)) as image:
            assert image.n_frames == 100
        download = client.get(f"{model}/download").content
        with np.load(io.BytesIO(download)) as archive:  # the frames are not in the download
            assert not any("frame" in name or "epochs" in name for name in archive.files)


def test_cancel_keep_saves_a_model_that_loads_and_predicts(
    start_server: Any, wait_job: Any
) -> None:
    server = start_server(**LONG_JOB_ENV)
    with server.client() as client:
        job = client.post("/v1/jobs", json=job_body(xor_dataset(client), **FOREVER)).json()
        wait_for_epoch(client, job["id"], 3)
        response = client.post(f"/v1/jobs/{job['id']}/cancel", params={"keep": "true"})
        assert response.status_code == 202, response.text
        done = wait_job(client, job["id"])
        assert done["status"] == "cancelled" and done["model_id"], done
        model = f"/v1/models/{done['model_id']}"
        assert client.get(model).json()["job_id"] == job["id"]
        predicted = client.post(f"{model}/predict", json={"X": [[0.2, -0.4], [-1.0, 1.0]]})
        assert predicted.status_code == 200 and len(predicted.json()["predictions"]) == 2
        loaded = mlp_engine.load(io.BytesIO(client.get(f"{model}/download").content))
        np.testing.assert_allclose(
            loaded.predict_proba(np.array([[0.2, -0.4], [-1.0, 1.0]]))[:, 1],
            [row[1] for row in predicted.json()["probabilities"]],
        )
        kept = epochs_of(client, f"{model}/frames")
        assert kept and kept[0] == 1 and kept == epochs_of(client, f"/v1/jobs/{job['id']}/frames")
