"""One V2 inference, and a model's V2 metadata: tensors in, the ``/predict`` call, tensors out.

The numeric work is ``app.services.models.predictions``, exactly what ``/v1/models/{id}/predict``
runs; this module only translates. Every problem with the request raises ``V2Error`` (a 400).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from app.api.v2.codec import V2Error, decode_request, encode_response
from app.api.v2.tensors import (
    CATEGORICAL,
    input_columns,
    input_matrix,
    input_signature,
    output_signature,
)
from app.errors import InvalidInput
from app.services.models import predictions
from app.storage.models import Estimator
from mlp_engine import MLPClassifier

__all__ = ["MODEL_VERSION", "PLATFORM", "infer", "model_metadata"]

MODEL_VERSION = "1"
"""A stored model never changes, so each has exactly one version."""
PLATFORM = "mlp_engine"


def model_metadata(model_id: str, model: Estimator) -> dict[str, Any]:
    """``GET /v2/models/{id}``: name, versions, platform, input and output tensors."""
    if isinstance(model, MLPClassifier):
        kind = "str" if model.classes_.dtype.kind in "USO" else "int"
        outputs = output_signature(
            "classification", label_kind=kind, n_classes=int(model.classes_.size)
        )
    else:
        # ``_target_ndim`` is what ``predict`` reshapes by: 1 -> [N], 2 -> [N, n_targets].
        two_d = getattr(model, "_target_ndim", 1) == 2
        outputs = output_signature(
            "regression", n_targets=int(model.layers_[-1]) if two_d else None
        )
    return {
        "name": model_id,
        "versions": [MODEL_VERSION],
        "platform": PLATFORM,
        "inputs": input_signature(model.features),
        "outputs": outputs,
    }


def infer(
    model_id: str,
    model: Estimator,
    body: bytes,
    header_length: int | None,
    max_rows: int,
) -> tuple[bytes, dict[str, str]]:
    """The response body and headers for one infer request; raises ``V2Error``."""
    request = decode_request(body, header_length)
    X, n_rows = _model_input(model, request.inputs)
    if n_rows > max_rows:
        raise V2Error(f"at most {max_rows} rows per request, got {n_rows}")
    try:
        content = predictions(model, X)
    except InvalidInput as exc:
        raise V2Error(exc.message) from None
    outputs = _outputs(content)
    names, binary = request.select_outputs(list(outputs))
    return encode_response(
        model_id, MODEL_VERSION, request.id, [(name, outputs[name]) for name in names], binary
    )


def _model_input(model: Estimator, inputs: Any) -> tuple[Any, int]:
    """What ``predictions`` takes: the ``(N, n_features)`` matrix or the table of columns."""
    features = model.features
    if not any(feature.get("type") == CATEGORICAL for feature in features):
        X = input_matrix(inputs, len(features))
        return X, X.shape[0]
    kinds = {str(feature["name"]): str(feature["type"]) for feature in features}
    columns = input_columns(inputs, kinds)
    return columns, next(iter(columns.values())).shape[0]


def _outputs(content: dict[str, Any]) -> dict[str, npt.NDArray[Any]]:
    """``predictions`` (INT64 / BYTES labels or FP64 values) and ``probabilities`` if any."""
    labels = np.asarray(content["predictions"])
    if labels.dtype.kind in "iub":
        labels = labels.astype(np.int64, copy=False)
    elif labels.dtype.kind == "f":
        labels = labels.astype(np.float64, copy=False)
    outputs = {"predictions": labels}
    if "probabilities" in content:
        outputs["probabilities"] = np.asarray(content["probabilities"], dtype=np.float64)
    return outputs
