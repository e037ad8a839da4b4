"""Schemas of the sweeps resource: ``SweepCreate`` (``SearchSpace``), ``SweepPublic``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.jobs.base import JobStatus
from app.schemas.common import FiniteFloat, JsonInt, ResourceId
from app.schemas.jobs import Architecture, Training

__all__ = [
    "SearchSpace",
    "SweepBest",
    "SweepCreate",
    "SweepPublic",
    "SweepTrial",
    "SweepsPublic",
]

Bounds = Annotated[list[FiniteFloat], Field(min_length=2, max_length=2)]
IntBounds = Annotated[list[JsonInt], Field(min_length=2, max_length=2)]


class Uniform(BaseModel):
    """Uniform over ``[lo, hi]``."""

    model_config = ConfigDict(extra="forbid")
    uniform: Bounds


class LogUniform(BaseModel):
    """Uniform in the logarithm over ``[lo, hi]``, ``lo > 0`` (e.g. learning rates)."""

    model_config = ConfigDict(extra="forbid")
    log_uniform: Bounds


class IntUniform(BaseModel):
    """A uniformly drawn integer in ``[lo, hi]`` (both included)."""

    model_config = ConfigDict(extra="forbid")
    int_uniform: IntBounds


ParamSpace = Annotated[list[JsonValue], Field(min_length=1)] | Uniform | LogUniform | IntUniform

_EXAMPLE: dict[str, Any] = {
    "dataset_id": "ds_Xq3v0c9T1aBzKk2L",
    "training": {"epochs": 50},
    "search": {
        "strategy": "grid",
        "space": {"hidden_layers": [[8], [16, 16]], "learning_rate": [0.01, 0.001]},
    },
    "cv_folds": 3,
    "metric": "log_loss",
}


_SEARCHABLE_NAMES = sorted({*Architecture.model_fields, *Training.model_fields})


class SearchSpace(BaseModel):
    """What to try: every combination (``grid``) or ``max_trials`` random draws (``random``)."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["grid", "random"] = Field("grid", description="`grid` or `random`.")
    space: dict[str, ParamSpace] = Field(
        min_length=1,
        description=(
            "`{param: [values] | {uniform: [lo, hi]} | {log_uniform: [lo, hi]} | "
            "{int_uniform: [lo, hi]}}`; a param is any `architecture` or `training` field by its "
            "bare name. A grid takes lists only, in the given order (the last varies fastest)."
        ),
        examples=[{"learning_rate": {"log_uniform": [0.0001, 0.1]}, "l2": [0, 0.001, 0.01]}],
        # The params a space may name (``app.services.sweep_plan.SEARCHABLE``), for the schema.
        json_schema_extra={"propertyNames": {"enum": list[JsonValue](_SEARCHABLE_NAMES)}},
    )
    max_trials: int | None = Field(
        None,
        ge=1,
        description="Random: the number of draws (default 10). Grid: only the first "
        "`max_trials` points. At most `MLP_SWEEP_MAX_TRIALS`.",
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=2**32 - 1,
        description="Seeds the draws, the folds and (unless `training.seed` is set) the "
        "training runs; default 0, so the same request runs the same trials.",
    )


class SweepCreate(BaseModel):
    """Start a hyper-parameter sweep on a stored dataset."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    dataset_id: ResourceId = Field(description="The stored dataset to train on.")
    name: str | None = Field(None, min_length=1, max_length=200)
    architecture: Architecture = Field(
        default_factory=Architecture, description="Base settings; the space overrides them."
    )
    training: Training = Field(
        default_factory=Training, description="Base settings; the space overrides them."
    )
    search: SearchSpace
    cv_folds: int | None = Field(
        None,
        ge=2,
        le=10,
        description="k-fold cross-validation (stratified for classification) over every row; "
        "the best settings are then refitted on all the data (`training.test_fraction` "
        "applies to that refit only). null: each trial is scored on its validation split "
        "(`validation_fraction`, 0.2 when unset).",
    )
    metric: str | None = Field(
        None,
        max_length=64,
        description="A metric of `evaluation` (`log_loss`, `accuracy`, `roc_auc`, `f1_macro`, "
        "`balanced_accuracy`; `mse`, `rmse`, `mae`, `r2`); default `log_loss` / `mse`.",
    )
    max_parallel: int | None = Field(
        None,
        ge=1,
        le=256,
        description="At most this many of the sweep's jobs queued or running at once "
        "(default `MLP_MAX_CONCURRENT_JOBS`).",
    )


class SweepTrial(BaseModel):
    """One trial: its settings, its jobs (one per fold) and its score."""

    index: int
    params: dict[str, Any]
    status: JobStatus
    job_ids: list[str]
    score: float | None = Field(description="The metric (mean over the folds with CV).")
    score_std: float | None = Field(description="Standard deviation over the folds (CV only).")
    model_id: str | None = Field(
        description="Without CV the trial's model; with CV the refit model of the best trial."
    )


class SweepBest(BaseModel):
    """The best trial; with CV ``model_id``/``job_id`` are the refit on all the data."""

    trial: int
    params: dict[str, Any]
    score: float | None
    model_id: str | None
    job_id: str | None


class SweepPublic(BaseModel):
    """A hyper-parameter sweep."""

    id: str = Field(examples=["swp_Xq3v0c9T1aBzKk2L"])
    name: str | None
    status: JobStatus
    metric: str
    greater_is_better: bool
    dataset_id: str
    cv_folds: int | None
    max_parallel: int
    strategy: Literal["grid", "random"]
    seed: int
    trials: list[SweepTrial] = Field(description="In `index` order, 0-based.")
    leaderboard: list[int] = Field(description="Indices of the scored trials, best first.")
    best: SweepBest | None
    created_at: datetime
    finished_at: datetime | None


class SweepsPublic(BaseModel):
    """Sweeps, newest first."""

    data: list[SweepPublic]
    count: int
