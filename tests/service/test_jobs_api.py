"""/v1/jobs: create (stored or inline data), caps and budget, list, get, SSE, cancel, 429."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from helpers.assertions import assert_422
from helpers.specs import FOREVER, LONG_JOB_LIMITS

import mlp_engine
from app.schemas.jobs import (
    TABLE_DEFAULT_L2,
    ActivationName,
    Architecture,
    DType,
    Init,
    Optimizer,
    Training,
)
from app.services.jobs import compute_cost, encoded_width, n_parameters
from app.storage.datasets import DatasetStore
from mlp_engine.activations import ACTIVATIONS
from mlp_engine.config import DTYPES, MLPConfig
from mlp_engine.network import INITS
from mlp_engine.optimizers import OPTIMIZERS

pytestmark = pytest.mark.anyio

JOB_FIELDS = {
    "id", "status", "name", "created_at", "started_at", "finished_at", "progress", "history",
    "model_id", "error", "dataset_id", "architecture", "training", "queue_position",
    "sweep_id",
}  # fmt: skip
NOTEBOOK_TRAINING = {
    "epochs": 200,
    "learning_rate": 0.001,
    "batch_size": 1,
    "optimizer": "sgd",
    "momentum": 0.0,
    "init": "notebook",
    "shuffle": False,
    "standardize": False,
    "seed": 3,
}
QUICK = {"epochs": 5, "batch_size": 16, "seed": 1}


def job_body(dataset_id: str, **training: Any) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "architecture": {"hidden_layers": [4]},
        "training": {**QUICK, **training},
    }


def slow_body(dataset_id: str) -> dict[str, Any]:
    """A job that runs until it is cancelled (an app with :data:`LONG_JOB_LIMITS` admits it): a
    job that merely takes seconds may finish before the test's next request on a fast machine."""
    return {
        "dataset_id": dataset_id,
        "architecture": {"hidden_layers": [16, 16, 16]},
        "training": {**FOREVER, "optimizer": "sgd", "seed": 0},
    }


async def counts(client: httpx.AsyncClient) -> tuple[int, int]:
    datasets = (await client.get("/v1/datasets")).json()["count"]
    jobs = (await client.get("/v1/jobs")).json()["count"]
    return datasets, jobs


# -- the schema mirrors the engine -------------------------------------------------------------


def test_choices_and_fields_match_the_engine() -> None:
    assert set(get_args(ActivationName)) == set(ACTIVATIONS)
    assert set(get_args(Optimizer)) == set(OPTIMIZERS)
    assert set(get_args(Init)) == set(INITS)
    assert set(get_args(DType)) == set(DTYPES)
    engine = {f.name for f in fields(MLPConfig)}
    assert set(Training.model_fields) | set(Architecture.model_fields) == engine


def test_api_defaults_equal_the_engine_defaults() -> None:
    defaults = MLPConfig().to_params()
    api = {**Architecture().model_dump(), **Training().model_dump()}
    api_seed = api.pop("seed")
    assert api_seed is None  # the server draws one per job
    assert api.pop("l2") is None  # resolved per dataset kind (see test_l2_default_...)
    assert {k: v for k, v in defaults.items() if k not in ("seed", "l2")} == api
    assert defaults["l2"] == 0.0


def test_compute_cost_counts_weights_and_biases() -> None:
    assert n_parameters([2, 5, 3, 1]) == (2 * 5 + 5) + (5 * 3 + 3) + (3 * 1 + 1)
    steps = 200 * 1000  # batch 1: one update step per row per epoch
    assert compute_cost(1000, [2, 5, 3, 1], 200, 1, 0) == 1000 * 37 * 200
    assert compute_cost(1000, [2, 5, 3, 1], 200, 1, 1000) == 1000 * 37 * 200 + steps * 1000
    assert compute_cost(1000, [2, 5, 3, 1], 200, 32, 1000) == 1000 * 37 * 200 + 200 * 32 * 1000


