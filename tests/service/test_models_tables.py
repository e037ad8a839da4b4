"""/v1/models with table models (named columns, categories, gaps), over the ASGI app in process:
metadata, predict by name, evaluate, boundary by name, and every 422 they declare."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sklearn import metrics as skm

import mlp_engine
from app.main import create_app
from app.services.models import dataset_rows
from app.settings import Settings
from app.storage import DatasetStore, ModelStore
from mlp_engine import MLPClassifier, MLPRegressor
from mlp_engine.persistence import save_model_file

pytestmark = pytest.mark.anyio

MAX_ROWS = 200
COLUMNS = ["bill", "depth", "island"]
ISLANDS = np.array(["Biscoe", "Dream", "Torgersen"])


def penguins(n: int = 150, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A table with two numeric columns (``bill`` with gaps), a text column with gaps, and a
    three-class text label that depends on all three."""
    rng = np.random.default_rng(seed)
    bill = rng.normal(45, 5, n)
    depth = rng.normal(17, 2, n)
    island = ISLANDS[rng.integers(0, 3, n)]
    score = (bill - 45) / 5 + (depth - 17) / 2 + (island == "Dream") * 1.5
    species = np.where(score > 1, "Gentoo", np.where(score > -0.5, "Chinstrap", "Adelie"))
    bill[rng.random(n) < 0.1] = np.nan
    island = island.astype(object)
    island[rng.random(n) < 0.1] = ""
    return {"bill": bill, "depth": depth, "island": island.astype(str)}, species


@pytest.fixture(scope="module")
def table_model() -> MLPClassifier:
    table, y = penguins()
    return MLPClassifier(
        hidden_layers=(8,), epochs=40, test_fraction=0.2, validation_fraction=0.2, seed=0
    ).fit(table, y)


@pytest.fixture(scope="module")
def numeric_table_model() -> MLPClassifier:
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=(3, 80))
    return MLPClassifier(hidden_layers=(4,), epochs=20, seed=0).fit(
        {"a": a, "b": b, "c": c}, (a + b > 0).astype(np.int64)
    )


@pytest.fixture(scope="module")
def regressor() -> MLPRegressor:
    table, _ = penguins(seed=2)
    target = np.nan_to_num(table["bill"], nan=45.0) / 10 + (table["island"] == "Dream")
    return MLPRegressor(hidden_layers=(6,), epochs=30, seed=0).fit(table, target)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = Settings(_env_file=None, data_dir=tmp_path, max_rows=MAX_ROWS, api_keys=[])
    application = create_app(settings)
    application.state.dataset_store = DatasetStore(tmp_path)
    application.state.model_store = ModelStore(tmp_path)
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def store(app: FastAPI) -> ModelStore:
    model_store: ModelStore = app.state.model_store
    return model_store


def save(store: ModelStore, model: Any, model_id: str = "mdl_tab", **kw: Any) -> str:
    store.save(
        model,
        model_id=model_id,
        name="table model",
        job_id=None,
        dataset_id=kw.get("dataset_id"),
        label=kw.get("label", "species"),
    )
    return model_id


def error(response: httpx.Response, *fragments: str, loc: list[Any] | None = None) -> None:
    assert response.status_code == 422, response.text
    text = response.text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    if loc is not None:
        assert response.json()["detail"][0]["loc"] == loc, text


