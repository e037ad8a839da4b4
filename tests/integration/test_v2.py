"""The Open Inference Protocol against a real uvicorn server, driven by tritonclient's HTTP client.

Models are trained with the engine, imported through ``POST /v1/models/import`` and then queried
with tritonclient as it is (default settings, binary and JSON inputs, binary and JSON outputs);
its results must equal ``/v1/models/{id}/predict``'s. Hostile V2 requests are sent raw with httpx.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from helpers.server import Server
from tritonclient.utils import InferenceServerException

import mlp_engine
from app.services.models import predictions
from mlp_engine import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.integration

HEADER = "Inference-Header-Content-Length"
ROWS = np.random.default_rng(5).normal(size=(7, 2)).astype(np.float32).astype(np.float64)


@pytest.fixture(scope="module")
def backend() -> str:
    """The protocol does not depend on the job back-end: embedded only."""
    return "embedded"


def _import(client: httpx.Client, model: Any) -> str:
    buf = io.BytesIO()
    model.save(buf)
    response = client.post(
        "/v1/models/import",
        content=buf.getvalue(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    model_id: str = response.json()["id"]
    return model_id


def _table(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = rng.normal(size=n)
    size[rng.random(n) < 0.15] = np.nan
    colour = rng.choice(["red", "green", "blue"], n)
    colour[rng.random(n) < 0.15] = ""
    return {"size": size, "colour": colour}


@pytest.fixture(scope="module")
def model_ids(shared_server: Server) -> dict[str, str]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    quick = {"hidden_layers": (6,), "epochs": 20, "seed": 0}
    names = np.array(["setosa", "versicolor", "virginica"])
    table = _table(120, 1)
    models = {
        "binary": MLPClassifier(**quick).fit(X, (X[:, 0] + X[:, 1] > 0).astype(int)),
        "multiclass": MLPClassifier(**quick).fit(
            X, names[np.argmax(np.c_[X, -X.sum(axis=1)], axis=1)]
        ),
        "regression": MLPRegressor(**quick).fit(X, X[:, 0] - 0.5 * X[:, 1]),
        "table": MLPClassifier(**quick).fit(table, np.where(table["colour"] == "red", 1, 0)),
    }
    with shared_server.client() as client:
        return {name: _import(client, model) for name, model in models.items()}


@pytest.fixture
def triton_client(shared_server: Server) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(f"127.0.0.1:{shared_server.port}")
    try:
        yield client
    finally:
        client.close()


def _predict(server: Server, model_id: str, rows: np.ndarray) -> dict[str, Any]:
    with server.client() as client:
        response = client.post(f"/v1/models/{model_id}/predict", json={"X": rows.tolist()})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _labels(values: np.ndarray) -> list[Any]:
    """tritonclient's BYTES come back as bytes (binary) or str (JSON): compare as text."""
    return [v.decode() if isinstance(v, bytes) else v for v in values.tolist()]