# -- create and follow --------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "notebook"])
async def test_notebook_setup_runs_and_is_recorded(
    client: httpx.AsyncClient, gen: Any, wait_job: Any, optimizer: str
) -> None:
    dataset = await gen(client, "notebook", n_samples=300)
    training = {**NOTEBOOK_TRAINING, "epochs": 5, "optimizer": optimizer}
    body = {
        "dataset_id": dataset["id"],
        "name": "notebook net",
        "architecture": {"hidden_layers": [5, 3], "activation": "relu"},
        "training": training,
    }
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job = response.json()
    assert set(job) == JOB_FIELDS
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running")
    assert job["dataset_id"] == dataset["id"] and job["name"] == "notebook net"
    assert job["architecture"] == {"hidden_layers": [5, 3], "activation": "relu"}
    for key, value in training.items():
        assert job["training"][key] == value, key

    done = await wait_job(client, job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["model_id"] and done["error"] is None
    assert done["started_at"] and done["finished_at"]
    assert [row["epoch"] for row in done["history"]] == [1, 2, 3, 4, 5]
    assert done["progress"]["epoch"] == 5 and done["progress"]["epochs"] == 5
    assert 0 <= done["progress"]["accuracy"] <= 1
    model = await client.get(f"/v1/models/{done['model_id']}")
    assert model.status_code == 200
    assert model.json()["layers"] == [2, 5, 3, 1]


async def test_seed_is_drawn_and_recorded_when_omitted(client: httpx.AsyncClient, gen: Any) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    body = job_body(dataset["id"])
    del body["training"]["seed"]
    job = (await client.post("/v1/jobs", json=body)).json()
    assert isinstance(job["training"]["seed"], int) and job["training"]["seed"] >= 0
    # Every engine setting is resolved and recorded.
    assert set(job["training"]) == set(Training.model_fields)


async def test_inline_data_is_stored_as_a_dataset(client: httpx.AsyncClient, wait_job: Any) -> None:
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5
    y = ["no", "yes", "yes", "no"] * 5
    body = {"X": X, "y": y, "name": "inline", "training": QUICK}
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job = response.json()
    data = (await client.get(f"/v1/datasets/{job['dataset_id']}/data")).json()
    assert data == {"X": X, "y": y}
    done = await wait_job(client, job["id"])
    assert done["status"] == "succeeded", done["error"]
    model = (await client.get(f"/v1/models/{done['model_id']}")).json()
    assert model["classes"] == ["no", "yes"]


async def test_inline_regression(client: httpx.AsyncClient, wait_job: Any) -> None:
    X = [[i / 10] for i in range(20)]
    y = [2 * i / 10 + 1 for i in range(20)]
    body = {"X": X, "y": y, "task": "regression", "training": QUICK}
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    done = await wait_job(client, response.json()["id"])
    assert done["status"] == "succeeded", done["error"]


async def test_events_stream_progress_then_status(client: httpx.AsyncClient, gen: Any) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    job = (await client.post("/v1/jobs", json=job_body(dataset["id"], epochs=6))).json()
    async with client.stream("GET", f"/v1/jobs/{job['id']}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.aread()).decode()
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if lines:
            kind = next(line[7:] for line in lines if line.startswith("event: "))
            data = json.loads("".join(line[6:] for line in lines if line.startswith("data: ")))
            events.append((kind, data))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "status" and kinds.count("status") == 1
    epochs = [data["epoch"] for kind, data in events if kind == "progress"]
    assert epochs == sorted(epochs) and epochs[-1] == 6
    final = events[-1][1]
    assert final["status"] == "succeeded" and final["model_id"]


async def test_events_of_unknown_job_is_404_before_streaming(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/jobs/job_nope/events")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["detail"] == "job 'job_nope' not found"


async def test_list_newest_first_and_filter(
    client: httpx.AsyncClient, gen: Any, wait_job: Any
) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    ids = [(await client.post("/v1/jobs", json=job_body(dataset["id"]))).json()["id"]]
    ids.append((await client.post("/v1/jobs", json=job_body(dataset["id"]))).json()["id"])
    for job_id in ids:
        await wait_job(client, job_id)
    listing = (await client.get("/v1/jobs")).json()
    assert [j["id"] for j in listing["data"]] == ids[::-1]
    assert listing["count"] == 2
    assert (await client.get("/v1/jobs?status=succeeded")).json()["count"] == 2
    assert (await client.get("/v1/jobs?status=failed")).json()["count"] == 0
    assert (await client.get("/v1/jobs?limit=1")).json()["count"] == 1
    assert_422(await client.get("/v1/jobs?status=done"), ["query", "status"])
    assert_422(await client.get("/v1/jobs?limit=0"), ["query", "limit"])


# -- cancel, 409, 429 ---------------------------------------------------------------------------


async def test_cancel_running_job_then_409(app_client: Any, gen: Any, wait_job: Any) -> None:
    async with app_client(**LONG_JOB_LIMITS) as client:
        dataset = await gen(client, "notebook", n_samples=300)
        job = (await client.post("/v1/jobs", json=slow_body(dataset["id"]))).json()
        await wait_job(client, job["id"], until={"running"})
        response = await client.post(f"/v1/jobs/{job['id']}/cancel")
        assert response.status_code == 202, response.text
        done = await wait_job(client, job["id"])
        assert done["status"] == "cancelled"
        assert done["model_id"] is None
        response = await client.post(f"/v1/jobs/{job['id']}/cancel")
        assert response.status_code == 409
        assert response.json()["code"] == "conflict"


async def test_cancel_unknown_or_malformed_job(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/jobs/job_unknown/cancel")).status_code == 404
    assert (await client.post("/v1/jobs/%2e%2e/cancel")).status_code in (404, 422)


async def test_queue_full_is_429_with_retry_after(app_client: Any, gen: Any, wait_job: Any) -> None:
    async with app_client(max_concurrent_jobs=1, max_queued_jobs=0, **LONG_JOB_LIMITS) as client:
        dataset = await gen(client, "notebook", n_samples=300)
        first = await client.post("/v1/jobs", json=slow_body(dataset["id"]))
        assert first.status_code == 202
        before = await counts(client)
        response = await client.post("/v1/jobs", json=job_body(dataset["id"]))
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["code"] == "queue_full"
        # Inline data of a refused job is not left behind.
        inline = {"X": [[0.0], [1.0]], "y": [0, 1], "training": QUICK}
        assert (await client.post("/v1/jobs", json=inline)).status_code == 429
        assert await counts(client) == before
        await client.post(f"/v1/jobs/{first.json()['id']}/cancel")
        await wait_job(client, first.json()["id"])
        assert (await client.post("/v1/jobs", json=job_body(dataset["id"]))).status_code == 202


# -- RELIABILITY 1-2, 4-6 at the jobs edge ----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ('{"X": [[0, 1], [1, 0], [1, 1], [0, NaN]], "y": [0, 1, 1, 0]}', ["body", "X", 3, 1]),
        ('{"X": [[0, 1], [1, Infinity]], "y": [0, 1]}', ["body", "X", 1, 1]),
        ('{"X": [[0], [1]], "y": [0, NaN]}', ["body", "y", 1]),
        ('{"X": [[0], [1]], "y": [0, 1], "training": {"learning_rate": NaN}}',
         ["body", "training", "learning_rate"]),
    ],
)  # fmt: skip
async def test_non_finite_inline_data_is_422_and_creates_nothing(
    client: httpx.AsyncClient, data_dir: Path, raw: str, loc: list[Any]
) -> None:
    response = await client.post(
        "/v1/jobs", content=raw, headers={"content-type": "application/json"}
    )
    assert_422(response, loc, "finite")
    assert await counts(client) == (0, 0)
    assert not list((data_dir / "datasets").glob("*")) and not list((data_dir / "models").glob("*"))


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"X": [[0, 1], [1]], "y": [0, 1]}, ["body", "X", 1], ["same length"]),
        ({"X": [[0], [1]], "y": [0, 1, 0]}, ["body", "y"], ["3 labels"]),
        ({"X": [[0], [1]], "y": [1, 1]}, ["body", "y"], ["only one class"]),
        ({"X": [[0], [1]], "y": [0, True]}, ["body", "y", 1], ["boolean"]),
        ({"X": [[0], [1]]}, ["body"], ["X and y"]),
        ({}, ["body"], ["dataset_id"]),
        ({"dataset_id": "ds_x", "X": [[0], [1]], "y": [0, 1]}, ["body"], ["not both"]),
        ({"dataset_id": "ds_missing"}, ["body", "dataset_id"], ["not found"]),
        ({"dataset_id": "../../etc/passwd"}, ["body", "dataset_id"], []),
        ({"dataset_id": "a" * 10_000}, ["body", "dataset_id"], []),
    ],
)
async def test_bad_job_data_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], loc: list[Any], words: list[str]
) -> None:
    response = await client.post("/v1/jobs", json=body)
    assert_422(response, loc, *words)
    assert len(response.content) < 3000
    assert await counts(client) == (0, 0)


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"architecture": {"hidden_layers": [0]}}, ["body", "architecture", "hidden_layers", 0]),
        ({"architecture": {"activation": "gelu"}}, ["body", "architecture", "activation"]),
        ({"training": {"optimizer": "rmsprop"}}, ["body", "training", "optimizer"]),
        ({"training": {"learning_rate": 0}}, ["body", "training", "learning_rate"]),
        ({"training": {"momentum": 1}}, ["body", "training", "momentum"]),
        ({"training": {"validation_fraction": 1}}, ["body", "training", "validation_fraction"]),
        ({"training": {"epochs": "many"}}, ["body", "training", "epochs"]),
        ({"training": {"shuffle": "yes"}}, ["body", "training", "shuffle"]),
        ({"training": {"bogus": 1}}, ["body", "training", "bogus"]),
        ({"training": {"early_stopping": True}}, ["body", "training"]),
        ({"training": {"seed": -1}}, ["body", "training", "seed"]),
        ({"training": {"optimizer": "notebook"}}, ["body", "training", "batch_size"]),
        (
            {"training": {"optimizer": "notebook", "batch_size": 1, "l2": 0.1}},
            ["body", "training", "l2"],
        ),
    ],
)
async def test_bad_settings_are_422_naming_the_field(
    client: httpx.AsyncClient, gen: Any, patch: dict[str, Any], loc: list[Any]
) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    body = {"dataset_id": dataset["id"], **patch}
    assert_422(await client.post("/v1/jobs", json=body), loc)
    assert (await client.get("/v1/jobs")).json()["count"] == 0


