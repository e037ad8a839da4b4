"""``/v1/models``: list, inspect, delete, download and import models; predict; decision boundary."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from app.api import predict_fast
from app.api.boundary import BOUNDARY_RESPONSES, BoundaryQueryDep, boundary_response
from app.api.deps import DatasetStoreDep, ModelStoreDep, OwnerDep, SettingsDep
from app.api.json_route import StrictJSONRoute
from app.api.routes import DELETE_ROUTE
from app.api.uploads import read_file_upload
from app.numeric import ORJSONResponse, loads
from app.owners import only_visible, require_visible
from app.schemas.common import BINARY_SCHEMA, ErrorResponse, ModelId, error_responses
from app.schemas.models import (
    BoundaryPublic,
    EvaluateArrays,
    EvaluateDataset,
    EvaluateTable,
    EvaluationPublic,
    FramesPublic,
    ModelPublic,
    ModelSplitPublic,
    ModelsPublic,
    PredictColumns,
    PredictInstances,
    PredictRequest,
    PredictResponse,
)
from app.services import export, replay
from app.services import models as models_service
from app.services.models import owned_model, owned_model_meta
from app.storage.models import model_owner

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/models", tags=["models"], route_class=StrictJSONRoute)

_DOWNLOAD_CHUNK_BYTES = 1 << 20


# ------------------------------------------------------------------------ the collection


@router.get("", response_model=ModelsPublic)
def list_models(store: ModelStoreDep, owner: OwnerDep) -> ModelsPublic:
    """List the models this key may see (every one without keys), newest first."""
    metas = only_visible(owner, store.list())
    return ModelsPublic(data=[ModelPublic.model_validate(m) for m in metas], count=len(metas))


_IMPORT_BODY = {
    "required": True,
    "description": "A `.npz` model file made by this service: the raw bytes, or a multipart "
    "form with the file in the field `file`. At most `MLP_MAX_MODEL_BYTES` bytes.",
    "content": {
        "application/octet-stream": {"schema": BINARY_SCHEMA},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": BINARY_SCHEMA},
                "required": ["file"],
            }
        },
    },
}


@router.post(
    "/import",
    status_code=201,
    response_model=ModelPublic,
    responses=error_responses(413, 422, 507),
    openapi_extra={"requestBody": _IMPORT_BODY},
)
async def import_model(
    request: Request, store: ModelStoreDep, settings: SettingsDep, owner: OwnerDep
) -> ModelPublic:
    """Upload a model file; it is validated without unpickling and stored under a new ID."""
    data = await read_file_upload(request, settings.max_model_bytes)
    meta = await anyio.to_thread.run_sync(store.import_file, data, owner.name)
    logger.info("model imported", extra={"model_id": meta.id, "size_bytes": meta.size_bytes})
    return ModelPublic.model_validate(meta)


# ----------------------------------------------------------------------------- one model


@router.get("/{model_id}", response_model=ModelPublic, responses=error_responses(404, 409, 422))
def get_model(model_id: ModelId, store: ModelStoreDep, owner: OwnerDep) -> Any:
    """Show one model's metadata."""
    return owned_model_meta(store, owner, model_id)


@router.delete("/{model_id}", **DELETE_ROUTE)
def delete_model(model_id: ModelId, store: ModelStoreDep, owner: OwnerDep) -> Response:
    """Delete a model."""
    if not owner.sees_all:  # (a damaged file, whose owner cannot be read, is an admin's to delete)
        owned_model_meta(store, owner, model_id)
    store.delete(model_id)
    return Response(status_code=204)


@router.get(
    "/{model_id}/download",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The model file: `.npz` as written by the engine (the default), or "
            "with `format=onnx` an ONNX model carrying the preprocessing (`.onnx`).",
            "content": {"application/octet-stream": {"schema": BINARY_SCHEMA}},
        },
        **error_responses(404, 409, 422),
        501: {
            "model": ErrorResponse,
            "description": "`format=onnx`, but the `onnx` package is not installed.",
        },
    },
)
def download_model(
    model_id: ModelId,
    store: ModelStoreDep,
    owner: OwnerDep,
    file_format: Annotated[
        export.DownloadFormat,
        Query(alias="format", description="`npz` (the default) or `onnx`."),
    ] = "npz",
) -> Response:
    """Download the model's `.npz` file, or the model as ONNX (`format=onnx`; 501 without the
    `onnx` package)."""
    if not owner.sees_all:
        owned_model_meta(store, owner, model_id)
    if file_format == "onnx":
        data = export.onnx_file(store, model_id)
        disposition = f'attachment; filename="{model_id}.onnx"'
        return Response(
            data, media_type=export.ONNX_MEDIA_TYPE, headers={"Content-Disposition": disposition}
        )
    handle, size = store.open_file(model_id)
    return StreamingResponse(
        _file_chunks(handle),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{model_id}.npz"',
            "Content-Length": str(size),
        },
    )


def _file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(_DOWNLOAD_CHUNK_BYTES):
            yield chunk


_SPLIT_DESCRIPTION = """Where the rows the model was fitted on went.

`validation` and `test` are ascending row indices into the rows of
`GET /v1/datasets/{dataset_id}/data` for the model's dataset (every other row trained it);
`n_rows` is how many rows the model was fitted on. A model without a split record (its file was
written before the split was recorded) answers 200 with `n_rows` null and empty lists."""