def test_server_and_model_metadata(
    triton_client: triton.InferenceServerClient, model_ids: dict[str, str]
) -> None:
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    meta = triton_client.get_server_metadata()
    assert meta["name"] == "mlp-service" and "binary_tensor_data" in meta["extensions"]
    model_id = model_ids["multiclass"]
    assert triton_client.is_model_ready(model_id)
    assert triton_client.is_model_ready(model_id, model_version="1")
    model = triton_client.get_model_metadata(model_id)
    assert model["name"] == model_id and model["versions"] == ["1"]
    assert model["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 2]}]
    assert [o["name"] for o in model["outputs"]] == ["predictions", "probabilities"]
    table = triton_client.get_model_metadata(model_ids["table"])
    assert {t["name"]: t["datatype"] for t in table["inputs"]} == {
        "size": "FP64",
        "colour": "BYTES",
    }
    assert not triton_client.is_model_ready("mdl_doesnotexist")


@pytest.mark.parametrize("name", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("binary_in", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("outputs", ["default", "binary-out", "json-out"])
def test_infer_equals_predict(
    shared_server: Server,
    triton_client: triton.InferenceServerClient,
    model_ids: dict[str, str],
    name: str,
    binary_in: bool,
    outputs: str,
) -> None:
    model_id = model_ids[name]
    expected = _predict(shared_server, model_id, ROWS)
    tensor = triton.InferInput("input", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS, binary_data=binary_in)
    names = ["predictions"] if name == "regression" else ["predictions", "probabilities"]
    requested = (
        None
        if outputs == "default"
        else [triton.InferRequestedOutput(n, binary_data=outputs == "binary-out") for n in names]
    )
    result = triton_client.infer(model_id, [tensor], outputs=requested, request_id="req-1")
    assert result.get_response()["id"] == "req-1"
    labels = result.as_numpy("predictions")
    assert labels.shape == (len(ROWS),)
    if name == "regression":
        np.testing.assert_allclose(labels, expected["predictions"], rtol=0, atol=1e-12)
        assert result.as_numpy("probabilities") is None
        return
    assert _labels(labels) == expected["predictions"]
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected["probabilities"], rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("binary_in", [True, False], ids=["binary-in", "json-in"])
def test_table_model_takes_one_tensor_per_column(
    shared_server: Server,
    triton_client: triton.InferenceServerClient,
    model_ids: dict[str, str],
    binary_in: bool,
) -> None:
    model_id = model_ids["table"]
    rows = _table(9, 2)
    rows["colour"][0] = "chartreuse"  # a category the model never saw
    size = triton.InferInput("size", [9, 1], "FP32")
    size.set_data_from_numpy(rows["size"].astype(np.float32)[:, None], binary_data=binary_in)
    colour = triton.InferInput("colour", [9], "BYTES")
    colour.set_data_from_numpy(
        np.array([c.encode() for c in rows["colour"]], dtype=object), binary_data=binary_in
    )
    result = triton_client.infer(model_id, [size, colour])
    # What /predict computes (its table form is another change): the same service function on
    # the very file the server serves.
    with shared_server.client() as client:
        data = client.get(f"/v1/models/{model_id}/download").content
    local = mlp_engine.load(io.BytesIO(data))
    rows["size"] = rows["size"].astype(np.float32).astype(np.float64)
    expected = predictions(local, rows)
    assert result.as_numpy("predictions").tolist() == expected["predictions"].tolist()
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected["probabilities"], rtol=0, atol=1e-12
    )


def test_client_errors_carry_the_message(
    triton_client: triton.InferenceServerClient, model_ids: dict[str, str]
) -> None:
    tensor = triton.InferInput("input", [1, 3], "FP64")
    tensor.set_data_from_numpy(np.zeros((1, 3)))
    with pytest.raises(InferenceServerException, match=r"shape \[N, 2\]"):
        triton_client.infer(model_ids["binary"], [tensor])
    with pytest.raises(InferenceServerException, match="not found"):
        triton_client.get_model_metadata("mdl_doesnotexist")


def _raw(doc: dict[str, Any], *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    header = orjson.dumps(doc)
    return header + b"".join(chunks), {HEADER: str(len(header))}


def _hostile(model_ids: dict[str, str]) -> list[tuple[str, str, bytes, dict[str, str]]]:
    binary, table = model_ids["binary"], model_ids["table"]
    floats = np.zeros(4, dtype="<f8").tobytes()
    doc = {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP64",
                "shape": [2, 2],
                "parameters": {"binary_data_size": len(floats)},
            }
        ]
    }
    good, headers = _raw(doc, floats)
    bad_shape = {**doc, "inputs": [{**doc["inputs"][0], "shape": [3, 2]}]}
    truncated = {
        "inputs": [
            {
                "name": "colour",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"binary_data_size": 7},
            },
            {"name": "size", "datatype": "FP64", "shape": [1], "data": [1.0]},
        ]
    }
    json_rows = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 2], "data": [1, 2]}]}
    return [
        ("length past the end", binary, good, {HEADER: str(len(good) + 100)}),
        ("negative length", binary, good, {HEADER: "-1"}),
        ("length not a number", binary, good, {HEADER: "0x20"}),
        ("sizes do not add up", binary, good + b"\0" * 8, headers),
        ("shape disagrees with the data", binary, *_raw(bad_shape, floats)),
        ("truncated BYTES", table, *_raw(truncated, struct.pack("<I", 1000) + b"abc")),
        (
            "unknown input name",
            binary,
            orjson.dumps({"inputs": [{**json_rows["inputs"][0], "name": "features"}]}),
            {},
        ),
        (
            "wrong datatype",
            binary,
            orjson.dumps(
                {"inputs": [{**json_rows["inputs"][0], "datatype": "BYTES", "data": ["1", "2"]}]}
            ),
            {},
        ),
        (
            "unknown datatype",
            binary,
            orjson.dumps({"inputs": [{**json_rows["inputs"][0], "datatype": "FP8"}]}),
            {},
        ),
        ("not JSON", binary, b"\xff\xfe{", {}),
    ]


def test_hostile_requests_are_400(shared_server: Server, model_ids: dict[str, str]) -> None:
    with shared_server.client() as client:
        for label, model_id, body, headers in _hostile(model_ids):
            response = client.post(f"/v2/models/{model_id}/infer", content=body, headers=headers)
            assert response.status_code == 400, (label, response.text)
            assert set(response.json()) == {"error"}, (label, response.text)
        # The server is still serving.
        assert client.get("/v2/health/ready").json() == {"ready": True}


def test_unknown_model_is_404(shared_server: Server) -> None:
    body = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 2], "data": [1, 2]}]}
    with shared_server.client() as client:
        for response in (
            client.post("/v2/models/mdl_doesnotexist/infer", json=body),
            client.get("/v2/models/mdl_doesnotexist"),
            client.get("/v2/models/mdl_doesnotexist/ready"),
        ):
            assert response.status_code == 404, response.text
            assert "mdl_doesnotexist" in response.json()["error"]
