"""Schemas of the datasets resource: ``DatasetCreate``, ``DatasetGenerate``, ``DatasetPublic``..."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import ClassLabel, FiniteFloat, Label, Task

__all__ = [
    "DatasetBounds",
    "DatasetCreate",
    "DatasetData",
    "DatasetGenerate",
    "DatasetKind",
    "DatasetPublic",
    "DatasetsPublic",
]

# Must equal ``mlp_engine.datasets.KINDS`` (a test checks it); spelled out for the OpenAPI enum.
DatasetKind = Literal["notebook", "xor", "circles", "moons", "spirals", "gaussians"]

_NAME = Field(
    None, min_length=1, max_length=200, description="A label for people; default: the ID."
)


class DatasetCreate(BaseModel):
    """A dataset as JSON. ``X`` (n_samples, n_features) and ``y`` (n_samples,).

    The same endpoint accepts ``text/csv`` with a header row: features are numeric columns and
    the label is the last column, or the column named by ``?label=NAME``.
    """

    name: str | None = _NAME
    X: list[list[FiniteFloat]] = Field(
        description="Rows of finite numbers, all of the same length.",
        examples=[[[0.0, 1.5], [2.0, -0.5], [1.0, 1.0], [-1.0, 0.0]]],
    )
    y: list[Label] = Field(
        description=(
            "One label per row: all integers or all strings for classification (at least two "
            "distinct classes), finite numbers for regression."
        ),
        examples=[[0, 1, 1, 0]],
    )
    task: Task = Field("classification", description="`classification` (default) or `regression`.")


class DatasetMetaFields(BaseModel):
    """The non-array fields of a JSON upload (``X`` and ``y`` are parsed separately, fast)."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = _NAME
    task: Task = "classification"


class DatasetGenerate(BaseModel):
    """Generate one of the engine's 2-D toy datasets (``mlp_engine.datasets.make``)."""

    model_config = ConfigDict(strict=True)

    kind: DatasetKind = Field(
        description=(
            "`notebook` is the teaching notebook's 'hard' set: an ellipse of class 0 between "
            "two blobs of class 1 (1000 rows by default, unshuffled)."
        )
    )
    n_samples: int | None = Field(
        None,
        ge=4,
        le=1_000_000,
        description=(
            "Rows, at least two per class and at most `MLP_MAX_ROWS`; default per kind "
            "(notebook 1000, gaussians 300, else 400)."
        ),
    )
    noise: FiniteFloat | None = Field(
        None,
        ge=0,
        description=(
            "Jitter standard deviation; for `notebook` a factor on the notebook's scales "
            "(default: the notebook's exact scales)."
        ),
    )
    seed: int | None = Field(
        None, ge=0, le=2**63 - 1, description="Random seed; default 0, so runs are reproducible."
    )
    n_classes: int | None = Field(
        None,
        ge=2,
        le=10,
        description="Only for `spirals` (default 2) and `gaussians` (default 3).",
    )
    name: str | None = Field(
        None, min_length=1, max_length=200, description="Default: kind, size and seed."
    )


class DatasetBounds(BaseModel):
    """Per-feature minimum and maximum of ``X``."""

    min: list[float]
    max: list[float]


class DatasetPublic(BaseModel):
    """A stored dataset's metadata (validated from the store's ``DatasetMeta``)."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["ds_Xq3v0c9T1aBzKk2L"])
    name: str
    n_samples: int
    n_features: int
    task: Task
    classes: list[ClassLabel] | None = Field(description="Sorted class labels (classification).")
    bounds: DatasetBounds
    created_at: datetime


class DatasetsPublic(BaseModel):
    """Datasets, newest first."""

    data: list[DatasetPublic]
    count: int


class DatasetData(BaseModel):
    """A dataset's arrays: ``X`` (n_samples, n_features) and ``y`` (n_samples,)."""

    X: list[list[float]]
    y: list[Label]
