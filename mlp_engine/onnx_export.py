"""Export a fitted ``MLPClassifier`` / ``MLPRegressor`` as an ONNX model.

The graph computes in float32 throughout (float64 weights are cast)::

    input (N, n_features) float32
      -> preprocessing steps (standardisation; a table plan's column steps)
      -> feature crosses of the raw numeric columns, appended (``mlp_engine.onnx_crosses``)
      -> Gemm [+ hidden activation] per layer
      -> classifier: probabilities (N, n_classes) float32, label (N,) via ArgMax + Gather
         regressor:  predictions (N,) float32, or (N, n_targets) for a multi-output model

Binary classifiers have one sigmoid unit, so ``probabilities`` is ``[1 - p, p]`` as the engine's
``predict_proba`` gives it; three or more classes use Softmax. ``label`` holds the original class
labels (int64 or string). The class labels and the input signature go into the model's
``metadata_props`` as JSON (``classes``, ``features``), with ``task`` and ``label_kind``.

The ``onnx`` package is optional: it is imported only when ``to_onnx`` runs, and its absence
raises ``OnnxUnavailable`` (an ``ImportError``). Importing this module never imports ``onnx``.

Preprocessing comes in two forms, each a list of steps that are plain data:

- a positional model (``X``/``y``): ``Standardize`` records from the stored config, applied
  by ``add_preprocessing`` to the single input, one writer per record type in ``_STEP_WRITERS``;
- a table model: the engine's plan, one ``ColumnStep`` (column, kind, state arrays) per column,
  applied by ``add_table_preprocessing``: one ``(N, 1)`` input per column (float32 or string;
  NaN / ``""`` = missing; a column named like an output is ``<column>_input``, listed in the
  ``inputs`` metadata), median fill, scaling, missing indicators and one-hot blocks side by
  side, one writer per kind in ``_COLUMN_WRITERS``. A plan whose columns are all numeric keeps
  the single ``input`` matrix. ``preprocessing_to_onnx`` exports a plan alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import LEAKY_RELU_SLOPE, FloatArray
from mlp_engine.crosses import Crosses
from mlp_engine.onnx_crosses import append_crosses

if TYPE_CHECKING:
    import onnx

    from mlp_engine.estimators import MLPClassifier, MLPRegressor

__all__ = [
    "ACTIVATION_WRITERS",
    "INPUT_NAME",
    "IR_VERSION",
    "ML_OPSET",
    "OPSET",
    "OUTPUT_NAMES",
    "ColumnStep",
    "OnnxUnavailable",
    "PreprocessStep",
    "Standardize",
    "add_preprocessing",
    "add_table_preprocessing",
    "column_inputs",
    "preprocessing_steps",
    "preprocessing_to_onnx",
    "to_onnx",
]

OPSET = 17
"""ONNX operator set of the exported graph (onnxruntime >= 1.13 runs it)."""
ML_OPSET = 3
"""Version of the ``ai.onnx.ml`` domain, used by table models (its LabelEncoder)."""
IR_VERSION = 8
"""ONNX IR version matching ``OPSET`` (older runtimes refuse newer IR versions)."""
INPUT_NAME = "input"
"""The single input of a model whose features are all numeric: float32 ``(N, n_features)``."""
PRODUCER = "mlp-service"
OUTPUT_NAMES = ("label", "probabilities", "predictions")


class OnnxUnavailable(ImportError):
    """ONNX export was asked for, but the optional ``onnx`` package is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "ONNX export needs the 'onnx' package (pip install 'onnx>=1.16', or the project's "
            "'onnx' extra)",
            name="onnx",
        )


# -------------------------------------------------------------------- graph building


