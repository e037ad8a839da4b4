"""RELIABILITY.md item 28 against a real server: a table model's inputs with wrong, absent or
extra columns, wrong types, unseen categories and nulls.

The model (``size`` and ``weight`` numeric, ``colour`` categorical with gaps; label ``kind``)
is trained in-process and imported. Each case goes to ``/v1/models/{id}/predict``
(``instances`` or the split form), ``/v1/models/{id}/evaluate`` (inline table or a stored
dataset) or ``/v2/models/{id}/infer`` (one named tensor per column). Each is a 4xx naming the
column (``/v1``: a 422; ``/v2``: a 400 ``{"error"}``), or the documented handling, checked
against the engine's own answer for the same rows:

- an unseen category (or a number in a categorical column, taken as its text) is all zeros in
  its one-hot block, with no error;
- a null (``/v2``: an empty BYTES element, a null in JSON ``data``) is missing: the training
  median for a numeric column, the "missing" level for a categorical one;
- a stored dataset with more columns than the model takes: the model's columns are used.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.server import Server, ServerFactory
from helpers.tables import FRUIT_COLUMNS, fruit

import mlp_engine
from mlp_engine import MLPClassifier

pytestmark = pytest.mark.integration

COLUMNS = FRUIT_COLUMNS
ROW = {"size": 5.5, "weight": 150.0, "colour": "red"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, Any]]:
    """One server, the imported model's id, and the model itself (for expected answers)."""
    table, y = fruit(200, seed=0, size_gaps=False)
    model = MLPClassifier(hidden_layers=(8,), epochs=40, seed=0).fit(table, y)
    buffer = io.BytesIO()
    model.save(buffer, metadata={"name": "fruit", "label": "kind"})
    factory = ServerFactory(tmp_path_factory.mktemp("table-columns"))
    server = factory()
    with server.client() as client:
        response = client.post("/v1/models/import", content=buffer.getvalue())
        assert response.status_code == 201, response.text
        model_id = response.json()["id"]
    yield server, model_id, model
    factory.stop_all()


def instances(**changes: Any) -> dict[str, Any]:
    """``{"instances": [ROW with changes]}``; a change to ``...`` drops the column."""
    row = {**ROW, **changes}
    return {"instances": [{k: v for k, v in row.items() if v is not ...}]}


def tensor(name: str, data: list[Any], datatype: str | None = None) -> dict[str, Any]:
    kind = datatype or ("BYTES" if name == "colour" else "FP64")
    return {"name": name, "shape": [len(data)], "datatype": kind, "data": data}


def infer(**changes: Any) -> dict[str, Any]:
    """A V2 request for ROW, one tensor per column; a change replaces (``...`` drops) one."""
    inputs = {name: tensor(name, [value]) for name, value in ROW.items()}
    for name, value in changes.items():
        if value is ...:
            inputs.pop(name)
        else:
            inputs[name] = value
    return {"inputs": list(inputs.values())}


def evaluate(columns: list[str], data: list[list[Any]]) -> dict[str, Any]:
    return {"columns": columns, "data": data, "label": "kind"}


