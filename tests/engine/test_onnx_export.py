"""ONNX export: onnxruntime's results equal the engine's predict / predict_proba.

Every model is run through onnxruntime (CPUExecutionProvider) on float32 inputs and compared
with the engine on the same float32 values: probabilities and regression predictions to 2e-5,
labels exactly.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mlp_engine import MLPClassifier, MLPRegressor, load
from mlp_engine.activations import ACTIVATIONS
from mlp_engine.onnx_export import (
    ACTIVATION_WRITERS,
    INPUT_NAME,
    OnnxUnavailable,
    Standardize,
    column_inputs,
    preprocessing_steps,
    preprocessing_to_onnx,
    to_onnx,
)

TOLERANCE = 2e-5


def _data(n: int = 240, seed: int = 0) -> np.ndarray:
    """Features on very different scales and offsets, so standardisation matters."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]
    return X.astype(np.float32).astype(np.float64)  # exactly representable in float32


def _session(model: Any) -> ort.InferenceSession:
    return ort.InferenceSession(to_onnx(model), providers=["CPUExecutionProvider"])


def _run(model: Any, X: np.ndarray) -> dict[str, np.ndarray]:
    session = _session(model)
    names = [out.name for out in session.get_outputs()]
    values = session.run(names, {INPUT_NAME: X.astype(np.float32)})
    return dict(zip(names, values, strict=True))


def _fit_classifier(y: np.ndarray, **params: Any) -> tuple[MLPClassifier, np.ndarray]:
    X = _data()
    settings = {"hidden_layers": (8, 5), "epochs": 15, "seed": 1, **params}
    return MLPClassifier(**settings).fit(X, y), X


def _check_classifier(model: MLPClassifier, X: np.ndarray) -> dict[str, np.ndarray]:
    got = _run(model, X)
    expected = model.predict_proba(X)
    assert got["probabilities"].dtype == np.float32
    assert got["probabilities"].shape == expected.shape
    assert np.abs(got["probabilities"] - expected).max() <= TOLERANCE
    labels = model.predict(X)
    # Labels agree wherever the engine's top two probabilities are not a float32-level tie.
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 4 * TOLERANCE
    assert clear.mean() > 0.95
    assert (got["label"][clear] == labels[clear]).all()
    assert got["label"].shape == labels.shape
    return got


def _labels_int(X: np.ndarray, n_classes: int) -> np.ndarray:
    edges = np.quantile(X[:, 0], np.linspace(0, 1, n_classes + 1)[1:-1])
    return np.digitize(X[:, 0] + 0.01 * X[:, 1], edges).astype(np.int64)


# -------------------------------------------------------------------- classifiers


def test_binary_int_labels_give_one_minus_p_and_p() -> None:
    X = _data()
    model, X = _fit_classifier(_labels_int(X, 2) * 5 - 2)  # labels -2 and 3
    got = _check_classifier(model, X)
    assert got["label"].dtype == np.int64
    assert set(np.unique(got["label"])) <= {-2, 3}
    np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1.0, atol=1e-6)


def test_binary_string_labels() -> None:
    X = _data()
    y = np.where(_labels_int(X, 2) == 1, "yes", "no")
    model, X = _fit_classifier(y)
    got = _check_classifier(model, X)
    assert got["label"].dtype == object
    assert set(got["label"]) <= {"no", "yes"}


def test_multiclass_int_labels_use_softmax() -> None:
    X = _data()
    model, X = _fit_classifier(_labels_int(X, 4) * 10)
    got = _check_classifier(model, X)
    assert got["probabilities"].shape == (X.shape[0], 4)
    ops = {node.op_type for node in onnx.load_from_string(to_onnx(model)).graph.node}
    assert "Softmax" in ops


def test_multiclass_string_labels() -> None:
    X = _data()
    names = np.array(["setosa", "versicolor", "virginica", "\u00e9t\u00e9"])
    model, X = _fit_classifier(names[_labels_int(X, 4)])
    got = _check_classifier(model, X)
    assert set(got["label"]) <= set(names.tolist())


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation(activation: str) -> None:
    X = _data()
    model, X = _fit_classifier(_labels_int(X, 3), activation=activation)
    _check_classifier(model, X)


def test_the_exporter_knows_every_engine_activation() -> None:
    assert set(ACTIVATION_WRITERS) == set(ACTIVATIONS)


