"""``POST /v1/models/{id}/predict`` is served by ``PredictFastPath`` (pure ASGI) and, when the app
has dependency overrides, by the FastAPI route: both must answer exactly alike."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.fast_path import fast_and_route_clients

from app.api import predict_fast
from mlp_engine import MLPClassifier

pytestmark = pytest.mark.anyio

URL = "/v1/models/mdl_fast/predict"
TIMING_RE = re.compile(
    r"^read;dur=[\d.]+, parse;dur=[\d.]+, model;dur=[\d.]+, encode;dur=[\d.]+, total;dur=[\d.]+$"
)


@pytest.fixture(scope="module")
def model() -> MLPClassifier:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    return MLPClassifier(hidden_layers=(4,), epochs=10, seed=0).fit(X, (X[:, 0] > 0).astype(int))


@pytest.fixture
async def clients(
    tmp_path: Path, model: MLPClassifier
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with fast_and_route_clients(tmp_path, model, "mdl_fast", max_rows=20) as pair:
        yield pair


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (URL, b'{"X": [[0.5, -1.0], [2.0, 3.0]]}'),  # 200
        (URL, b'{"X": [[0.5, NaN]]}'),  # 422 naming X[0][1]
        (URL, b'{"X": [[0.5]]}'),  # 422: the model expects 2 features
        (URL, b'{"X": [[1, 2]]'),  # 422: malformed JSON
        (URL, b'{"X": [' + b",".join([b"[1, 2]"] * 21) + b"]}"),  # 422: 21 rows, 20 allowed
        ("/v1/models/mdl_none/predict", b'{"X": [[1, 2]]}'),  # 404
        ("/v1/models/bad.id/predict", b'{"X": [[1, 2]]}'),  # falls through: the route's 422
        (URL, b'{"instances": [{"x1": 2.5, "x0": -1}]}'),  # 200: rows by name
        (URL, b'{"columns": ["x1", "x0"], "data": [[2.5, -1], [0, 0]]}'),  # 200
        (URL, b'{"instances": [{"x0": 1, "x1": 2, "x9": 3}]}'),  # 422 naming x9
        (URL, b'{"instances": [{"x0": 1}]}'),  # 422: x1 is absent
        (URL, b'{"columns": ["x0", "x1"], "data": [[1, "a"]]}'),  # 422: text in a number column
        (URL, b'{"columns": ["x0", "x1"], "data": [[1, null]]}'),  # 422: no missing values here
    ],
)
async def test_fast_path_and_route_answer_alike(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], path: str, body: bytes
) -> None:
    fast, route = clients
    headers = {"content-type": "application/json", "x-request-id": "same-id"}
    a = await fast.post(path, content=body, headers=headers)
    b = await route.post(path, content=body, headers=headers)
    assert (a.status_code, a.json()) == (b.status_code, b.json())
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
    assert a.headers["x-request-id"] == b.headers["x-request-id"] == "same-id"
    if a.status_code == 200:
        assert TIMING_RE.match(a.headers["server-timing"])
        assert TIMING_RE.match(b.headers["server-timing"])


async def test_the_fast_path_answers_and_is_labelled_as_the_route(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, route = clients
    callers: list[str] = []
    original = predict_fast.serve_predict

    async def spy(*args: Any, **kwargs: Any) -> Any:
        callers.append(sys._getframe(1).f_code.co_qualname)
        return await original(*args, **kwargs)

    monkeypatch.setattr(predict_fast, "serve_predict", spy)
    assert (await fast.post(URL, json={"X": [[0.0, 1.0]]})).status_code == 200
    assert (await route.post(URL, json={"X": [[0.0, 1.0]]})).status_code == 200
    assert callers == ["PredictFastPath.__call__", "predict"]
    metrics = (await fast.get("/metrics")).text
    assert 'route="/v1/models/{model_id}/predict",status="200"' in metrics


async def test_other_methods_and_paths_fall_through(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    fast, _ = clients
    assert (await fast.get(URL)).status_code == 405
    assert (await fast.post(URL + "/", json={"X": [[0, 1]]})).status_code == 404
