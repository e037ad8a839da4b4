"""Schemas of the jobs resource: ``JobCreate`` (``Architecture``, ``Training``), ``JobPublic``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.jobs.base import JobRecord, JobStatus
from app.schemas.common import (
    MAX_SEED,
    NULL,
    FiniteFloat,
    JsonInt,
    Label,
    ResourceId,
    Task,
    WholeNumber,
    present,
)

__all__ = [
    "ActivationName",
    "Architecture",
    "JobCreate",
    "JobFailure",
    "JobProgress",
    "JobPublic",
    "JobsPublic",
    "Training",
]

# Equal to the engine's tables (``ACTIVATIONS``, ``OPTIMIZERS``, ``INITS``, ``DTYPES``; a test
# checks it); spelled out so the OpenAPI schema lists the choices.
ActivationName = Literal["relu", "leaky_relu", "tanh", "sigmoid", "identity"]
Optimizer = Literal["sgd", "adam", "notebook"]
Init = Literal["notebook", "he", "glorot"]
DType = Literal["float64", "float32"]
CrossName = Literal["square", "product", "sin"]  # the engine's ``mlp_engine.crosses.CROSSES``

_NOTEBOOK_EXAMPLE: dict[str, Any] = {
    "dataset_id": "ds_Xq3v0c9T1aBzKk2L",
    "name": "the notebook's network",
    "architecture": {"hidden_layers": [5, 3], "activation": "relu"},
    "training": {
        "epochs": 200,
        "learning_rate": 0.001,
        "batch_size": 1,
        "optimizer": "sgd",
        "momentum": 0.0,
        "init": "notebook",
        "shuffle": False,
        "standardize": False,
        "seed": 3,
    },
}


class Architecture(BaseModel):
    """The network's hidden layers (input and output sizes follow from the data)."""

    # Strict: ``"5"`` or ``"yes"`` are not silently coerced into numbers and flags.
    model_config = ConfigDict(extra="forbid", strict=True)

    hidden_layers: list[Annotated[int, Field(ge=1), WholeNumber]] = Field(
        default=[16, 16],
        description=(
            "Units per hidden layer, e.g. `[5, 3]` (the notebook); `[]` is logistic regression. "
            "At most `MLP_MAX_HIDDEN_LAYERS` layers of at most `MLP_MAX_UNITS` units."
        ),
        examples=[[5, 3]],
    )
    activation: ActivationName = Field("relu", description="Hidden-layer activation.")


# A class weight: a finite number > 0.
ClassWeightValue = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]


TABLE_DEFAULT_L2 = 0.01
"""The L2 penalty a job on a table dataset gets when it names none (see docs/benchmarks.md,
"Tables": the unpenalised default over-fits noisy tables and defeats balanced class weights)."""


# For the schema: early stopping needs a validation split (the model validator below).
def _early_stopping_needs_validation(schema: dict[str, Any]) -> None:
    """For the schema: early stopping needs a validation split (the model validator below)."""
    schema["anyOf"] = [
        {"properties": {"early_stopping": present(schema, "early_stopping", const=False)}},
        {
            "required": ["validation_fraction"],
            "properties": {
                "validation_fraction": present(schema, "validation_fraction", exclusiveMinimum=0)
            },
        },
    ]


