"""``GET /v1/models/{id}/split``: the rows a trained model held out, as indices into its
dataset's rows; evaluating the model on exactly its test rows gives its ``evaluation.test``."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from typing import Any

import httpx
import numpy as np
import pytest
from test_jobs_api import job_body, penguins_csv, table_dataset

from mlp_engine import MLPClassifier

pytestmark = pytest.mark.anyio


async def trained(client: httpx.AsyncClient, wait_job: Any, dataset_id: str) -> dict[str, Any]:
    """The model of a finished job on ``dataset_id`` holding a fifth of each class out."""
    body = job_body(dataset_id, test_fraction=0.2, validation_fraction=0.25, epochs=8)
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    done = await wait_job(client, response.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    model = await client.get(f"/v1/models/{done['model_id']}")
    assert model.status_code == 200, model.text
    result: dict[str, Any] = model.json()
    return result


async def split_of(client: httpx.AsyncClient, model_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/models/{model_id}/split")
    assert response.status_code == 200, response.text
    split: dict[str, Any] = response.json()
    assert set(split) == {"n_rows", "validation", "test"}
    return split


def check_shape(split: dict[str, Any], labels: list[Any]) -> None:
    """Ascending, disjoint, in range; ``round(0.2 * n)`` test rows of each class."""
    test, validation = split["test"], split["validation"]
    assert split["n_rows"] == len(labels)
    assert test == sorted(set(test)) and validation == sorted(set(validation))
    assert not set(test) & set(validation)
    assert all(0 <= row < len(labels) for row in test + validation)
    per_class = Counter(str(label) for label in labels)
    held = Counter(str(labels[row]) for row in test)
    assert held == {label: round(0.2 * n) for label, n in per_class.items()}
    kept = len(labels) - len(test)
    assert len(validation) == round(0.25 * kept)


def same_report(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got["confusion_matrix"] == expected["confusion_matrix"]
    assert got["per_class"].keys() == expected["per_class"].keys()
    for label, scores in expected["per_class"].items():
        assert got["per_class"][label] == pytest.approx(scores, rel=1e-9), label
    for key in ("accuracy", "balanced_accuracy", "log_loss", "roc_auc"):
        assert got[key] == pytest.approx(expected[key], rel=1e-9), key


async def test_a_table_model_s_test_rows_give_its_test_metrics(
    client: httpx.AsyncClient, wait_job: Any
) -> None:
    dataset = await table_dataset(client, penguins_csv(), "?label=species&ignore=id")
    model = await trained(client, wait_job, dataset["id"])
    split = await split_of(client, model["id"])
    rows = (await client.get(f"/v1/datasets/{dataset['id']}/data")).json()
    check_shape(split, rows["y"])
    data = [rows["data"][i] + [rows["y"][i]] for i in split["test"]]
    body = {"columns": [*rows["columns"], rows["label"]], "data": data, "label": rows["label"]}
    response = await client.post(f"/v1/models/{model['id']}/evaluate", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["n_samples"] == len(split["test"])
    same_report(response.json()["metrics"], model["evaluation"]["test"])


async def test_an_x_y_model_s_test_rows_give_its_test_metrics(
    client: httpx.AsyncClient, wait_job: Any, gen: Any
) -> None:
    dataset = await gen(client, "moons", n_samples=90)
    model = await trained(client, wait_job, dataset["id"])
    split = await split_of(client, model["id"])
    rows = (await client.get(f"/v1/datasets/{dataset['id']}/data")).json()
    check_shape(split, rows["y"])
    X = [rows["X"][i] for i in split["test"]]
    y = [rows["y"][i] for i in split["test"]]
    response = await client.post(f"/v1/models/{model['id']}/evaluate", json={"X": X, "y": y})
    assert response.status_code == 200, response.text
    same_report(response.json()["metrics"], model["evaluation"]["test"])


def without_split(data: bytes) -> bytes:
    """A model file as written before the split was recorded: no member, no declaration."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist() if i.filename != "split.npy"}
    config = json.loads(np.load(io.BytesIO(members.pop("config.npy"))).tobytes())
    del config["split_rows"]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
        buf = io.BytesIO()
        np.save(buf, np.frombuffer(json.dumps(config).encode(), dtype=np.uint8))
        zf.writestr("config.npy", buf.getvalue())
    return out.getvalue()


async def test_a_model_without_a_record_and_an_unknown_model(client: httpx.AsyncClient) -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    model = MLPClassifier(hidden_layers=(3,), epochs=3, seed=0, test_fraction=0.2)
    model.fit(X, (X[:, 0] > 0).astype(int))
    buf = io.BytesIO()
    model.save(buf)
    for data, expected in (
        (buf.getvalue(), 40),
        (without_split(buf.getvalue()), None),
    ):
        imported = await client.post(
            "/v1/models/import", content=data, headers={"Content-Type": "application/octet-stream"}
        )
        assert imported.status_code == 201, imported.text
        split = await split_of(client, imported.json()["id"])
        assert split["n_rows"] == expected
        if expected is None:
            assert split["validation"] == [] and split["test"] == []
        else:
            assert split["test"] == np.flatnonzero(model.split_ == 2).tolist()
    missing = await client.get("/v1/models/mdl_AAAAAAAAAAAAAAAA/split")
    assert missing.status_code == 404, missing.text