@router.get(
    "/{model_id}/split",
    response_model=ModelSplitPublic,
    responses=error_responses(404, 409, 422),
    description=_SPLIT_DESCRIPTION,
)
def model_split(model_id: ModelId, store: ModelStoreDep, owner: OwnerDep) -> Any:
    """Where the rows the model was fitted on went (validation, test)."""
    return models_service.model_split(owned_model(store, owner, model_id))


# ------------------------------------------------------------------------------- predict


def _any_of(*forms: type[BaseModel]) -> dict[str, Any]:
    """A JSON request body in one of ``forms`` (each without nested models); the handler tells
    them apart by their required keys."""
    schema = {"anyOf": [form.model_json_schema() for form in forms]}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_PREDICT_BODY = _any_of(PredictRequest, PredictInstances, PredictColumns)
_PREDICT_DESCRIPTION = """Predict labels (and class probabilities) or values for some rows.

The rows come as `{"X": [[number]]}` (positional, for models whose columns are all numeric),
`{"instances": [{column: value}]}` or `{"columns": [name], "data": [[cell]]}`; null is a missing
value. A column the model does not take, one it needs that is absent, or a cell of the wrong type
is a 422 naming it.

Every response carries `Server-Timing` with the server's own time in milliseconds:
`read` (receiving the body), `parse` (JSON to a validated float64 matrix), `model` (the forward
pass), `encode` (the JSON response) and `total`."""


@router.post(
    "/{model_id}/predict",
    response_model=PredictResponse,
    response_class=ORJSONResponse,
    responses=error_responses(404, 409, 413, 422),
    openapi_extra={"requestBody": _PREDICT_BODY},
    description=_PREDICT_DESCRIPTION,
)
async def predict(
    model_id: ModelId,
    request: Request,
    store: ModelStoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> Response:
    """Predict labels (and class probabilities) or values for some rows."""
    return await predict_fast.serve_predict(store, settings.max_rows, model_id, request.body, owner)


# ------------------------------------------------------------------------------ evaluate


@router.post(
    "/{model_id}/evaluate",
    response_model=EvaluationPublic,
    response_class=ORJSONResponse,
    responses=error_responses(404, 409, 413, 422),
    openapi_extra={"requestBody": _any_of(EvaluateDataset, EvaluateTable, EvaluateArrays)},
)
async def evaluate(
    model_id: ModelId,
    request: Request,
    store: ModelStoreDep,
    datasets: DatasetStoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> Response:
    """Score the model on rows with known labels: a stored dataset, an inline table or X/y."""
    cached = store.cached(model_id)  # 404 for an unknown model before reading the body
    if cached is not None:
        require_visible(owner, model_owner(cached), "model", model_id)
    body = await request.body()

    def run() -> dict[str, Any]:
        model = owned_model(store, owner, model_id)
        doc = loads(body)
        return models_service.evaluate_model(model, doc, datasets, settings.max_rows, body, owner)

    return ORJSONResponse(await anyio.to_thread.run_sync(run))


# ------------------------------------------------------------------------------ boundary


@router.get(
    "/{model_id}/boundary",
    response_model=BoundaryPublic,
    response_class=ORJSONResponse,
    responses={**BOUNDARY_RESPONSES, **error_responses(404, 409, 422)},
)
def boundary(
    model_id: ModelId,
    query: BoundaryQueryDep,
    store: ModelStoreDep,
    datasets: DatasetStoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> Response:
    """Evaluate the model on a grid over two input features (JSON grid or PNG picture)."""
    model = replay.model_at_epoch(store, model_id, query.epoch, owner)
    dataset_id = model.metadata_.get("dataset_id")
    return boundary_response(model, query, settings, datasets, dataset_id, owner)


# -------------------------------------------------------------------------------- replay


@router.get(
    "/{model_id}/frames",
    response_model=FramesPublic,
    responses=error_responses(404, 409, 422),
)
def model_frames(model_id: ModelId, store: ModelStoreDep, owner: OwnerDep) -> FramesPublic:
    """The weight frames recorded while the model trained (none for an imported model)."""
    owned_model_meta(store, owner, model_id)
    return FramesPublic(epochs=replay.recorded_epochs(replay.model_frames(store, model_id)))


@router.get(
    "/{model_id}/animation",
    response_class=Response,
    responses={
        200: {
            "description": "An animated GIF (looping) of the boundary at every recorded frame, "
            "the epoch in each frame's title: at most 100 frames of 480 x 360 pixels, at "
            "most 8 MiB.",
            "content": {"image/gif": {"schema": BINARY_SCHEMA}},
        },
        **error_responses(404, 409, 422),
    },
    description=(
        "The training as an animated GIF: the boundary at every recorded frame (see "
        "`GET /v1/models/{id}/frames`), drawn like `format=png`. Takes the boundary's "
        "`features`, `fixed`, axis ranges and `layer`/`unit` (a neuron's activation); its "
        "resolution, `format` and `epoch` are not used. 409 for a model without frames (e.g. "
        "an imported one)."
    ),
)
def model_animation(
    model_id: ModelId,
    query: BoundaryQueryDep,
    store: ModelStoreDep,
    datasets: DatasetStoreDep,
    owner: OwnerDep,
) -> Response:
    """The training as an animated GIF: the boundary at each recorded frame."""
    gif = replay.animation_gif(store, model_id, query, datasets, owner)
    headers = {"Content-Disposition": f'attachment; filename="{model_id}.gif"'}
    return Response(gif, media_type="image/gif", headers=headers)