@pytest.mark.parametrize(
    ("at_cap", "over_cap", "loc", "words"),
    [
        (
            {"architecture": {"hidden_layers": [2, 2, 2]}},
            {"architecture": {"hidden_layers": [2, 2, 2, 2]}},
            ["body", "architecture", "hidden_layers"],
            ["4 layers", "at most 3"],
        ),
        (
            {"architecture": {"hidden_layers": [16]}},
            {"architecture": {"hidden_layers": [4, 17]}},
            ["body", "architecture", "hidden_layers", 1],
            ["17 units", "at most 16"],
        ),
        (
            {"training": {"epochs": 400, "batch_size": 64}},
            {"training": {"epochs": 401}},
            ["body", "training", "epochs"],
            ["401", "at most 400"],
        ),
        (
            {"training": {"batch_size": 64, "epochs": 2}},
            {"training": {"batch_size": 65}},
            ["body", "training", "batch_size"],
            ["65", "at most 64"],
        ),
    ],
)
async def test_caps_accept_the_cap_and_reject_one_more(
    client: httpx.AsyncClient,
    gen: Any,
    at_cap: dict[str, Any],
    over_cap: dict[str, Any],
    loc: list[Any],
    words: list[str],
) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    response = await client.post("/v1/jobs", json={"dataset_id": dataset["id"], **at_cap})
    assert response.status_code == 202, response.text
    await client.post(f"/v1/jobs/{response.json()['id']}/cancel")
    response = await client.post("/v1/jobs", json={"dataset_id": dataset["id"], **over_cap})
    assert_422(response, loc, *words)


