"""Item 11: schemathesis (>= 4) over every operation of the OpenAPI schema, every default check.

The app runs in process (``schemathesis.openapi`` with the ASGI app: the schema is the app's own
``/openapi.json``; schemathesis's ASGI client starts the lifespan once and it is stopped at the
end of the module) on a temporary data directory with small limits, so valid job submissions
really start training processes but finish in milliseconds and the queue fills (429) quickly.

Nothing is excluded. Two things are configured, both visible below:

(The rules JSON Schema can state are in the schema itself, item 32: a job's data source as
``oneOf``, the generator's per-kind parameters as a union on ``kind``...; the generator is
therefore not in ``SEMANTIC_422``.)

- ``SEMANTIC_422``: operations whose input has rules JSON Schema cannot state (rows of equal
  length, a dataset that must exist, a model file's bytes...). A schema-valid request can then
  be a correct 422, so for them ``positive_data_acceptance`` also accepts 422; every other
  check still runs on them.
- Real IDs: path parameters are drawn either as schemathesis generates them (almost always
  unknown IDs: 404/422) or as the ID of a dataset, job and model seeded before the run, so
  predict, boundary (JSON and PNG), download, data and events are exercised on real resources.
  ``DELETE`` operations only ever get generated IDs, so the seeded resources survive the run.

``RELIABILITY_EXAMPLES`` sets the examples per operation (default 100).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from helpers.inprocess import make_settings
from helpers.soak import examples
from helpers.waiting import TERMINAL, wait_for
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python import asgi

from app.main import create_app
from app.storage.ids import ID_RE

DATA_DIR = Path(tempfile.gettempdir()) / f"mlp-schemathesis-{os.getpid()}-{uuid.uuid4().hex[:8]}"
APP = create_app(
    make_settings(DATA_DIR, compute_budget=2e6, max_queued_jobs=4, max_grid_resolution=64)
)
BASE = f"http://{asgi.HOST}"

# Operations whose input has rules JSON Schema cannot state: there a schema-valid request can
# still be a correct 422 naming the field.
SEMANTIC_422: dict[tuple[str, str], str] = {
    ("POST", "/v1/datasets"): "rows of X of one length, one label per row, at least two "
    "classes, labels all numbers or all strings; CSV: a parseable table whose ?label= column "
    "exists",
    ("POST", "/v1/jobs"): "dataset_id xor inline X + y; the dataset must exist; the run must "
    "fit the caps and the compute budget (MLP_* settings) and the engine's cross-field rules",
    ("POST", "/v1/models/import"): "the bytes must be a valid model file (any bytes are a "
    "schema-valid binary string)",
    ("POST", "/v1/models/{model_id}/predict"): "rows of X must have the model's feature count; "
    "rows by name must name exactly the model's columns",
    ("POST", "/v1/models/{model_id}/evaluate"): "rows as for predict; labels the model knows; "
    "the dataset must exist",
    ("POST", "/v1/sweeps"): "the space's values must be valid settings of the job, within "
    "the trial and compute limits; cv_folds at most the dataset's rows; a metric of its task",
    ("GET", "/v1/models/{model_id}/boundary"): "x_min < x_max; feature indices below the "
    "model's feature count; one fixed value per other feature; layer and unit within the "
    "model's layers, both or neither",
    ("GET", "/v1/jobs/{job_id}/boundary"): "as GET /v1/models/{model_id}/boundary",
    ("GET", "/v1/models/{model_id}/animation"): "as GET /v1/models/{model_id}/boundary; "
    "layer and unit within the model's layers",
}
# The same for the Open Inference Protocol, whose error for such input is a 400 (KServe's).
SEMANTIC_400: dict[tuple[str, str], str] = {
    ("POST", path): "the inputs must be the model's tensors (names, shapes, datatypes, data)"
    for path in ("/v2/models/{model_id}/infer", "/v2/models/{model_id}/versions/{version}/infer")
}
_POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's


def _accepting(status: str) -> dict[str, Any]:
    expected = {"expected-statuses": [*_POSITIVE_DEFAULT, status]}
    return {"positive_data_acceptance": expected}


CONFIG = schemathesis.Config.from_dict(
    {
        # The first matching entry wins. `include-name` ("METHOD /path") matches exactly one
        # operation (an include-method + include-path pair would match either: OR-ed).
        "operations": [
            {"include-name": f"{method} {path}", "checks": _accepting("400")}
            for method, path in SEMANTIC_400
        ]
        + [
            {"include-name": f"{method} {path}", "checks": _accepting("422")}
            for method, path in SEMANTIC_422
        ]
    }
)
schema = schemathesis.openapi.from_dict(APP.openapi(), config=CONFIG)
schema.app = APP
schema.location = "/openapi.json"

REAL_IDS: dict[str, str] = {}  # path parameter name -> a seeded resource's ID


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Keep the generated IDs, or swap in the seeded resources' IDs (never for DELETE, and
    never for a negative case's invalid ID, which must stay invalid)."""
    operation = context.operation
    real = {name: REAL_IDS[name] for name in path_parameters or {} if name in REAL_IDS}
    valid = all(
        isinstance(value, str) and ID_RE.fullmatch(value)
        for value in (path_parameters or {}).values()
    )
    if operation is None or operation.method.upper() == "DELETE" or not real or not valid:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, **real}])


