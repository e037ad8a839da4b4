"""Item 32: schemathesis' own command line against a live uvicorn server finds no failure.

``schemathesis run http://127.0.0.1:PORT/openapi.json`` with every default check (no
``--checks``: ``--checks all`` would add ``max_response_time``, a 10 s wall-clock limit),
every phase (examples, coverage, fuzzing and the stateful phase, which follows the schema's
OpenAPI links from the creating operations to the routes that take their IDs), 15 examples per
operation (``RELIABILITY_EXAMPLES``, at most 200: ``make soak``). The server is ``python -m app
serve`` (:mod:`helpers.server`) with small limits, so jobs the run starts finish quickly.

The run reads ``schemathesis.toml`` next to this file: it lists the operations whose input has
rules JSON Schema cannot state (``UNSTATABLE`` below, with the status a schema-valid request
may then correctly get). Everything JSON Schema can say is in the schema, and the tests before
the run check the rules the first outside run found missing (a job's data source, the
generator's per-kind parameters, query lengths the HTTP server refuses, seeds, links).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.inprocess import make_settings
from helpers.server import wait_for_job
from helpers.soak import examples
from helpers.waiting import TERMINAL, wait_for
from jsonschema_rs import Draft202012Validator

from app.api.openapi_links import LINKS
from app.main import create_app
from app.services.sweep_plan import SEARCHABLE

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SERVER_ENV = {  # small limits: valid jobs finish in milliseconds and the queue fills (429)
    "mlp_compute_budget": "2e6",
    "mlp_max_queued_jobs": "4",
    "mlp_max_grid_resolution": "64",
}
SOAK_CAP = 200
# Operations with rules JSON Schema cannot state -> the status such a request correctly gets.
UNSTATABLE: dict[str, str] = {
    "POST /v1/datasets": "422",
    "POST /v1/jobs": "422",
    "POST /v1/models/import": "422",
    "POST /v1/sweeps": "422",
    "POST /v1/models/{model_id}/predict": "422",
    "POST /v1/models/{model_id}/evaluate": "422",
    "GET /v1/models/{model_id}/boundary": "422",
    "GET /v1/jobs/{job_id}/boundary": "422",
    "GET /v1/models/{model_id}/animation": "422",
    "POST /v2/models/{model_id}/infer": "400",
    "POST /v2/models/{model_id}/versions/{version}/infer": "400",
}
# uvicorn refuses a request line + headers over 64 KiB (httptools) with a bare 400; a query
# character percent-encodes to at most 12 bytes (4 UTF-8 bytes as %XX).
REQUEST_LINE_LIMIT = 64 * 1024
BYTES_PER_QUERY_CHAR = 12


def _schema(tmp_path: Path) -> dict[str, Any]:
    """The app's schema with ``MLP_MAX_ROWS=500`` (under ``notebook``'s default 1000 rows)."""
    schema: dict[str, Any] = create_app(make_settings(tmp_path, max_rows=500)).openapi()
    return schema


def _validator(schema: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator of ``components/schemas/<name>`` (its ``$ref`` resolved in ``schema``)."""
    root = {"$ref": f"#/components/schemas/{name}", "components": schema["components"]}
    return Draft202012Validator(root)


def test_the_schema_states_the_bodies_the_server_refuses(tmp_path: Path) -> None:
    """The bodies schemathesis' first run sent as schema-valid and the server refused are now
    outside the schema; their valid neighbours stay inside."""
    schema = _schema(tmp_path)
    job, generate = _validator(schema, "JobCreate"), _validator(schema, "DatasetGenerate")
    training = _validator(schema, "Training")
    assert not job.is_valid({})  # neither dataset_id nor X + y
    assert not job.is_valid({"X": [[0.0]]})
    assert not job.is_valid({"dataset_id": "ds_a", "X": [[0.0]], "y": [0]})
    assert job.is_valid({"dataset_id": "ds_a"}) and job.is_valid({"X": [[0.0]], "y": [0]})
    assert not generate.is_valid({"kind": "notebook", "n_classes": 2})  # a kind without classes
    assert not generate.is_valid({"kind": "spirals", "n_classes": 5, "n_samples": 9})
    assert not generate.is_valid({"kind": "gaussians", "n_samples": 5})  # 3 classes by default
    assert not generate.is_valid({"kind": "xor", "n_samples": 501})  # MLP_MAX_ROWS
    assert not generate.is_valid({"kind": "notebook"})  # 1000 rows by default: over the cap
    assert generate.is_valid({"kind": "notebook", "n_samples": 500})
    assert generate.is_valid({"kind": "xor"})  # 400 by default
    for body in (
        {"kind": "spirals", "n_classes": 5, "n_samples": 10},
        {"kind": "gaussians", "n_samples": 6.0},  # JSON's integers include 6.0
        {"kind": "moons", "n_samples": 4, "seed": 2**53 - 1},
    ):
        assert generate.is_valid(body), body
    assert not generate.is_valid({"kind": "xor", "seed": 2**53})  # beyond a double's integers
    assert not training.is_valid({"early_stopping": True})
    sweep = _validator(schema, "SweepCreate")
    assert not sweep.is_valid({"dataset_id": "ds_a", "search": {"space": {"nope": [1]}}})
    assert sweep.is_valid({"dataset_id": "ds_a", "search": {"space": {"l2": [0.0]}}})
    names = schema["components"]["schemas"]["SearchSpace"]["properties"]["space"]
    assert set(names["propertyNames"]["enum"]) == SEARCHABLE
    assert training.is_valid({"early_stopping": True, "validation_fraction": 0.2})


