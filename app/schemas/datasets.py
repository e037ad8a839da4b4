"""Schemas of the datasets resource: ``DatasetCreate``, ``DatasetGenerate``, ``DatasetPublic``..."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from app.schemas.common import (
    MAX_SEED,
    NULL,
    ClassLabel,
    FiniteFloat,
    Label,
    Task,
    WholeNumber,
    present,
)

__all__ = [
    "CLASS_KINDS",
    "DEFAULT_ROWS",
    "DatasetBounds",
    "DatasetCreate",
    "DatasetData",
    "DatasetFeature",
    "DatasetGenerate",
    "DatasetKind",
    "DatasetPublic",
    "DatasetTableCreate",
    "DatasetTableData",
    "DatasetTableFields",
    "DatasetsPublic",
]

# Must equal ``mlp_engine.datasets.KINDS`` (a test checks it); spelled out for the OpenAPI enum.
DatasetKind = Literal["notebook", "xor", "circles", "moons", "spirals", "gaussians"]
MAX_NOISE = 1e6  # equals ``mlp_engine.datasets.MAX_NOISE`` (a test checks it)

_NAME = Field(
    None, min_length=1, max_length=200, description="A label for people; default: the ID."
)


# One table cell: a number, a string, a boolean (a category) or null (missing).
Cell = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string"},
                {"type": "boolean"},
                {"type": "null"},
            ]
        }
    ),
]


class DatasetCreate(BaseModel):
    """A dataset as JSON arrays: ``X`` (n_samples, n_features) and ``y`` (n_samples,).

    The same endpoint takes a table: JSON in pandas' split form (``DatasetTableCreate``) or
    ``text/csv`` with a header row (the same knobs as query parameters).
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


class DatasetTableFields(BaseModel):
    """The non-array fields of a JSON table (``columns`` and ``data`` are parsed separately)."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = _NAME
    label: str = Field(
        min_length=1, max_length=1000, description="The label column's name.", examples=["species"]
    )
    task: Task | None = Field(
        None,
        description=(
            "Default: classification if the label column is text, or whole numbers with few "
            "distinct values; else regression."
        ),
    )
    categorical: list[str] = Field(
        default_factory=list,
        description="Force these columns categorical (their numbers are taken as text).",
        examples=[["zip_code"]],
    )
    ignore: list[str] = Field(
        default_factory=list,
        description="Drop these columns, e.g. an id.",
        examples=[["id"]],
    )


class DatasetTableCreate(DatasetTableFields):
    """A table as JSON, pandas' split form (``df.to_dict(orient="split")`` plus ``label``).

    A column whose present cells are all finite numbers is numeric, any other categorical.
    ``null`` is a missing cell (kept: the model handles it); rows whose label is missing are
    left out and counted in ``rows_without_label``. ``NaN``/``Infinity`` literals are a 422.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "penguins",
                    "columns": ["id", "island", "bill_mm", "species"],
                    "data": [[1, "Biscoe", 39.1, "Adelie"], [2, "Dream", None, "Gentoo"]],
                    "label": "species",
                    "ignore": ["id"],
                }
            ]
        },
    )

    columns: list[str] = Field(description="Column names, the label column among them.")
    data: list[list[Cell]] = Field(description="Rows of cells, one per column.")


