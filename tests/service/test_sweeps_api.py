"""``/v1/sweeps`` in process (real stores, real embedded runner): validation, grid and random
sweeps with and without CV, leaderboard order, refit, cancel, SSE."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from helpers.assertions import assert_422
from helpers.specs import FOREVER, LONG_JOB_LIMITS
from helpers.waiting import wait_for_async

from app.settings import Settings

pytestmark = pytest.mark.anyio

FAST = {"epochs": 5, "batch_size": 16}
TERMINAL = {"succeeded", "failed", "cancelled"}


async def wait_sweep(client: httpx.AsyncClient, sweep_id: str, timeout: float = 120.0) -> Any:
    async def ended() -> Any:
        response = await client.get(f"/v1/sweeps/{sweep_id}")
        assert response.status_code == 200, response.text
        doc = response.json()
        return doc if doc["status"] in TERMINAL else None

    return await wait_for_async(ended, timeout, f"sweep {sweep_id} to end", 0.1)


async def start(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/sweeps", json=body)
    assert response.status_code == 202, response.text
    doc: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"/v1/sweeps/{doc['id']}"
    return doc


async def test_grid_with_cv_scores_folds_and_refits(client: httpx.AsyncClient, gen: Any) -> None:
    ds = await gen(client, "xor", n_samples=60, seed=1)
    space = {"learning_rate": [0.05, 0.001], "hidden_layers": [[4]]}
    doc = await start(
        client,
        dataset_id=ds["id"],
        training=FAST,
        search={"strategy": "grid", "space": space},
        cv_folds=3,
        max_parallel=2,
    )
    assert doc["metric"] == "log_loss" and doc["greater_is_better"] is False
    assert [t["params"] for t in doc["trials"]] == [
        {"learning_rate": 0.05, "hidden_layers": [4]},
        {"learning_rate": 0.001, "hidden_layers": [4]},
    ]
    done = await wait_sweep(client, doc["id"])
    assert done["status"] == "succeeded", done
    trials = done["trials"]
    assert all(len(t["job_ids"]) == 3 and t["status"] == "succeeded" for t in trials)
    assert all(t["score"] > 0 and t["score_std"] is not None for t in trials)
    board = done["leaderboard"]
    assert sorted(board) == [0, 1]
    assert trials[board[0]]["score"] <= trials[board[1]]["score"]  # log_loss: lower first
    best = done["best"]
    assert best["trial"] == board[0] and best["params"] == trials[board[0]]["params"]
    refit = (await client.get(f"/v1/jobs/{best['job_id']}")).json()
    assert refit["sweep_id"] == doc["id"] and refit["model_id"] == best["model_id"]
    assert refit["training"]["learning_rate"] == best["params"]["learning_rate"]
    fold = (await client.get(f"/v1/jobs/{trials[0]['job_ids'][1]}")).json()
    assert fold["sweep_id"] == doc["id"]
    model = (await client.get(f"/v1/models/{fold['model_id']}")).json()
    assert model["evaluation"]["test"]["log_loss"] > 0  # scored on its held-out fold
    rows = (await client.get(f"/v1/datasets/{ds['id']}/data")).json()
    scores, held_out = [], []
    for job_id in trials[0]["job_ids"]:
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        m = (await client.get(f"/v1/models/{job['model_id']}")).json()
        scores.append(m["evaluation"]["test"]["log_loss"])
        test = (await client.get(f"/v1/models/{m['id']}/split")).json()["test"]
        held_out.append(test)
        # The fold's rows, evaluated through the API, give the fold job's score.
        body = {"X": [rows["X"][i] for i in test], "y": [rows["y"][i] for i in test]}
        evaluated = (await client.post(f"/v1/models/{m['id']}/evaluate", json=body)).json()
        assert evaluated["metrics"]["log_loss"] == pytest.approx(scores[-1], rel=1e-9)
    assert trials[0]["score"] == pytest.approx(sum(scores) / 3)
    # The three held-out folds partition the rows, each class spread evenly (stratified).
    assert sorted(i for fold in held_out for i in fold) == list(range(60))
    for fold in held_out:
        assert sum(rows["y"][i] == rows["y"][0] for i in fold) in (
            sum(y == rows["y"][0] for y in rows["y"]) // 3,
            -(-sum(y == rows["y"][0] for y in rows["y"]) // 3),
        )


async def test_random_without_cv_orders_accuracy_higher_first(
    client: httpx.AsyncClient, gen: Any
) -> None:
    ds = await gen(client, "moons", n_samples=80, seed=2)
    search = {
        "strategy": "random",
        "space": {"learning_rate": {"log_uniform": [1e-4, 0.1]}, "epochs": {"int_uniform": [2, 6]}},
        "max_trials": 3,
        "seed": 5,
    }
    body = {"dataset_id": ds["id"], "training": {"batch_size": 16}, "search": search}
    doc = await start(client, **body, metric="accuracy")
    again = await start(client, **body, metric="accuracy")
    assert [t["params"] for t in doc["trials"]] == [t["params"] for t in again["trials"]]
    assert all(2 <= t["params"]["epochs"] <= 6 for t in doc["trials"])
    done = await wait_sweep(client, doc["id"])
    await wait_sweep(client, again["id"])
    assert done["status"] == "succeeded" and done["greater_is_better"] is True
    scores = [done["trials"][i]["score"] for i in done["leaderboard"]]
    assert scores == sorted(scores, reverse=True)
    best = done["best"]
    trial = done["trials"][best["trial"]]
    assert best["job_id"] == trial["job_ids"][0] and best["model_id"] == trial["model_id"]
    job = (await client.get(f"/v1/jobs/{best['job_id']}")).json()
    assert job["training"]["validation_fraction"] == 0.2 and job["sweep_id"] == doc["id"]
    model = (await client.get(f"/v1/models/{best['model_id']}")).json()
    assert model["evaluation"]["validation"]["accuracy"] == best["score"]


async def test_cancel_stops_every_job(app_client: Any, gen: Any) -> None:
    # Trials that run until cancelled (a sweep of trials that merely take a while could have
    # finished some of them before the cancel), and one of them seen running when it comes.
    async with app_client(**LONG_JOB_LIMITS, sweep_compute_budget=1e15) as client:
        ds = await gen(client, "xor", n_samples=60, seed=1)
        doc = await start(
            client,
            dataset_id=ds["id"],
            training=FOREVER,
            search={"space": {"learning_rate": [0.1, 0.01, 0.001]}},
            cv_folds=2,
            max_parallel=2,
        )

        async def running() -> list[Any]:
            jobs = (await client.get("/v1/jobs", params={"status": "running"})).json()["data"]
            return [j for j in jobs if j["sweep_id"] == doc["id"]]

        await wait_for_async(running, 60, f"a job of sweep {doc['id']} to run", 0.05)
        response = await client.post(f"/v1/sweeps/{doc['id']}/cancel")
        assert response.status_code == 202, response.text
        done = await wait_sweep(client, doc["id"])
        assert done["status"] == "cancelled"
        jobs = (await client.get("/v1/jobs")).json()["data"]
        mine = [j for j in jobs if j["sweep_id"] == doc["id"]]
        assert mine and all(j["status"] in TERMINAL for j in mine)
        assert all(t["status"] == "cancelled" for t in done["trials"])
        assert (await client.post(f"/v1/sweeps/{doc['id']}/cancel")).status_code == 409


async def test_events_stream_trials_then_status(client: httpx.AsyncClient, gen: Any) -> None:
    ds = await gen(client, "xor", n_samples=40, seed=1)
    doc = await start(
        client,
        dataset_id=ds["id"],
        training=FAST,
        search={"space": {"learning_rate": [0.1, 0.01]}},
    )
    events: list[tuple[str, str]] = []
    async with client.stream("GET", f"/v1/sweeps/{doc['id']}/events") as response:
        assert response.status_code == 200
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((kind, line))
    kinds = [k for k, _ in events]
    assert kinds == ["trial", "trial", "status"]
    listed = (await client.get("/v1/sweeps")).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == doc["id"]


@pytest.mark.parametrize(
    ("patch", "loc", "word"),
    [
        ({"cv_folds": 1}, ["body", "cv_folds"], "2"),
        ({"cv_folds": 11}, ["body", "cv_folds"], "10"),
        ({"search": {"space": {}}}, ["body", "search", "space"], "at least 1"),
        ({"search": {"space": {"nope": [1]}}}, ["body", "search", "space", "nope"], "unknown"),
        (
            {"search": {"strategy": "random", "space": {"l2": {"uniform": [1, 0]}}}},
            ["body", "search", "space", "l2"],
            "lo must be <= hi",
        ),
        (
            {"search": {"strategy": "random", "space": {"learning_rate": {"log_uniform": [0, 1]}}}},
            ["body", "search", "space", "learning_rate"],
            "lo > 0",
        ),
        (
            {"search": {"space": {"learning_rate": [0.1, -1.0]}}},
            ["body", "search", "space", "learning_rate"],
            "greater than 0",
        ),
        (
            {"search": {"space": {"hidden_layers": [[4], [99]]}}},
            ["body", "search", "space", "hidden_layers", 0],
            "at most 16",
        ),
        ({"metric": "r2"}, ["body", "metric"], "not a classification metric"),
        (
            {"search": {"space": {"l2": list(range(1000)), "epochs": list(range(1, 1001))}}},
            ["body", "search", "space"],
            "MLP_SWEEP_MAX_TRIALS",
        ),
        (
            {"search": {"strategy": "random", "space": {"l2": [0]}, "max_trials": 1001}},
            ["body", "search", "max_trials"],
            "MLP_SWEEP_MAX_TRIALS",
        ),
    ],
)
async def test_bad_requests_name_the_field_or_limit(
    client: httpx.AsyncClient, gen: Any, patch: dict[str, Any], loc: list[Any], word: str
) -> None:
    ds = await gen(client, "xor", n_samples=40, seed=1)
    body = {"dataset_id": ds["id"], "search": {"space": {"l2": [0.0]}}, **patch}
    response = await client.post("/v1/sweeps", json=body)
    assert_422(response, loc, word)
    assert (await client.get("/v1/jobs")).json()["count"] == 0


async def test_sweeps_past_the_compute_budget_are_refused(app_client: Any, gen: Any) -> None:
    async with app_client(sweep_compute_budget=1e8) as client:
        ds = await gen(client, "xor", n_samples=40, seed=1)
        body = {"dataset_id": ds["id"], "training": {"epochs": 300}, "cv_folds": 10}
        response = await client.post(
            "/v1/sweeps", json={**body, "search": {"space": {"l2": [0.0] * 50}}}
        )
        assert_422(response, ["body"], "MLP_SWEEP_COMPUTE_BUDGET", "100,000,000")
        assert (await client.get("/v1/jobs")).json()["count"] == 0
        response = await client.post(
            "/v1/sweeps", json={**body, "search": {"space": {"l2": [0.0]}}}
        )
        assert response.status_code == 202, response.text
        await client.post(f"/v1/sweeps/{response.json()['id']}/cancel")


async def test_unknown_dataset_or_sweep_is_404(client: httpx.AsyncClient) -> None:
    body = {"dataset_id": "ds_nope", "search": {"space": {"l2": [0.0]}}}
    assert (await client.post("/v1/sweeps", json=body)).status_code == 404
    for method, path in [("GET", ""), ("GET", "/events"), ("POST", "/cancel")]:
        response = await client.request(method, f"/v1/sweeps/swp_nope{path}")
        assert response.status_code == 404, (path, response.text)


async def test_regression_defaults_to_mse(client: httpx.AsyncClient, settings: Settings) -> None:
    rows = [[float(i)] for i in range(30)]
    ds = await client.post(
        "/v1/datasets", json={"X": rows, "y": [r[0] * 2 for r in rows], "task": "regression"}
    )
    doc = await start(
        client,
        dataset_id=ds.json()["id"],
        training=FAST,
        search={"space": {"learning_rate": [0.01]}},
        cv_folds=2,
    )
    assert doc["metric"] == "mse"
    done = await wait_sweep(client, doc["id"])
    assert done["status"] == "succeeded" and done["best"]["model_id"] is not None


async def test_failed_trials_leave_the_leaderboard_and_all_failed_fails_the_sweep(
    client: httpx.AsyncClient,
) -> None:
    rows = [[(i % 7 - 3) * 1e150, (i % 5 - 2) * 1e150] for i in range(40)]
    labels = [int(r[0] * r[1] > 0) for r in rows]
    ds = (await client.post("/v1/datasets", json={"X": rows, "y": labels})).json()
    training = {"epochs": 5, "optimizer": "sgd", "learning_rate": 10.0}
    mixed = await start(
        client,
        dataset_id=ds["id"],
        training=training,
        search={"space": {"standardize": [False, True]}},
    )
    done = await wait_sweep(client, mixed["id"])
    assert [t["status"] for t in done["trials"]] == ["failed", "succeeded"]
    assert done["trials"][0]["score"] is None and done["leaderboard"] == [1]
    assert done["status"] == "succeeded" and done["best"]["trial"] == 1
    failing = await start(
        client,
        dataset_id=ds["id"],
        training={**training, "standardize": False},
        search={"space": {"learning_rate": [10.0, 20.0]}},
        cv_folds=2,
    )
    done = await wait_sweep(client, failing["id"])
    assert done["status"] == "failed" and done["best"] is None and done["leaderboard"] == []
    job = (await client.get(f"/v1/jobs/{done['trials'][0]['job_ids'][0]}")).json()
    assert job["error"]["code"] == "diverged"


async def test_a_column_over_max_column_categories_is_a_422_for_jobs_and_sweeps(
    app_client: Any,
) -> None:
    """A model stores every distinct value of a categorical column (kept or "other"): a job or
    sweep on a column with more than ``MLP_MAX_COLUMN_CATEGORIES`` of them is refused up front."""
    text = "s,x,y\n" + "".join(f"v{i},{i % 3},{i % 2}\n" for i in range(5))
    async with app_client(max_column_categories=4) as client:
        upload = await client.post(
            "/v1/datasets", content=text, headers={"content-type": "text/csv"}
        )
        assert upload.status_code == 201, upload.text
        ds = upload.json()["id"]
        job = await client.post("/v1/jobs", json={"dataset_id": ds, "training": FAST})
        sweep = await client.post(
            "/v1/sweeps",
            json={"dataset_id": ds, "search": {"strategy": "grid", "space": {"l2": [0.0]}}},
        )
        for response in (job, sweep):
            assert response.status_code == 422, response.text
            message = response.json()["detail"][0]["msg"]
            assert "column 's'" in message and "5 distinct" in message, message
            assert "MLP_MAX_COLUMN_CATEGORIES" in message, message
    async with app_client(max_column_categories=5) as client:  # at the cap: accepted
        upload = await client.post(
            "/v1/datasets", content=text, headers={"content-type": "text/csv"}
        )
        job = await client.post(
            "/v1/jobs", json={"dataset_id": upload.json()["id"], "training": FAST}
        )
        assert job.status_code == 202, job.text
