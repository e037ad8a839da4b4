"""Feature crosses against a real server (issue 16): a job trains the circles with no hidden
layer and ``feature_crosses=["square"]``; /predict, /boundary, V2 (tritonclient) and the ONNX
download all take the raw two columns and agree."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as triton
from helpers.server import Server, wait_for_job

pytestmark = pytest.mark.integration

ROWS = np.array([[0.0, 0.0], [1.2, -0.3], [0.2, 0.5], [-1.0, -1.0]])


@pytest.fixture(scope="module")
def backend() -> str:
    """Crosses live in the engine and the model file: one job back-end is enough."""
    return "embedded"


def _train(server: Server) -> str:
    with server.client() as client:
        response = client.post("/v1/datasets/generate", json={"kind": "circles", "seed": 0})
        assert response.status_code == 201, response.text
        body = {
            "dataset_id": response.json()["id"],
            "architecture": {"hidden_layers": []},
            "training": {"epochs": 100, "seed": 0, "feature_crosses": ["square"], "l1": 1e-4},
        }
        response = client.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    model_id: str = job["model_id"]
    return model_id


def test_a_crossed_model_takes_the_raw_columns_everywhere(shared_server: Server) -> None:
    model_id = _train(shared_server)
    with shared_server.client() as client:
        model = client.get(f"/v1/models/{model_id}").json()
        assert model["layers"] == [4, 1] and model["crossed_features"] == ["x0^2", "x1^2"]
        assert model["evaluation"]["train"]["accuracy"] >= 0.95
        response = client.post(f"/v1/models/{model_id}/predict", json={"X": ROWS.tolist()})
        assert response.status_code == 200, response.text
        expected = np.array(response.json()["probabilities"])
        boundary = client.get(f"/v1/models/{model_id}/boundary", params={"resolution": 20})
        assert boundary.status_code == 200, boundary.text
        grid = np.array(boundary.json()["probabilities"])
        onnx_file = client.get(f"/v1/models/{model_id}/download", params={"format": "onnx"})
        assert onnx_file.status_code == 200, onnx_file.text
    assert grid.shape == (20, 20)
    assert grid[10, 10] > 0.5 > grid[0, 0]  # the inner ring (class 1) in the middle only

    triton_client = triton.InferenceServerClient(f"127.0.0.1:{shared_server.port}")
    try:
        assert triton_client.get_model_metadata(model_id)["inputs"] == [
            {"name": "input", "datatype": "FP64", "shape": [-1, 2]}
        ]
        tensor = triton.InferInput("input", list(ROWS.shape), "FP64")
        tensor.set_data_from_numpy(ROWS)
        result = triton_client.infer(model_id, [tensor])
    finally:
        triton_client.close()
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, rtol=0, atol=1e-12)

    session = ort.InferenceSession(onnx_file.content, providers=["CPUExecutionProvider"])
    (label, probabilities) = session.run(None, {"input": ROWS.astype(np.float32)})
    assert np.abs(probabilities - expected).max() <= 2e-5
    assert label.tolist() == np.argmax(expected, axis=1).tolist()