def test_leaky_relu_uses_the_engine_slope_on_negative_inputs() -> None:
    """A one-hidden-unit network whose unit is negative for every row: only the slope acts."""
    X = _data()
    model, X = _fit_classifier(
        _labels_int(X, 2), activation="leaky_relu", hidden_layers=(1,), epochs=1
    )
    model.weights_[0][...] = [[-1.0], [0.0], [0.0]]
    model.biases_[0][...] = -10.0
    model.weights_[1][...] = [[50.0]]
    _check_classifier(model, X)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("standardize", [True, False])
def test_dtypes_with_and_without_standardisation(dtype: str, standardize: bool) -> None:
    X = _data()
    model, X = _fit_classifier(_labels_int(X, 3), dtype=dtype, standardize=standardize)
    _check_classifier(model, X)
    ops = [node.op_type for node in onnx.load_from_string(to_onnx(model)).graph.node]
    assert ("Div" in ops) == standardize


def test_zero_hidden_layers() -> None:
    X = _data()
    for y in (_labels_int(X, 2), _labels_int(X, 3)):
        model, X = _fit_classifier(y, hidden_layers=())
        _check_classifier(model, X)
    ops = [node.op_type for node in onnx.load_from_string(to_onnx(model)).graph.node]
    assert ops.count("Gemm") == 1


def test_weights_are_float32_in_the_graph() -> None:
    X = _data()
    model, _ = _fit_classifier(_labels_int(X, 2))
    graph = onnx.load_from_string(to_onnx(model)).graph
    floats = [t for t in graph.initializer if t.data_type in (onnx.TensorProto.FLOAT,)]
    assert floats and not [t for t in graph.initializer if t.data_type == onnx.TensorProto.DOUBLE]


# -------------------------------------------------------------------- regressors


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("hidden_layers", [(), (6, 4)])
def test_regressor_predictions(standardize: bool, hidden_layers: tuple[int, ...]) -> None:
    X = _data()
    y = np.sin(X[:, 0]) + 0.02 * X[:, 1]
    model = MLPRegressor(
        hidden_layers=hidden_layers, epochs=15, standardize=standardize, activation="tanh"
    ).fit(X, y)
    got = _run(model, X)
    assert list(got) == ["predictions"]
    assert got["predictions"].dtype == np.float32
    assert got["predictions"].shape == (X.shape[0],)
    expected = model.predict(X)
    scale = max(1.0, np.abs(expected).max())
    assert np.abs(got["predictions"] - expected).max() <= TOLERANCE * scale


def test_multi_output_regressor_keeps_its_columns() -> None:
    X = _data()
    Y = np.column_stack([np.sin(X[:, 0]), np.cos(X[:, 0]), 0.01 * X[:, 2]])
    model = MLPRegressor(hidden_layers=(8,), epochs=15, dtype="float32").fit(X, Y)
    got = _run(model, X)["predictions"]
    expected = model.predict(X)
    assert got.shape == expected.shape == (X.shape[0], 3)
    assert np.abs(got - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())


def test_a_single_column_target_stays_two_dimensional() -> None:
    X = _data()
    model = MLPRegressor(hidden_layers=(4,), epochs=5).fit(X, X[:, :1] * 0.1)
    assert _run(model, X)["predictions"].shape == (X.shape[0], 1)


# -------------------------------------------------------------------- the model file


def _model_and_proto() -> tuple[MLPClassifier, onnx.ModelProto]:
    X = _data()
    model, _ = _fit_classifier(np.array(["b", "a", "c"])[_labels_int(X, 3)])
    return model, onnx.load_from_string(to_onnx(model))


