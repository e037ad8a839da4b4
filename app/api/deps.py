"""``Annotated`` dependency shortcuts: the settings, the two stores and the job runner.

Each reads what the lifespan put on ``app.state``; tests override them through
``app.dependency_overrides[get_app_settings]`` and friends. They are ``async`` only because they
never block: FastAPI then runs them on the event loop instead of hopping to the thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from app.errors import NotReady
from app.jobs.base import JobRunner
from app.owners import Owner, owner_from_scope
from app.settings import Settings
from app.storage.datasets import DatasetStore
from app.storage.models import ModelStore

__all__ = [
    "DatasetStoreDep",
    "JobsDep",
    "ModelStoreDep",
    "OwnerDep",
    "SettingsDep",
    "check_query_parameters",
    "get_app_settings",
    "get_dataset_store",
    "get_jobs",
    "get_model_store",
    "get_owner",
]


def _state(request: Request, name: str) -> object:
    value = getattr(request.app.state, name, None)
    if value is None:
        raise NotReady(f"the service is starting or stopping ({name} is not available yet)")
    return value


async def get_app_settings(request: Request) -> Settings:
    """The settings this app was built with (given to ``create_app``; the environment's
    ``app.settings.get_settings()`` when none were)."""
    return cast(Settings, _state(request, "settings"))


async def get_dataset_store(request: Request) -> DatasetStore:
    """The dataset store built in the lifespan."""
    return cast(DatasetStore, _state(request, "dataset_store"))


async def get_model_store(request: Request) -> ModelStore:
    """The model store built in the lifespan."""
    return cast(ModelStore, _state(request, "model_store"))


async def get_jobs(request: Request) -> JobRunner:
    """The job runner built in the lifespan (any :class:`JobRunner` back-end)."""
    return cast(JobRunner, _state(request, "jobs"))


async def get_owner(request: Request) -> Owner:
    """Whose request this is (``app.owners``): its API key's owner, or open mode."""
    return owner_from_scope(request.scope)


def _declared_query(dependant: Any) -> set[str]:
    """Names of the query parameters a route and its sub-dependencies declare."""
    names = {param.alias for param in getattr(dependant, "query_params", ())}
    for sub in getattr(dependant, "dependencies", ()):
        names |= _declared_query(sub)
    return names


async def check_query_parameters(request: Request) -> None:
    """422 for a query parameter the route does not take, or one given more than once.

    FastAPI ignores unknown parameters and keeps the last of repeated ones: a typo such as
    ``?resoluton=10`` or ``?limit=x&limit=5`` would pass unnoticed. None of the routes takes a
    list in the query, so every parameter may appear once.
    """
    if not request.url.query:
        return
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    declared = _declared_query(dependant)
    seen: set[str] = set()
    for name, value in request.query_params.multi_items():
        if name not in declared:
            takes = ", ".join(sorted(declared)) or "none"
            message = f"not a parameter of this route (it takes: {takes})"
        elif name in seen:
            message = "given more than once; give it once"
        else:
            seen.add(name)
            continue
        error = {
            "loc": ("query", name[:40]),
            "msg": message,
            "type": "extra_forbidden",
            "input": value,
        }
        raise RequestValidationError([error])


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatasetStoreDep = Annotated[DatasetStore, Depends(get_dataset_store)]
ModelStoreDep = Annotated[ModelStore, Depends(get_model_store)]
JobsDep = Annotated[JobRunner, Depends(get_jobs)]
OwnerDep = Annotated[Owner, Depends(get_owner)]
