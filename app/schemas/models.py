"""Schemas of the models resource: metadata, predict and boundary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import ClassLabel, FiniteFloat, Task

__all__ = [
    "BoundaryPublic",
    "ModelMetrics",
    "ModelPublic",
    "ModelsPublic",
    "PredictRequest",
    "PredictResponse",
]


class ModelMetrics(BaseModel):
    """Final training metrics (``accuracy``: classifiers only; ``val_*``: with validation only)."""

    model_config = ConfigDict(extra="allow")

    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None


class ModelPublic(BaseModel):
    """A stored model's metadata (validated from the store's ``ModelMeta``)."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["mdl_Xq3v0c9T1aBzKk2L"])
    name: str
    created_at: datetime
    job_id: str | None = Field(description="the training job that produced it (None if imported)")
    dataset_id: str | None = Field(description="the dataset it was trained on, if known")
    task: Task
    classes: list[ClassLabel] | None = Field(description="class labels (classifiers only)")
    layers: list[int] = Field(
        description="units per layer, input to output", examples=[[2, 5, 3, 1]]
    )
    activation: str = Field(examples=["sigmoid"])
    training: dict[str, Any] = Field(description="the training settings used")
    metrics: ModelMetrics
    n_parameters: int
    size_bytes: int


class ModelsPublic(BaseModel):
    """A list of models, newest first."""

    data: list[ModelPublic]
    count: int


class PredictRequest(BaseModel):
    """Rows to predict: ``X`` of shape (n_rows, n_features); every number finite."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"X": [[0.5, -1.0], [1.5, 2.0]]}]})

    X: list[Annotated[list[FiniteFloat], Field(min_length=1)]] = Field(
        min_length=1,
        description="Rows of finite numbers, one value per input feature of the model "
        "(at most `MLP_MAX_ROWS` rows).",
    )


class PredictResponse(BaseModel):
    """Predictions; classifiers add per-class probabilities (columns ordered as ``classes``)."""

    predictions: list[ClassLabel] | list[float] | list[list[float]] = Field(
        description="One label per row (classifiers) or value(s) per row (regressors)"
    )
    probabilities: list[list[float]] | None = None
    classes: list[ClassLabel] | None = None


class BoundaryPublic(BaseModel):
    """A model's output on a grid over two input features.

    Cell ``[j][i]`` is at ``(x[i], y[j])``. Binary classifiers: ``probabilities[j][i]`` is
    P(``classes[1]``). Multiclass: ``probabilities[j][i][c]`` per class, ``predicted[j][i]`` the
    index into ``classes`` of the most likely class, ``confidence[j][i]`` its probability.
    Regression: ``values[j][i]``.
    """

    task: Task
    x: list[float] = Field(description="(nx,) grid coordinates of feature features[0]")
    y: list[float] = Field(description="(ny,) grid coordinates of feature features[1]")
    features: list[int] = Field(description="the two plotted input features")
    fixed: list[float] | None = Field(
        None, description="values of the other input features (in feature order), if any"
    )
    classes: list[ClassLabel] | None = None
    probabilities: list[list[float]] | list[list[list[float]]] | None = None
    predicted: list[list[int]] | None = None
    confidence: list[list[float]] | None = None
    values: list[list[float]] | None = None
