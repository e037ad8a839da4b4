"""V2 tensors -> the engine's inputs, from bodies tritonclient builds; and the metadata shapes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from app.api.v2.codec import InferInput, V2Error, decode_request
from app.api.v2.tensors import input_columns, input_matrix, input_signature, output_signature


def _inputs(*tensors: tuple[str, np.ndarray, str, bool]) -> list[InferInput]:
    built = []
    for name, array, datatype, binary in tensors:
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        built.append(tensor)
    body, header_length = triton.InferenceServerClient.generate_request_body(built)
    return decode_request(bytes(body), header_length).inputs


KINDS = {"age": "numeric", "colour": "categorical", "n": "numeric"}


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "INT32", "INT64"])
def test_input_matrix_is_float64(datatype: str) -> None:
    x = np.arange(6).reshape(3, 2).astype(datatype.replace("FP", "float").replace("INT", "int"))
    matrix = input_matrix(_inputs(("input", x, datatype, True)), 2)
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, x)


def test_input_matrix_keeps_nan_as_missing() -> None:
    x = np.array([[1.0, np.nan]], np.float32)
    assert np.isnan(input_matrix(_inputs(("input", x, "FP32", True)), 2)[0, 1])


@pytest.mark.parametrize(
    ("tensors", "match"),
    [
        ((("x", np.zeros((1, 2), np.float32), "FP32", True),), "one input named 'input'"),
        ((("input", np.zeros((1, 3), np.float32), "FP32", True),), r"shape \[N, 2\]"),
        ((("input", np.zeros((2,), np.float32), "FP32", True),), r"shape \[N, 2\]"),
        ((("input", np.zeros((0, 2), np.float32), "FP32", True),), "N >= 1"),
        ((("input", np.array([[b"a", b"b"]], dtype=object), "BYTES", True),), "one of FP32"),
    ],
)
def test_input_matrix_refuses(tensors: Any, match: str) -> None:
    with pytest.raises(V2Error, match=match):
        input_matrix(_inputs(*tensors), 2)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("column_shape", [(3,), (3, 1)])
def test_input_columns(binary: bool, column_shape: tuple[int, ...]) -> None:
    age = np.array([30.0, np.nan, 41.5], np.float32).reshape(column_shape)
    colour = np.array([b"red", b"", "gr\u00fcn".encode()], dtype=object).reshape(column_shape)
    n = np.array([1, 2, 3], np.int64).reshape(column_shape)
    inputs = _inputs(
        ("colour", colour, "BYTES", binary),
        ("n", n, "INT64", binary),
        ("age", age, "FP32", True),  # NaN has no JSON form: always binary
    )
    columns = input_columns(inputs, KINDS)
    assert list(columns) == ["age", "colour", "n"]
    assert columns["age"].dtype == np.float64 and np.isnan(columns["age"][1])
    assert columns["colour"].tolist() == ["red", "", "gr\u00fcn"]
    assert columns["colour"].dtype.kind == "U"
    np.testing.assert_array_equal(columns["n"], [1.0, 2.0, 3.0])


def _columns(**overrides: Any) -> list[tuple[str, np.ndarray, str, bool]]:
    tensors = {
        "age": (np.zeros(2, np.float32), "FP32"),
        "colour": (np.array([b"a", b"b"], dtype=object), "BYTES"),
        "n": (np.zeros(2, np.int64), "INT64"),
    }
    tensors.update(overrides)
    return [(name, arr, dt, True) for name, (arr, dt) in tensors.items() if arr is not None]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"zip": (np.zeros(2, np.float32), "FP32")}, "unknown input 'zip'"),
        ({"n": (None, "")}, "input 'n' is missing"),
        ({"colour": (np.zeros(2, np.float32), "FP32")}, "categorical column: send BYTES"),
        ({"age": (np.array([b"1", b"2"], dtype=object), "BYTES")}, "numeric column"),
        ({"age": (np.zeros(3, np.float32), "FP32")}, "same number of rows"),
        ({"age": (np.zeros((2, 2), np.float32), "FP32")}, r"shape \[N\] or \[N, 1\]"),
        ({"colour": (np.array([b"\xff", b"b"], dtype=object), "BYTES")}, "not UTF-8"),
    ],
)
def test_input_columns_refuses(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(V2Error, match=match):
        input_columns(_inputs(*_columns(**overrides)), KINDS)


def test_signatures() -> None:
    numeric = [{"name": "x0", "type": "numeric"}, {"name": "x1", "type": "numeric"}]
    assert input_signature(numeric) == [{"name": "input", "datatype": "FP64", "shape": [-1, 2]}]
    table = [{"name": "age", "type": "numeric"}, {"name": "colour", "type": "categorical"}]
    assert input_signature(table) == [
        {"name": "age", "datatype": "FP64", "shape": [-1, 1]},
        {"name": "colour", "datatype": "BYTES", "shape": [-1, 1]},
    ]
    assert output_signature("classification", label_kind="str", n_classes=3) == [
        {"name": "predictions", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
    ]
    assert output_signature("classification", label_kind="int", n_classes=2)[0]["datatype"] == (
        "INT64"
    )
    assert output_signature("regression") == [
        {"name": "predictions", "datatype": "FP64", "shape": [-1]}
    ]
    assert output_signature("regression", n_targets=2)[0]["shape"] == [-1, 2]


def test_columns_feed_a_table_model_as_a_table_does() -> None:
    from mlp_engine import MLPClassifier

    rng = np.random.default_rng(0)
    table = {
        "age": rng.normal(40, 10, 60),
        "colour": np.array(["red", "blue", ""])[rng.integers(0, 3, 60)],
        "n": rng.integers(0, 5, 60).astype(np.float64),
    }
    model = MLPClassifier(hidden_layers=(4,), epochs=3).fit(table, table["n"] > 2)
    inputs = _inputs(
        ("age", table["age"].reshape(-1, 1), "FP64", True),
        ("colour", np.array([c.encode() for c in table["colour"]], dtype=object), "BYTES", True),
        ("n", table["n"].astype(np.int64), "INT64", False),
    )
    columns = input_columns(inputs, {f["name"]: f["type"] for f in model.features})
    np.testing.assert_array_equal(model.predict_proba(columns), model.predict_proba(table))