class Training(BaseModel):
    """Training settings; each maps 1:1 onto the engine's keyword of the same name."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra=_early_stopping_needs_validation
    )

    epochs: JsonInt = Field(200, ge=1, description="Passes over the data (<= `MLP_MAX_EPOCHS`).")
    learning_rate: FiniteFloat = Field(0.01, gt=0, description="Step size.")
    batch_size: JsonInt = Field(
        32, ge=1, description="Rows per update; 1 = the notebook's per-sample SGD."
    )
    optimizer: Optimizer = Field(
        "adam",
        description="`sgd` (optional momentum, Nesterov), `adam`, or `notebook`: the teaching "
        "notebook's per-sample update, each layer updated before the delta is propagated "
        "through it (batch_size 1 only; reproduces the notebook exactly).",
    )
    momentum: FiniteFloat = Field(
        0.9, ge=0, lt=1, description="SGD momentum (ignored by adam); 0 = plain SGD."
    )
    nesterov: bool = Field(False, description="Nesterov momentum (sgd only).")
    l2: FiniteFloat | None = Field(
        None,
        ge=0,
        description="L2 weight penalty. null (the default) = "
        f"{TABLE_DEFAULT_L2} for table datasets (CSV or split-form uploads: real tables "
        "over-fit without it) and 0 for X/y arrays and generated sets (the notebook's "
        "setting; the `notebook` optimizer takes no penalty).",
    )
    l1: FiniteFloat = Field(
        0.0,
        ge=0,
        description="L1 weight penalty: `l1 * sum(abs(W))` over the weights (not biases), a "
        "constant pull of every weight towards 0 (0 with the `notebook` optimizer).",
    )
    feature_crosses: list[CrossName] = Field(
        [],  # pydantic copies a list default per instance
        max_length=3,
        description="Extra inputs computed inside the model from the numeric columns "
        "(TensorFlow Playground's x1^2, x1*x2, sin x1): `square` (x_i^2), `product` (x_i * x_j, "
        "i < j), `sin` (sin x_i), each named at most once. The crossed columns are appended "
        "after the encoded columns (squares, products, sines, whatever the order given) and "
        "counted in the model's `layers[0]` and the compute budget; /predict, /boundary, V2 "
        "and ONNX still take the raw columns. At most 1000 crossed columns.",
        examples=[["square"]],
    )
    clip_norm: FiniteFloat | None = Field(
        None, gt=0, description="Clip gradients to this global norm; null = no clipping."
    )
    init: Init = Field(
        "he", description="`notebook` = normal(0, 0.1) weights and biases, as the notebook."
    )
    standardize: bool = Field(
        True, description="Standardise inputs (statistics are stored in the model)."
    )
    validation_fraction: FiniteFloat = Field(
        0.0, ge=0, lt=1, description="Share of rows held out to compute `val_loss`."
    )
    early_stopping: bool = Field(
        False, description="Stop when `val_loss` stops improving (needs validation_fraction)."
    )
    patience: JsonInt = Field(10, ge=1, description="Epochs without improvement before stopping.")
    seed: Annotated[int, Field(ge=0, le=MAX_SEED, strict=True), WholeNumber] | None = Field(
        None,
        description="Random seed; if omitted the server draws one and records it in `training`.",
    )
    shuffle: bool = Field(True, description="Shuffle rows every epoch (the notebook does not).")
    dtype: DType = Field("float64", description="Parameter and compute precision.")
    test_fraction: FiniteFloat = Field(
        0.0,
        ge=0,
        lt=1,
        description=(
            "Share of rows held out before anything else (stratified by class, seeded), never "
            "seen by training, preprocessing or early stopping; the model's "
            "`evaluation.test` is measured on them. 0 = no test split."
        ),
    )
    class_weight: Literal["balanced"] | dict[str, ClassWeightValue] | None = Field(
        None,
        description=(
            "Classifiers only: null (every sample weighs 1), `balanced` (n / (k * count) per "
            'class on the training split) or `{"label": weight}` (labels as text; others '
            "weigh 1). Reported losses stay unweighted."
        ),
        examples=["balanced", {"1": 5.0}],
    )
    max_categories: JsonInt = Field(
        20,
        ge=1,
        le=10_000,
        description=(
            "Table datasets: a categorical column with more distinct values keeps its "
            "`max_categories - 1` most frequent ones and groups the rest as one 'other'."
        ),
    )

    @model_validator(mode="after")
    def _early_stopping_needs_validation(self) -> Self:
        if self.early_stopping and self.validation_fraction == 0:
            raise ValueError("early_stopping requires validation_fraction > 0")
        return self


def _job_create_schema(schema: dict[str, Any]) -> None:
    """For the schema: the two data sources of a job, ``dataset_id`` or inline ``X`` and ``y``
    (the model validator below), and an example."""
    stored = {"dataset_id": present(schema, "dataset_id"), "X": NULL, "y": NULL}
    inline = {"dataset_id": NULL, "X": present(schema, "X"), "y": present(schema, "y")}
    schema["oneOf"] = [
        {"title": "A stored dataset", "required": ["dataset_id"], "properties": stored},
        {"title": "Inline data", "required": ["X", "y"], "properties": inline},
    ]
    schema["examples"] = [_NOTEBOOK_EXAMPLE]


class JobCreate(BaseModel):
    """Start training: on a stored dataset (``dataset_id``) **or** on inline ``X`` + ``y``.

    Inline data is first stored as a dataset (its ID is in the job's ``dataset_id``), so the job
    can be re-run after a crash and the model's decision boundary can show the training points.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_job_create_schema,
    )

    dataset_id: ResourceId | None = Field(None, description="A stored dataset to train on.")
    X: list[list[FiniteFloat]] | None = Field(
        None, description="Inline rows (instead of `dataset_id`), with `y`."
    )
    y: list[Label] | None = Field(None, description="Inline labels (with `X`).")
    task: Task | None = Field(
        None,
        description="For inline data: default `classification`. Ignored with `dataset_id`.",
    )
    name: str | None = Field(
        None, min_length=1, max_length=200, description="Name given to the model."
    )
    architecture: Architecture = Field(default_factory=Architecture)
    training: Training = Field(default_factory=Training)

    @model_validator(mode="after")
    def _one_data_source(self) -> Self:
        inline = self.X is not None or self.y is not None
        if self.dataset_id is not None and inline:
            raise ValueError("give either dataset_id or inline X and y, not both")
        if self.dataset_id is None and (self.X is None or self.y is None):
            raise ValueError("give dataset_id, or both X and y")
        return self


