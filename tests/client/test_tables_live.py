"""The client on real tables against a real server: DataFrames with text columns and gaps, a
CSV with an ignored column, honest metrics, predictions by column name, evaluate, ONNX,
the boundary by column names, and ``mlp train`` / ``mlp predict`` on a CSV with text columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers.server import Server

from mlp_client import Client, Dataset, InvalidInput, Model
from mlp_client.cli import cli

pytestmark = pytest.mark.integration

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
FEATURES = ["island", "bill", "flipper", "sex"]
# species: (islands, bill length mean, flipper length mean)
SPECIES = {
    "Adelie": (["Torgersen", "Biscoe", "Dream"], 38.8, 190.0),
    "Chinstrap": (["Dream"], 48.8, 196.0),
    "Gentoo": (["Biscoe"], 47.5, 217.0),
}
TRAIN: dict[str, Any] = {"hidden_layers": [8], "epochs": 80, "seed": 0}


def penguins(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """A penguin-like table: text columns (``island``, ``sex``, the label ``species``),
    numbers, and gaps as NaN (numbers, text) and None (text)."""
    rng = np.random.default_rng(seed)
    species = [CLASSES[i % 3] for i in range(n)]
    island: list[Any] = [SPECIES[s][0][rng.integers(len(SPECIES[s][0]))] for s in species]
    bill = [rng.normal(SPECIES[s][1], 2.5) for s in species]
    flipper = [rng.normal(SPECIES[s][2], 6.0) for s in species]
    sex: list[Any] = [["male", "female"][rng.integers(2)] for _ in species]
    for i in range(0, n, 17):
        bill[i] = np.nan
        sex[i] = None
    for i in range(5, n, 23):
        flipper[i] = np.nan
        island[i] = np.nan
    return pd.DataFrame(
        {"species": species, "island": island, "bill": bill, "flipper": flipper, "sex": sex}
    )


def unseen_rows() -> pd.DataFrame:
    """Rows to predict: a missing number, a missing category, an island never seen."""
    return pd.DataFrame(
        {
            "island": ["Biscoe", "Dream", "Anvers"],
            "bill": [47.0, 49.5, np.nan],
            "flipper": [218.0, np.nan, 188.0],
            "sex": ["female", None, "male"],
        }
    )


@pytest.fixture(scope="module")
def table_model(live_server: Server) -> Model:
    """A model trained on :func:`penguins` with a test split and balanced class weights."""
    with Client(live_server.base_url, poll_interval=0.1) as c:
        dataset = c.datasets.upload(penguins(), label="species")
        job = c.jobs.create(dataset, test_fraction=0.2, class_weight="balanced", **TRAIN)
        return job.wait()


@pytest.fixture
def model(client: Client, table_model: Model) -> Model:
    """The shared model, bound to this test's client."""
    return client.models.get(table_model.id)


def test_upload_dataframe_with_text_columns_nan_and_none(client: Client) -> None:
    frame = penguins()
    dataset = client.datasets.upload(frame, label="species", name="penguins")
    assert isinstance(dataset, Dataset)
    assert (dataset.n_samples, dataset.label, dataset.classes) == (150, "species", CLASSES)
    by_name = {f["name"]: f for f in dataset.features}
    assert list(by_name) == FEATURES
    assert {name: f["type"] for name, f in by_name.items()} == {
        "island": "categorical",
        "bill": "numeric",
        "flipper": "numeric",
        "sex": "categorical",
    }
    expected_missing = frame[FEATURES].isna().sum().to_dict()
    assert {name: f["missing"] for name, f in by_name.items()} == expected_missing
    assert by_name["island"]["categories"] == ["Biscoe", "Dream", "Torgersen"]
    stored = client.datasets.data(dataset)
    assert stored["columns"] == FEATURES and stored["y"] == frame["species"].tolist()
    assert stored["data"][0][FEATURES.index("sex")] is None  # a None cell stays missing
    assert stored["data"][5][FEATURES.index("island")] is None  # a NaN in a text column too


