"""The walk-through against a real server: generate -> train -> watch -> predict -> boundary."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from helpers.events import read_events
from helpers.server import wait_for_epoch
from helpers.specs import FOREVER, LONG_JOB_ENV, notebook_job

import mlp_engine

pytestmark = pytest.mark.integration


def test_notebook_walk_through(shared_server: Any, wait_job: Any) -> None:
    with shared_server.client() as client:
        response = client.post("/v1/datasets/generate", json={"kind": "notebook", "seed": 0})
        assert response.status_code == 201, response.text
        dataset = response.json()
        assert (dataset["n_samples"], dataset["n_features"]) == (1000, 2)

        response = client.post("/v1/jobs", json=notebook_job(dataset["id"], name="notebook"))
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/v1/jobs/{job['id']}"

        events = read_events(client, job["id"])
        kinds = [kind for kind, _ in events]
        assert kinds[-1] == "status" and kinds.count("status") == 1
        epochs = [data["epoch"] for kind, data in events if kind == "progress"]
        assert epochs and epochs == sorted(epochs) and epochs[-1] == 200
        final = events[-1][1]
        assert final["status"] == "succeeded", final
        model_id = final["model_id"]

        job = wait_job(client, job["id"])
        assert job["model_id"] == model_id and len(job["history"]) == 200
        model = client.get(f"/v1/models/{model_id}").json()
        assert model["layers"] == [2, 5, 3, 1]

        # Predict on the training data: the notebook's network reaches >= 99 %.
        data = client.get(f"/v1/datasets/{dataset['id']}/data").json()
        X, y = np.array(data["X"]), np.array(data["y"])
        response = client.post(f"/v1/models/{model_id}/predict", json={"X": data["X"]})
        assert response.status_code == 200, response.text
        prediction = response.json()
        accuracy = float(np.mean(np.array(prediction["predictions"]) == y))
        assert accuracy >= 0.99, accuracy
        assert prediction["classes"] == [0, 1]

        # The model file: download, load with the engine, same predictions.
        response = client.get(f"/v1/models/{model_id}/download")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        blob = response.content
        local = mlp_engine.load(io.BytesIO(blob))
        np.testing.assert_array_equal(local.predict(X), np.array(prediction["predictions"]))
        np.testing.assert_allclose(
            local.predict_proba(X), np.array(prediction["probabilities"]), rtol=1e-12
        )

        # Boundary JSON: probabilities[j][i] is P(class 1) at (x[i], y[j]).
        params = {"x_min": -8, "x_max": 8, "y_min": -10, "y_max": 10, "nx": 40, "ny": 30}
        response = client.get(f"/v1/models/{model_id}/boundary", params=params)
        assert response.status_code == 200, response.text
        grid = response.json()
        assert len(grid["x"]) == 40 and len(grid["y"]) == 30
        probabilities = np.array(grid["probabilities"])
        assert probabilities.shape == (30, 40)
        xs, ys, expected = mlp_engine.decision_grid(
            local, x_range=(-8, 8), y_range=(-10, 10), nx=40, ny=30
        )
        np.testing.assert_allclose(grid["x"], xs)
        np.testing.assert_allclose(grid["y"], ys)
        np.testing.assert_allclose(probabilities, expected, rtol=1e-9, atol=1e-12)
        # Orientation: the ellipse of class 0 sits at the origin, class 1 above and below it.
        i0, j0 = int(np.argmin(np.abs(xs))), int(np.argmin(np.abs(ys)))
        j_up = int(np.argmin(np.abs(ys - 3.5)))
        assert probabilities[j0, i0] < 0.5 < probabilities[j_up, i0]

        # Boundary PNG: the notebook's picture.
        response = client.get(f"/v1/models/{model_id}/boundary", params={"format": "png"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n") and len(response.content) > 1000

        # Import the downloaded file back: a new model with the same predictions.
        response = client.post(
            "/v1/models/import",
            content=blob,
            headers={"content-type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text
        imported = response.json()["id"]
        assert imported != model_id
        again = client.post(f"/v1/models/{imported}/predict", json={"X": data["X"]}).json()
        assert again["predictions"] == prediction["predictions"]

        # Delete everything.
        for mid in (model_id, imported):
            assert client.delete(f"/v1/models/{mid}").status_code == 204
            assert client.get(f"/v1/models/{mid}").status_code == 404
        assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
        assert client.get("/v1/models").json()["count"] == 0
        assert client.get("/v1/datasets").json()["count"] == 0


def test_health_answers_while_a_job_trains(start_server: Any, wait_job: Any) -> None:
    server = start_server(**LONG_JOB_ENV)
    with server.client() as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "notebook"}).json()
        body = {
            "dataset_id": dataset["id"],
            "architecture": {"hidden_layers": [32, 32]},
            "training": {**FOREVER, "optimizer": "sgd", "seed": 0},
        }
        job = client.post("/v1/jobs", json=body).json()
        epoch = wait_for_epoch(client, job["id"], 1)["progress"]["epoch"]
        # Each health check is answered, and the job trains on in between: both happen.
        for _ in range(3):
            response = client.get("/health")
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "ok"
            epoch = wait_for_epoch(client, job["id"], epoch + 1)["progress"]["epoch"]
        metrics = client.get("/metrics").text
        assert 'mlp_jobs{state="running"} 1.0' in metrics

        # Cancel the endless job: it stops and leaves no model.
        response = client.post(f"/v1/jobs/{job['id']}/cancel")
        assert response.status_code == 202
        done = wait_job(client, job["id"])
        assert done["status"] == "cancelled" and done["model_id"] is None
        assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409


def test_inline_job_and_regression(shared_server: Any, wait_job: Any) -> None:
    with shared_server.client() as client:
        X = [[x / 20] for x in range(-20, 21)]
        y = [float(np.sin(3 * row[0])) for row in X]
        body = {
            "X": X,
            "y": y,
            "task": "regression",
            "architecture": {"hidden_layers": [16], "activation": "tanh"},
            "training": {"epochs": 300, "learning_rate": 0.01, "seed": 0},
        }
        response = client.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        job = wait_job(client, response.json()["id"])
        assert job["status"] == "succeeded", job["error"]
        assert client.get(f"/v1/datasets/{job['dataset_id']}").json()["task"] == "regression"
        result = client.post(f"/v1/models/{job['model_id']}/predict", json={"X": X}).json()
        error = np.mean((np.array(result["predictions"]) - np.array(y)) ** 2)
        assert error < 0.05
        client.delete(f"/v1/models/{job['model_id']}")
        client.delete(f"/v1/datasets/{job['dataset_id']}")