class DatasetMetaFields(BaseModel):
    """The non-array fields of a JSON upload (``X`` and ``y`` are parsed separately, fast)."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = _NAME
    task: Task = "classification"


# ``mlp_engine.datasets``' per-kind rules, for the schema (tests check they match the engine):
# the rows of each kind when ``n_samples`` is absent, the kinds that take ``n_classes`` (and
# their default), its bounds, and the rows each class needs.
DEFAULT_ROWS = {
    "notebook": 1000,
    "xor": 400,
    "circles": 400,
    "moons": 400,
    "spirals": 400,
    "gaussians": 300,
}
CLASS_KINDS = {"spirals": 2, "gaussians": 3}
_N_CLASSES = range(2, 11)
_MIN_ROWS_PER_CLASS = 2


def _rows_for(schema: dict[str, Any], n_classes: int) -> dict[str, Any]:
    """``n_samples`` when there are ``n_classes`` classes: absent, or at least two per class."""
    low = max(4, _MIN_ROWS_PER_CLASS * n_classes)
    return {"anyOf": [present(schema, "n_samples", minimum=low), NULL]}


def _generate_variants(schema: dict[str, Any]) -> None:
    """Add the per-kind alternatives of :class:`DatasetGenerate` to its ``schema``, a union
    on ``kind`` (one branch per kind and class count): kinds without classes take no
    ``n_classes``; ``spirals`` and ``gaussians`` take one in 2..10, and ``n_samples`` is then
    at least two rows per class (the default count when absent)."""
    variants: list[dict[str, Any]] = []
    for kind in get_args(DatasetKind):
        rows = _rows_for(schema, CLASS_KINDS.get(kind, 2))
        props = {"kind": {"const": kind}, "n_classes": NULL, "n_samples": rows}
        variants.append({"properties": props})
        if kind not in CLASS_KINDS:
            continue
        for k in _N_CLASSES:
            props = {
                "kind": {"const": kind},
                "n_classes": present(schema, "n_classes", const=k),
                "n_samples": _rows_for(schema, k),
            }
            variants.append({"required": ["n_classes"], "properties": props})
    schema["oneOf"] = variants


class DatasetGenerate(BaseModel):
    """Generate one of the engine's 2-D toy datasets (``mlp_engine.datasets.make``).

    The schema states the per-kind rules as a union on ``kind`` (``oneOf``); the body is
    validated by the engine's rules, so a request outside it gets the engine's 422 message.
    """

    model_config = ConfigDict(strict=True, json_schema_extra=_generate_variants)

    kind: DatasetKind = Field(
        description=(
            "`notebook` is the teaching notebook's 'hard' set: an ellipse of class 0 between "
            "two blobs of class 1 (1000 rows by default, unshuffled)."
        )
    )
    n_samples: Annotated[int, Field(ge=4, le=1_000_000), WholeNumber] | None = Field(
        None,
        description=(
            "Rows, at least two per class and at most `MLP_MAX_ROWS`; default per kind "
            "(notebook 1000, gaussians 300, else 400)."
        ),
    )
    noise: FiniteFloat | None = Field(
        None,
        ge=0,
        le=MAX_NOISE,
        description=(
            "Jitter standard deviation; for `notebook` a factor on the notebook's scales "
            "(default: the notebook's exact scales)."
        ),
    )
    seed: Annotated[int, Field(ge=0, le=MAX_SEED), WholeNumber] | None = Field(
        None, description="Random seed; default 0, so runs are reproducible."
    )
    n_classes: Annotated[int, Field(ge=2, le=10), WholeNumber] | None = Field(
        None,
        description="Only for `spirals` (default 2) and `gaussians` (default 3).",
    )
    name: str | None = Field(
        None, min_length=1, max_length=200, description="Default: kind, size and seed."
    )


class DatasetBounds(BaseModel):
    """Per-feature minimum and maximum (missing cells ignored); null for a categorical (or an
    all-missing) column."""

    min: list[float | None]
    max: list[float | None]


class DatasetFeature(BaseModel):
    """One feature column: its name, kind, missing cells and (categorical) sorted categories."""

    # The schema shows every field; a field that does not apply is left out of the JSON.
    model_config = ConfigDict(json_schema_mode_override="validation")

    name: str = Field(examples=["island"])
    type: Literal["numeric", "categorical"]
    missing: int = Field(description="Cells without a value.")
    categories: list[str] | None = Field(
        None,
        description=(
            "Categorical columns: the distinct values, sorted by code point (left out beyond "
            "`MLP_MAX_LISTED_CATEGORIES`)."
        ),
    )
    n_categories: int | None = Field(None, description="Categorical columns: distinct values.")

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class DatasetPublic(BaseModel):
    """A stored dataset's metadata (validated from the store's ``DatasetMeta``)."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["ds_Xq3v0c9T1aBzKk2L"])
    name: str
    n_samples: int
    n_features: int
    task: Task
    classes: list[ClassLabel] | None = Field(
        description="Sorted class labels (classification): numbers numerically, text by code point."
    )
    bounds: DatasetBounds
    created_at: datetime
    label: str | None = Field(
        None, description="The label column's name; null for an `X`/`y` dataset."
    )
    features: list[DatasetFeature] = Field(
        description="The feature columns in order (`x0, x1, ...` for an `X`/`y` dataset)."
    )
    rows_without_label: int = Field(
        0, description="Rows of the upload left out because their label was missing."
    )


class DatasetsPublic(BaseModel):
    """Datasets, newest first."""

    data: list[DatasetPublic]
    count: int


class DatasetData(BaseModel):
    """An ``X``/``y`` dataset's arrays: ``X`` (n_samples, n_features) and ``y`` (n_samples,)."""

    X: list[list[float]]
    y: list[Label]


class DatasetTableData(BaseModel):
    """A table dataset's rows: ``data`` holds the feature cells in ``columns`` order (null =
    missing), ``y`` the labels of the ``label`` column, one per row."""

    columns: list[str] = Field(examples=[["island", "bill_mm"]])
    data: list[list[Cell]] = Field(examples=[[["Biscoe", 39.1], ["Dream", None]]])
    label: str = Field(examples=["species"])
    y: list[Label] = Field(examples=[["Adelie", "Gentoo"]])