class _Graph:
    """The nodes, constants, inputs and outputs of the graph being built; names stay unique."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.domains: dict[str, int] = {"": OPSET}
        self._names: set[str] = {*OUTPUT_NAMES, "features"}  # only ever an explicit ``output``
        self.column_inputs: dict[str, str] = {}  # a table's column -> the input that carries it

    def name(self, hint: str) -> str:
        """``hint``, or ``hint_1``, ``hint_2``, ... if that name is taken."""
        name, k = hint, 0
        while name in self._names:
            k += 1
            name = f"{hint}_{k}"
        self._names.add(name)
        return name

    def const(self, hint: str, value: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> str:
        """An initializer holding ``value`` cast to ``dtype`` (``object`` for strings)."""
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(
        self, op_type: str, inputs: Sequence[str], hint: str = "", output: str = "", **attrs: Any
    ) -> str:
        """Add one ``op_type`` node; returns its output's name (``output`` if given)."""
        from onnx import helper

        out = output or self.name(hint or op_type.lower())
        domain = attrs.get("domain", "")
        if domain:
            self.domains[domain] = ML_OPSET
        node_name = self.name(f"{op_type}_{len(self.nodes)}")
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=node_name, **attrs))
        return out

    def declare(
        self, kind: str, name: str, elem_type: int, shape: Sequence[int | str], doc: str = ""
    ) -> None:
        """Declare a graph ``input`` or ``output``; a ``str`` dimension is dynamic ("N")."""
        from onnx import helper

        info = helper.make_tensor_value_info(name, elem_type, list(shape), doc_string=doc)
        (self.inputs if kind == "input" else self.outputs).append(info)
        self._names.add(name)

    def to_model(self, name: str, doc: str, props: Mapping[str, str]) -> bytes:
        """The serialised model of this graph, after ``onnx.checker`` (full check) passed."""
        import onnx
        from onnx import helper

        graph = helper.make_graph(
            self.nodes, name, self.inputs, self.outputs, initializer=self.initializers
        )
        proto = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid(d, v) for d, v in self.domains.items()],
            ir_version=IR_VERSION,
            producer_name=PRODUCER,
            doc_string=doc,
        )
        helper.set_model_props(proto, dict(props))
        onnx.checker.check_model(proto, full_check=True)
        serialized: bytes = proto.SerializeToString()
        return serialized


# -------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Standardize:
    """``(x - mean) / scale`` per feature; ``mean``, ``scale``: ``(n_features,)``."""

    mean: FloatArray
    scale: FloatArray


PreprocessStep = Standardize
"""Every preprocessing step record the exporter knows (a union once table steps exist)."""


def preprocessing_steps(config: Mapping[str, Any]) -> list[PreprocessStep]:
    """The steps a model's stored config describes, in the order the engine applies them."""
    standardize = config.get("standardize")
    if not standardize:
        return []
    mean = np.asarray(standardize["mean"], dtype=np.float64)
    scale = np.asarray(standardize["scale"], dtype=np.float64)
    return [Standardize(mean, scale)]


def _write_standardize(g: _Graph, x: str, step: Standardize) -> str:
    """Sub then Div by per-feature constants, broadcast over rows: ``(N, d) -> (N, d)``."""
    centred = g.op("Sub", [x, g.const("mean", step.mean)], "centred")
    return g.op("Div", [centred, g.const("scale", step.scale)], "standardized")


_STEP_WRITERS: dict[type[Any], Callable[[_Graph, str, Any], str]] = {
    Standardize: _write_standardize,
}
"""Graph writer per step type: ``(graph, tensor name, step) -> output tensor name``."""


def add_preprocessing(g: _Graph, n_features: int, steps: Sequence[PreprocessStep]) -> str:
    """Declare the graph's inputs and apply ``steps`` in order.

    Returns the name of the float32 ``(N, n_features)`` tensor the first layer reads.
    """
    from onnx import TensorProto

    g.declare("input", INPUT_NAME, TensorProto.FLOAT, ["N", n_features])
    x = INPUT_NAME
    for step in steps:
        writer = _STEP_WRITERS.get(type(step))
        if writer is None:
            raise ValueError(f"ONNX export does not know the preprocessing step {step!r}")
        x = writer(g, x, step)
    return x


# -------------------------------------------------------------------- table preprocessing


