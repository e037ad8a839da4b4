"""Items 1-5: bad numbers, malformed data, oversized bodies, caps and the compute budget.

Items 1 and 2 are properties (hypothesis): the offending element sits at a random place of a
random matrix, is written into the raw JSON (``NaN``, ``Infinity``, ``1e999``...),
and the 422 must name exactly that element; no dataset, job or file may appear. Items 3-5 walk
every operation of the OpenAPI schema that takes a body, and every configured cap.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers.inprocess import files_under, make_settings, serve
from helpers.soak import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlp_engine
from app.main import create_app
from app.services.jobs import compute_cost
from app.storage.models import ModelStore

NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400"]
MODEL_ID = "mdl_twofeatures"


def loc_of(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [item["loc"] for item in response.json()["detail"]]


def state(client: TestClient, data_dir: Path) -> tuple[Any, ...]:
    """Everything a rejected request must leave unchanged."""
    return (
        client.get("/v1/datasets").json()["count"],
        client.get("/v1/jobs").json()["count"],
        client.get("/v1/models").json()["count"],
        tuple(files_under(data_dir / "datasets")),
        tuple(files_under(data_dir / "models")),
    )


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    """One app for the property tests, with a stored two-feature model for predict."""
    data_dir = tmp_path_factory.mktemp("input") / "data"
    app = create_app(make_settings(data_dir))
    with TestClient(app) as client:
        save_model(data_dir, MODEL_ID)
        yield client, data_dir


def save_model(data_dir: Path, model_id: str) -> None:
    """A small two-feature classifier stored under ``model_id``."""
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 3)
    model = mlp_engine.MLPClassifier(hidden_layers=(3,), epochs=2).fit(X, [0, 1, 1, 0] * 3)
    ModelStore(data_dir).save(model, model_id=model_id, name=None, job_id=None, dataset_id=None)


def matrix_json(X: np.ndarray, bad: tuple[int, int] | None, literal: str) -> str:
    rows = []
    for i, row in enumerate(X.tolist()):
        cells = [literal if bad == (i, j) else repr(v) for j, v in enumerate(row)]
        rows.append("[" + ",".join(cells) + "]")
    return "[" + ",".join(rows) + "]"


matrices = st.tuples(st.integers(2, 8), st.integers(1, 5), st.integers(0, 2**32 - 1)).map(
    lambda t: np.random.default_rng(t[2]).normal(size=t[:2]).round(3)
)
property_settings = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ------------------------------------------------------------------- item 1: NaN / Infinity


@property_settings
@given(X=matrices, literal=st.sampled_from(NON_FINITE), data=st.data())
def test_non_finite_numbers_are_422_naming_the_element_and_create_nothing(
    app_client: tuple[TestClient, Path], X: np.ndarray, literal: str, data: st.DataObject
) -> None:
    client, data_dir = app_client
    i = data.draw(st.integers(0, X.shape[0] - 1), label="row")
    j = data.draw(st.integers(0, X.shape[1] - 1), label="column")
    y = [k % 2 for k in range(X.shape[0])]
    before = state(client, data_dir)
    bad_X = matrix_json(X, (i, j), literal)
    good_X = matrix_json(X, None, "")

    def post(url: str, body: str, media: str = "application/json") -> list[list[Any]]:
        return loc_of(client.post(url, content=body, headers={"content-type": media}))

    assert ["body", "X", i, j] in post("/v1/datasets", f'{{"X": {bad_X}, "y": {json.dumps(y)}}}')
    assert ["body", "X", i, j] in post("/v1/jobs", f'{{"X": {bad_X}, "y": {json.dumps(y)}}}')
    # Regression targets: the bad number in y.
    y_text = "[" + ",".join(literal if k == i else str(float(k)) for k in range(len(y))) + "]"
    regression = f'{{"X": {good_X}, "y": {y_text}, "task": "regression"}}'
    assert ["body", "y", i] in post("/v1/datasets", regression)
    assert ["body", "y", i] in post("/v1/jobs", regression)
    # (A CSV cell "nan" is a missing value since datasets are tables: API.md "Tables"; the
    # split form's NaN literals are 422s in tests/service/test_datasets_tables.py.)
    # Predict on a stored two-feature model.
    if X.shape[1] == 2:
        assert ["body", "X", i, j] in post(f"/v1/models/{MODEL_ID}/predict", f'{{"X": {bad_X}}}')
    assert state(client, data_dir) == before


# ------------------------------------------------------------ item 2: malformed data


@property_settings
@given(X=matrices, data=st.data())
def test_malformed_data_is_422_naming_the_field(
    app_client: tuple[TestClient, Path], X: np.ndarray, data: st.DataObject
) -> None:
    client, data_dir = app_client
    n, d = X.shape
    y = [k % 2 for k in range(n)]
    before = state(client, data_dir)
    rows = X.tolist()

    # Ragged: one row (not the first) one value short or long.
    i = data.draw(st.integers(1, n - 1), label="ragged row")
    ragged = [list(r) for r in rows]
    ragged[i] = ragged[i][:-1] if d > 1 and data.draw(st.booleans()) else [*ragged[i], 0.5]
    for url in ("/v1/datasets", "/v1/jobs"):
        assert ["body", "X", i] in loc_of(client.post(url, json={"X": ragged, "y": y}))
    # One label more or fewer than rows.
    extra = data.draw(st.sampled_from([-1, 1]), label="label count change")
    wrong_y = y[:extra] if extra < 0 else [*y, 0]
    for url in ("/v1/datasets", "/v1/jobs"):
        assert ["body", "y"] in loc_of(client.post(url, json={"X": rows, "y": wrong_y}))
    # A single class.
    label = data.draw(st.sampled_from([0, 7, "cat"]), label="only class")
    for url in ("/v1/datasets", "/v1/jobs"):
        response = client.post(url, json={"X": rows, "y": [label] * n})
        assert ["body", "y"] in loc_of(response)
        assert "one class" in response.text
    # Wrong feature count at predict (the model takes two features).
    width = data.draw(st.sampled_from([1, 3, 5]), label="features at predict")
    response = client.post(f"/v1/models/{MODEL_ID}/predict", json={"X": [[0.5] * width] * n})
    assert ["body", "X"] in loc_of(response)
    assert "expects 2" in response.text
    assert state(client, data_dir) == before


# ------------------------------------------------------------ item 3: bodies over the limit


@pytest.fixture
async def small_body_app(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(make_settings(tmp_path / "data", max_body_bytes=64 * 1024))
    async with serve(app.state.settings, app) as client:
        save_model(tmp_path / "data", MODEL_ID)  # predict then reads its body (no early 404)
        yield app, client


def body_operations(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, concrete path, a media type) of every schema operation that takes a body."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body:
                media = next(iter(body["content"]))
                found.append((method.upper(), path.replace("{model_id}", MODEL_ID), media))
    return sorted(found)


@pytest.mark.anyio
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_bodies_over_the_limit_are_413_before_being_read_in_full(
    small_body_app: tuple[FastAPI, httpx.AsyncClient], declared: bool
) -> None:
    app, client = small_body_app
    limit = app.state.settings.max_body_bytes
    chunk = b" " * 8192
    total = 20 * limit
    operations = body_operations(app)
    assert {path for _, path, _ in operations} >= {"/v1/datasets", "/v1/jobs", "/v1/models/import"}
    for method, path, media in operations:
        pulled = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal pulled
            for _ in range(total // len(chunk)):
                pulled += len(chunk)
                yield chunk

        headers = {"content-type": media}
        if declared:
            headers["content-length"] = str(total)
        response = await client.request(method, path, content=body(), headers=headers)
        assert response.status_code == 413, (method, path, response.text)
        assert response.json()["code"] == "payload_too_large"
        assert str(limit) in response.json()["detail"]
        if declared:
            assert pulled == 0, (path, pulled)  # refused from the header alone
        else:
            assert pulled <= limit + len(chunk), (path, pulled)  # stopped at the limit


# ------------------------------------------------------------------ item 4: caps


CAPS = {
    "max_rows": 30,
    "max_features": 4,
    "max_hidden_layers": 3,
    "max_units": 12,
    "max_epochs": 50,
    "max_batch_size": 16,
    "max_grid_resolution": 40,
    "max_classes": 4,
    "compute_budget": 1e12,
}


@pytest.mark.anyio
async def test_each_cap_accepts_its_value_and_refuses_one_more(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings_ = make_settings(data_dir, max_queued_jobs=100, **CAPS)
    rows, features = CAPS["max_rows"], CAPS["max_features"]

    def data(n: int, d: int, classes: int = 2) -> dict[str, Any]:
        X = np.random.default_rng(n * d).normal(size=(n, d)).round(3)
        return {"X": X.tolist(), "y": [k % classes for k in range(n)]}

    async with serve(settings_) as client:

        async def job(**changes: Any) -> httpx.Response:
            body: dict[str, Any] = {
                **data(8, 2),
                "architecture": {"hidden_layers": [4]},
                "training": {"epochs": 5, "batch_size": 8},
            }
            for key, value in changes.items():
                group = "architecture" if key == "hidden_layers" else "training"
                body[group][key] = value
            response = await client.post("/v1/jobs", json=body)
            if response.status_code == 202:  # accepted at the cap: no need to train it
                await client.post(f"/v1/jobs/{response.json()['id']}/cancel")
            return response

        async def dataset(**kwargs: Any) -> httpx.Response:
            return await client.post("/v1/datasets", json=data(**kwargs))

        units = CAPS["max_units"]
        layers = CAPS["max_hidden_layers"]
        cases: list[tuple[str, Any, Any, list[Any]]] = [
            ("rows", dataset(n=rows, d=2), dataset(n=rows + 1, d=2), ["body", "X"]),
            ("features", dataset(n=8, d=features), dataset(n=8, d=features + 1), ["body", "X"]),
            ("classes", dataset(n=8, d=2, classes=4), dataset(n=10, d=2, classes=5), ["body", "y"]),
            (
                "layers",
                job(hidden_layers=[2] * layers),
                job(hidden_layers=[2] * (layers + 1)),
                ["body", "architecture", "hidden_layers"],
            ),
            (
                "units",
                job(hidden_layers=[units]),
                job(hidden_layers=[units + 1]),
                ["body", "architecture", "hidden_layers", 0],
            ),
            (
                "epochs",
                job(epochs=CAPS["max_epochs"]),
                job(epochs=CAPS["max_epochs"] + 1),
                ["body", "training", "epochs"],
            ),
            (
                "batch size",
                job(batch_size=CAPS["max_batch_size"]),
                job(batch_size=CAPS["max_batch_size"] + 1),
                ["body", "training", "batch_size"],
            ),
        ]
        for name, at_cap, over_cap, loc in cases:
            accepted = await at_cap
            assert accepted.status_code in (201, 202), (name, accepted.text)
            assert loc in loc_of(await over_cap), name
        # Grid resolution on a real model (resolution, nx and ny share the cap).
        save_model(data_dir, "mdl_grid")
        side = CAPS["max_grid_resolution"]
        for parameter in ("resolution", "nx", "ny"):
            ok = await client.get(f"/v1/models/mdl_grid/boundary?{parameter}={side}")
            assert ok.status_code == 200, (parameter, ok.text)
            over = await client.get(f"/v1/models/mdl_grid/boundary?{parameter}={side + 1}")
            assert ["query", parameter] in loc_of(over)


# ------------------------------------------------------------- item 5: compute budget


@pytest.mark.anyio
async def test_the_compute_budget_is_inclusive_and_its_422_states_it(tmp_path: Path) -> None:
    X = np.random.default_rng(5).normal(size=(20, 3)).round(3).tolist()
    y = [k % 2 for k in range(20)]
    hidden, epochs = [7, 5], 9
    budget = compute_cost(20, [3, *hidden, 1], epochs, 32, 1000)  # the default batch and step
    settings_ = make_settings(tmp_path / "data", compute_budget=float(budget), max_epochs=1000)
    async with serve(settings_) as client:
        body = {"X": X, "y": y, "architecture": {"hidden_layers": hidden}}
        at_budget = await client.post("/v1/jobs", json={**body, "training": {"epochs": epochs}})
        assert at_budget.status_code == 202, at_budget.text
        over = await client.post("/v1/jobs", json={**body, "training": {"epochs": epochs + 1}})
        assert ["body"] in loc_of(over)
        message = over.json()["detail"][0]["msg"]
        assert f"{budget:,}" in message and "compute budget" in message
        assert "MLP_COMPUTE_BUDGET" in message
        jobs = (await client.get("/v1/jobs")).json()
        assert jobs["count"] == 1  # the refused run left no job (and no dataset) behind
        assert (await client.get("/v1/datasets")).json()["count"] == 1