def test_checker_passes_with_full_check_and_the_runtime_accepts_the_versions() -> None:
    _, proto = _model_and_proto()
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version <= onnx.IR_VERSION
    assert [op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")] == [17]


def test_inputs_and_outputs_have_dynamic_batch_dimension() -> None:
    _, proto = _model_and_proto()
    (inp,) = proto.graph.input
    assert inp.name == "input"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 3
    outputs = {out.name: out.type.tensor_type for out in proto.graph.output}
    assert outputs["label"].elem_type == onnx.TensorProto.STRING
    assert [d.dim_value for d in outputs["probabilities"].shape.dim][1:] == [3]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        probabilities, label = session.run(
            ["probabilities", "label"], {"input": np.zeros((n, 3), np.float32)}
        )
        assert probabilities.shape == (n, 3) and label.shape == (n,)


def test_metadata_carries_classes_and_features() -> None:
    model, proto = _model_and_proto()
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["task"] == "classification"
    assert json.loads(props["classes"]) == ["a", "b", "c"] == model.classes_.tolist()
    assert props["label_kind"] == "str"
    features = json.loads(props["features"])
    assert [f["name"] for f in features] == ["x0", "x1", "x2"]
    assert proto.producer_name == "mlp-service"


def test_preprocessing_steps_read_the_stored_config() -> None:
    X = _data()
    model = MLPRegressor(hidden_layers=(3,), epochs=2).fit(X, X[:, 0])
    (step,) = preprocessing_steps(model._model_config())
    assert isinstance(step, Standardize)
    np.testing.assert_array_equal(step.mean, model.mean_)
    np.testing.assert_array_equal(step.scale, model.scale_)
    unscaled = MLPRegressor(hidden_layers=(3,), epochs=2, standardize=False).fit(X, X[:, 0])
    assert preprocessing_steps(unscaled._model_config()) == []


def test_an_unfitted_model_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        to_onnx(MLPClassifier())


# -------------------------------------------------------------------- onnx is optional


def test_without_onnx_the_error_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    X = _data()
    model, _ = _fit_classifier(_labels_int(X, 2))
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(OnnxUnavailable, match="'onnx'") as info:
        to_onnx(model)
    assert isinstance(info.value, ImportError)
    assert info.value.name == "onnx"


def test_importing_the_exporter_does_not_import_onnx() -> None:
    probe = (
        "import sys, mlp_engine, mlp_engine.onnx_export; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'onnx', 'onnxruntime'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_classifier_outputs_are_label_then_probabilities() -> None:
    _, proto = _model_and_proto()
    assert [out.name for out in proto.graph.output] == ["label", "probabilities"]


# -------------------------------------------------------------------- table preprocessing


@dataclass(frozen=True)
class _Step:
    """A table column's step, as ``mlp_engine.onnx_export.ColumnStep`` describes it."""

    column: str
    kind: str
    state: dict[str, np.ndarray]


def _numeric(column: str, median: float, mean: float, scale: float, indicator: bool) -> _Step:
    state = {"median": median, "mean": mean, "scale": scale, "indicator": indicator}
    return _Step(column, "numeric", {k: np.array(v) for k, v in state.items()})


def _categorical(column: str, categories: list[str], other: list[str], missing: bool) -> _Step:
    state = {
        "categories": np.array(categories, dtype="<U8"),
        "other": np.array(other, dtype="<U8"),
        "missing": np.array(missing),
    }
    return _Step(column, "categorical", state)


TABLE_STEPS = [
    _numeric("age", median=30.0, mean=32.0, scale=4.0, indicator=True),
    _categorical("colour", ["blue", "r\u00f6d"], ["green", "teal"], missing=True),
    _numeric("height", median=1.75, mean=0.0, scale=1.0, indicator=False),
    _categorical("city", ["x"], [], missing=False),
]


def test_table_preprocessing_by_hand() -> None:
    """Median fill, scaling, indicators, kept / other / missing / unseen categories."""
    session = ort.InferenceSession(
        preprocessing_to_onnx(TABLE_STEPS), providers=["CPUExecutionProvider"]
    )
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("age", "tensor(float)"),
        ("colour", "tensor(string)"),
        ("height", "tensor(float)"),
        ("city", "tensor(string)"),
    ]
    feeds = {
        "age": np.array([[26.0], [np.nan], [40.0], [32.0]], np.float32),
        "colour": np.array([["r\u00f6d"], ["teal"], [""], ["purple"]], dtype=object),
        "height": np.array([[1.5], [np.nan], [2.0], [1.0]], np.float32),
        "city": np.array([["x"], [""], ["y"], ["x"]], dtype=object),
    }
    (features,) = session.run(["features"], feeds)
    #            age   gap  blue r\u00f6d other miss height  x
    expected = [
        [-1.5, 0.0, 0.0, 1.0, 0.0, 0.0, 1.5, 1.0],
        [-0.5, 1.0, 0.0, 0.0, 1.0, 0.0, 1.75, 0.0],
        [2.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0],
    ]
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    assert features.dtype == np.float32


def test_a_column_named_like_an_output_gets_its_own_input_name() -> None:
    assert column_inputs(["label", "colour", "label_input"]) == {
        "label": "label_input2",
        "colour": "colour",
        "label_input": "label_input",
    }
    assert column_inputs(["features", "label"], taken=("features",)) == {
        "features": "features_input",
        "label": "label",
    }
    proto = onnx.load_from_string(
        preprocessing_to_onnx([_categorical("features", ["a"], [], False)])
    )
    assert [(i.name, i.doc_string) for i in proto.graph.input] == [
        ("features_input", "column features")
    ]
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["inputs"]) == {"features": "features_input"}


