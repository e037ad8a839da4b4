"""``/v1/datasets``: upload (JSON or CSV), generate, list, read and delete datasets."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response

from app.api.bodies import DataBodyRoute
from app.api.deps import DatasetStoreDep, OwnerDep, SettingsDep
from app.api.routes import DELETE_ROUTE
from app.api.uploads import media_type
from app.numeric import ORJSONResponse
from app.owners import only_visible
from app.schemas.common import DatasetId, Task, error_responses
from app.schemas.datasets import (
    DatasetCreate,
    DatasetData,
    DatasetGenerate,
    DatasetPublic,
    DatasetsPublic,
    DatasetTableCreate,
    DatasetTableData,
)
from app.services import datasets as service

__all__ = ["router"]

# The CSV query (label 1000 + name 200 + two lists) stays under uvicorn's 64 KiB request-line
# limit even fully percent-encoded (see ``app.api.boundary.MAX_FIXED_CHARS``).
_MAX_COLUMN_LIST_CHARS = 1500

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], route_class=DataBodyRoute)


_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        DatasetCreate.model_json_schema(),
                        DatasetTableCreate.model_json_schema(),
                    ]
                }
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "id,island,bill_mm,species\n1,Biscoe,39.1,Adelie\n2,Dream,NA,Gentoo\n",
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=DatasetPublic,
    responses=error_responses(413, 415, 422, 507),
    openapi_extra=_CREATE_BODY,
    summary="Upload a dataset (JSON arrays, JSON table or CSV)",
)
async def create_dataset(
    request: Request,
    response: Response,
    store: DatasetStoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
    label: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=1000,
            description="CSV only: the label column's name (default: the last column).",
        ),
    ] = None,
    task: Annotated[
        Task | None,
        Query(
            description=(
                "CSV only: `classification` or `regression` (default: classification if the "
                "label column is text, or whole numbers with few distinct values)."
            ),
        ),
    ] = None,
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="CSV only: a name.")
    ] = None,
    categorical: Annotated[
        str | None,
        Query(
            max_length=_MAX_COLUMN_LIST_CHARS,
            description="CSV only: comma-separated columns to take as categorical, e.g. `zip`.",
        ),
    ] = None,
    ignore: Annotated[
        str | None,
        Query(
            max_length=_MAX_COLUMN_LIST_CHARS,
            description="CSV only: comma-separated columns to drop, e.g. `id`.",
        ),
    ] = None,
) -> DatasetPublic:
    """Store a dataset: JSON `X`/`y` arrays, a JSON table (split form) or CSV with a header row."""
    upload = service.Upload(
        await request.body(),
        media_type(request),
        label,
        task,
        name,
        _names(categorical),
        _names(ignore),
        owner.name,
    )
    meta = await anyio.to_thread.run_sync(service.create_dataset, store, settings, upload)
    response.headers["Location"] = f"{router.prefix}/{meta.id}"
    return DatasetPublic.model_validate(meta)


def _names(value: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    if value is None:
        return ()
    return tuple(name.strip() for name in value.split(",") if name.strip())


@router.post(
    "/generate",
    status_code=201,
    response_model=DatasetPublic,
    responses=error_responses(413, 422, 507),
    summary="Generate a toy dataset",
)
def generate_dataset(
    body: DatasetGenerate,
    response: Response,
    store: DatasetStoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> DatasetPublic:
    """Generate one of the 2-D toy datasets (`notebook`, `xor`, `moons`...) and store it."""
    meta = service.generate_dataset(store, settings, body, owner.name)
    response.headers["Location"] = f"{router.prefix}/{meta.id}"
    return DatasetPublic.model_validate(meta)


@router.get("", response_model=DatasetsPublic)
def list_datasets(store: DatasetStoreDep, owner: OwnerDep) -> DatasetsPublic:
    """List the datasets this key may see (every one without keys), newest first."""
    metas = only_visible(owner, store.list())
    return DatasetsPublic(data=[DatasetPublic.model_validate(m) for m in metas], count=len(metas))


@router.get("/{dataset_id}", response_model=DatasetPublic, responses=error_responses(404, 409, 422))
def get_dataset(dataset_id: DatasetId, store: DatasetStoreDep, owner: OwnerDep) -> Any:
    """Show one dataset's metadata."""
    return service.owned_dataset(store, owner, dataset_id)


@router.get(
    "/{dataset_id}/data",
    response_model=DatasetData | DatasetTableData,
    response_class=ORJSONResponse,
    responses=error_responses(404, 409, 422),
    description=(
        'An `X`/`y` dataset: `{"X", "y"}`. A table: `{"columns", "data", "label", '
        '"y"}`, the feature columns\' cells row by row (null = missing) and the labels.'
    ),
)
def get_dataset_data(dataset_id: DatasetId, store: DatasetStoreDep, owner: OwnerDep) -> Response:
    """Return a dataset's rows."""
    service.owned_dataset(store, owner, dataset_id)
    return ORJSONResponse(service.dataset_rows(store, dataset_id))


@router.delete("/{dataset_id}", **DELETE_ROUTE)
def delete_dataset(dataset_id: DatasetId, store: DatasetStoreDep, owner: OwnerDep) -> Response:
    """Delete a dataset (jobs that still need it will fail with `invalid_data`)."""
    if not owner.sees_all:  # (a damaged file, whose owner cannot be read, is an admin's to delete)
        service.owned_dataset(store, owner, dataset_id)
    store.delete(dataset_id)
    return Response(status_code=204)