# id -> (route, body, status, fragments the message must hold)
REFUSED: dict[str, tuple[str, dict[str, Any], int, tuple[str, ...]]] = {
    "predict_extra_column": ("predict", instances(x=1), 422, ("'x'", "does not take")),
    "predict_absent_column": ("predict", instances(weight=...), 422, ("'weight'", "needs")),
    "predict_empty_column_name": ("predict", instances(**{"": 1}), 422, ("''",)),
    "predict_text_in_numeric": (
        "predict",
        instances(weight="heavy"),
        422,
        ("'weight'", "must be a number or null", "'heavy'"),
    ),
    "predict_boolean_in_numeric": ("predict", instances(size=True), 422, ("'size'", "boolean")),
    "predict_list_in_categorical": (
        "predict",
        instances(colour=["red"]),
        422,
        ("'colour'", "list"),
    ),
    "predict_object_in_categorical": (
        "predict",
        instances(colour={"r": 1}),
        422,
        ("'colour'", "an object"),
    ),
    "predict_overflowing_integer": ("predict", instances(size=10**400), 422, ("'size'",)),
    "predict_row_not_an_object": ("predict", {"instances": [[5.5, 150, "red"]]}, 422, ("[0]",)),
    "predict_split_duplicate_column": (
        "predict",
        {"columns": ["size", "size", "colour"], "data": [[1, 2, "red"]]},
        422,
        ("'size' appears twice",),
    ),
    "predict_split_unknown_column": (
        "predict",
        {"columns": [*COLUMNS, "x"], "data": [[1, 2, "red", 0]]},
        422,
        ("'x'",),
    ),
    "predict_split_absent_column": (
        "predict",
        {"columns": ["size", "colour"], "data": [[1, "red"]]},
        422,
        ("'weight'", "absent"),
    ),
    "predict_split_short_row": (
        "predict",
        {"columns": COLUMNS, "data": [[1, 2]]},
        422,
        ("data[0]", "3 cells"),
    ),
    "predict_X_for_a_table_model": (
        "predict",
        {"X": [[1.0, 2.0, 3.0]]},
        422,
        ("categorical columns", "'colour'"),
    ),
    "evaluate_extra_column": (
        "evaluate",
        evaluate([*COLUMNS, "x", "kind"], [[1, 2, "red", 0, "apple"]]),
        422,
        ("'x'",),
    ),
    "evaluate_absent_column": (
        "evaluate",
        evaluate(["size", "colour", "kind"], [[1, "red", "apple"]]),
        422,
        ("'weight'", "absent"),
    ),
    "evaluate_text_in_numeric": (
        "evaluate",
        evaluate([*COLUMNS, "kind"], [[1, "heavy", "red", "apple"]]),
        422,
        ("'weight'", "'heavy'"),
    ),
    "evaluate_label_not_in_columns": (
        "evaluate",
        {"columns": COLUMNS, "data": [[1, 2, "red"]], "label": "kind"},
        422,
        ("'kind'", "not in columns"),
    ),
    "evaluate_label_is_an_input": (
        "evaluate",
        {"columns": COLUMNS, "data": [[1, 2, "red"]], "label": "colour"},
        422,
        ("'colour'", "one of the model's inputs"),
    ),
    "evaluate_unknown_class": (
        "evaluate",
        evaluate([*COLUMNS, "kind"], [[1, 2, "red", "plum"]]),
        422,
        ("'plum'", "does not know"),
    ),
    "evaluate_every_label_null": (
        "evaluate",
        evaluate([*COLUMNS, "kind"], [[1, 2, "red", None]]),
        422,
        ("'kind'", "null"),
    ),
    "evaluate_dataset_without_a_column": (
        "evaluate",
        {"dataset_id": "lacks weight"},
        422,
        ("has no column 'weight'", "needs"),
    ),
    "evaluate_dataset_with_text_weight": (
        "evaluate",
        {"dataset_id": "text weight"},
        422,
        ("column 'weight' as text", "takes numbers"),
    ),
    "predict_values_that_overflow": (
        "predict",
        instances(size=1e308, weight=-1e308),
        422,
        ("too large", "overflowed"),
    ),
    "infer_extra_input": ("infer", infer(x=tensor("x", [1.0])), 400, ("'x'",)),
    "infer_absent_input": ("infer", infer(weight=...), 400, ("'weight'", "missing")),
    "infer_fp_for_categorical": (
        "infer",
        infer(colour=tensor("colour", [1.0], "FP32")),
        400,
        ("'colour'", "BYTES"),
    ),
    "infer_bytes_for_numeric": (
        "infer",
        infer(weight=tensor("weight", ["heavy"], "BYTES")),
        400,
        ("'weight'", "numeric"),
    ),
    "infer_text_in_numeric_json": (
        "infer",
        infer(weight=tensor("weight", ["heavy"])),
        400,
        ("weight",),
    ),
    "infer_rows_disagree": (
        "infer",
        infer(size=tensor("size", [1.0, 2.0])),
        400,
        ("same number of rows",),
    ),
    "infer_two_wide_column": (
        "infer",
        infer(size={"name": "size", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}),
        400,
        ("'size'", "[N] or [N, 1]"),
    ),
    "infer_one_input_tensor": (
        "infer",
        {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
        400,
        ("'input'",),
    ),
}

# id -> (route, body, the engine's rows for the same request)
HANDLED: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "predict_unseen_category_is_all_zeros": (
        "predict",
        instances(colour="purple"),
        {**ROW, "colour": "purple"},
    ),
    "predict_number_in_categorical_is_its_text": (
        "predict",
        instances(colour=3),
        {**ROW, "colour": "3"},
    ),
    "predict_nulls_are_missing": (
        "predict",
        instances(size=None, weight=None, colour=None),
        {"size": np.nan, "weight": np.nan, "colour": ""},
    ),
    "predict_split_columns_in_another_order": (
        "predict",
        {"columns": ["colour", "weight", "size"], "data": [["red", 150.0, 5.5]]},
        ROW,
    ),
    "infer_unseen_category_is_all_zeros": (
        "infer",
        infer(colour=tensor("colour", ["purple"])),
        {**ROW, "colour": "purple"},
    ),
    "infer_empty_bytes_and_null_are_missing": (
        "infer",
        infer(colour=tensor("colour", [""]), weight=tensor("weight", [None])),
        {**ROW, "colour": "", "weight": np.nan},
    ),
    "infer_n_by_1_columns_and_int64": (
        "infer",
        infer(size={"name": "size", "shape": [1, 1], "datatype": "INT64", "data": [[5]]}),
        {**ROW, "size": 5.0},
    ),
}