def rows_of(table: dict[str, np.ndarray], n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows as JSON objects (NaN and "" -> null)."""
    out = []
    for i in range(n):
        row: dict[str, Any] = {}
        for name, column in table.items():
            value = column[i].item()
            row[name] = (
                None if value == "" or (isinstance(value, float) and np.isnan(value)) else value
            )
        out.append(row)
    return out


# ------------------------------------------------------------------------------ metadata


async def test_metadata_has_label_features_and_evaluation(
    client: httpx.AsyncClient, store: ModelStore, table_model: MLPClassifier
) -> None:
    save(store, table_model)
    meta = (await client.get("/v1/models/mdl_tab")).json()
    assert meta["label"] == "species"
    assert [f["name"] for f in meta["features"]] == COLUMNS
    bill, depth, island = meta["features"]
    assert depth == {"name": "depth", "type": "numeric", "missing": 0}
    assert bill["type"] == "numeric" and bill["missing"] > 0 and "categories" not in bill
    assert island["type"] == "categorical" and island["categories"] == ISLANDS.tolist()
    assert meta["features"] == table_model.features
    evaluation = meta["evaluation"]
    assert set(evaluation) == {"train", "validation", "test"}
    assert evaluation["test"] == table_model.evaluation_["test"]
    assert evaluation["train"]["confusion_matrix"]["labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    listed = (await client.get("/v1/models")).json()["data"]
    assert listed[0]["features"] == meta["features"] and listed[0]["label"] == "species"


async def test_imported_file_keeps_its_label(
    client: httpx.AsyncClient, table_model: MLPClassifier
) -> None:
    buffer = io.BytesIO()
    table_model.save(buffer, metadata={"name": "penguins", "label": "species"})
    response = await client.post("/v1/models/import", content=buffer.getvalue())
    assert response.status_code == 201, response.text
    assert response.json()["label"] == "species" and response.json()["name"] == "penguins"


async def test_old_model_files_still_load_and_list(
    client: httpx.AsyncClient, store: ModelStore
) -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    model = MLPClassifier(hidden_layers=(3,), epochs=5, seed=0).fit(X, (X[:, 0] > 0).astype(int))
    config = model._model_config()
    for key in ("feature_names", "features", "preprocessing", "evaluation"):
        del config[key]  # what a file written before tables holds
    save_model_file(store.root / "mdl_old.npz", model.weights_, model.biases_, config, [])
    meta = (await client.get("/v1/models/mdl_old")).json()
    assert meta["label"] is None and meta["evaluation"] is None
    assert meta["features"] == [
        {"name": "x0", "type": "numeric", "missing": 0},
        {"name": "x1", "type": "numeric", "missing": 0},
    ]
    assert [m["id"] for m in (await client.get("/v1/models")).json()["data"]] == ["mdl_old"]
    response = await client.post(
        "/v1/models/mdl_old/predict", json={"instances": [{"x0": 1.0, "x1": 2.0}]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(np.array([[1.0, 2.0]])).tolist()


# ------------------------------------------------------------------------------- predict


async def test_predict_by_instances_and_split_form_equal_the_engine(
    client: httpx.AsyncClient, store: ModelStore, table_model: MLPClassifier
) -> None:
    save(store, table_model)
    table, _ = penguins(n=30, seed=5)
    rows = rows_of(table, 30)
    expected = table_model.predict_proba(table)
    by_instances = await client.post("/v1/models/mdl_tab/predict", json={"instances": rows})
    assert by_instances.status_code == 200, by_instances.text
    reordered = ["island", "depth", "bill"]  # any column order
    split = {"columns": reordered, "data": [[row[c] for c in reordered] for row in rows]}
    by_split = await client.post("/v1/models/mdl_tab/predict", json=split)
    assert by_split.status_code == 200, by_split.text
    for body in (by_instances.json(), by_split.json()):
        np.testing.assert_allclose(body["probabilities"], expected, rtol=1e-12)
        assert body["predictions"] == table_model.predict(table).tolist()
        assert body["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert any(row["bill"] is None for row in rows) and any(row["island"] is None for row in rows)


async def test_predict_cells_unseen_blank_and_numbers_in_a_categorical_column(
    client: httpx.AsyncClient, store: ModelStore, table_model: MLPClassifier
) -> None:
    save(store, table_model)
    cells = ["  Dream ", "Atlantis", None, 7]
    expected = table_model.predict_proba(
        {
            "bill": np.full(4, 44.0),
            "depth": np.full(4, 17.0),
            "island": ["Dream", "Atlantis", "", "7"],
        }
    )
    rows = [{"bill": 44, "depth": 17.0, "island": cell} for cell in cells]
    response = await client.post("/v1/models/mdl_tab/predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["probabilities"], expected, rtol=1e-12)


async def test_predict_positional_X_for_an_all_numeric_table_model(
    client: httpx.AsyncClient, store: ModelStore, numeric_table_model: MLPClassifier
) -> None:
    save(store, numeric_table_model)
    X = [[0.5, -0.2, 1.0], [-1.0, 0.3, 0.0]]
    response = await client.post("/v1/models/mdl_tab/predict", json={"X": X})
    assert response.status_code == 200, response.text
    table = {"a": [0.5, -1.0], "b": [-0.2, 0.3], "c": [1.0, 0.0]}
    np.testing.assert_allclose(
        response.json()["probabilities"], numeric_table_model.predict_proba(table), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("body", "loc", "fragments"),
    [
        ({"X": [[1, 2, 3]]}, ["body", "X"], ["categorical columns", "'island'"]),
        (
            {"instances": [{"bill": 1, "depth": 2, "island": "Dream", "sex": "f"}]},
            ["body", "instances", 0, "sex"],
            ["'sex'", "does not take"],
        ),
        (
            {"instances": [{"bill": 1, "depth": 2}]},
            ["body", "instances", 0, "island"],
            ["'island'", "needs"],
        ),
        (
            {
                "instances": [
                    {"bill": 1, "depth": 2, "island": "Dream"},
                    {"bill": "long", "depth": 2, "island": "Dream"},
                ]
            },
            ["body", "instances", 1, "bill"],
            ["instances[1].bill", "numeric", "'long'"],
        ),
        (
            {"instances": [{"bill": True, "depth": 2, "island": "Dream"}]},
            ["body", "instances", 0, "bill"],
            ["boolean"],
        ),
        (
            {"instances": [{"bill": 1, "depth": 2, "island": ["Dream"]}]},
            ["body", "instances", 0, "island"],
            ["a list"],
        ),
        ({"instances": []}, ["body", "instances"], ["non-empty"]),
        ({"instances": [[1, 2, 3]]}, ["body", "instances", 0], ["object"]),
        (
            {"columns": ["bill", "depth"], "data": [[1, 2]]},
            ["body", "columns"],
            ["'island'", "absent"],
        ),
        (
            {"columns": ["bill", "depth", "island", "id"], "data": [[1, 2, "Dream", 7]]},
            ["body", "columns", "id"],
            ["'id'"],
        ),
        (
            {"columns": ["bill", "bill", "island"], "data": [[1, 2, "Dream"]]},
            ["body", "columns", "bill"],
            ["twice"],
        ),
        (
            {"columns": ["bill", "depth", "island"], "data": [[1, 2]]},
            ["body", "data", 0],
            ["3 cells"],
        ),
        (
            {"columns": ["bill", "depth", "island"], "data": [[1, "deep", "Dream"]]},
            ["body", "data", 0, "depth"],
            ["'depth'", "'deep'"],
        ),
        ({"rows": []}, ["body", "X"], ["instances"]),
    ],
)
async def test_predict_by_name_422s_name_the_column(
    client: httpx.AsyncClient,
    store: ModelStore,
    table_model: MLPClassifier,
    body: Any,
    loc: list[Any],
    fragments: list[str],
) -> None:
    save(store, table_model)
    error(await client.post("/v1/models/mdl_tab/predict", json=body), *fragments, loc=loc)


async def test_predict_nan_literal_and_too_many_rows_are_422(
    client: httpx.AsyncClient, store: ModelStore, table_model: MLPClassifier
) -> None:
    save(store, table_model)
    body = b'{"instances": [{"bill": NaN, "depth": 1, "island": "Dream"}]}'
    response = await client.post(
        "/v1/models/mdl_tab/predict", content=body, headers={"content-type": "application/json"}
    )
    error(response, "finite", loc=["body", "instances", 0, "bill"])
    rows = [{"bill": 1, "depth": 2, "island": "Dream"}] * (MAX_ROWS + 1)
    response = await client.post("/v1/models/mdl_tab/predict", json={"instances": rows})
    error(response, f"at most {MAX_ROWS}", loc=["body", "instances"])


async def test_an_xy_model_refuses_missing_values_by_name(
    client: httpx.AsyncClient, store: ModelStore
) -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    save(store, MLPClassifier(hidden_layers=(3,), epochs=5).fit(X, (X[:, 0] > 0).astype(int)))
    response = await client.post(
        "/v1/models/mdl_tab/predict", json={"columns": ["x0", "x1"], "data": [[1, None]]}
    )
    error(response, "without missing values", loc=["body", "data", 0, "x1"])


# ------------------------------------------------------------------------------ evaluate


def _sklearn_classification(
    y: np.ndarray, proba: np.ndarray, classes: np.ndarray
) -> dict[str, Any]:
    pred = classes[proba.argmax(axis=1)]
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "log_loss": skm.log_loss(y, proba, labels=classes),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes),
        "f1_macro": skm.f1_score(y, pred, average="macro", labels=classes),
        "matrix": skm.confusion_matrix(y, pred, labels=classes).tolist(),
    }


async def test_evaluate_inline_table_equals_sklearn(
    client: httpx.AsyncClient, store: ModelStore, table_model: MLPClassifier
) -> None:
    save(store, table_model)
    table, y = penguins(n=60, seed=9)
    rows = rows_of(table, 60)
    data = [
        [row[c] for c in COLUMNS] + [label] for row, label in zip(rows, y.tolist(), strict=True)
    ]
    data.append([40.0, 16.0, "Dream", None])  # no label: left out and counted
    body = {"columns": [*COLUMNS, "species"], "data": data, "label": "species"}
    response = await client.post("/v1/models/mdl_tab/evaluate", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["n_samples"] == 60 and result["rows_without_label"] == 1
    metrics = result["metrics"]
    proba = table_model.predict_proba(table)
    expected = _sklearn_classification(y, proba, table_model.classes_)
    for name in ("accuracy", "balanced_accuracy", "log_loss", "roc_auc", "f1_macro"):
        assert metrics[name] == pytest.approx(expected[name], rel=1e-9), name
    assert metrics["confusion_matrix"]["matrix"] == expected["matrix"]
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, table_model.classes_[proba.argmax(axis=1)], labels=table_model.classes_, zero_division=0
    )
    for i, label in enumerate(table_model.classes_.tolist()):
        scores = metrics["per_class"][label]
        assert scores["precision"] == pytest.approx(precision[i], rel=1e-12)
        assert scores["recall"] == pytest.approx(recall[i], rel=1e-12)
        assert scores["f1"] == pytest.approx(f1[i], rel=1e-12)
    assert metrics["per_class"]["Adelie"]["support"] == int(support[0])


async def test_evaluate_x_y_and_a_stored_dataset(
    client: httpx.AsyncClient, store: ModelStore, app: FastAPI
) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = MLPClassifier(hidden_layers=(4,), epochs=20, seed=0).fit(X, y)
    save(store, model, label=None)
    response = await client.post(
        "/v1/models/mdl_tab/evaluate", json={"X": X.tolist(), "y": y.tolist()}
    )
    assert response.status_code == 200, response.text
    proba = model.predict_proba(X)
    metrics = response.json()["metrics"]
    assert metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), rel=1e-12)
    assert metrics["log_loss"] == pytest.approx(skm.log_loss(y, proba), rel=1e-12)
    meta = app.state.dataset_store.create(X, y, name="d", task="classification")
    stored = await client.post("/v1/models/mdl_tab/evaluate", json={"dataset_id": meta.id})
    assert stored.status_code == 200, stored.text
    assert stored.json()["metrics"] == metrics and stored.json()["n_samples"] == 60
    unknown = await client.post("/v1/models/mdl_tab/evaluate", json={"dataset_id": "ds_nope"})
    error(unknown, "'ds_nope'", loc=["body", "dataset_id"])


async def test_evaluate_an_xy_dataset_with_a_table_model_names_the_dataset(
    client: httpx.AsyncClient, store: ModelStore, app: FastAPI, table_model: MLPClassifier
) -> None:
    save(store, table_model)
    X = np.random.default_rng(0).normal(size=(10, 3))
    meta = app.state.dataset_store.create(X, np.arange(10) % 2, name="d", task="classification")
    response = await client.post("/v1/models/mdl_tab/evaluate", json={"dataset_id": meta.id})
    error(response, "takes a table", loc=["body", "dataset_id"])


async def test_evaluate_a_regressor_equals_sklearn(
    client: httpx.AsyncClient, store: ModelStore, regressor: MLPRegressor
) -> None:
    save(store, regressor, label="score")
    table, _ = penguins(n=40, seed=11)
    target = np.linspace(3.0, 7.0, 40)
    rows = rows_of(table, 40)
    data = [[row[c] for c in COLUMNS] + [t] for row, t in zip(rows, target.tolist(), strict=True)]
    body = {"columns": [*COLUMNS, "score"], "data": data, "label": "score"}
    response = await client.post("/v1/models/mdl_tab/evaluate", json=body)
    assert response.status_code == 200, response.text
    metrics = response.json()["metrics"]
    pred = regressor.predict(table)
    assert metrics["mse"] == pytest.approx(skm.mean_squared_error(target, pred), rel=1e-12)
    assert metrics["rmse"] == pytest.approx(skm.root_mean_squared_error(target, pred), rel=1e-12)
    assert metrics["mae"] == pytest.approx(skm.mean_absolute_error(target, pred), rel=1e-12)
    assert metrics["r2"] == pytest.approx(skm.r2_score(target, pred), rel=1e-12)
    data[0][-1] = "high"
    error(await client.post("/v1/models/mdl_tab/evaluate", json=body), "'high'")


@pytest.mark.parametrize(
    ("change", "loc", "fragments"),
    [
        ({"label": "colour"}, ["body", "label"], ["'colour'", "not in columns"]),
        ({"label": "island"}, ["body", "label"], ["'island'", "input"]),
        ({"label": None}, ["body", "label"], ["label"]),
        (
            {"data": [[40, 17, "Dream", "Emperor"]]},
            ["body", "label"],
            ["'Emperor'", "does not know"],
        ),
        ({"data": [[40, 17, "Dream", None]]}, ["body", "label"], ["null"]),
        ({"columns": ["bill", "depth", "species"]}, ["body", "columns"], ["'island'"]),
    ],
)
async def test_evaluate_422s_name_the_field(
    client: httpx.AsyncClient,
    store: ModelStore,
    table_model: MLPClassifier,
    change: dict[str, Any],
    loc: list[Any],
    fragments: list[str],
) -> None:
    save(store, table_model)
    body = {
        "columns": [*COLUMNS, "species"],
        "data": [[40, 17, "Dream", "Gentoo"]],
        "label": "species",
        **change,
    }
    if change.get("columns") == ["bill", "depth", "species"]:
        body["data"] = [[40, 17, "Gentoo"]]
    error(await client.post("/v1/models/mdl_tab/evaluate", json=body), *fragments, loc=loc)


async def test_evaluate_unknown_labels_in_y_name_y(
    client: httpx.AsyncClient, store: ModelStore, numeric_table_model: MLPClassifier
) -> None:
    save(store, numeric_table_model)
    body = {"X": [[0, 0, 0], [1, 1, 1]], "y": [0, 7]}
    error(await client.post("/v1/models/mdl_tab/evaluate", json=body), "7", loc=["body", "y"])
    body = {"X": [[0, 0, 0]], "y": ["yes"]}
    error(await client.post("/v1/models/mdl_tab/evaluate", json=body), "'yes'", loc=["body", "y"])
    error(await client.post("/v1/models/mdl_tab/evaluate", json={}), "dataset_id", loc=["body"])
    missing = await client.post("/v1/models/mdl_nope/evaluate", json={"X": [[0, 0, 0]], "y": [0]})
    assert missing.status_code == 404


class _TableStore(DatasetStore):
    """A dataset store that keeps tables (the interface ``dataset_rows`` reads)."""

    tables: dict[str, tuple[dict[str, np.ndarray], np.ndarray]]

    def load_table(self, dataset_id: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return self.tables[dataset_id]

    def exists(self, dataset_id: str) -> bool:
        return dataset_id in self.tables


async def test_evaluate_and_boundary_points_read_a_table_dataset(
    tmp_path: Path,
    client: httpx.AsyncClient,
    store: ModelStore,
    app: FastAPI,
    table_model: MLPClassifier,
) -> None:
    table, y = penguins(n=50, seed=3)
    datasets = _TableStore(tmp_path / "tables")
    datasets.tables = {"ds_table": ({**table, "extra": np.zeros(50)}, y)}
    rows, labels = dataset_rows(datasets, "ds_table")
    assert set(rows) == {*COLUMNS, "extra"} and labels.tolist() == y.tolist()
    app.state.dataset_store = datasets
    save(store, table_model, dataset_id="ds_table")
    response = await client.post("/v1/models/mdl_tab/evaluate", json={"dataset_id": "ds_table"})
    assert response.status_code == 200, response.text
    expected = mlp_engine.evaluate(table_model, table, y)
    assert response.json()["metrics"] == expected["metrics"]
    png = await client.get("/v1/models/mdl_tab/boundary", params={"format": "png", "resolution": 5})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


# ------------------------------------------------------------------------------ boundary


async def test_boundary_by_names_with_fixed_category_equals_decision_grid(
    client: httpx.AsyncClient, store: ModelStore, table_model: MLPClassifier
) -> None:
    save(store, table_model)
    params = {"features": "depth,bill", "fixed": "island:Dream", "resolution": 6}
    response = await client.get("/v1/models/mdl_tab/boundary", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["features"] == [1, 0] and body["feature_names"] == ["depth", "bill"]
    assert body["fixed"] == ["Dream"] and body["fixed_columns"] == {"island": "Dream"}
    xs, ys, values = mlp_engine.decision_grid(
        table_model, resolution=6, features=("depth", "bill"), fixed={"island": "Dream"}
    )
    np.testing.assert_allclose(body["x"], xs)
    np.testing.assert_allclose(body["y"], ys)
    np.testing.assert_allclose(body["probabilities"], values, rtol=1e-12)


async def test_boundary_defaults_to_numeric_columns_at_typical_values(
    client: httpx.AsyncClient, store: ModelStore, table_model: MLPClassifier
) -> None:
    save(store, table_model)
    body = (await client.get("/v1/models/mdl_tab/boundary", params={"resolution": 4})).json()
    assert body["feature_names"] == ["bill", "depth"]
    mode = table_model.plan_.steps[2].typical
    assert body["fixed_columns"] == {"island": mode}
    _, _, values = mlp_engine.decision_grid(table_model, resolution=4)
    np.testing.assert_allclose(body["probabilities"], values, rtol=1e-12)
    positional = await client.get(
        "/v1/models/mdl_tab/boundary", params={"features": "0,1", "fixed": mode, "resolution": 4}
    )
    assert positional.json()["probabilities"] == body["probabilities"]


async def test_boundary_numeric_fixed_by_name_and_png_axes(
    client: httpx.AsyncClient, store: ModelStore, numeric_table_model: MLPClassifier
) -> None:
    save(store, numeric_table_model)
    params = {"features": "c,a", "fixed": "b:0.75", "resolution": 5}
    body = (await client.get("/v1/models/mdl_tab/boundary", params=params)).json()
    assert body["fixed_columns"] == {"b": 0.75}
    _, _, values = mlp_engine.decision_grid(
        numeric_table_model, resolution=5, features=(2, 0), fixed={1: 0.75}
    )
    np.testing.assert_allclose(body["probabilities"], values, rtol=1e-12)
    png = await client.get("/v1/models/mdl_tab/boundary", params={**params, "format": "png"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("params", "fragments"),
    [
        ({"features": "bill,island"}, ["'island' is categorical"]),
        ({"features": "bill,flipper"}, ["'flipper'", "not a column"]),
        ({"features": "bill,bill"}, ["distinct"]),
        ({"fixed": "flipper:3"}, ["'flipper'"]),
        ({"fixed": "island:Atlantis"}, ["'Atlantis'", "'Dream'"]),
        ({"fixed": "bill:3"}, ["'bill'", "axis"]),
        ({"fixed": "Dream,1"}, ["needs 1 values"]),
    ],
)
async def test_boundary_422s(
    client: httpx.AsyncClient,
    store: ModelStore,
    table_model: MLPClassifier,
    params: dict[str, str],
    fragments: list[str],
) -> None:
    save(store, table_model)
    error(await client.get("/v1/models/mdl_tab/boundary", params=params), *fragments)


async def test_boundary_numeric_fixed_value_must_be_a_number(
    client: httpx.AsyncClient, store: ModelStore, numeric_table_model: MLPClassifier
) -> None:
    save(store, numeric_table_model)
    for fixed in ("b:wide", "b:inf"):
        response = await client.get("/v1/models/mdl_tab/boundary", params={"fixed": fixed})
        error(response, "'b'", loc=["query", "fixed"])
