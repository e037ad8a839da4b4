"""Tables against a real server: CSV / split form -> dataset -> job with a test split and class
weights -> model; rows without a label; bad tables; the X/y flows as before."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from helpers.assertions import assert_422
from helpers.events import read_events

import mlp_engine

pytestmark = pytest.mark.integration

ISLANDS = ["Biscoe", "Dream", "Torgersen"]


def penguins_csv(n: int = 240) -> tuple[str, int]:
    """A realistic CSV: an id, quoted text with commas, numeric gaps (``NA``, empty), a text
    column with ``?`` gaps, a rare class (about 5 %) and rows without a label. Returns the CSV
    and how many rows lack a label."""
    rng = np.random.default_rng(7)
    lines = ["penguin_id,island,bill_length_mm,body_mass_g,sex,note,species"]
    unlabelled = 0
    for i in range(n):
        kind = 2 if i % 20 == 7 else i % 2  # Chinstrap is rare
        species = ["Adelie", "Gentoo", "Chinstrap"][kind]
        bill = 38 + 9 * kind + rng.normal(0, 1.5)
        mass = 3700 + 1300 * (kind == 1) + rng.normal(0, 200)
        bill_cell = "NA" if i % 17 == 3 else f"{bill:.1f}"
        mass_cell = "" if i % 23 == 5 else f"{mass:.0f}"
        sex = "?" if i % 19 == 2 else ["female", "male"][int(rng.integers(2))]
        note = '"tagged, banded"' if i % 4 == 0 else "plain"
        if i % 50 == 11:
            species, unlabelled = "", unlabelled + 1
        island = ISLANDS[kind] if rng.random() < 0.8 else ISLANDS[int(rng.integers(3))]
        lines.append(f"P{i:04d},{island},{bill_cell},{mass_cell},{sex},{note},{species}")
    return "\n".join(lines) + "\n", unlabelled


def test_csv_table_trains_with_a_test_split_and_class_weights(
    shared_server: Any, wait_job: Any
) -> None:
    csv, unlabelled = penguins_csv()
    with shared_server.client() as client:
        response = client.post(
            "/v1/datasets",
            params={"label": "species", "ignore": "penguin_id", "name": "penguins"},
            content=csv,
            headers={"content-type": "text/csv"},
        )
        assert response.status_code == 201, response.text
        dataset = response.json()
        assert dataset["label"] == "species" and dataset["task"] == "classification"
        assert dataset["rows_without_label"] == unlabelled > 0
        assert dataset["n_samples"] == 240 - unlabelled
        assert dataset["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
        features = {f["name"]: f for f in dataset["features"]}
        assert list(features) == ["island", "bill_length_mm", "body_mass_g", "sex", "note"]
        assert features["note"]["categories"] == ["plain", "tagged, banded"]
        assert features["sex"]["categories"] == ["female", "male"]
        assert features["sex"]["missing"] > 0 and features["bill_length_mm"]["missing"] > 0
        assert dataset["bounds"]["min"][0] is None and dataset["bounds"]["min"][1] > 30

        body = {
            "dataset_id": dataset["id"],
            "name": "penguins",
            "architecture": {"hidden_layers": [8]},
            "training": {
                "epochs": 60,
                "test_fraction": 0.25,
                "class_weight": "balanced",
                "validation_fraction": 0.2,
                "seed": 0,
            },
        }
        response = client.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        job = response.json()
        events = read_events(client, job["id"])
        assert events[-1][0] == "status" and events[-1][1]["status"] == "succeeded", events[-1]
        progress = [data for kind, data in events if kind == "progress"]
        assert progress and all("test_loss" not in row for row in progress)

        job = wait_job(client, job["id"])
        assert job["training"]["test_fraction"] == 0.25
        model = client.get(f"/v1/models/{job['model_id']}")
        assert model.status_code == 200, model.text
        assert model.json()["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
        blob = client.get(f"/v1/models/{job['model_id']}/download").content
    local = mlp_engine.load(io.BytesIO(blob))
    assert local.metadata_["label"] == "species"
    assert local.metadata_["dataset_id"] == dataset["id"]
    assert list(local.feature_names_in_) == list(features)
    test = local.evaluation_["test"]
    assert test is not None and test["accuracy"] > 0.8, test
    # Unseen and missing values at predict time are handled.
    rows = {
        "island": np.array(["Dream", "Atlantis"]),
        "bill_length_mm": np.array([47.0, np.nan]),
        "body_mass_g": np.array([5000.0, 3700.0]),
        "sex": np.array(["", "male"]),
        "note": np.array(["plain", "plain"]),
    }
    assert local.predict_proba(rows).shape == (2, 3)


def test_split_form_table_and_its_rows(shared_server: Any, wait_job: Any) -> None:
    rows: list[list[Any]] = []
    for i in range(80):
        colour = ["red", "green", "blue", None][i % 4]
        size = None if i % 9 == 0 else float(i % 10)
        label = None if i == 5 else ("big" if (i % 10) >= 5 else "small")
        rows.append([i, colour, size, label])
    body = {
        "name": "sizes",
        "columns": ["id", "colour", "size", "label"],
        "data": rows,
        "label": "label",
        "ignore": ["id"],
    }
    with shared_server.client() as client:
        response = client.post("/v1/datasets", json=body)
        assert response.status_code == 201, response.text
        dataset = response.json()
        assert dataset["rows_without_label"] == 1 and dataset["n_samples"] == 79
        assert dataset["features"][0]["categories"] == ["blue", "green", "red"]
        data = client.get(f"/v1/datasets/{dataset['id']}/data").json()
        kept = [row for row in rows if row[3] is not None]
        assert data["columns"] == ["colour", "size"] and data["label"] == "label"
        assert data["data"] == [[row[1], row[2]] for row in kept]
        assert data["y"] == [row[3] for row in kept]

        training = {"epochs": 30, "class_weight": {"big": 2.0}, "seed": 1}
        response = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "training": training})
        assert response.status_code == 202, response.text
        job = wait_job(client, response.json()["id"])
        assert job["status"] == "succeeded", job["error"]

        for patch, loc in [
            ({"label": "nope"}, ["body", "label"]),
            ({"data": [[1, "red", 2.0, "big"], [2, "red", 3.0]]}, ["body", "data", 1]),
        ]:
            assert_422(client.post("/v1/datasets", json={**body, **patch}), loc)
        response = client.post(
            "/v1/datasets",
            content="a,b,y\n1,x,0\n2,y,1\n",
            params={"task": "regression", "categorical": "a", "label": "b"},
            headers={"content-type": "text/csv"},
        )
        assert_422(response, ["body", "columns", "b"], "'x'")


def test_xy_flows_are_unchanged(shared_server: Any, wait_job: Any) -> None:
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10
    y = ["no", "yes", "yes", "no"] * 10
    with shared_server.client() as client:
        dataset = client.post("/v1/datasets", json={"X": X, "y": y}).json()
        assert dataset["label"] is None and dataset["rows_without_label"] == 0
        assert [f["name"] for f in dataset["features"]] == ["x0", "x1"]
        assert dataset["bounds"] == {"min": [0.0, 0.0], "max": [1.0, 1.0]}
        assert client.get(f"/v1/datasets/{dataset['id']}/data").json() == {"X": X, "y": y}

        response = client.post("/v1/jobs", json={"X": X, "y": y, "training": {"epochs": 5}})
        assert response.status_code == 202, response.text
        job = wait_job(client, response.json()["id"])
        assert job["status"] == "succeeded", job["error"]
        stored = client.get(f"/v1/datasets/{job['dataset_id']}/data").json()
        assert stored == {"X": X, "y": y}
        model = client.get(f"/v1/models/{job['model_id']}").json()
        assert model["layers"][0] == 2 and model["classes"] == ["no", "yes"]
        response = client.post(f"/v1/models/{job['model_id']}/predict", json={"X": X[:4]})
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == 4