def test_table_preprocessing_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="column kind 'text'"):
        preprocessing_to_onnx([_Step("notes", "text", {})])


def test_an_all_numeric_plan_takes_one_matrix_input() -> None:
    steps = [
        _numeric("age", median=30.0, mean=32.0, scale=4.0, indicator=True),
        _numeric("height", median=1.75, mean=0.0, scale=1.0, indicator=False),
        _numeric("weight", median=70.0, mean=60.0, scale=10.0, indicator=True),
    ]
    session = ort.InferenceSession(preprocessing_to_onnx(steps), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape[1]) for i in session.get_inputs()] == [("input", 3)]
    X = np.array([[26.0, np.nan, 80.0], [np.nan, 2.0, np.nan]], np.float32)
    (features,) = session.run(["features"], {"input": X})
    #            age   gap  height weight gap
    expected = [[-1.5, 0.0, 1.75, 2.0, 0.0], [-0.5, 1.0, 2.0, 1.0, 1.0]]
    np.testing.assert_allclose(features, expected, rtol=1e-6)


# -------------------------------------------------------------------- table models vs the engine


def _table(n: int, seed: int) -> dict[str, np.ndarray]:
    """Numeric columns with gaps, a categorical one with rare values and gaps, one without."""
    rng = np.random.default_rng(seed)
    age = (rng.normal(40, 12, n)).astype(np.float32).astype(np.float64)
    age[rng.random(n) < 0.15] = np.nan
    income = rng.lognormal(1, 0.5, n).astype(np.float32).astype(np.float64)
    common = np.array(["red", "green", "blue", "gr\u00fcn"])
    colour = common[rng.integers(0, 4, n)]
    colour[rng.random(n) < 0.1] = ""
    colour[rng.random(n) < 0.05] = "mauve"  # rare: grouped as "other" with max_categories=4
    size = np.array(["S", "M", "L"])[rng.integers(0, 3, n)]
    return {"age": age, "colour": colour, "income": income, "size": size}


def _target(table: dict[str, np.ndarray]) -> np.ndarray:
    age = np.nan_to_num(table["age"], nan=40.0)
    return (age > 40) ^ (table["colour"] == "red") ^ (table["size"] == "L")


