"""OpenAPI shapes of the Open Inference Protocol routes (documentation and response models).

The infer route reads its body itself (``codec.decode_request``), so ``InferRequestBody`` only
documents what it accepts; the other routes return these models as they are.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.v2.codec import HEADER_LENGTH

__all__ = [
    "BINARY_BODY_DESCRIPTION",
    "InferRequestBody",
    "InferResponseBody",
    "LivePublic",
    "ModelMetadataPublic",
    "ModelReadyPublic",
    "ReadyV2Public",
    "ServerMetadataPublic",
    "TensorMetadata",
    "V2ErrorBody",
]

Datatype = Literal["FP32", "FP64", "INT32", "INT64", "BYTES"]

BINARY_BODY_DESCRIPTION = (
    "The binary tensor data extension: the JSON request object (its length in bytes in the "
    f"`{HEADER_LENGTH}` header), followed by each input that has `parameters.binary_data_size` "
    "as raw little-endian row-major data, in input order, back to back (a BYTES element is a "
    "4-byte little-endian length followed by its bytes)."
)


class V2ErrorBody(BaseModel):
    """Every error of the ``/v2`` routes (KServe's shape)."""

    error: str = Field(description="What went wrong, naming the offending input or resource.")


class ServerMetadataPublic(BaseModel):
    name: str = Field(description="`mlp-service`.")
    version: str
    extensions: list[str] = Field(description="Protocol extensions: `binary_tensor_data`.")


class LivePublic(BaseModel):
    live: bool


class ReadyV2Public(BaseModel):
    ready: bool


class TensorMetadata(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int] = Field(description="`-1` marks the batch dimension.")


class ModelMetadataPublic(BaseModel):
    name: str = Field(description="The model ID.")
    versions: list[str] = Field(description='Every model has one version, `"1"`.')
    platform: str = Field(description="`mlp_engine`.")
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ModelReadyPublic(BaseModel):
    name: str
    ready: bool


class InferInputTensor(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    shape: list[int] = Field(max_length=8)
    datatype: Datatype
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_size`: the input's bytes after the JSON object."
    )
    data: list[Any] | None = Field(
        None,
        description="Row-major values, flat or nested as `shape`; `null` = missing. "
        "Absent when the input is binary.",
    )


class RequestedOutputTensor(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: Literal["predictions", "probabilities"]
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data`: true to receive this output as binary data."
    )


class InferRequestBody(BaseModel):
    """An inference request (other top-level fields, e.g. `model_name`, are ignored)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_output`: true to receive every output as binary data."
    )
    inputs: list[InferInputTensor] = Field(min_length=1)
    outputs: list[RequestedOutputTensor] | None = None


class InferOutputTensor(BaseModel):
    name: Literal["predictions", "probabilities"]
    datatype: Datatype
    shape: list[int]
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_size` when the output follows the JSON as binary data."
    )
    data: list[Any] | None = None


class InferResponseBody(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = Field(None, description="The request's `id`, echoed.")
    outputs: list[InferOutputTensor]