class ColumnStep(Protocol):
    """One table column's step: ``kind`` (``numeric`` or ``categorical``) and its state arrays.

    ``numeric`` state: ``median``, ``mean``, ``scale`` (float scalars), ``indicator`` (bool):
    NaN becomes the median, then ``(x - mean) / scale``, then a 0/1 missing column if
    ``indicator``. ``categorical`` state: ``categories`` and ``other`` (sorted text) and
    ``missing`` (bool): one 0/1 column per category, one shared by every ``other`` value (if
    any), one for the empty string (if ``missing``); anything else is all zeros.
    """

    @property
    def column(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def state(self) -> Mapping[str, npt.NDArray[Any]]: ...


def _numeric_column(g: _Graph, x: str, state: Mapping[str, npt.NDArray[Any]]) -> str:
    """``(N, 1)`` float32 -> ``(N, 1)``, or ``(N, 2)`` with the missing indicator."""
    gaps = g.op("IsNaN", [x], "gaps")
    value = g.op("Where", [gaps, g.const("median", [float(state["median"])]), x], "filled")
    mean, scale = float(state["mean"]), float(state["scale"])
    if (mean, scale) != (0.0, 1.0):
        centred = g.op("Sub", [value, g.const("mean", [mean])], "centred")
        value = g.op("Div", [centred, g.const("scale", [scale])], "scaled")
    if not bool(state["indicator"]):
        return value
    from onnx import TensorProto

    indicator = g.op("Cast", [gaps], "missing", to=TensorProto.FLOAT)
    return g.op("Concat", [value, indicator], "numeric_block", axis=1)


def _categorical_column(g: _Graph, x: str, state: Mapping[str, npt.NDArray[Any]]) -> str:
    """``(N, 1)`` strings -> ``(N, width)`` 0/1 float32: LabelEncoder to a column, then Equal."""
    from onnx import TensorProto

    categories = [str(c) for c in state["categories"].tolist()]
    other = [str(c) for c in state["other"].tolist()]
    keys, values = categories + other, list(range(len(categories))) + [len(categories)] * len(other)
    width = len(categories) + bool(other)
    if bool(state["missing"]):
        keys, values, width = [*keys, ""], [*values, width], width + 1
    index = g.op(
        "LabelEncoder",
        [x],
        "category_index",
        domain="ai.onnx.ml",
        keys_strings=keys,
        values_int64s=values,
        default_int64=-1,
    )
    hot = g.op("Equal", [index, g.const("block_columns", np.arange(width), np.int64)], "hot")
    return g.op("Cast", [hot], "categorical_block", to=TensorProto.FLOAT)


_FLOAT, _STRING = 1, 8
"""``onnx.TensorProto.FLOAT`` and ``STRING``: fixed by the ONNX spec, so no import is needed."""

_COLUMN_WRITERS: dict[str, tuple[int, Callable[[_Graph, str, Any], str]]] = {
    "numeric": (_FLOAT, _numeric_column),
    "categorical": (_STRING, _categorical_column),
}
"""Per column kind: the ONNX element type of its ``(N, 1)`` input and its block writer."""


def column_inputs(columns: Sequence[str], taken: Sequence[str] = OUTPUT_NAMES) -> dict[str, str]:
    """The input name of each table column: the column's own, unless an output of the graph
    (``taken``) has it; then ``<column>_input`` (``_input2``, ... if a column has that too)."""
    used = {*taken, *columns}
    names: dict[str, str] = {}
    for column in columns:
        name, k = column, 1
        while name in taken or (name != column and name in used):
            k += 1
            name = f"{column}_input" if k == 2 else f"{column}_input{k - 1}"
        used.add(name)
        names[column] = name
    return names


def add_table_preprocessing(
    g: _Graph, steps: Sequence[ColumnStep], taken: Sequence[str] = OUTPUT_NAMES
) -> str:
    """Declare the inputs of a table plan and apply its steps; their blocks side by side.

    All columns numeric: one float32 input ``input`` ``(N, n_columns)``, NaN = missing.
    Otherwise one ``(N, 1)`` input per column, float32 or string, named after it (see
    ``column_inputs`` for a column named like an output in ``taken``; ``g.column_inputs``
    records the names, each input's doc string its column). Returns the name of the float32
    ``(N, width)`` tensor the first layer reads. Raises ``ValueError`` for an unknown kind.
    """
    if steps and all(step.kind == "numeric" for step in steps):
        return _numeric_matrix(g, steps)
    g.column_inputs = column_inputs([step.column for step in steps], taken)
    for step in steps:
        if step.kind not in _COLUMN_WRITERS:
            raise ValueError(f"ONNX export does not know the column kind {step.kind!r}")
        name, elem_type = g.column_inputs[step.column], _COLUMN_WRITERS[step.kind][0]
        g.declare("input", name, elem_type, ["N", 1], doc=f"column {step.column}")
    blocks = [_COLUMN_WRITERS[s.kind][1](g, g.column_inputs[s.column], s.state) for s in steps]
    return blocks[0] if len(blocks) == 1 else g.op("Concat", blocks, "joined", axis=1)


def _numeric_matrix(g: _Graph, steps: Sequence[ColumnStep]) -> str:
    """Every column numeric, in one ``(N, d)`` input: ``_numeric_column`` on all at once.

    The missing indicators are computed for every column, then a Gather puts each wanted one
    right after its column's value, as the per-column blocks would be.
    """
    from onnx import TensorProto

    d = len(steps)
    g.declare("input", INPUT_NAME, TensorProto.FLOAT, ["N", d])
    stats = {k: [float(s.state[k]) for s in steps] for k in ("median", "mean", "scale")}
    gaps = g.op("IsNaN", [INPUT_NAME], "gaps")
    value = g.op("Where", [gaps, g.const("median", stats["median"]), INPUT_NAME], "filled")
    if any(m != 0.0 for m in stats["mean"]) or any(v != 1.0 for v in stats["scale"]):
        centred = g.op("Sub", [value, g.const("mean", stats["mean"])], "centred")
        value = g.op("Div", [centred, g.const("scale", stats["scale"])], "scaled")
    flags = [bool(s.state["indicator"]) for s in steps]
    if not any(flags):
        return value
    missing = g.op("Cast", [gaps], "missing", to=TensorProto.FLOAT)
    both = g.op("Concat", [value, missing], "values_and_gaps", axis=1)
    order = [j for i, flag in enumerate(flags) for j in ((i, d + i) if flag else (i,))]
    return g.op("Gather", [both, g.const("block_order", order, np.int64)], "blocks", axis=1)


def preprocessing_to_onnx(steps: Sequence[ColumnStep]) -> bytes:
    """The table preprocessing alone: column inputs -> ``features`` ``(N, width)`` float32."""
    try:
        from onnx import TensorProto
    except ImportError as exc:
        raise OnnxUnavailable() from exc
    g = _Graph()
    x = add_table_preprocessing(g, steps, taken=("features",))
    g.op("Identity", [x], output="features")
    g.declare("output", "features", TensorProto.FLOAT, ["N", "width"])
    return g.to_model("mlp_preprocessing", "mlp_engine table preprocessing", _renamed(g))


# -------------------------------------------------------------------- network


def _relu(g: _Graph, z: str) -> str:
    return g.op("Relu", [z], "relu")


def _leaky_relu(g: _Graph, z: str) -> str:
    return g.op("LeakyRelu", [z], "leaky_relu", alpha=LEAKY_RELU_SLOPE)


def _tanh(g: _Graph, z: str) -> str:
    return g.op("Tanh", [z], "tanh")


def _sigmoid(g: _Graph, z: str) -> str:
    return g.op("Sigmoid", [z], "sigmoid")


def _identity(g: _Graph, z: str) -> str:
    return z


ACTIVATION_WRITERS: dict[str, Callable[[_Graph, str], str]] = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "identity": _identity,
}
"""Graph writer per hidden activation, keyed like ``mlp_engine.activations.ACTIVATIONS``."""


