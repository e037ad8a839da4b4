"""Schemas of the models resource: metadata, predict and boundary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import ClassLabel, FiniteFloat, Task

__all__ = [
    "BoundaryPublic",
    "ClassificationReport",
    "EvaluateArrays",
    "EvaluateDataset",
    "EvaluateTable",
    "EvaluationPublic",
    "FeaturePublic",
    "FramesPublic",
    "ModelEvaluation",
    "ModelMetrics",
    "ModelPublic",
    "ModelSplitPublic",
    "ModelsPublic",
    "PredictColumns",
    "PredictInstances",
    "PredictRequest",
    "PredictResponse",
    "RegressionReport",
]


class ModelMetrics(BaseModel):
    """Final training metrics (``accuracy``: classifiers only; ``val_*``: with validation only)."""

    model_config = ConfigDict(extra="allow")

    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None


class FeaturePublic(BaseModel):
    """One input column of a model (its input signature), as learnt from the training data."""

    name: str = Field(examples=["bill_length_mm"])
    type: Literal["numeric", "categorical"]
    missing: int = Field(description="missing cells in the data the model was fitted on")
    categories: list[str] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="the values learnt (categorical columns only), sorted",
    )


class ConfusionMatrix(BaseModel):
    """Counts: rows = true label, columns = predicted label, both in ``labels`` order."""

    labels: list[ClassLabel]
    matrix: list[list[int]]


class ClassScores(BaseModel):
    """One class's precision, recall, F1 (null where undefined) and support."""

    precision: float | None
    recall: float | None
    f1: float | None
    support: int


class ClassificationReport(BaseModel):
    """A classifier's metrics (scikit-learn's definitions; null where undefined)."""

    accuracy: float | None
    balanced_accuracy: float | None
    log_loss: float | None
    roc_auc: float | None = Field(
        description="binary: score = P(classes[1]); multiclass: macro one-vs-rest"
    )
    f1_macro: float | None
    confusion_matrix: ConfusionMatrix
    per_class: dict[str, ClassScores] = Field(description="by class label (as text)")


class RegressionReport(BaseModel):
    """A regressor's metrics (scikit-learn's definitions; null where undefined)."""

    mse: float | None
    rmse: float | None
    mae: float | None
    r2: float | None


Report = ClassificationReport | RegressionReport


class ModelEvaluation(BaseModel):
    """Metrics on each split of the training data (null: the split was empty)."""

    train: Report
    validation: Report | None
    test: Report | None = Field(description="rows held out by `test_fraction`")


class EvaluationPublic(BaseModel):
    """A model's metrics on data with known labels or targets."""

    n_samples: int = Field(description="rows evaluated")
    rows_without_label: int = Field(0, description="rows left out because their label is null")
    metrics: Report


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
    label: str | None = Field(
        None, description="the label column it was trained on (null for `X`/`y` data)"
    )
    features: list[FeaturePublic] = Field(
        default_factory=list,
        description="its input signature: the columns `/predict` takes, in order",
    )
    evaluation: ModelEvaluation | None = Field(
        None, description="metrics on the training splits (null for models made before them)"
    )
    crossed_features: list[str] = Field(
        default_factory=list,
        description="the columns `training.feature_crosses` computes inside the model from the "
        "numeric inputs (`x0^2`, `x0*x1`, `sin(x0)`), in the order they follow the encoded "
        "columns in `layers[0]`; `/predict` never takes them",
        examples=[["x0^2", "x1^2"]],
    )


class ModelsPublic(BaseModel):
    """A list of models, newest first."""

    data: list[ModelPublic]
    count: int


class ModelSplitPublic(BaseModel):
    """Where the rows the model was fitted on went: indices into its dataset's rows."""

    n_rows: int | None = Field(
        description="rows the model was fitted on (null: the model has no split record)"
    )
    validation: list[int] = Field(description="validation rows, ascending")
    test: list[int] = Field(description="rows held out by `test_fraction`, ascending")


class PredictRequest(BaseModel):
    """Rows to predict: ``X`` of shape (n_rows, n_features); every number finite."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"X": [[0.5, -1.0], [1.5, 2.0]]}]})

    X: list[Annotated[list[FiniteFloat], Field(min_length=1)]] = Field(
        min_length=1,
        description="Rows of finite numbers, one value per input column of the model, in its "
        "column order (at most `MLP_MAX_ROWS` rows). Only for models whose columns are all "
        "numeric.",
    )


Cell = FiniteFloat | str | bool | None


class PredictInstances(BaseModel):
    """Rows to predict by column name: one object per row with every column of the model."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"instances": [{"age": 31, "city": "Oslo"}]}]}
    )

    instances: list[dict[str, Cell]] = Field(
        min_length=1,
        description="One object per row, `{column: value}`; null for a missing value (at most "
        "`MLP_MAX_ROWS` rows).",
    )


class PredictColumns(BaseModel):
    """Rows to predict in pandas' split form: the column names, then the rows of cells."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"columns": ["age", "city"], "data": [[31, "Oslo"], [None, "Rome"]]}]
        }
    )

    columns: list[str] = Field(description="Every column of the model, in any order.")
    data: list[list[Cell]] = Field(
        min_length=1, description="Rows of cells in `columns` order; null for a missing value."
    )


class EvaluateDataset(BaseModel):
    """Evaluate on a stored dataset."""

    dataset_id: str


class EvaluateTable(PredictColumns):
    """Evaluate on an inline table: the model's columns plus the label column."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "columns": ["age", "city", "bought"],
                    "data": [[31, "Oslo", "yes"], [None, "Rome", "no"]],
                    "label": "bought",
                }
            ]
        }
    )

    label: str = Field(description="The label column; rows whose label is null are left out.")


class EvaluateArrays(PredictRequest):
    """Evaluate on rows ``X`` (as for predict) with their labels or targets ``y``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"X": [[0.5, 1.0]], "y": [1]}]})

    y: list[int | float | str] = Field(description="One label or target per row of `X`.")


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
    features: list[int] = Field(description="the two plotted input columns (indices)")
    feature_names: list[str] = Field(description="the two plotted input columns (names)")
    fixed: list[float | str] | None = Field(
        None, description="values of the other input columns (in column order), if any"
    )
    fixed_columns: dict[str, float | str] | None = Field(
        None, description="the same values by column name"
    )
    classes: list[ClassLabel] | None = None
    probabilities: list[list[float]] | list[list[list[float]]] | None = None
    predicted: list[list[int]] | None = None
    confidence: list[list[float]] | None = None
    values: list[list[float]] | None = Field(
        None, description="regression predictions, or with `layer`/`unit` the unit's activation"
    )
    epoch: int | None = Field(None, description="the recorded epoch shown (with `epoch=K`)")
    layer: int | None = Field(None, description="the previewed unit's layer (with `layer`)")
    unit: int | None = Field(None, description="the previewed unit (with `unit`)")


class FramesPublic(BaseModel):
    """The recorded weight frames of a job or a model (replay): at most 100 epochs, ascending,
    the first and the last epoch of the run among them; each one a valid `epoch=K` of the
    boundary routes."""

    epochs: list[int]