async def test_inline_row_and_feature_caps(client: httpx.AsyncClient) -> None:
    def body(n_rows: int, width: int) -> dict[str, Any]:
        X = [[float(i % 5)] * width for i in range(n_rows)]
        return {"X": X, "y": [i % 2 for i in range(n_rows)], "training": {"epochs": 1}}

    response = await client.post("/v1/jobs", json=body(300, 6))
    assert response.status_code == 202, response.text
    await client.post(f"/v1/jobs/{response.json()['id']}/cancel")
    assert_422(await client.post("/v1/jobs", json=body(301, 1)), ["body", "X"], "at most 300")
    assert_422(await client.post("/v1/jobs", json=body(2, 7)), ["body", "X"], "at most 6")


async def test_compute_budget_is_inclusive_and_its_422_states_it(app_client: Any, gen: Any) -> None:
    # 40 rows x (2*4 + 4 + 4*1 + 1 = 17 parameters) x 10 epochs = 6,800, plus 10 x ceil(40 / 16)
    # = 30 update steps x 1,000 = 30,000
    async with app_client(compute_budget=36_800, compute_step_cost=1000) as client:
        dataset = await gen(client, "xor", n_samples=40)
        response = await client.post("/v1/jobs", json=job_body(dataset["id"], epochs=10))
        assert response.status_code == 202, response.text
        response = await client.post("/v1/jobs", json=job_body(dataset["id"], epochs=11))
        assert_422(
            response,
            ["body"],
            "would cost 40,480",
            "compute budget of 36,800",
            "40 x 17 x 11 = 7,480",
            "11 x ceil(40 / 16) x 1,000 = 33,000",
            "at most 10 epochs",
        )


