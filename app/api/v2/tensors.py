"""Open Inference Protocol tensors <-> the arrays and tables ``/predict`` works with.

Pure functions over ``codec`` types and NumPy arrays. A model whose features are all numeric takes
one tensor ``input`` of shape ``[N, n_features]``; a model with a categorical column takes one
tensor per column, named after it, shape ``[N]`` or ``[N, 1]`` (BYTES for a categorical column, a
number type for a numeric one). Missing values arrive as NaN or an empty BYTES element; the
results use the engine's conventions: float64 with NaN, text with ``""``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from app.api.v2.codec import BYTES, DATATYPES, InferInput, V2Error

__all__ = [
    "INPUT_NAME",
    "input_columns",
    "input_matrix",
    "input_signature",
    "output_signature",
]

INPUT_NAME = "input"
"""The one input of a model whose features are all numeric."""
NUMERIC = "numeric"
CATEGORICAL = "categorical"


def input_matrix(inputs: Sequence[InferInput], n_features: int) -> npt.NDArray[np.float64]:
    """The ``input`` tensor ``[N, n_features]`` (N >= 1) as float64; raises ``V2Error``."""
    names = [tensor.name for tensor in inputs]
    if names != [INPUT_NAME]:
        raise V2Error(
            f"this model takes one input named {INPUT_NAME!r} of shape [N, {n_features}], "
            f"got {names}"
        )
    (tensor,) = inputs
    if tensor.datatype not in DATATYPES:
        raise V2Error(f"input {INPUT_NAME!r} must be one of {', '.join(DATATYPES)}")
    if len(tensor.shape) != 2 or tensor.shape[1] != n_features or tensor.shape[0] < 1:
        raise V2Error(
            f"input {INPUT_NAME!r} must have shape [N, {n_features}] with N >= 1, "
            f"got {list(tensor.shape)}"
        )
    return np.asarray(tensor.data, dtype=np.float64)


def input_columns(
    inputs: Sequence[InferInput], kinds: Mapping[str, str]
) -> dict[str, npt.NDArray[Any]]:
    """One tensor per column -> ``{column: (N,) array}`` in ``kinds`` order.

    ``kinds``: ``{column: "numeric" | "categorical"}``, the model's input signature. Numeric
    columns come out float64 (NaN = missing), categorical ones as text (``""`` = missing).
    Raises ``V2Error`` naming an unknown, absent or malformed column.
    """
    by_name = {tensor.name: tensor for tensor in inputs}
    for name in by_name:
        if name not in kinds:
            raise V2Error(f"unknown input {name!r}; this model's columns are {list(kinds)}")
    for name in kinds:
        if name not in by_name:
            raise V2Error(f"input {name!r} is missing; this model needs every column {list(kinds)}")
    columns = {name: _column(by_name[name], kind) for name, kind in kinds.items()}
    lengths = {column.shape[0] for column in columns.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise V2Error(
            f"every input must have the same number of rows N >= 1, got {sorted(lengths)}"
        )
    return columns


def _column(tensor: InferInput, kind: str) -> npt.NDArray[Any]:
    """One column tensor ``[N]`` or ``[N, 1]`` as a ``(N,)`` array of the column's kind."""
    if len(tensor.shape) not in (1, 2) or tensor.shape[1:] not in ((), (1,)):
        raise V2Error(f"input {tensor.name!r} must have shape [N] or [N, 1]")
    flat = tensor.data.reshape(-1)
    if kind == NUMERIC:
        if tensor.datatype not in DATATYPES:
            raise V2Error(f"input {tensor.name!r} is a numeric column: send {', '.join(DATATYPES)}")
        return np.asarray(flat, dtype=np.float64)
    if tensor.datatype != BYTES:
        raise V2Error(f"input {tensor.name!r} is a categorical column: send BYTES")
    try:
        return np.array([element.decode("utf-8") for element in flat], dtype=np.str_)
    except UnicodeDecodeError:
        raise V2Error(f"input {tensor.name!r} holds an element that is not UTF-8") from None


def input_signature(features: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The model metadata's ``inputs`` (``-1`` for the batch dimension).

    ``features``: the model's ``[{"name", "type": "numeric" | "categorical"}]``.
    """
    if all(feature.get("type", NUMERIC) == NUMERIC for feature in features):
        return [{"name": INPUT_NAME, "datatype": "FP64", "shape": [-1, len(features)]}]
    return [
        {
            "name": str(feature["name"]),
            "datatype": BYTES if feature.get("type") == CATEGORICAL else "FP64",
            "shape": [-1, 1],
        }
        for feature in features
    ]


def output_signature(
    task: str, *, label_kind: str | None = None, n_classes: int = 0, n_targets: int | None = None
) -> list[dict[str, Any]]:
    """The model metadata's ``outputs``: ``predictions`` and, for classifiers, ``probabilities``.

    Classifiers: ``label_kind`` ``"int"`` or ``"str"`` and ``n_classes``. Regressors:
    ``n_targets`` None for one target (``predictions`` ``[N]``), else ``[N, n_targets]``.
    """
    if task != "classification":
        shape = [-1] if n_targets is None else [-1, n_targets]
        return [{"name": "predictions", "datatype": "FP64", "shape": shape}]
    label_type = BYTES if label_kind == "str" else "INT64"
    return [
        {"name": "predictions", "datatype": label_type, "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, n_classes]},
    ]