def test_the_schemas_per_kind_defaults_are_the_engines() -> None:
    """``DEFAULT_ROWS`` and ``CLASS_KINDS`` (which the union on ``kind`` is built from) say
    what ``mlp_engine.datasets.make`` does when ``n_samples``/``n_classes`` are absent."""
    from app.schemas.datasets import CLASS_KINDS, DEFAULT_ROWS
    from mlp_engine import datasets as engine_datasets

    assert set(DEFAULT_ROWS) == set(engine_datasets.KINDS)
    for kind in engine_datasets.KINDS:
        X, y = engine_datasets.make(kind)
        assert X.shape[0] == DEFAULT_ROWS[kind], kind
        assert len(set(y.tolist())) == CLASS_KINDS.get(kind, 2), kind
    with pytest.raises(ValueError, match="n_classes"):
        engine_datasets.make("xor", n_classes=2)


def test_the_server_accepts_what_the_schema_calls_an_integer(tmp_path: Path) -> None:
    """``6.0`` is an integer to JSON Schema, so the strict models take it (and still refuse
    ``"6"``, ``true`` and ``6.5``)."""
    from app.schemas.datasets import DatasetGenerate

    assert DatasetGenerate.model_validate({"kind": "gaussians", "n_samples": 6.0}).n_samples == 6
    for value in ("6", True, 6.5):
        with pytest.raises(ValueError, match="valid integer"):
            DatasetGenerate.model_validate({"kind": "gaussians", "n_samples": value})


def test_every_query_fits_the_http_servers_request_line(tmp_path: Path) -> None:
    """Every string query parameter has a ``maxLength``, and an operation's query at its
    maxima, fully percent-encoded, stays under uvicorn's limit: what the server refuses with
    a bare 400 is outside the schema (the 100,000-character ``fixed`` was inside)."""
    for path, operations in _schema(tmp_path)["paths"].items():
        for method, operation in operations.items():
            chars = 0
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                branches = parameter["schema"].get("anyOf", [parameter["schema"]])
                for branch in branches:
                    if branch.get("type") == "string" and "enum" not in branch:
                        assert "maxLength" in branch, (method, path, parameter["name"])
                        chars += branch["maxLength"] + len(parameter["name"]) + 2
            assert len(path) + chars * BYTES_PER_QUERY_CHAR < REQUEST_LINE_LIMIT - 4096, path


def test_every_link_names_an_operation_and_its_parameters(tmp_path: Path) -> None:
    """Each link's ``operationId`` exists, its parameters are that operation's, a body link's
    fields are properties of its body; each declared link is in the served schema."""
    schema = _schema(tmp_path)
    by_id = {
        operation["operationId"]: operation
        for operations in schema["paths"].values()
        for operation in operations.values()
    }
    served = 0
    for operations in schema["paths"].values():
        for operation in operations.values():
            for response in operation["responses"].values():
                for name, link in response.get("links", {}).items():
                    served += 1
                    target = by_id[link["operationId"]]  # KeyError: no such operation
                    names = {p["name"] for p in target.get("parameters", [])}
                    assert set(link.get("parameters", {})) <= names, (name, link)
                    body = link.get("requestBody", {})
                    if body:
                        ref = target["requestBody"]["content"]["application/json"]["schema"]
                        component = schema["components"]["schemas"][ref["$ref"].split("/")[-1]]
                        assert set(body) <= set(component["properties"]), (name, link)
    assert served == sum(len(links) for links in LINKS.values())
    sources = {f"{method} {path}" for (method, path), _ in LINKS}
    assert {"POST /v1/datasets", "POST /v1/jobs", "POST /v1/models/import"} <= sources
    assert "POST /v1/sweeps" in sources


def test_the_config_relaxes_only_the_unstatable_operations() -> None:
    """``schemathesis.toml`` accepts one extra status on exactly the operations of
    ``UNSTATABLE``; the generator, whose rules the schema now states, is not among them."""
    config = tomllib.loads(CONFIG.read_text())
    relaxed: dict[str, str] = {}
    for entry in config["operations"]:
        statuses = entry["checks"]["positive_data_acceptance"]["expected-statuses"]
        default = {"2xx", "3xx", "401", "403", "404", "409", "429", "5xx"}
        (extra,) = set(statuses) - default
        relaxed[entry["include-name"]] = extra
    assert relaxed == UNSTATABLE
    assert "POST /v1/datasets/generate" not in relaxed