def _add_layers(
    g: _Graph, x: str, weights: Sequence[FloatArray], biases: Sequence[FloatArray], act: str
) -> str:
    """One Gemm per layer (``W[i]: (in, out)``, ``b[i]: (out,)``), the activation between.

    Returns the name of the logits ``(N, layers[-1])``.
    """
    writer = ACTIVATION_WRITERS.get(act)
    if writer is None:
        raise ValueError(f"ONNX export does not know the activation {act!r}")
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = g.op("Gemm", [x, g.const(f"W{i}", w), g.const(f"b{i}", b)], f"z{i}")
        x = z if i == last else writer(g, z)
    return x


# -------------------------------------------------------------------- heads


@dataclass(frozen=True)
class _ModelSpec:
    """What the exporter reads from a fitted model (weights float32, as the graph computes)."""

    task: str
    weights: list[FloatArray]
    biases: list[FloatArray]
    activation: str
    output: str
    classes: list[Any]
    label_kind: str
    target_ndim: int
    features: list[dict[str, Any]]
    steps: list[PreprocessStep]
    table: list[ColumnStep] | None
    n_features: int
    crosses: Crosses | None


def _class_table(classes: Sequence[Any], label_kind: str) -> tuple[npt.NDArray[Any], int]:
    """The class labels as an ONNX-ready array and its element type."""
    from onnx import TensorProto

    if label_kind == "str":
        return np.array([str(c) for c in classes], dtype=object), TensorProto.STRING
    return np.array(classes, dtype=np.int64), TensorProto.INT64


def _add_label(g: _Graph, probabilities: str, classes: Sequence[Any], label_kind: str) -> None:
    """``label (N,)``: the class of the largest probability (the first on a tie)."""
    from onnx import TensorProto

    table, elem_type = _class_table(classes, label_kind)
    index = g.op("ArgMax", [probabilities], "class_index", axis=1, keepdims=0)
    g.op("Gather", [g.const("classes", table, table.dtype), index], output="label", axis=0)
    g.declare("output", "label", elem_type, ["N"])  # label first, as scikit-learn's converters
    g.declare("output", "probabilities", TensorProto.FLOAT, ["N", len(classes)])


