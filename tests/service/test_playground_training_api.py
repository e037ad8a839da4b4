"""Jobs with the playground's training options: ``l1`` and ``feature_crosses`` (issue 16).

A crossed model is trained through ``POST /v1/jobs``; predict, boundary and V2 then take the
raw columns; the settings show in the job and the model; bad values are 422s naming the field;
the compute budget counts the crossed columns.
"""

from __future__ import annotations

from typing import Any, get_args

import httpx
import numpy as np
import pytest
from helpers.assertions import assert_422

from app.schemas.jobs import CrossName
from app.services.jobs import crossed_width
from mlp_engine.crosses import CROSSES

pytestmark = pytest.mark.anyio

CSV = {"content-type": "text/csv"}


async def _train(client: httpx.AsyncClient, wait_job: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    done: dict[str, Any] = await wait_job(client, response.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    return done


def test_the_cross_names_are_the_engine_s() -> None:
    assert get_args(CrossName) == CROSSES


async def test_circles_with_squares_and_no_hidden_layer(
    client: httpx.AsyncClient, gen: Any, wait_job: Any
) -> None:
    dataset = await gen(client, "circles", n_samples=300, seed=0)
    training = {"epochs": 100, "batch_size": 16, "seed": 0, "feature_crosses": ["square"]}
    body = {
        "dataset_id": dataset["id"],
        "architecture": {"hidden_layers": []},
        "training": {**training, "l1": 0.0001},
    }
    job = await _train(client, wait_job, body)
    assert job["architecture"]["hidden_layers"] == []
    assert job["training"]["feature_crosses"] == ["square"] and job["training"]["l1"] == 0.0001
    model_id = job["model_id"]
    model = (await client.get(f"/v1/models/{model_id}")).json()
    assert model["layers"] == [4, 1]  # two raw columns and their squares
    assert model["crossed_features"] == ["x0^2", "x1^2"]
    assert model["training"]["feature_crosses"] == ["square"] and model["training"]["l1"] > 0
    assert [f["name"] for f in model["features"]] == ["x0", "x1"]
    assert model["evaluation"]["train"]["accuracy"] >= 0.95

    rows = [[0.0, 0.0], [2.0, 2.0], [0.1, -0.1]]
    predicted = await client.post(f"/v1/models/{model_id}/predict", json={"X": rows})
    assert predicted.status_code == 200, predicted.text
    assert len(predicted.json()["probabilities"]) == 3
    boundary = await client.get(f"/v1/models/{model_id}/boundary", params={"resolution": 9})
    assert boundary.status_code == 200, boundary.text
    assert np.array(boundary.json()["probabilities"]).shape == (9, 9)
    inputs = [{"name": "input", "datatype": "FP64", "shape": [3, 2], "data": rows}]
    infer = await client.post(f"/v2/models/{model_id}/infer", json={"inputs": inputs})
    assert infer.status_code == 200, infer.text
    outputs = {out["name"]: out["data"] for out in infer.json()["outputs"]}
    probabilities = predicted.json()["probabilities"]
    np.testing.assert_allclose(outputs["probabilities"], np.ravel(probabilities), atol=1e-12)


async def test_defaults_are_recorded(client: httpx.AsyncClient, gen: Any) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    response = await client.post("/v1/jobs", json={"dataset_id": dataset["id"]})
    assert response.status_code == 202, response.text
    training = response.json()["training"]
    assert training["l1"] == 0.0 and training["feature_crosses"] == []


@pytest.mark.parametrize(
    ("training", "field", "words"),  # field: a name, or (name, index)
    [
        ({"l1": -0.1}, "l1", []),
        ({"l1": "0.1"}, "l1", []),
        ({"optimizer": "notebook", "batch_size": 1, "l1": 0.1}, "l1", ["notebook"]),
        ({"feature_crosses": ["square", "cube"]}, ("feature_crosses", 1), []),
        ({"feature_crosses": "square"}, "feature_crosses", []),
        ({"feature_crosses": ["sin", "sin"]}, "feature_crosses", ["twice"]),
    ],
)
async def test_bad_values_are_422_naming_the_field(
    client: httpx.AsyncClient,
    gen: Any,
    training: dict[str, Any],
    field: str | tuple[str, int],
    words: list[str],
) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    response = await client.post(
        "/v1/jobs", json={"dataset_id": dataset["id"], "training": training}
    )
    loc = ["body", "training", *(field if isinstance(field, tuple) else (field,))]
    assert_422(response, loc, *words)
    assert (await client.get("/v1/jobs")).json()["count"] == 0


async def test_too_many_crossed_columns_is_422(app_client: Any) -> None:
    X = [[float((i * j) % 7) for j in range(46)] for i in range(6)]
    body = {"X": X, "y": [0, 1] * 3, "training": {"feature_crosses": ["product"]}}
    async with app_client(max_features=50) as client:
        response = await client.post("/v1/jobs", json=body)
        assert_422(response, ["body", "training", "feature_crosses"], "1,035 columns")
        assert (await client.get("/v1/datasets")).json()["count"] == 0


async def test_a_table_without_numeric_columns_has_nothing_to_cross(
    client: httpx.AsyncClient,
) -> None:
    csv = "colour,label\n" + "\n".join(f"{'red' if i % 3 else 'blue'},{i % 2}" for i in range(30))
    response = await client.post("/v1/datasets?label=label", content=csv, headers=CSV)
    assert response.status_code == 201, response.text
    body = {"dataset_id": response.json()["id"], "training": {"feature_crosses": ["square"]}}
    response = await client.post("/v1/jobs", json=body)
    assert_422(response, ["body", "training", "feature_crosses"], "adds no column")


async def test_a_table_crosses_only_its_numeric_columns(
    client: httpx.AsyncClient, wait_job: Any
) -> None:
    lines = [
        f"{i % 7 - 3},{'ab'[i % 2]},{(i * 5) % 11},{int((i % 7 - 3) ** 2 > 2)}" for i in range(60)
    ]
    csv = "a,kind,b,label\n" + "\n".join(lines)
    response = await client.post("/v1/datasets?label=label", content=csv, headers=CSV)
    assert response.status_code == 201, response.text
    training = {"epochs": 5, "seed": 1, "feature_crosses": ["product", "square"]}
    body = {"dataset_id": response.json()["id"], "training": training}
    job = await _train(client, wait_job, body)
    model = (await client.get(f"/v1/models/{job['model_id']}")).json()
    assert model["crossed_features"] == ["a^2", "b^2", "a*b"]
    assert model["layers"][0] == 1 + 2 + 1 + 3  # a, kind one-hot, b, then the crosses
    instances = [{"a": 1.0, "kind": "a", "b": 2.0}, {"a": None, "kind": "b", "b": 0.0}]
    response = await client.post(
        f"/v1/models/{job['model_id']}/predict", json={"instances": instances}
    )
    assert response.status_code == 200, response.text


async def test_the_budget_counts_the_crossed_columns(app_client: Any, gen: Any) -> None:
    # 40 rows x (4 inputs: 2 raw + 2 squares; 4*4 + 4 + 4*1 + 1 = 25 parameters) x 10 = 10,000
    assert crossed_width(2, ["square"]) == 2
    body_of = {"architecture": {"hidden_layers": [4]}}
    training = {"epochs": 10, "batch_size": 16, "seed": 1, "feature_crosses": ["square"]}
    async with app_client(compute_budget=9999, compute_step_cost=0) as client:
        dataset = await gen(client, "xor", n_samples=40)
        body = {"dataset_id": dataset["id"], **body_of, "training": training}
        response = await client.post("/v1/jobs", json=body)
        assert_422(response, ["body"], "40 x 25 x 10 = 10,000", "4 inputs after encoding")
        body["training"] = {**training, "feature_crosses": []}  # 40 x 17 x 10 = 6,800
        assert (await client.post("/v1/jobs", json=body)).status_code == 202