def _examples() -> int:
    """Examples per operation: 15, ``RELIABILITY_EXAMPLES`` up to ``SOAK_CAP`` (``make soak``
    asks for 1000, for hypothesis properties; 200 per operation is a ~10 minute CLI run)."""
    return min(examples(15), SOAK_CAP)


def _seed(client: httpx.Client) -> dict[str, str]:
    """A dataset, a succeeded job and its model, and a finished sweep, made through the API:
    ``{path parameter name: ID}``."""
    dataset = client.post("/v1/datasets/generate", json={"kind": "gaussians"})
    assert dataset.status_code == 201, dataset.text
    dataset_id = dataset.json()["id"]
    job = client.post("/v1/jobs", json={"dataset_id": dataset_id, "training": {"epochs": 5}})
    assert job.status_code == 202, job.text
    record = wait_for_job(client, job.json()["id"])
    assert record["status"] == "succeeded", record
    body = {"dataset_id": dataset_id, "training": {"epochs": 5}}
    sweep = client.post("/v1/sweeps", json={**body, "search": {"space": {"l2": [0.0]}}})
    assert sweep.status_code == 202, sweep.text
    sweep_id = sweep.json()["id"]

    def sweep_ended() -> bool:
        return client.get(f"/v1/sweeps/{sweep_id}").json()["status"] in TERMINAL

    wait_for(sweep_ended, 90, "the seed sweep to end")
    return {
        "dataset_id": dataset_id,
        "job_id": record["id"],
        "model_id": record["model_id"],
        "sweep_id": sweep_id,
    }


def _toml(value: Any) -> str:
    """``value`` (str, number, list, dict) as a TOML value (inline tables for dicts)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(value)


def _config_with_ids(schema: dict[str, Any], ids: dict[str, str], path: Path) -> Path:
    """``schemathesis.toml`` plus the seeded IDs: every operation (but ``DELETE``, so they
    survive) that takes one gets it for half of its cases (a dictionary bound to the path
    parameter), the other half generated. Written to ``path``."""
    entries = {e["include-name"]: e for e in tomllib.loads(CONFIG.read_text())["operations"]}
    for route, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", [])} & set(ids)
            if method == "delete" or not names:
                continue
            name = f"{method.upper()} {route}"
            entry = entries.setdefault(name, {"include-name": name})
            entry["parameters"] = {n: {"dictionary": n, "probability": 0.5} for n in names}
    lines = [f"dictionaries = {_toml({n: {'values': [v]} for n, v in ids.items()})}"]
    for entry in entries.values():
        lines += ["", "[[operations]]", *(f"{k} = {_toml(v)}" for k, v in entry.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def _failures(output: str) -> str:
    """The FAILURES and ERRORS sections of schemathesis' output (or its tail)."""
    marks = [i for i in (output.find("= ERRORS ="), output.find("= FAILURES =")) if i >= 0]
    start = min(marks, default=max(0, len(output) - 20_000))
    return output[start:][:40_000]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(900 + 20 * _examples())
def test_schemathesis_cli_finds_no_failure(start_server: Any, tmp_path: Path) -> None:
    """``schemathesis run`` (every default check, every phase) against ``python -m app serve``, with
    a seeded dataset, job, model and sweep among the IDs: exit status 0. One worker: CPython
    3.11's ``ast.parse`` (which hypothesis calls to describe filters) can fail with "recursion
    depth mismatch" when threads run it at once."""
    server = start_server(**SERVER_ENV)
    with server.client() as client:
        ids = _seed(client)
        schema = client.get("/openapi.json").json()
    config = _config_with_ids(schema, ids, tmp_path / "schemathesis.toml")
    n = _examples()
    command = [
        str(SCHEMATHESIS),
        f"--config-file={config}",
        "run",
        f"{server.base_url}/openapi.json",
        "--phases=examples,coverage,fuzzing,stateful",
        f"--max-examples={n}",
        "--workers=1",
        "--no-color",
        "--generation-database=none",
        "--request-timeout=60",
    ]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600 + 15 * n,  # generous: only turns a hang into a failure
        check=False,
    )
    output = result.stdout + result.stderr
    print(output[-8000:])  # shown with -s or on failure: phases, links covered, warnings
    summary = output[output.find("= SUMMARY =") :] if "= SUMMARY =" in output else ""
    assert result.returncode == 0, (
        f"schemathesis exited {result.returncode}:\n{_failures(output)}\n{summary}"
        f"\nserver log:\n{server.log()[-5000:]}"
    )
    assert "Stateful" in output and "API Links" in output, output[-5000:]
