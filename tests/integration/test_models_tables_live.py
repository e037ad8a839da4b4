"""A table model against a real server: import it, predict by name, evaluate an inline table,
draw its boundary by column names (JSON and PNG)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from helpers.tables import FRUIT_COLUMNS, fruit

import mlp_engine
from mlp_engine import MLPClassifier

pytestmark = pytest.mark.integration

COLUMNS = FRUIT_COLUMNS


@pytest.fixture(scope="module")
def backend() -> str:
    """No job runs here: the embedded back-end is enough."""
    return "embedded"


def cells(table: dict[str, Any], i: int) -> list[Any]:
    """Row ``i`` as JSON cells in COLUMNS order (NaN and "" -> null)."""
    out: list[Any] = []
    for name in COLUMNS:
        value = table[name][i].item()
        missing = value == "" or (isinstance(value, float) and np.isnan(value))
        out.append(None if missing else value)
    return out


def test_table_model_predict_evaluate_and_boundary_by_name(shared_server: Any) -> None:
    table, y = fruit(200, seed=0)
    model = MLPClassifier(hidden_layers=(8,), epochs=60, seed=0).fit(table, y)
    buffer = io.BytesIO()
    model.save(buffer, metadata={"name": "fruit", "label": "kind"})
    with shared_server.client() as client:
        response = client.post(
            "/v1/models/import",
            content=buffer.getvalue(),
            headers={"content-type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text
        meta = response.json()
        assert meta["label"] == "kind" and [f["name"] for f in meta["features"]] == COLUMNS
        assert meta["features"][2]["categories"] == ["green", "red", "yellow"]
        assert meta["evaluation"]["train"] == model.evaluation_["train"]
        url = f"/v1/models/{meta['id']}"

        new, labels = fruit(40, seed=1)
        rows = [cells(new, i) for i in range(40)]
        expected = model.predict_proba(new)
        instances = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
        by_instances = client.post(f"{url}/predict", json={"instances": instances})
        by_columns = client.post(f"{url}/predict", json={"columns": COLUMNS, "data": rows})
        for response in (by_instances, by_columns):
            assert response.status_code == 200, response.text
            np.testing.assert_allclose(response.json()["probabilities"], expected, rtol=1e-12)
            assert response.json()["predictions"] == model.predict(new).tolist()
        unknown = client.post(f"{url}/predict", json={"instances": [{**instances[0], "x": 1}]})
        assert unknown.status_code == 422 and "'x'" in unknown.text

        data = [[*row, label] for row, label in zip(rows, labels.tolist(), strict=True)]
        body = {"columns": [*COLUMNS, "kind"], "data": data, "label": "kind"}
        response = client.post(f"{url}/evaluate", json=body)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["n_samples"] == 40
        assert result["metrics"] == mlp_engine.evaluate(model, new, labels)["metrics"]

        params = {"features": "weight,size", "fixed": "colour:red", "resolution": 8}
        response = client.get(f"{url}/boundary", params=params)
        assert response.status_code == 200, response.text
        grid = response.json()
        assert grid["feature_names"] == ["weight", "size"]
        assert grid["fixed_columns"] == {"colour": "red"}
        _, _, values = mlp_engine.decision_grid(
            model, resolution=8, features=("weight", "size"), fixed={"colour": "red"}
        )
        np.testing.assert_allclose(grid["probabilities"], values, rtol=1e-12)
        png = client.get(f"{url}/boundary", params={**params, "format": "png"})
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG")
        axis = client.get(f"{url}/boundary", params={"features": "size,colour"})
        assert axis.status_code == 422 and "categorical" in axis.text