class JobProgress(BaseModel):
    """The latest reported epoch (``accuracy`` for classifiers, ``val_*`` with validation)."""

    model_config = ConfigDict(extra="allow")

    epoch: int
    epochs: int | None = None
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None


class JobFailure(BaseModel):
    """Why a job failed: ``diverged``, ``interrupted``, ``disk_full``, ``timeout``..."""

    code: str
    message: str


class JobPublic(BaseModel):
    """A training job."""

    id: str = Field(examples=["job_Xq3v0c9T1aBzKk2L"])
    status: JobStatus
    name: str | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: JobProgress | None
    history: list[dict[str, Any]] = Field(description="One row per reported epoch.")
    model_id: str | None = Field(description="Set once the model file is completely written.")
    error: JobFailure | None
    dataset_id: str
    architecture: dict[str, Any]
    training: dict[str, Any] = Field(description="Every setting, defaults resolved (incl. seed).")
    queue_position: int | None = Field(
        None,
        ge=0,
        description="While queued: how many jobs the runner will start before this one "
        "(0 = next); null once it runs or ends.",
    )
    sweep_id: str | None = Field(
        None, description="The sweep this job is a trial (or the refit) of; null otherwise."
    )

    @classmethod
    def from_record(cls, record: JobRecord) -> JobPublic:
        """Build from the runner's record."""
        error = record.error
        return cls(
            id=record.id,
            status=record.status,
            name=record.spec.name,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            progress=JobProgress.model_validate(record.progress) if record.progress else None,
            history=record.history,
            model_id=record.model_id,
            error=JobFailure(
                code=str(error.get("code", "internal")), message=str(error.get("message", ""))
            )
            if error
            else None,
            dataset_id=record.spec.dataset_id,
            architecture=record.spec.architecture,
            training=record.spec.training,
            queue_position=record.queue_position if record.status == "queued" else None,
            sweep_id=record.spec.sweep_id,
        )


class JobsPublic(BaseModel):
    """Jobs, newest first."""

    data: list[JobPublic]
    count: int
