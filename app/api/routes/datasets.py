"""``/v1/datasets``: upload (JSON or CSV), generate, list, read and delete datasets."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response

from app.api.deps import DatasetStoreDep, SettingsDep
from app.api.routes import DELETE_ROUTE
from app.api.uploads import media_type
from app.numeric import ORJSONResponse
from app.schemas.common import DatasetId, error_responses
from app.schemas.datasets import (
    DatasetCreate,
    DatasetData,
    DatasetGenerate,
    DatasetPublic,
    DatasetsPublic,
)
from app.services import datasets as service

__all__ = ["router"]

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DatasetCreate.model_json_schema()},
            "text/csv": {
                "schema": {"type": "string"},
                "example": "x1,x2,label\n0.5,1.2,a\n-0.3,0.8,b\n",
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=DatasetPublic,
    responses=error_responses(413, 415, 422),
    openapi_extra=_CREATE_BODY,
    summary="Upload a dataset (JSON or CSV)",
)
async def create_dataset(
    request: Request,
    response: Response,
    store: DatasetStoreDep,
    settings: SettingsDep,
    label: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="CSV only: the label column's name."),
    ] = None,
    task: Annotated[
        str,
        Query(
            pattern="^(classification|regression)$",
            description="CSV only: `classification` (default) or `regression`.",
        ),
    ] = "classification",
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="CSV only: a name.")
    ] = None,
) -> DatasetPublic:
    """Store a dataset sent as JSON (`X`, `y`) or as CSV with a header row."""
    upload = service.Upload(await request.body(), media_type(request), label, task, name)
    meta = await anyio.to_thread.run_sync(service.create_dataset, store, settings, upload)
    response.headers["Location"] = f"{router.prefix}/{meta.id}"
    return DatasetPublic.model_validate(meta)


@router.post(
    "/generate",
    status_code=201,
    response_model=DatasetPublic,
    responses=error_responses(413, 422),
    summary="Generate a toy dataset",
)
def generate_dataset(
    body: DatasetGenerate, response: Response, store: DatasetStoreDep, settings: SettingsDep
) -> DatasetPublic:
    """Generate one of the 2-D toy datasets (`notebook`, `xor`, `moons`...) and store it."""
    meta = service.generate_dataset(store, settings, body)
    response.headers["Location"] = f"{router.prefix}/{meta.id}"
    return DatasetPublic.model_validate(meta)


@router.get("", response_model=DatasetsPublic)
def list_datasets(store: DatasetStoreDep) -> DatasetsPublic:
    """List every dataset, newest first."""
    metas = store.list()
    return DatasetsPublic(data=[DatasetPublic.model_validate(m) for m in metas], count=len(metas))


@router.get("/{dataset_id}", response_model=DatasetPublic, responses=error_responses(404, 409, 422))
def get_dataset(dataset_id: DatasetId, store: DatasetStoreDep) -> Any:
    """Show one dataset's metadata."""
    return store.get(dataset_id)


@router.get(
    "/{dataset_id}/data",
    response_model=DatasetData,
    response_class=ORJSONResponse,
    responses=error_responses(404, 409, 422),
)
def get_dataset_data(dataset_id: DatasetId, store: DatasetStoreDep) -> Response:
    """Return a dataset's arrays `X` and `y`."""
    X, y, _ = store.load(dataset_id)
    return ORJSONResponse({"X": X, "y": y})


@router.delete("/{dataset_id}", **DELETE_ROUTE)
def delete_dataset(dataset_id: DatasetId, store: DatasetStoreDep) -> Response:
    """Delete a dataset (jobs that still need it will fail with `invalid_data`)."""
    store.delete(dataset_id)
    return Response(status_code=204)
