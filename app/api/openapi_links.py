"""OpenAPI links: from the operations that create a resource to the operations that take its ID.

Links tell a client (and schemathesis' stateful phase) where an ID in a response goes next:
``POST /v1/datasets`` -> ``GET /v1/datasets/{dataset_id}``, a job -> its model, and so on. They
are declared here once, by method and path, and added to the schema by :func:`add_links`
(``app.main`` calls it while building ``/openapi.json``), which resolves each target to its
``operationId``. A test checks every link's operation and parameter exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.api.v2.infer import MODEL_VERSION

__all__ = ["LINKS", "Link", "add_links"]

Operation = tuple[str, str]  # (method, path template)


@dataclass(frozen=True)
class Link:
    """One link: its name, the target operation, ``{target parameter: runtime expression}``
    and, for a target that takes the ID in its body, ``{body field: runtime expression}``."""

    name: str
    target: Operation
    parameters: dict[str, str] = field(default_factory=dict)
    request_body: dict[str, str] | None = None


_ID = "$response.body#/id"
_MODEL_OF_JOB = "$response.body#/model_id"


def _targets(prefix: str, param: str, expression: str, routes: list[Operation]) -> list[Link]:
    """Links passing ``expression`` as ``param`` to each route, named after the route
    (``GET /v1/models/{model_id}/split`` -> ``model_get_v1_models_split``)."""
    links: list[Link] = []
    for method, path in routes:
        words = [part for part in path.split("/") if part and not part.startswith("{")]
        name = "_".join([prefix, method.lower(), *words])
        parameters = {param: expression}
        if "{version}" in path:  # a model's one version (Open Inference Protocol routes)
            parameters["version"] = MODEL_VERSION
        links.append(Link(name, (method, path), parameters))
    return links


_DATASET_ROUTES: list[Operation] = [
    ("GET", "/v1/datasets/{dataset_id}"),
    ("GET", "/v1/datasets/{dataset_id}/data"),
    ("DELETE", "/v1/datasets/{dataset_id}"),
]
_JOB_ROUTES: list[Operation] = [
    ("GET", "/v1/jobs/{job_id}"),
    ("GET", "/v1/jobs/{job_id}/events"),
    ("GET", "/v1/jobs/{job_id}/frames"),
    ("GET", "/v1/jobs/{job_id}/boundary"),
    ("POST", "/v1/jobs/{job_id}/cancel"),
]
_MODEL_ROUTES: list[Operation] = [
    ("GET", "/v1/models/{model_id}"),
    ("GET", "/v1/models/{model_id}/download"),
    ("GET", "/v1/models/{model_id}/split"),
    ("GET", "/v1/models/{model_id}/frames"),
    ("GET", "/v1/models/{model_id}/boundary"),
    ("GET", "/v1/models/{model_id}/animation"),
    ("POST", "/v1/models/{model_id}/predict"),
    ("POST", "/v1/models/{model_id}/evaluate"),
    ("GET", "/v2/models/{model_id}"),
    ("GET", "/v2/models/{model_id}/ready"),
    ("POST", "/v2/models/{model_id}/infer"),
    ("GET", "/v2/models/{model_id}/versions/{version}"),
    ("GET", "/v2/models/{model_id}/versions/{version}/ready"),
    ("POST", "/v2/models/{model_id}/versions/{version}/infer"),
    ("DELETE", "/v1/models/{model_id}"),
]
_SWEEP_ROUTES: list[Operation] = [
    ("GET", "/v1/sweeps/{sweep_id}"),
    ("GET", "/v1/sweeps/{sweep_id}/events"),
    ("POST", "/v1/sweeps/{sweep_id}/cancel"),
]

# A new dataset is what jobs and sweeps train on (the ID goes into their body).
_DATASET_LINKS = [
    *_targets("dataset", "dataset_id", _ID, _DATASET_ROUTES),
    Link("train_job", ("POST", "/v1/jobs"), request_body={"dataset_id": _ID}),
    Link("start_sweep", ("POST", "/v1/sweeps"), request_body={"dataset_id": _ID}),
]

# (source operation, its success status) -> the links of that response.
LINKS: dict[tuple[Operation, str], list[Link]] = {
    (("POST", "/v1/datasets"), "201"): _DATASET_LINKS,
    (("POST", "/v1/datasets/generate"), "201"): _DATASET_LINKS,
    (("POST", "/v1/jobs"), "202"): _targets("job", "job_id", _ID, _JOB_ROUTES),
    (("GET", "/v1/jobs/{job_id}"), "200"): _targets(
        "model", "model_id", _MODEL_OF_JOB, _MODEL_ROUTES
    ),
    (("POST", "/v1/models/import"), "201"): _targets("model", "model_id", _ID, _MODEL_ROUTES),
    (("POST", "/v1/sweeps"), "202"): _targets("sweep", "sweep_id", _ID, _SWEEP_ROUTES),
}


def _operation_ids(schema: dict[str, Any]) -> dict[Operation, str]:
    """``(METHOD, path) -> operationId`` of every operation in ``schema``."""
    return {
        (method.upper(), path): operation["operationId"]
        for path, operations in schema.get("paths", {}).items()
        for method, operation in operations.items()
        if "operationId" in operation
    }


def add_links(schema: dict[str, Any]) -> None:
    """Add :data:`LINKS` to the responses of ``schema`` (in place), each target named by its
    ``operationId``. A link whose source or target is not in the schema is an error."""
    ids = _operation_ids(schema)
    for ((method, path), status), links in LINKS.items():
        operation = schema["paths"][path][method.lower()]
        response = operation["responses"][status]
        declared = response.setdefault("links", {})
        for link in links:
            entry: dict[str, Any] = {"operationId": ids[link.target]}
            if link.parameters:
                entry["parameters"] = dict(link.parameters)
            if link.request_body is not None:
                entry["requestBody"] = dict(link.request_body)
            declared[link.name] = entry