def _feeds(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ONNX feeds: each column ``(N, 1)``, float32 or string."""
    return {
        name: (
            column.astype(np.float32) if column.dtype.kind == "f" else column.astype(object)
        ).reshape(-1, 1)
        for name, column in table.items()
    }


def _predict_table(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows the training data did not show: unseen and missing categories, NaNs, rare ones."""
    rows = _table(80, seed=7)
    rows["colour"][:4] = ["violet", "", "mauve", "red"]
    rows["size"][4:6] = ["", "XL"]
    rows["age"][6] = np.nan
    return rows


@pytest.mark.parametrize("standardize", [True, False])
def test_table_classifier_matches_the_engine(standardize: bool) -> None:
    train = _table(300, seed=3)
    y = np.where(_target(train), "yes", "no")
    model = MLPClassifier(
        hidden_layers=(8,), epochs=20, max_categories=4, standardize=standardize, seed=2
    ).fit(train, y)
    assert model.plan_ is not None
    rows = _predict_table(train)
    session = _session(model)
    assert {i.name: i.type for i in session.get_inputs()} == {
        "age": "tensor(float)",
        "colour": "tensor(string)",
        "income": "tensor(float)",
        "size": "tensor(string)",
    }
    label, probabilities = session.run(["label", "probabilities"], _feeds(rows))
    expected = model.predict_proba(rows)
    assert np.abs(probabilities - expected).max() <= TOLERANCE
    assert (label == model.predict(rows)).all()


def test_multiclass_table_with_int_labels() -> None:
    train = _table(300, seed=4)
    y = np.digitize(np.nan_to_num(train["age"], nan=40.0), [35, 45]) * 10
    model = MLPClassifier(hidden_layers=(6, 4), epochs=15, max_categories=4).fit(train, y)
    rows = _predict_table(train)
    label, probabilities = _session(model).run(None, _feeds(rows))
    assert np.abs(probabilities - model.predict_proba(rows)).max() <= TOLERANCE
    assert (label == model.predict(rows)).all()


def test_all_numeric_table_takes_one_matrix_with_nan() -> None:
    train = {k: v for k, v in _table(300, seed=5).items() if k in ("age", "income")}
    model = MLPRegressor(hidden_layers=(5,), epochs=15).fit(train, np.log(train["income"]))
    rows = {k: v for k, v in _predict_table(train).items() if k in ("age", "income")}
    X = np.column_stack([rows["age"], rows["income"]])
    assert np.isnan(X).any()
    session = _session(model)
    assert [(i.name, i.shape[1]) for i in session.get_inputs()] == [("input", 2)]
    (predictions,) = session.run(None, {"input": X.astype(np.float32)})
    expected = model.predict(rows)
    assert predictions.shape == expected.shape
    assert np.abs(predictions - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())


def test_a_table_model_carries_its_signature() -> None:
    train = _table(200, seed=6)
    model = MLPClassifier(hidden_layers=(4,), epochs=3, max_categories=4).fit(
        train, _target(train).astype(int)
    )
    proto = onnx.load_from_string(to_onnx(model))
    props = {p.key: p.value for p in proto.metadata_props}
    features = json.loads(props["features"])
    assert [f["name"] for f in features] == ["age", "colour", "income", "size"]
    assert features == model.features
    assert {f["name"]: f["type"] for f in features}["colour"] == "categorical"
    assert "mauve" in features[1]["categories"]
    ml = [op.version for op in proto.opset_import if op.domain == "ai.onnx.ml"]
    assert ml == [3]


def test_a_loaded_table_model_exports_the_same_graph_results() -> None:
    train = _table(200, seed=8)
    model = MLPClassifier(hidden_layers=(5,), epochs=5, max_categories=4).fit(
        train, np.where(_target(train), "b", "a")
    )
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    loaded = load(buffer)
    rows = _predict_table(train)
    fresh = _session(model).run(None, _feeds(rows))
    again = _session(loaded).run(None, _feeds(rows))
    assert (fresh[0] == again[0]).all()
    np.testing.assert_array_equal(fresh[1], again[1])


# -------------------------------------------------------------------- feature crosses


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize(
    "crosses", [["square"], ["product"], ["sin"], ["square", "product", "sin"]]
)
def test_array_crosses_are_computed_inside_the_graph(crosses: list[str], standardize: bool) -> None:
    X = _data()
    model = MLPClassifier(
        hidden_layers=(6,), epochs=10, seed=4, feature_crosses=crosses, standardize=standardize
    ).fit(X, _labels_int(X, 2))
    assert model.layers_[0] > X.shape[1]
    session = _session(model)
    assert [(i.name, i.shape[1]) for i in session.get_inputs()] == [(INPUT_NAME, 3)]
    ops = {node.op_type for node in onnx.load_from_string(to_onnx(model)).graph.node}
    assert {{"square": "Mul", "product": "Gather", "sin": "Sin"}[c] for c in crosses} <= ops
    _check_classifier(model, X)


def test_crosses_without_hidden_layers_in_a_regressor() -> None:
    X = _data()
    y = X[:, 0] ** 2 + np.sin(X[:, 1])
    model = MLPRegressor(hidden_layers=(), epochs=30, feature_crosses=["square", "sin"]).fit(X, y)
    (predictions,) = _session(model).run(None, {INPUT_NAME: X.astype(np.float32)})
    expected = model.predict(X)
    assert np.abs(predictions - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())


def test_table_crosses_take_the_raw_columns_with_a_categorical_one() -> None:
    train = _table(300, seed=3)
    model = MLPClassifier(
        hidden_layers=(6,),
        epochs=15,
        max_categories=4,
        seed=2,
        feature_crosses=["sin", "product", "square"],
    ).fit(train, np.where(_target(train), "yes", "no"))
    assert model.plan_ is not None and model.plan_.crosses is not None
    assert model.plan_.crosses.width == 2 + 1 + 2  # two numeric columns: squares, product, sines
    rows = _predict_table(train)  # NaN ages: the crosses read the imputed median
    session = _session(model)
    assert [i.name for i in session.get_inputs()] == ["age", "colour", "income", "size"]
    label, probabilities = session.run(["label", "probabilities"], _feeds(rows))
    assert np.abs(probabilities - model.predict_proba(rows)).max() <= TOLERANCE
    assert (label == model.predict(rows)).all()


def test_all_numeric_table_crosses_from_one_matrix_with_nan() -> None:
    train = {k: v for k, v in _table(300, seed=5).items() if k in ("age", "income")}
    model = MLPRegressor(hidden_layers=(5,), epochs=15, feature_crosses=["product"]).fit(
        train, np.log(train["income"])
    )
    rows = {k: v for k, v in _predict_table(train).items() if k in ("age", "income")}
    X = np.column_stack([rows["age"], rows["income"]])
    (predictions,) = _session(model).run(None, {"input": X.astype(np.float32)})
    expected = model.predict(rows)
    assert np.abs(predictions - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())