def _seed() -> None:
    """A dataset, a succeeded job and its model, and a finished sweep, created through the API
    (lifespan started)."""
    with asgi.get_client(APP) as client:
        dataset = client.post(f"{BASE}/v1/datasets/generate", json={"kind": "gaussians"})
        assert dataset.status_code == 201, dataset.text
        body = {"dataset_id": dataset.json()["id"], "training": {"epochs": 5, "seed": 0}}
        job = client.post(f"{BASE}/v1/jobs", json=body)
        assert job.status_code == 202, job.text

        def ended() -> dict[str, Any] | None:
            record: dict[str, Any] = client.get(f"{BASE}/v1/jobs/{job.json()['id']}").json()
            return record if record["status"] in TERMINAL else None

        record = wait_for(ended, 60, "the seed job to end")
        assert record["status"] == "succeeded", record
        space = {"learning_rate": [0.01]}
        body = {"dataset_id": dataset.json()["id"], "training": {"epochs": 5}}
        sweep = client.post(f"{BASE}/v1/sweeps", json={**body, "search": {"space": space}})
        assert sweep.status_code == 202, sweep.text

        def sweep_ended() -> dict[str, Any] | None:
            doc: dict[str, Any] = client.get(f"{BASE}/v1/sweeps/{sweep.json()['id']}").json()
            return doc if doc["status"] in TERMINAL else None

        assert wait_for(sweep_ended, 60, "the seed sweep to end")["status"] == "succeeded"
    REAL_IDS.update(
        dataset_id=dataset.json()["id"],
        job_id=record["id"],
        model_id=record["model_id"],
        sweep_id=sweep.json()["id"],
    )


@pytest.fixture(scope="module", autouse=True)
def _seeded_app() -> Iterator[None]:
    _seed()
    yield
    asgi.shutdown_lifespans()  # stops the job runner and its processes
    shutil.rmtree(DATA_DIR, ignore_errors=True)


def test_every_operation_is_tested() -> None:
    """The run below covers the whole schema: no operation is filtered out."""
    documented = {
        (method.upper(), path)
        for path, operations in APP.openapi()["paths"].items()
        for method in operations
    }
    tested = {
        (result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()
    }
    assert tested == documented
    assert set(SEMANTIC_422) <= documented


@schema.parametrize()
@settings(max_examples=examples(100), deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_passes_every_default_check(case: schemathesis.Case) -> None:
    case.call_and_validate()
