"""/v2 (Open Inference Protocol) over the ASGI app in process: every route, each status, both
body forms, and the same numbers as /v1/models/{id}/predict."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.owners import key_identity
from app.settings import Settings
from app.storage import DatasetStore, ModelStore
from mlp_engine import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.anyio

MAX_ROWS = 50
HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    binary = MLPClassifier(hidden_layers=(5,), epochs=20, seed=0).fit(X, (X[:, 0] > 0).astype(int))
    colours = np.array(["red", "green", "blue"])[np.argmax(np.c_[X, -X.sum(axis=1)], axis=1)]
    multiclass = MLPClassifier(hidden_layers=(6,), epochs=20, seed=0).fit(X, colours)
    regressor = MLPRegressor(hidden_layers=(4,), epochs=10, seed=0).fit(X, X[:, 0] - X[:, 1])
    table = {
        "size": np.where(rng.random(60) < 0.1, np.nan, rng.normal(size=60)),
        "colour": np.where(rng.random(60) < 0.1, "", rng.choice(["a", "b", "c"], 60)),
    }
    tabular = MLPClassifier(hidden_layers=(4,), epochs=10, seed=0).fit(
        table, (table["colour"] == "a").astype(int)
    )
    csv_like = {"height": table["size"], "weight": X[:, 1]}  # all numeric, with missing cells
    numeric_table = MLPRegressor(hidden_layers=(4,), epochs=10, seed=0).fit(csv_like, X[:, 0])
    return {
        "binary": binary,
        "multiclass": multiclass,
        "regressor": regressor,
        "table": tabular,
        "numeric_table": numeric_table,
    }


def _app(tmp_path: Path, **overrides: Any) -> FastAPI:
    settings = Settings(
        _env_file=None, data_dir=tmp_path, max_rows=MAX_ROWS, **{"api_keys": [], **overrides}
    )
    application = create_app(settings)
    application.state.dataset_store = DatasetStore(tmp_path)
    application.state.model_store = ModelStore(tmp_path, max_model_bytes=1 << 20)
    return application


async def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(tmp_path: Path, models: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = _app(tmp_path)
    store: ModelStore = app.state.model_store
    for name, model in models.items():
        store.save(model, model_id=f"mdl_{name}", name=name, job_id=None, dataset_id=None)
    async with await _client(app) as c:
        yield c


def _error(response: httpx.Response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    for fragment in fragments:
        assert fragment in body["error"], (fragment, body)
    return str(body["error"])


ROWS = [[0.5, -1.0], [-2.0, 0.25], [1.5, 1.5]]


def _infer_json(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [len(rows), 2], "data": rows}],
        **extra,
    }


async def test_server_metadata_and_health(client: httpx.AsyncClient) -> None:
    meta = (await client.get("/v2")).json()
    assert meta["name"] == "mlp-service" and "binary_tensor_data" in meta["extensions"]
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    # No lifespan ran: the job runner is absent, so the service is not ready (as /ready says).
    ready = await client.get("/v2/health/ready")
    assert (ready.status_code, ready.json()) == (503, {"ready": False})
    assert (await client.get("/ready")).status_code == 503


async def test_model_metadata(client: httpx.AsyncClient) -> None:
    meta = (await client.get("/v2/models/mdl_multiclass")).json()
    assert meta["name"] == "mdl_multiclass" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 2]}]
    assert meta["outputs"] == [
        {"name": "predictions", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
    ]
    assert (await client.get("/v2/models/mdl_multiclass/versions/1")).json() == meta
    table = (await client.get("/v2/models/mdl_table")).json()
    assert [(t["name"], t["datatype"]) for t in table["inputs"]] == [
        ("size", "FP64"),
        ("colour", "BYTES"),
    ]
    regressor = (await client.get("/v2/models/mdl_regressor")).json()
    assert regressor["outputs"] == [{"name": "predictions", "datatype": "FP64", "shape": [-1]}]
    ready = await client.get("/v2/models/mdl_binary/versions/1/ready")
    assert ready.json() == {"name": "mdl_binary", "ready": True}


async def test_unknown_model_and_version_are_404(client: httpx.AsyncClient) -> None:
    for path in ("/v2/models/mdl_nope", "/v2/models/mdl_nope/ready", "/v2/models/../x"):
        response = await client.get(path)
        assert response.status_code == 404, (path, response.text)
    _error(await client.get("/v2/models/mdl_nope"), 404, "mdl_nope")
    _error(await client.post("/v2/models/mdl_nope/infer", json=_infer_json(ROWS)), 404)
    _error(await client.get("/v2/models/mdl_binary/versions/2"), 404, "version '2'")
    _error(await client.get("/v2/models/mdl_binary/versions/2/ready"), 404)
    infer = await client.post("/v2/models/mdl_binary/versions/7/infer", json=_infer_json(ROWS))
    _error(infer, 404, "version '7'")


@pytest.mark.parametrize("name", ["binary", "multiclass", "regressor"])
async def test_json_infer_equals_predict(client: httpx.AsyncClient, name: str) -> None:
    expected = (await client.post(f"/v1/models/mdl_{name}/predict", json={"X": ROWS})).json()
    response = await client.post(f"/v2/models/mdl_{name}/infer", json=_infer_json(ROWS, id="r1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == f"mdl_{name}" and body["id"] == "r1"
    outputs = {out["name"]: out for out in body["outputs"]}
    assert outputs["predictions"]["data"] == expected["predictions"]
    assert outputs["predictions"]["shape"] == [3]
    if name == "regressor":
        assert set(outputs) == {"predictions"}
        assert outputs["predictions"]["datatype"] == "FP64"
        return
    label_type = "BYTES" if name == "multiclass" else "INT64"
    assert outputs["predictions"]["datatype"] == label_type
    proba = np.array(outputs["probabilities"]["data"]).reshape(outputs["probabilities"]["shape"])
    np.testing.assert_array_equal(proba, expected["probabilities"])


def _binary_body(doc: dict[str, Any], *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    header = orjson.dumps(doc)
    return header + b"".join(chunks), {HEADER: str(len(header))}


def _bytes_tensor(values: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


async def test_binary_in_and_out_on_a_table_model(client: httpx.AsyncClient) -> None:
    sizes = np.array([0.3, np.nan, -1.0], dtype=np.float32)
    colours = _bytes_tensor([b"a", b"unseen", b""])
    doc = {
        "inputs": [
            {
                "name": "size",
                "datatype": "FP32",
                "shape": [3, 1],
                "parameters": {"binary_data_size": sizes.nbytes},
            },
            {
                "name": "colour",
                "datatype": "BYTES",
                "shape": [3],
                "parameters": {"binary_data_size": len(colours)},
            },
        ],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
    }
    body, headers = _binary_body(doc, sizes.tobytes(), colours)
    response = await client.post("/v2/models/mdl_table/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    length = int(response.headers[HEADER])
    head = orjson.loads(response.content[:length])
    (out,) = head["outputs"]
    assert out["name"] == "probabilities" and out["shape"] == [3, 2]
    proba = np.frombuffer(response.content[length:], dtype="<f8").reshape(3, 2)
    # /v1 predict's table form is another helper's work: compare with the stored model itself.
    model = await _stored(client, "mdl_table")
    columns = {"size": sizes.astype(np.float64), "colour": np.array(["a", "unseen", ""])}
    np.testing.assert_array_equal(proba, model.predict_proba(columns))


async def _stored(client: httpx.AsyncClient, model_id: str) -> Any:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: FastAPI = transport.app  # type: ignore[assignment]
    return app.state.model_store.load(model_id)


async def test_hostile_requests_are_400(client: httpx.AsyncClient) -> None:
    url = "/v2/models/mdl_binary/infer"
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
    good, headers = _binary_body(doc, floats)
    assert (await client.post(url, content=good, headers=headers)).status_code == 200
    cases = [
        (good, {HEADER: str(len(good) + 10)}, HEADER),
        (good, {HEADER: "-5"}, HEADER),
        (good, {HEADER: "twelve"}, HEADER),
        (good[:-3], headers, "binary_data_size"),
        (orjson.dumps(_infer_json([[1.0, 2.0, 3.0]])), {}, "shape"),
        (
            orjson.dumps(
                {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 2], "data": [1, 2]}]}
            ),
            {},
            "'input'",
        ),
        (
            orjson.dumps(
                {"inputs": [{"name": "input", "datatype": "FP16", "shape": [1, 2], "data": [1, 2]}]}
            ),
            {},
            "FP16",
        ),
        (
            orjson.dumps(
                {
                    "inputs": [
                        {"name": "input", "datatype": "BYTES", "shape": [1, 2], "data": ["a", "b"]}
                    ]
                }
            ),
            {},
            "input",
        ),
        (b"{not json", {}, "JSON"),
        (orjson.dumps(_infer_json(ROWS, outputs=[{"name": "logits"}])), {}, "logits"),
        (orjson.dumps(_infer_json([[0.0, 0.0]] * (MAX_ROWS + 1))), {}, str(MAX_ROWS)),
    ]
    for body, extra, fragment in cases:
        _error(await client.post(url, content=body, headers=extra), 400, fragment)
    truncated = {
        "inputs": [
            {
                "name": "colour",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"binary_data_size": 6},
            },
            {"name": "size", "datatype": "FP64", "shape": [1], "data": [1.0]},
        ]
    }
    body, headers = _binary_body(truncated, struct.pack("<I", 100) + b"ab")
    response = await client.post("/v2/models/mdl_table/infer", content=body, headers=headers)
    _error(response, 400, "truncated")


async def test_api_keys(tmp_path: Path, models: dict[str, Any]) -> None:
    app = _app(tmp_path, api_keys=["k1"])
    app.state.model_store.save(  # k1's model: a key sees only its own (tests/service/test_owners)
        models["binary"],
        model_id="mdl_binary",
        name="b",
        job_id=None,
        dataset_id=None,
        owner=key_identity("k1"),
    )
    async with await _client(app) as c:
        assert (await c.get("/v2/health/live")).status_code == 200
        assert (await c.get("/v2/health/ready")).status_code == 503  # open, not ready
        operations = [
            (method.upper(), path.replace("{model_id}", "mdl_binary").replace("{version}", "1"))
            for path, ops in app.openapi()["paths"].items()
            if path.startswith("/v2")
            for method in ops
        ]
        assert len(operations) == 9
        auth = {"Authorization": "Bearer k1"}
        for method, path in operations:
            if path.startswith("/v2/health/"):
                continue
            for headers in ({}, {"Authorization": "Bearer k2"}, {"Authorization": "k1"}):
                response = await c.request(method, path, headers=headers)
                _error(response, 401, "API key")
                assert response.headers["www-authenticate"].startswith("Bearer")
            response = await c.request(method, path, headers=auth, json=_infer_json(ROWS))
            assert response.status_code == 200, (method, path, response.text)
        v1 = await c.get("/v1/models")
        assert v1.status_code == 401 and "detail" in v1.json()


async def test_openapi_documents_v2(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    infer = schema["paths"]["/v2/models/{model_id}/infer"]["post"]
    assert set(infer["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
    assert {"200", "400", "401", "404", "413"} <= set(infer["responses"])
    assert "/v2/models/{model_id}/versions/{version}/ready" in schema["paths"]


async def test_versioned_infer_and_missing_values(client: httpx.AsyncClient) -> None:
    url = "/v2/models/mdl_binary/versions/1/infer"
    response = await client.post(url, json=_infer_json(ROWS))
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == "1"
    # A model trained on an X array has no missing-value handling: null is refused, not a 5xx.
    rows = {"inputs": [{"name": "input", "datatype": "INT64", "shape": [1, 2], "data": [1, None]}]}
    _error(await client.post(url, json=rows), 400)
    ints = {
        "inputs": [{"name": "input", "datatype": "INT32", "shape": [2, 2], "data": [1, 2, 3, 4]}]
    }
    assert (await client.post(url, json=ints)).status_code == 200


async def test_the_body_size_limit_applies(tmp_path: Path, models: dict[str, Any]) -> None:
    app = _app(tmp_path, max_body_bytes=1024)
    app.state.model_store.save(
        models["binary"], model_id="mdl_binary", name="b", job_id=None, dataset_id=None
    )
    async with await _client(app) as c:
        big = _infer_json([[0.0, 0.0]] * 200)
        response = await c.post("/v2/models/mdl_binary/infer", json=big)
        assert response.status_code == 413, response.text


async def test_all_numeric_table_model_takes_one_matrix(client: httpx.AsyncClient) -> None:
    meta = (await client.get("/v2/models/mdl_numeric_table")).json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 2]}]
    rows = [[0.5, 1.0], [None, -1.0]]  # null: a missing height
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 2], "data": rows}]}
    response = await client.post("/v2/models/mdl_numeric_table/infer", json=body)
    assert response.status_code == 200, response.text
    (out,) = response.json()["outputs"]
    model = await _stored(client, "mdl_numeric_table")
    expected = model.predict(np.array([[0.5, 1.0], [np.nan, -1.0]]))
    np.testing.assert_array_equal(out["data"], expected)


async def test_a_damaged_model_file_is_409(tmp_path: Path, models: dict[str, Any]) -> None:
    app = _app(tmp_path)
    store: ModelStore = app.state.model_store
    store.save(models["binary"], model_id="mdl_binary", name="b", job_id=None, dataset_id=None)
    store.path("mdl_binary").write_bytes(b"PK\x03\x04 not a model")
    async with await _client(app) as c:
        _error(await c.get("/v2/models/mdl_binary"), 409, "damaged")
        _error(await c.post("/v2/models/mdl_binary/infer", json=_infer_json(ROWS)), 409)