def test_upload_csv_path_with_ignore(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "penguins.csv"
    path.write_text(
        "id,species,island,bill,sex\n"
        "1,Adelie,Torgersen,39.1,male\n"
        "2,Adelie,Torgersen,NA,NA\n"
        "3,Gentoo,Biscoe,46.1,\n"
        "4,Chinstrap,Dream,46.5,female\n"
        "5,,Dream,50.0,male\n"
    )
    dataset = client.datasets.upload(path, label="species", ignore=["id"])
    assert [f["name"] for f in dataset.features] == ["island", "bill", "sex"]
    assert [f["missing"] for f in dataset.features] == [0, 1, 2]
    assert dataset.n_samples == 4 and dataset.raw["rows_without_label"] == 1
    assert dataset.classes == CLASSES


def test_honest_metrics_and_class_weights(table_model: Model) -> None:
    assert table_model.raw["training"]["test_fraction"] == 0.2
    assert table_model.raw["training"]["class_weight"] == "balanced"
    assert table_model.label == "species"
    assert [f["name"] for f in table_model.features] == FEATURES
    evaluation = table_model.raw["evaluation"]
    test = evaluation["test"]
    assert test is not None and evaluation["train"] is not None
    supports = [test["per_class"][c]["support"] for c in CLASSES]
    assert sum(supports) == 30 and min(supports) > 0  # 20% of 150, stratified
    assert test["confusion_matrix"]["labels"] == CLASSES
    assert 0.0 <= test["balanced_accuracy"] <= 1.0 and test["log_loss"] > 0


def test_predict_dataframe_and_dicts_agree(model: Model) -> None:
    frame = unseen_rows()
    by_frame = model.prediction(frame)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    by_dicts = model.prediction(rows)
    assert by_frame.predictions == by_dicts.predictions
    assert by_frame.classes == CLASSES
    assert by_frame.probabilities is not None and by_dicts.probabilities is not None
    np.testing.assert_allclose(by_frame.probabilities, by_dicts.probabilities, atol=1e-12)
    np.testing.assert_allclose(np.sum(by_frame.probabilities, axis=1), 1.0)
    assert set(by_frame.predictions) <= set(CLASSES)
    # A frame that still holds the model's label column: the label is left out.
    labelled = frame.assign(species=["Gentoo", "Chinstrap", "Adelie"])
    assert model.predict(labelled) == by_frame.predictions
    # Columns in another order: matched by name.
    assert model.predict(frame[FEATURES[::-1]]) == by_frame.predictions


def test_predict_unknown_column_is_invalid_input_naming_it(model: Model) -> None:
    rows = [{"island": "Dream", "bill": 40.0, "flipper": 190.0, "sex": "male", "colour": "blue"}]
    with pytest.raises(InvalidInput) as caught:
        model.predict(rows)
    assert caught.value.status == 422
    assert "colour" in caught.value.message and "colour" in (caught.value.field or "")
    with pytest.raises(InvalidInput) as missing:
        model.predict(unseen_rows().drop(columns=["sex"]))
    assert "sex" in missing.value.message


def test_evaluate_a_dataframe(model: Model) -> None:
    frame = penguins(60, seed=1)
    result = model.evaluate(frame)  # the label column is the model's
    assert result["n_samples"] == 60
    metrics = result["metrics"]
    predicted = model.predict(frame)
    accuracy = float(np.mean(np.asarray(predicted) == frame["species"].to_numpy()))
    assert metrics["accuracy"] == pytest.approx(accuracy)
    matrix = np.asarray(metrics["confusion_matrix"]["matrix"])
    assert matrix.sum() == 60 and np.trace(matrix) == round(accuracy * 60)
    assert set(metrics["per_class"]) == set(CLASSES)
    renamed = frame.rename(columns={"species": "kind"})
    assert model.evaluate(renamed, label="kind")["metrics"]["accuracy"] == metrics["accuracy"]


def test_csv_paths_as_strings_or_paths(model: Model, tmp_path: Path) -> None:
    """A CSV file given as a ``str`` path works as a ``Path`` does (``upload`` took both
    already); a bare string with no ``.`` or ``/`` stays a dataset id."""
    frame = penguins(40, seed=2)
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    expected = model.predict(frame)
    assert model.predict(str(path)) == expected == model.predict(path)
    by_text, by_path = model.evaluate(str(path)), model.evaluate(path)
    assert by_text["n_samples"] == by_path["n_samples"] == 40
    assert by_text["metrics"]["accuracy"] == model.evaluate(frame)["metrics"]["accuracy"]
    with pytest.raises(InvalidInput):  # an unknown dataset id, not a file
        model.evaluate("ds_missing")


def test_download_onnx_runs_in_onnxruntime(model: Model, tmp_path: Path) -> None:
    path = model.download(tmp_path / "penguins.onnx", format="onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    frame = unseen_rows()
    feeds: dict[str, np.ndarray] = {}
    for spec in session.get_inputs():
        column = frame[spec.name]
        if spec.type == "tensor(string)":
            feeds[spec.name] = column.fillna("").to_numpy(dtype=object).reshape(-1, 1)
        else:
            feeds[spec.name] = column.to_numpy(dtype=np.float32).reshape(-1, 1)
    assert sorted(feeds) == sorted(FEATURES)
    labels, probabilities = session.run(["label", "probabilities"], feeds)
    want = model.prediction(frame)
    assert [str(label) for label in labels] == want.predictions
    np.testing.assert_allclose(probabilities, want.probabilities or [], atol=2e-5)


def test_boundary_by_column_names(model: Model) -> None:
    grid = model.boundary(features=["bill", "flipper"], fixed={"island": "Dream"}, resolution=5)
    assert grid["feature_names"] == ["bill", "flipper"]
    assert grid["fixed_columns"]["island"] == "Dream"
    assert np.asarray(grid["probabilities"]).shape == (5, 5, 3)
    picture = model.boundary(format="png", features=["flipper", "bill"], resolution=20)
    assert picture[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidInput) as caught:
        model.boundary(features=["bill", "colour"])
    assert "colour" in caught.value.message


def test_cli_train_and_predict_a_csv_with_text_columns(live_server: Server, tmp_path: Path) -> None:
    train = tmp_path / "penguins.csv"
    penguins().to_csv(train, index=False)  # NaN and None are written as empty cells
    runner = CliRunner()
    url = ["--url", live_server.base_url]
    trained = runner.invoke(
        cli,
        ["train", str(train), "--label", "species", "--hidden", "8", "--epochs", "40", *url],
        catch_exceptions=False,
    )
    assert trained.exit_code == 0, trained.output
    model_id = trained.stdout.strip().splitlines()[-1]
    assert model_id.startswith("mdl_")
    rows = tmp_path / "new.csv"
    unseen_rows().to_csv(rows, index=False)
    predicted = runner.invoke(cli, ["predict", model_id, "-i", str(rows), *url])
    assert predicted.exit_code == 0, predicted.output
    table = list(csv.DictReader(io.StringIO(predicted.stdout)))
    assert len(table) == 3
    assert list(table[0]) == [*FEATURES, "prediction", *(f"p_{c}" for c in CLASSES)]
    assert table[2]["island"] == "Anvers" and table[2]["bill"] == ""  # the input, as read
    for row in table:
        assert row["prediction"] in CLASSES
        assert sum(float(row[f"p_{c}"]) for c in CLASSES) == pytest.approx(1.0)