# -- IDs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_id", ["..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f", "abc%00def", "a" * 10_000, "job_unknown"]
)
async def test_malicious_or_unknown_job_ids(client: httpx.AsyncClient, raw_id: str) -> None:
    for path in (f"/v1/jobs/{raw_id}", f"/v1/jobs/{raw_id}/events"):
        response = await client.get(path)
        assert response.status_code in (404, 422), (path[:30], response.status_code)
        assert len(response.content) < 2000


async def test_job_body_over_the_limit_is_413(app_client: Any) -> None:
    async with app_client(max_body_bytes=2048) as client:
        body = {"X": [[0.123456789, 1.0]] * 200, "y": [0, 1] * 100}
        response = await client.post("/v1/jobs", json=body)
        assert response.status_code == 413
        assert await counts(client) == (0, 0)


# -- table datasets, test_fraction, class_weight, max_categories -------------------------------

CSV = {"content-type": "text/csv"}


def penguins_csv(n: int = 60) -> str:
    """An id, two text columns (one with gaps), a numeric column with gaps, a rare class."""
    lines = ["id,island,bill_mm,sex,species"]
    for i in range(n):
        species = "Chinstrap" if i % 10 == 4 else ["Adelie", "Gentoo"][i % 2]
        bill = "NA" if i % 7 == 3 else str(35 + (i % 2) * 10 + (i % 5) * 0.5)
        sex = "" if i % 9 == 8 else ["female", "male"][i % 2]
        lines.append(f"{i},{['Biscoe', 'Dream', 'Torgersen'][i % 3]},{bill},{sex},{species}")
    return "\n".join(lines) + "\n"


