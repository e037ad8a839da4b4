"""Types and response shapes shared by every resource."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from app.storage.ids import ID_RE

__all__ = [
    "BINARY_SCHEMA",
    "ID_PATTERN",
    "MAX_SEED",
    "NULL",
    "ClassLabel",
    "DatasetId",
    "ErrorResponse",
    "FiniteFloat",
    "JobId",
    "JsonInt",
    "Label",
    "ModelId",
    "ResourceId",
    "Task",
    "ValidationErrorResponse",
    "WholeNumber",
    "error_responses",
    "present",
]

# The OpenAPI schema of a binary body (a model file, a PNG picture).
BINARY_SCHEMA: dict[str, Any] = {"type": "string", "format": "binary"}

ID_PATTERN = ID_RE.pattern  # the one spelling of an ID, shared with the stores
# The largest seed: every integer up to it is exact as a double, so a client or tool that reads
# JSON numbers as doubles (JavaScript, schema fuzzers) agrees with the server on the bound.
MAX_SEED = 2**53 - 1


def present(schema: dict[str, Any], name: str, **constraints: Any) -> dict[str, Any]:
    """Property ``name`` of a model's JSON ``schema`` without its ``null`` branch (and its
    title, default, description, examples), with ``constraints`` added.

    For the branches of a ``oneOf``/``anyOf`` on a model: a branch restates the whole property
    rather than only what it narrows, since tools (schemathesis among them) may take a branch's
    property in place of the model's instead of applying both.
    """
    prop = schema["properties"][name]
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    base = dict(branches[0]) if len(branches) == 1 else {"anyOf": branches}
    kept = {k: v for k, v in base.items() if k not in _ANNOTATIONS}
    return {**kept, **constraints}


_ANNOTATIONS = ("title", "default", "description", "examples")
NULL: dict[str, Any] = {"type": "null"}


def _whole_number_as_int(value: Any) -> Any:
    """``5.0`` -> ``5``: JSON (and JSON Schema's ``integer``) does not tell them apart."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer of a strict model: a JSON number without a fractional part (``5`` or ``5.0``),
# never ``true`` or ``"5"``; exactly what the schema's ``"type": "integer"`` admits.
# Constraints go before it (``Annotated[int, Field(ge=1), WholeNumber]``), so the schema states
# them as ``minimum``/``maximum``.
WholeNumber = BeforeValidator(_whole_number_as_int)
JsonInt = Annotated[int, Field(strict=True), WholeNumber]

# A JSON number that is neither NaN nor +-Infinity (pydantic accepts both unless told not to);
# strict, so ``true`` or ``"1.5"`` are not silently turned into numbers.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]

# A class label (int or string) or a regression target (float). Checked by ``app.numeric``
# (all numbers or all strings, finite), which names the offending element in its 422.
Label = Annotated[
    Any,
    WithJsonSchema(
        {"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}]},
        mode="validation",
    ),
]

# A class label as the service returns it (models and datasets): an integer or a string.
ClassLabel = int | str

Task = Literal["classification", "regression"]

# A server-generated resource ID: anything else is a 422 and never reaches the file system.
ResourceId = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64)]
DatasetId = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=64, description="A dataset ID, e.g. `ds_...`.")
]
JobId = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=64, description="A job ID, e.g. `job_...`.")
]
ModelId = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=64, description="A model ID, e.g. `mdl_...`.")
]


class ErrorResponse(BaseModel):
    """Every non-422 error: a human-readable message naming the field or resource."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(description="What went wrong, naming the offending field or resource.")
    code: str | None = Field(
        None, description="A stable machine-readable code, e.g. `not_found`, `queue_full`."
    )
    request_id: str | None = Field(None, description="Only on 500s: quote it when reporting.")


class ValidationErrorItem(BaseModel):
    loc: list[str | int] = Field(description='Where, e.g. `["body", "X", 3, 1]`.')
    msg: str = Field(description="What is wrong, starting with the field's name.")
    type: str
    input: Any | None = Field(None, description="The offending value, only when it is short.")


class ValidationErrorResponse(BaseModel):
    """422: FastAPI's list of errors, one per offending field or element."""

    detail: list[ValidationErrorItem]


_DESCRIPTIONS: dict[int, str] = {
    401: "Missing or invalid API key (only when `MLP_API_KEYS` is set).",
    404: "Unknown resource.",
    409: "The resource is in the wrong state for this request.",
    413: "The request body is larger than `MLP_MAX_BODY_BYTES`.",
    415: "Unsupported `Content-Type`.",
    422: "Invalid input; each error names the offending field or element.",
    429: "The job queue is full; retry after `Retry-After` seconds.",
    503: "The service is not ready.",
    507: "Storage quota full (`MLP_STORAGE_QUOTA_BYTES` per key, `MLP_STORAGE_TOTAL_QUOTA_BYTES`).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the given error statuses (with their JSON shapes)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "model": ValidationErrorResponse if status == 422 else ErrorResponse,
            "description": _DESCRIPTIONS.get(status, "Error."),
        }
        if status == 429:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer"},
                }
            }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {
                    "description": "`Bearer` challenge.",
                    "schema": {"type": "string"},
                }
            }
        responses[status] = entry
    return responses