def _add_classifier_head(g: _Graph, logits: str, spec: _ModelSpec) -> None:
    """Binary: ``[1 - p, p]`` from one sigmoid unit; otherwise Softmax over the classes."""
    if spec.output == "sigmoid":
        p = g.op("Sigmoid", [logits], "p")
        q = g.op("Sub", [g.const("one", [1.0]), p], "one_minus_p")
        probabilities = g.op("Concat", [q, p], output="probabilities", axis=1)
    else:
        probabilities = g.op("Softmax", [logits], output="probabilities", axis=1)
    _add_label(g, probabilities, spec.classes, spec.label_kind)


def _add_regressor_head(g: _Graph, logits: str, spec: _ModelSpec) -> None:
    """``predictions``: ``(N,)`` for a model fitted on 1-D targets, else ``(N, n_targets)``.

    The engine does not rescale regression targets, so the logits are the predictions.
    """
    from onnx import TensorProto

    n_targets = spec.weights[-1].shape[1]
    if spec.target_ndim == 1:
        flat = g.const("flat_shape", [-1], np.int64)
        g.op("Reshape", [logits, flat], output="predictions")
        g.declare("output", "predictions", TensorProto.FLOAT, ["N"])
    else:
        g.op("Identity", [logits], output="predictions")
        g.declare("output", "predictions", TensorProto.FLOAT, ["N", n_targets])


_HEADS: dict[str, Callable[[_Graph, str, _ModelSpec], None]] = {
    "sigmoid": _add_classifier_head,
    "softmax": _add_classifier_head,
    "identity": _add_regressor_head,
}
"""Graph writer per output activation (``mlp_engine.losses.OUTPUTS``)."""


# -------------------------------------------------------------------- model


def _model_spec(model: MLPClassifier | MLPRegressor) -> _ModelSpec:
    """Read the weights, the plan and the stored config (what ``save`` writes) from ``model``."""
    config = model._model_config()
    plan = model.plan_
    return _ModelSpec(
        task=str(config["task"]),
        weights=[np.asarray(w, dtype=np.float32) for w in model.weights_],
        biases=[np.asarray(b, dtype=np.float32) for b in model.biases_],
        activation=str(config["activation"]),
        output=str(config["output"]),
        classes=list(config.get("classes") or []),
        label_kind=str(config.get("label_kind") or ""),
        target_ndim=int(config.get("target_ndim") or 1),
        features=model.features,
        steps=preprocessing_steps(config),
        table=None if plan is None else list(plan.steps),
        n_features=int(model.n_features_in_),
        crosses=model.crosses_,
    )


def _layers(spec: _ModelSpec) -> list[int]:
    """Units per layer including input and output."""
    return [w.shape[0] for w in spec.weights] + [spec.weights[-1].shape[1]]


def _metadata(spec: _ModelSpec) -> dict[str, str]:
    """``metadata_props`` entries, each a JSON text (``task`` and ``label_kind`` plain)."""
    props = {"task": spec.task, "features": json.dumps(spec.features)}
    if spec.task == "classification":
        props["classes"] = json.dumps(spec.classes)
        props["label_kind"] = spec.label_kind
    else:
        props["target_ndim"] = json.dumps(spec.target_ndim)
    return props


def to_onnx(model: MLPClassifier | MLPRegressor) -> bytes:
    """The fitted ``model`` as a serialised ONNX model (see the module docstring for the graph).

    Raises ``OnnxUnavailable`` without the ``onnx`` package, ``ValueError`` for an unfitted model
    or one using something the exporter does not know.
    """
    try:
        import onnx  # noqa: F401  (only to fail early and clearly without it)
    except ImportError as exc:
        raise OnnxUnavailable() from exc
    spec = _model_spec(model)  # ValueError if the model is not fitted
    g = _Graph()
    if spec.table is None:
        x = add_preprocessing(g, spec.n_features, spec.steps)
        x = append_crosses(g, x, spec.crosses, INPUT_NAME)
    else:
        x = add_table_preprocessing(g, spec.table)
        matrix = INPUT_NAME if all(step.kind == "numeric" for step in spec.table) else ""
        x = append_crosses(g, x, spec.crosses, matrix, spec.table)
    logits = _add_layers(g, x, spec.weights, spec.biases, spec.activation)
    head = _HEADS.get(spec.output)
    if head is None:
        raise ValueError(f"ONNX export does not know the output activation {spec.output!r}")
    head(g, logits, spec)
    doc = f"mlp_engine {spec.task} model, layers {_layers(spec)}"
    return g.to_model(f"mlp_{spec.task}", doc, {**_metadata(spec), **_renamed(g)})


def _renamed(g: _Graph) -> dict[str, str]:
    """``{"inputs": JSON {column: input}}`` when some column's input is not named after it."""
    if all(column == name for column, name in g.column_inputs.items()):
        return {}
    return {"inputs": json.dumps(g.column_inputs)}