async def table_dataset(client: httpx.AsyncClient, csv: str, query: str = "") -> dict[str, Any]:
    response = await client.post(f"/v1/datasets{query}", content=csv, headers=CSV)
    assert response.status_code == 201, response.text
    meta: dict[str, Any] = response.json()
    return meta


async def test_table_job_with_test_split_and_class_weight(
    client: httpx.AsyncClient, data_dir: Path, wait_job: Any
) -> None:
    dataset = await table_dataset(client, penguins_csv(), "?label=species&ignore=id")
    body = job_body(dataset["id"], test_fraction=0.25, class_weight="balanced", epochs=10)
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["training"]["test_fraction"] == 0.25
    assert (job["training"]["class_weight"], job["training"]["max_categories"]) == ("balanced", 20)
    done = await wait_job(client, job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert set(done["history"][-1]) == {"epoch", "loss", "accuracy"}  # the test split unseen
    model = mlp_engine.load(data_dir / "models" / f"{done['model_id']}.npz")
    assert model.metadata_["label"] == "species"
    assert model.metadata_["dataset_id"] == dataset["id"]
    assert list(model.feature_names_in_) == ["island", "bill_mm", "sex"]
    assert [f["type"] for f in model.features] == ["categorical", "numeric", "categorical"]
    assert model.classes_.tolist() == ["Adelie", "Chinstrap", "Gentoo"]
    assert model.evaluation_["test"] is not None


@pytest.mark.parametrize(
    ("table", "training", "expected"),
    [
        (True, {}, TABLE_DEFAULT_L2),  # tables over-fit without a penalty
        (True, {"l2": 0.0}, 0.0),  # an explicit value always wins
        (True, {"optimizer": "notebook", "batch_size": 1}, 0.0),  # it takes no penalty
        (False, {}, 0.0),  # X/y arrays and generated sets: the notebook's setting
        (False, {"l2": 0.5}, 0.5),
    ],
)
async def test_l2_default_depends_on_the_kind_of_dataset(
    client: httpx.AsyncClient, gen: Any, table: bool, training: dict[str, Any], expected: float
) -> None:
    if table:
        dataset = await table_dataset(client, penguins_csv(), "?label=species&ignore=id")
    else:
        dataset = await gen(client, "moons", n_samples=50)
    body = job_body(dataset["id"], epochs=1, **training)
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["training"]["l2"] == expected


async def test_table_width_bound_is_exact_without_a_split(
    client: httpx.AsyncClient, data_dir: Path, wait_job: Any
) -> None:
    dataset = await table_dataset(client, penguins_csv(), "?label=species&ignore=id")
    # island 3 + bill_mm 1 + its missing indicator + sex 2 + its missing level = 8
    meta = DatasetStore(data_dir, clean_temp=False).get(dataset["id"])
    assert encoded_width(meta, 20) == 8 and encoded_width(meta, 2) == 7
    done = await wait_job(
        client, (await client.post("/v1/jobs", json=job_body(dataset["id"]))).json()["id"]
    )
    assert done["status"] == "succeeded", done["error"]
    model = (await client.get(f"/v1/models/{done['model_id']}")).json()
    assert model["layers"] == [8, 4, 3]


async def test_xy_datasets_keep_the_array_path(
    client: httpx.AsyncClient, gen: Any, data_dir: Path, wait_job: Any
) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    job = (await client.post("/v1/jobs", json=job_body(dataset["id"], test_fraction=0.2))).json()
    done = await wait_job(client, job["id"])
    assert done["status"] == "succeeded", done["error"]
    model = mlp_engine.load(data_dir / "models" / f"{done['model_id']}.npz")
    assert model.plan_ is None and model.metadata_["label"] is None
    assert list(model.feature_names_in_) == ["x0", "x1"]
    assert model.evaluation_["test"] is not None


async def test_int_class_weights_by_their_text(client: httpx.AsyncClient, gen: Any) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    body = job_body(dataset["id"], class_weight={"0": 1.0, "1": 3})
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["training"]["class_weight"] == {"0": 1.0, "1": 3.0}


@pytest.mark.parametrize(
    ("training", "loc", "words"),
    [
        ({"class_weight": {"2": 1.0}}, ["body", "training", "class_weight", "2"], ["'2'"]),
        ({"class_weight": {"1": 0}}, ["body", "training", "class_weight"], ["greater than 0"]),
        ({"class_weight": "heavy"}, ["body", "training", "class_weight"], ["balanced"]),
        ({"test_fraction": 1}, ["body", "training", "test_fraction"], []),
        ({"test_fraction": -0.1}, ["body", "training", "test_fraction"], []),
        ({"max_categories": 0}, ["body", "training", "max_categories"], []),
    ],
)
async def test_bad_table_settings_are_422(
    client: httpx.AsyncClient, gen: Any, training: dict[str, Any], loc: list[Any], words: list[str]
) -> None:
    dataset = await gen(client, "xor", n_samples=40)
    response = await client.post("/v1/jobs", json=job_body(dataset["id"], **training))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    # pydantic's union members add their own steps after the field (e.g. ``dict[str,...]``)
    assert any(item["loc"][: len(loc)] == loc for item in detail), (loc, detail)
    message = " ".join(item["msg"] for item in detail)
    assert all(word in message for word in words), (words, message)
    assert (await client.get("/v1/jobs")).json()["count"] == 0


async def test_class_weight_needs_a_classifier(client: httpx.AsyncClient) -> None:
    dataset = await table_dataset(client, "a,y\n1,0.5\n2,1.5\n3,0.25\n", "?task=regression")
    response = await client.post("/v1/jobs", json=job_body(dataset["id"], class_weight="balanced"))
    assert_422(response, ["body", "training", "class_weight"], "classification")
    inline = {"X": [[0.0], [1.0]], "y": [0.5, 1.5], "task": "regression"}
    response = await client.post(
        "/v1/jobs", json={**inline, "training": {"class_weight": "balanced"}}
    )
    assert_422(response, ["body", "training", "class_weight"], "classification")


async def test_a_test_split_that_holds_out_nothing_fails_the_job(
    client: httpx.AsyncClient, wait_job: Any
) -> None:
    dataset = await table_dataset(client, "a,y\n1,0.5\n2,1.5\n3,0.25\n4,1\n", "?task=regression")
    job = (await client.post("/v1/jobs", json=job_body(dataset["id"], test_fraction=0.1))).json()
    done = await wait_job(client, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "invalid_data" and "test_fraction" in done["error"]["message"]


async def test_budget_counts_the_one_hot_width(app_client: Any) -> None:
    lines = ["code,x,y"] + [f"c{i % 30},{i},{i % 2}" for i in range(60)]
    # max_categories 20: 20 + 1 inputs -> 60 x (21*4 + 4 + 4 + 1 = 93) x 1 = 5,580
    # max_categories 2: 2 + 1 inputs -> 60 x (3*4 + 4 + 4 + 1 = 21) x 1 = 1,260
    async with app_client(compute_budget=5000, compute_step_cost=0) as client:
        dataset = await table_dataset(client, "\n".join(lines))
        body = job_body(dataset["id"], epochs=1)
        response = await client.post("/v1/jobs", json=body)
        assert_422(response, ["body"], "60 x 93 x 1 = 5,580", "21 inputs after encoding")
        response = await client.post(
            "/v1/jobs", json=job_body(dataset["id"], epochs=1, max_categories=2)
        )
        assert response.status_code == 202, response.text


async def test_inline_long_label_is_422(client: httpx.AsyncClient) -> None:
    body = {"X": [[0.0], [1.0], [2.0]], "y": ["a", "b", "c" * 201]}
    assert_422(await client.post("/v1/jobs", json=body), ["body", "y", 2], "at most 200")
    assert await counts(client) == (0, 0)
