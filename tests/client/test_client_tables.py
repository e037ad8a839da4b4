"""What the client sends for tables (pure functions; pandas and NumPy used when present)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from client_support import TABLE_MODEL

from mlp_client import Table, read_csv
from mlp_client._core import json_body
from mlp_client._tables import clean_cell, evaluate_payload, predict_payload, upload_payload

NUMERIC_MODEL = {"id": "mdl_n", "layers": [2, 4, 1]}  # a server without table support


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": pd.array([31, None, 45], dtype="Int64"),
            "plan": ["basic", None, "pro"],
            "score": [0.5, float("nan"), np.float32(1.5)],
            "churn": ["no", "yes", pd.NA],
        }
    )


def test_missing_cells_become_null() -> None:
    for missing in (None, float("nan"), np.nan, pd.NA, pd.NaT, np.float64("nan")):
        assert clean_cell(missing) is None
    assert clean_cell(np.int64(3)) == 3 and type(clean_cell(np.int64(3))) is int
    assert clean_cell(np.float32(0.5)) == 0.5 and clean_cell(np.str_("a")) == "a"
    assert clean_cell(np.bool_(True)) is True
    assert clean_cell(pd.Timestamp("2024-01-02")) == "2024-01-02T00:00:00"
    with pytest.raises(ValueError, match="infinite"):
        clean_cell(float("inf"))


def test_dataframe_upload_is_the_split_form_with_label() -> None:
    payload = upload_payload(frame(), label="churn", categorical=["age"], ignore=["score"])
    doc = payload.json
    assert doc is not None and payload.content is None
    assert doc["columns"] == ["age", "plan", "score", "churn"]
    assert doc["data"] == [
        [31, "basic", 0.5, "no"],
        [None, None, None, "yes"],
        [45, "pro", 1.5, None],
    ]
    assert (doc["label"], doc["categorical"], doc["ignore"]) == ("churn", ["age"], ["score"])
    assert b"NaN" not in json_body(doc)


def test_dataframe_label_defaults_to_the_last_column() -> None:
    doc = upload_payload(frame()).json
    assert doc is not None and doc["label"] == "churn"


def test_csv_path_upload_is_text_csv_with_query_knobs(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,plan,churn\n1,basic,no\n")
    payload = upload_payload(
        path, label="churn", task="classification", ignore=["id"], categorical=["plan", "x"]
    )
    assert payload.content == path.read_bytes() and payload.content_type == "text/csv"
    assert payload.params == {
        "label": "churn",
        "task": "classification",
        "categorical": "plan,x",
        "ignore": "id",
    }


def test_xy_pair_and_split_dict_uploads() -> None:
    X = np.array([[0.0, np.nan], [1.0, 2.0]])
    doc = upload_payload((X, np.array(["a", "b"])), name="n", label="ignored").json
    assert doc == {"X": [[0.0, None], [1.0, 2.0]], "y": ["a", "b"], "name": "n"}
    split = upload_payload({"columns": ["a", "y"], "data": [[float("nan"), 1], [2, 0]]}).json
    assert split == {"columns": ["a", "y"], "data": [[None, 1], [2, 0]], "label": "y"}
    with pytest.raises(TypeError, match="DataFrame"):
        upload_payload(42)


def test_read_csv_keeps_raw_text_and_types_cells_on_demand(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\ufeffage,plan,zip\n31,basic,02134\n,NA,10001\n 7 ,?,00501\n")
    table = read_csv(path)
    assert table.columns == ["age", "plan", "zip"]
    assert table.rows[1] == ["", "NA", "10001"]
    assert table.cells() == [[31, "basic", 2134], [None, None, 10001], [7, None, 501]]
    assert table.cells(["zip"])[0] == [31, "basic", "02134"]
    assert read_csv(io.StringIO("a\n1.5\ninf\n")).cells() == [[1.5], ["inf"]]
    with pytest.raises(ValueError, match="row 1 has 1 values"):
        read_csv(io.StringIO("a,b\n1\n"))
    with pytest.raises(ValueError, match="empty"):
        read_csv(io.StringIO("\n"))


def test_predict_payload_for_a_table_model() -> None:
    table = Table(["age", "plan", "zip", "churn"], [["31", "", "02134", "no"]])
    doc = predict_payload(table, TABLE_MODEL)
    # the model's label column is dropped; categorical columns stay text (leading zeros kept)
    assert doc == {"columns": ["age", "plan", "zip"], "data": [[31, None, "02134"]]}
    framed = predict_payload(frame(), {**TABLE_MODEL, "label": "churn"})
    assert framed["columns"] == ["age", "plan", "score"] and framed["data"][1] == [None, None, None]
    rows = [{"age": np.int64(3), "plan": None, "zip": "02134"}]
    assert predict_payload(rows, TABLE_MODEL) == {
        "instances": [{"age": 3, "plan": None, "zip": "02134"}]
    }
    ready = {"columns": ["age"], "data": [[float("nan")]]}
    assert predict_payload(ready, TABLE_MODEL) == {"columns": ["age"], "data": [[None]]}
    with pytest.raises(TypeError):
        predict_payload({"rows": []}, TABLE_MODEL)


def test_predict_payload_for_a_positional_model() -> None:
    assert predict_payload(np.array([[1.0, 2.0]]), NUMERIC_MODEL) == {"X": [[1.0, 2.0]]}
    numbers = pd.DataFrame({"a": [1.0], "b": [2.0]})
    assert predict_payload(numbers, NUMERIC_MODEL) == {"X": [[1.0, 2.0]]}
    table = Table(["a", "b"], [["1", "2.5"]])
    assert predict_payload(table, NUMERIC_MODEL) == {"X": [[1, 2.5]]}


def test_predict_payload_reads_a_csv_path(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("age,plan,zip\n40,pro,10001\n")
    assert predict_payload(path, TABLE_MODEL)["data"] == [[40, "pro", "10001"]]


def test_evaluate_payloads(tmp_path: Path) -> None:
    assert evaluate_payload("ds_1", None) == {"dataset_id": "ds_1"}
    assert evaluate_payload((np.zeros((1, 2)), [1]), None) == {"X": [[0.0, 0.0]], "y": [1]}
    doc = evaluate_payload(frame(), "churn")
    assert doc["label"] == "churn" and doc["data"][2][3] is None
    path = tmp_path / "e.csv"
    path.write_text("a,churn\n1,no\n")
    assert evaluate_payload(path, "churn") == {
        "columns": ["a", "churn"],
        "data": [[1, "no"]],
        "label": "churn",
    }
    with pytest.raises(ValueError, match="label"):
        evaluate_payload(frame(), None)
    assert math.isclose(evaluate_payload({"X": [[0.5]], "y": [0]}, None)["X"][0][0], 0.5)