def engine_table(row: dict[str, Any]) -> dict[str, np.ndarray]:
    return {
        "size": np.array([row["size"]], dtype=np.float64),
        "weight": np.array([row["weight"]], dtype=np.float64),
        "colour": np.array([row["colour"]], dtype=str),
    }


def post(client: httpx.Client, model_id: str, route: str, body: dict[str, Any]) -> httpx.Response:
    if route == "infer":
        return client.post(f"/v2/models/{model_id}/infer", json=body)
    return client.post(f"/v1/models/{model_id}/{route}", json=body)


def stored_dataset(client: httpx.Client, which: str) -> str:
    """A CSV dataset that lacks ``weight``, whose ``weight`` is text, or with an extra column."""
    if which == "lacks weight":
        text = "size,colour,kind\n5,red,apple\n4,green,pear\n"
    elif which == "extra column":
        text = "note,size,weight,colour,kind\nx,5.5,150,red,apple\ny,4,120,,pear\n"
    else:
        text = "size,weight,colour,kind\n5,heavy,red,apple\n4,light,green,pear\n"
    response = client.post("/v1/datasets", content=text, headers={"content-type": "text/csv"})
    assert response.status_code == 201, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


def message_of(response: httpx.Response) -> str:
    doc = response.json()
    if "error" in doc:
        return str(doc["error"])
    detail = doc["detail"]
    return detail if isinstance(detail, str) else str(detail[0]["msg"])


@pytest.mark.parametrize("case", [*REFUSED, *HANDLED])
def test_wrong_columns_are_a_4xx_naming_the_column(
    served: tuple[Server, str, Any], case: str
) -> None:
    server, model_id, model = served
    with server.client() as client:
        if case in HANDLED:
            route, body, row = HANDLED[case]
            response = post(client, model_id, route, body)
            assert response.status_code == 200, response.text
            expected = model.predict_proba(engine_table(row))
            doc = response.json()
            if route == "infer":
                outputs = {out["name"]: out for out in doc["outputs"]}
                got = np.array(outputs["probabilities"]["data"]).reshape(expected.shape)
            else:
                got = np.array(doc["probabilities"])
            np.testing.assert_allclose(got, expected, rtol=1e-9)
            return
        route, body, status, fragments = REFUSED[case]
        if "dataset_id" in body:
            body = {"dataset_id": stored_dataset(client, body["dataset_id"])}
        response = post(client, model_id, route, body)
        assert response.status_code == status, response.text
        message = message_of(response)
        for fragment in fragments:
            assert fragment in message, (case, message)


def test_a_stored_dataset_with_extra_columns_is_evaluated_on_the_models_columns(
    served: tuple[Server, str, Any],
) -> None:
    server, model_id, model = served
    with server.client() as client:
        body = {"dataset_id": stored_dataset(client, "extra column")}
        response = client.post(f"/v1/models/{model_id}/evaluate", json=body)
    assert response.status_code == 200, response.text
    table = {
        "size": np.array([5.5, 4.0]),
        "weight": np.array([150.0, 120.0]),
        "colour": np.array(["red", ""]),
    }
    expected = mlp_engine.evaluate(model, table, np.array(["apple", "pear"]))
    assert response.json()["n_samples"] == 2
    assert response.json()["metrics"]["accuracy"] == expected["metrics"]["accuracy"]


def test_an_unseen_category_is_an_all_zero_one_hot_block(served: tuple[Server, str, Any]) -> None:
    """The documented handling, shown on the model's own encoding: an unseen value's block is
    all zeros (not the "missing" level, not an error), so it predicts as the engine does."""
    _, _, model = served
    plan = model.plan_
    colour = next(step for step in plan.steps if step.column == "colour")
    block = colour.transform(np.array(["purple", "red", ""]))
    assert block[0].tolist() == [0.0] * colour.width
    assert block[1].sum() == 1.0 and block[2].sum() == 1.0  # "red", and the missing level
