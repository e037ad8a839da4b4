"""GET /v1/models/{id}/download?format=onnx in process: onnxruntime on the downloaded file equals
/predict (max |diff| <= 2e-5, labels exactly) for every kind of model; 501 without ``onnx``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.services.models import predictions
from app.settings import Settings
from app.storage import DatasetStore, ModelStore
from mlp_engine import MLPClassifier, MLPRegressor
from mlp_engine.activations import ACTIVATIONS

pytestmark = pytest.mark.anyio

TOLERANCE = 2e-5
RNG = np.random.default_rng(0)
# Scales and offsets that make the standardisation matter; exactly representable in float32.
X = (RNG.normal(size=(80, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]).astype(np.float32)
X64 = X.astype(np.float64)


def _table(n: int, rng: np.random.Generator, unseen: bool = False) -> dict[str, np.ndarray]:
    size = rng.normal(size=n).astype(np.float32).astype(np.float64)
    size[rng.random(n) < 0.15] = np.nan
    colours = ["red", "green", "blue", "mauve"] if unseen else ["red", "green", "blue"]
    colour = rng.choice(colours, n)
    colour[rng.random(n) < 0.15] = ""
    return {"size": size, "colour": colour}


def _with_nan(column: np.ndarray) -> np.ndarray:
    out = column.copy()
    out[::7] = np.nan
    return out


TRAIN_TABLE = _table(120, np.random.default_rng(1))
TABLE_LABELS = np.where(TRAIN_TABLE["colour"] == "red", "hot", "cold")


def _models() -> dict[str, Any]:
    quick = {"hidden_layers": (6, 4), "epochs": 15, "seed": 0}
    out: dict[str, Any] = {
        "binary": MLPClassifier(**quick).fit(X64, (X64[:, 0] > 0).astype(int)),
        "multiclass": MLPClassifier(**quick).fit(
            X64, np.array(["a", "b", "c"])[np.argmax(X64 / [1.0, 10.0, 100.0], axis=1)]
        ),
        "regressor": MLPRegressor(**quick).fit(X64, np.tanh(X64[:, 0]) + X64[:, 1] / 10.0),
        "table": MLPClassifier(**quick).fit(TRAIN_TABLE, TABLE_LABELS),
        # A table whose columns are all numeric (a CSV's): one `input` matrix, NaN = missing.
        "numeric_table": MLPRegressor(**quick).fit(
            {"a": _with_nan(X64[:, 0]), "b": _with_nan(X64[:, 1])}, np.tanh(X64[:, 0])
        ),
    }
    for activation in ACTIVATIONS:
        out[f"act_{activation}"] = MLPClassifier(**quick, activation=activation).fit(
            X64, (X64[:, 1] > 5.0).astype(int)
        )
    return out


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    return _models()


@pytest.fixture
def app(tmp_path: Path, models: dict[str, Any]) -> FastAPI:
    settings = Settings(_env_file=None, data_dir=tmp_path, api_keys=[])  # type: ignore[call-arg]
    application = create_app(settings)
    application.state.dataset_store = DatasetStore(tmp_path)
    application.state.model_store = store = ModelStore(tmp_path, max_model_bytes=1 << 20)
    for name, model in models.items():
        store.save(model, model_id=f"mdl_{name}", name=name, job_id=None, dataset_id=None)
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _onnx(client: httpx.AsyncClient, model_id: str) -> ort.InferenceSession:
    response = await client.get(f"/v1/models/{model_id}/download", params={"format": "onnx"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert f'filename="{model_id}.onnx"' in response.headers["content-disposition"]
    return ort.InferenceSession(response.content, providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [out.name for out in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def _agree(onnx_out: dict[str, np.ndarray], expected: dict[str, Any]) -> None:
    if "probabilities" in expected:
        np.testing.assert_array_equal(onnx_out["label"], np.asarray(expected["predictions"]))
        diff = np.abs(onnx_out["probabilities"] - np.asarray(expected["probabilities"]))
    else:
        diff = np.abs(onnx_out["predictions"] - np.asarray(expected["predictions"]))
    assert diff.max() <= TOLERANCE, diff.max()


@pytest.mark.parametrize(
    "name", ["binary", "multiclass", "regressor", *(f"act_{a}" for a in ACTIVATIONS)]
)
async def test_array_models_equal_predict(client: httpx.AsyncClient, name: str) -> None:
    session = await _onnx(client, f"mdl_{name}")
    response = await client.post(f"/v1/models/mdl_{name}/predict", json={"X": X64.tolist()})
    assert response.status_code == 200, response.text
    _agree(_run(session, {"input": X}), response.json())


async def test_table_model_with_unseen_categories_and_missing_values(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    session = await _onnx(client, "mdl_table")
    rows = _table(200, np.random.default_rng(7), unseen=True)
    assert "mauve" in set(rows["colour"]) and "" in set(rows["colour"])
    assert np.isnan(rows["size"]).any()
    feeds = {
        "size": rows["size"].astype(np.float32)[:, None],
        "colour": rows["colour"].astype(object)[:, None],
    }
    # What /predict computes: the same service function on the same stored model.
    expected = predictions(app.state.model_store.load("mdl_table"), rows)
    _agree(_run(session, feeds), expected)


async def test_numeric_table_model_takes_one_matrix_with_nan(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    session = await _onnx(client, "mdl_numeric_table")
    assert [i.name for i in session.get_inputs()] == ["input"]
    rows = np.column_stack([_with_nan(X64[:, 0]), X64[:, 1]])
    expected = predictions(app.state.model_store.load("mdl_numeric_table"), rows)
    _agree(_run(session, {"input": rows.astype(np.float32)}), expected)


async def test_npz_stays_the_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/mdl_binary/download")
    assert response.status_code == 200
    assert response.content[:2] == b"PK"
    assert 'filename="mdl_binary.npz"' in response.headers["content-disposition"]
    explicit = await client.get("/v1/models/mdl_binary/download?format=npz")
    assert explicit.content == response.content


async def test_unknown_format_and_model(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/mdl_binary/download?format=pmml")
    assert response.status_code == 422
    assert "format" in response.text
    missing = await client.get("/v1/models/mdl_nope/download?format=onnx")
    assert missing.status_code == 404


async def test_without_the_onnx_package_is_501(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    response = await client.get("/v1/models/mdl_binary/download?format=onnx")
    assert response.status_code == 501, response.text
    body = response.json()
    assert "'onnx' package" in body["detail"] and body["code"] == "not_implemented"
    assert (await client.get("/v1/models/mdl_binary/download")).status_code == 200


async def test_openapi_documents_the_format(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/models/{model_id}/download"]["get"]
    (param,) = [p for p in operation["parameters"] if p["name"] == "format"]
    assert param["schema"]["enum"] == ["npz", "onnx"]
    assert "501" in operation["responses"]
