"""``/v2``: the Open Inference Protocol (KServe "V2") REST routes, so standard clients work.

Errors are ``{"error": message}``: 400 for a bad request, 404 for an unknown model, or for a
version other than ``"1"`` (a model has one version: asking for another names a model version
that does not exist). Models come from the same store and cache as ``/v1``, and inference is the
same call ``/v1/models/{id}/predict`` makes (``app.api.v2.infer``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from app.api.deps import ModelStoreDep, OwnerDep, SettingsDep
from app.api.json_route import StrictJSONRoute
from app.api.v2.codec import HEADER_LENGTH
from app.api.v2.infer import model_metadata
from app.api.v2.schemas import (
    BINARY_BODY_DESCRIPTION,
    InferRequestBody,
    InferResponseBody,
    LivePublic,
    ModelMetadataPublic,
    ModelReadyPublic,
    ReadyV2Public,
    ServerMetadataPublic,
    V2ErrorBody,
)
from app.api.v2.serve import check_version, serve_infer, service_error
from app.errors import ServiceError
from app.owners import Owner
from app.schemas.common import ErrorResponse
from app.services.health import readiness, service_version
from app.services.models import owned_model
from app.storage.models import Estimator, ModelStore

__all__ = ["EXTENSIONS", "router"]

router = APIRouter(prefix="/v2", tags=["inference (V2)"], route_class=StrictJSONRoute)

EXTENSIONS = ["binary_tensor_data"]


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "A malformed request (each message names the offending input).",
        401: "Missing or invalid API key (only when `MLP_API_KEYS` is set).",
        404: "Unknown model, or a version other than `1`.",
        409: "The model's stored file is damaged and cannot be loaded.",
        413: "The request body is larger than `MLP_MAX_BODY_BYTES`.",
        503: "The service is starting or stopping.",
    }
    # 413 (the body limit) and 503 (no store yet) come from the service-wide layers.
    return {
        status: {
            "model": ErrorResponse if status in (413, 503) else V2ErrorBody,
            "description": descriptions[status],
        }
        for status in statuses
    }


_MODEL_ERRORS = _responses(401, 404, 409, 503)


# ------------------------------------------------------------------------------- server


@router.get("", response_model=ServerMetadataPublic, responses=_responses(401))
def server_metadata() -> ServerMetadataPublic:
    """Server metadata: name, version and the protocol extensions supported."""
    return ServerMetadataPublic(
        name="mlp-service", version=service_version(), extensions=EXTENSIONS
    )


@router.get("/health/live", response_model=LivePublic)
def live() -> LivePublic:
    """Liveness: true while the process serves requests."""
    return LivePublic(live=True)


@router.get(
    "/health/ready",
    response_model=ReadyV2Public,
    responses={503: {"model": ReadyV2Public, "description": "Not ready (yet)."}},
)
def ready(request: Request) -> Any:
    """Readiness, as ``/ready``: 503 with ``{"ready": false}`` until the service can serve."""
    state = request.app.state
    checks = readiness(getattr(state, "settings", None), getattr(state, "jobs", None))
    if all(checks.values()):
        return ReadyV2Public(ready=True)
    return JSONResponse({"ready": False}, status_code=503)


# -------------------------------------------------------------------------------- models


def _load(store: ModelStore, model_id: str, version: str | None, owner: Owner) -> Estimator:
    check_version(model_id, version)
    return owned_model(store, owner, model_id)  # another key's model: 404 as if unknown


def _metadata(store: ModelStore, model_id: str, version: str | None, owner: Owner) -> Response:
    try:
        return JSONResponse(model_metadata(model_id, _load(store, model_id, version, owner)))
    except ServiceError as exc:
        return service_error(exc)


def _model_ready(store: ModelStore, model_id: str, version: str | None, owner: Owner) -> Response:
    try:
        _load(store, model_id, version, owner)
    except ServiceError as exc:
        return service_error(exc)
    return JSONResponse({"name": model_id, "ready": True})


@router.get("/models/{model_id}", response_model=ModelMetadataPublic, responses=_MODEL_ERRORS)
def get_model(model_id: str, store: ModelStoreDep, owner: OwnerDep) -> Response:
    """Model metadata: its input and output tensors."""
    return _metadata(store, model_id, None, owner)


@router.get(
    "/models/{model_id}/versions/{version}",
    response_model=ModelMetadataPublic,
    responses=_MODEL_ERRORS,
)
def get_model_version(
    model_id: str, version: str, store: ModelStoreDep, owner: OwnerDep
) -> Response:
    """Model metadata of one version (every model has one, `1`)."""
    return _metadata(store, model_id, version, owner)


@router.get("/models/{model_id}/ready", response_model=ModelReadyPublic, responses=_MODEL_ERRORS)
def model_ready(model_id: str, store: ModelStoreDep, owner: OwnerDep) -> Response:
    """Whether the model can serve (true once it exists)."""
    return _model_ready(store, model_id, None, owner)


@router.get(
    "/models/{model_id}/versions/{version}/ready",
    response_model=ModelReadyPublic,
    responses=_MODEL_ERRORS,
)
def model_version_ready(
    model_id: str, version: str, store: ModelStoreDep, owner: OwnerDep
) -> Response:
    """Whether this version of the model can serve."""
    return _model_ready(store, model_id, version, owner)


# --------------------------------------------------------------------------------- infer


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with each ``{"$ref": "#/$defs/X"}`` replaced by ``defs["X"]`` (the models
    are not recursive): in an OpenAPI document ``#/$defs/...`` would point at its root."""
    if isinstance(schema, list):
        return [_inlined(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
    return {key: _inlined(value, defs) for key, value in schema.items() if key != "$defs"}


def _request_body_schema() -> Any:
    """The JSON schema of an inference request, self-contained."""
    schema = InferRequestBody.model_json_schema()
    return _inlined(schema, schema.get("$defs", {}))


_INFER_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON, or JSON followed by binary tensor data.",
        "content": {
            "application/json": {"schema": _request_body_schema()},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": BINARY_BODY_DESCRIPTION,
            },
        },
    }
}
_INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The outputs: JSON, or (when an output was asked for as binary data) "
        f"the JSON object followed by the binary outputs, its length in `{HEADER_LENGTH}`.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            HEADER_LENGTH: {
                "description": "Length of the JSON object when binary outputs follow it.",
                "schema": {"type": "integer"},
            }
        },
    },
    **_responses(400, 401, 404, 409, 413, 503),
}
_HeaderLength = Header(
    None,
    alias=HEADER_LENGTH,
    description="Length in bytes of the JSON object at the start of the body when binary "
    "tensor data follows it.",
)


@router.post(
    "/models/{model_id}/infer",
    response_model=InferResponseBody,
    responses=_INFER_RESPONSES,
    openapi_extra=_INFER_OPENAPI,
)
async def infer_model(
    model_id: str,
    request: Request,
    store: ModelStoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
    inference_header_content_length: str | None = _HeaderLength,
) -> Response:
    """Inference: `predictions` (and `probabilities` for classifiers) for N rows."""
    return await serve_infer(
        store,
        settings.max_rows,
        model_id,
        None,
        request.headers.get(HEADER_LENGTH),
        request.body,
        owner,
    )


@router.post(
    "/models/{model_id}/versions/{version}/infer",
    response_model=InferResponseBody,
    responses=_INFER_RESPONSES,
    openapi_extra=_INFER_OPENAPI,
)
async def infer_model_version(
    model_id: str,
    version: str,
    request: Request,
    store: ModelStoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
    inference_header_content_length: str | None = _HeaderLength,
) -> Response:
    """Inference with one version of the model (every model has one, `1`)."""
    return await serve_infer(
        store,
        settings.max_rows,
        model_id,
        version,
        request.headers.get(HEADER_LENGTH),
        request.body,
        owner,
    )
