"""Sweeps against a real server, on both back-ends (``[embedded]``, and ``[rq]``: real Redis and
real worker processes): the Python client end to end, leaderboard order by the metric's
direction, cancel, and a kill -9 of the server mid-sweep (RELIABILITY.md item 30). Embedded-only
cases are in ``test_sweeps_embedded.py``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from helpers.specs import FOREVER, LONG_JOB_ENV
from helpers.waiting import wait_for

from mlp_client import Client, JobFailed

pytestmark = pytest.mark.integration

TERMINAL = {"succeeded", "failed", "cancelled"}
SWEEP_ENV = {"mlp_sweep_poll_seconds": "0.2", "mlp_max_concurrent_jobs": "2"}
FAST = {"epochs": 5, "batch_size": 16}


def wait_sweep(client: httpx.Client, sweep_id: str, timeout: float = 180.0) -> Any:
    def ended() -> Any:
        doc = client.get(f"/v1/sweeps/{sweep_id}").raise_for_status().json()
        return doc if doc["status"] in TERMINAL else None

    return wait_for(ended, timeout, f"sweep {sweep_id} to end", 0.2)


def sweep_jobs(client: httpx.Client, sweep_id: str) -> list[dict[str, Any]]:
    jobs = client.get("/v1/jobs", params={"limit": 1000}).raise_for_status().json()["data"]
    return [job for job in jobs if job["sweep_id"] == sweep_id]


def test_client_grid_with_cv_then_random_by_accuracy(start_server: Any) -> None:
    server = start_server(**SWEEP_ENV)
    with Client(server.base_url) as c:
        ds = c.datasets.generate("xor", n_samples=60, seed=3)
        space = {"learning_rate": [0.05, 0.002], "hidden_layers": [[4], [8]]}
        sweep = c.sweeps.create(ds, space=space, cv_folds=3, training=FAST, max_parallel=2).wait()
        assert sweep.status == "succeeded" and len(sweep.trials) == 4
        scores = [sweep.trials[i]["score"] for i in sweep.leaderboard]
        assert scores == sorted(scores)  # log_loss: lower is better
        assert sweep.best is not None and sweep.best["trial"] == sweep.leaderboard[0]
        assert sweep.best_model().id == sweep.best["model_id"]  # the refit
        jobs = sweep_jobs(server.client(), sweep.id)
        assert len(jobs) == 4 * 3 + 1 and all(j["status"] == "succeeded" for j in jobs)

        random = c.sweeps.create(
            ds,
            space={"learning_rate": {"log_uniform": [0.001, 0.1]}, "l2": {"uniform": [0, 0.01]}},
            strategy="random",
            max_trials=3,
            seed=1,
            metric="accuracy",
            training=FAST,
        ).wait()
        assert random.status == "succeeded" and len(random.trials) == 3
        scores = [random.trials[i]["score"] for i in random.leaderboard]
        assert scores == sorted(scores, reverse=True)  # accuracy: higher is better
        assert {s.id for s in c.sweeps.list()} == {sweep.id, random.id}


def test_cancel_leaves_no_job_running(start_server: Any) -> None:
    # Endless trials (admitted by these limits): a sweep that merely takes a while could end
    # before the cancel, which would then be a 409.
    server = start_server(**SWEEP_ENV, **LONG_JOB_ENV, mlp_sweep_compute_budget="1e18")
    with server.client() as client, Client(server.base_url) as c:
        ds = client.post("/v1/datasets/generate", json={"kind": "notebook"}).json()
        body = {
            "dataset_id": ds["id"],
            "training": FOREVER,
            "search": {"space": {"learning_rate": [0.01, 0.001, 0.0001]}},
            "cv_folds": 2,
            "max_parallel": 2,
        }
        sweep = client.post("/v1/sweeps", json=body).json()
        wait_for(
            lambda: any(j["status"] == "running" for j in sweep_jobs(client, sweep["id"])),
            60,
            "a trial to run",
        )
        assert client.post(f"/v1/sweeps/{sweep['id']}/cancel").status_code == 202
        with pytest.raises(JobFailed):
            c.sweeps.wait(sweep["id"], timeout=120)
        done = client.get(f"/v1/sweeps/{sweep['id']}").json()
        assert done["status"] == "cancelled"
        assert all(j["status"] in TERMINAL for j in sweep_jobs(client, sweep["id"]))
        assert client.post(f"/v1/sweeps/{sweep['id']}/cancel").status_code == 409


@pytest.mark.slow
def test_kill_9_mid_sweep_then_the_sweep_finishes(start_server: Any) -> None:
    server = start_server(**SWEEP_ENV)
    client = server.client()
    ds = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 60}).json()
    body = {
        "dataset_id": ds["id"],
        "training": {"epochs": 80, "batch_size": 4},
        "search": {"space": {"learning_rate": [0.05, 0.01, 0.002]}},
        "cv_folds": 2,
        "max_parallel": 2,
    }
    sweep = client.post("/v1/sweeps", json=body).json()
    wait_for(
        lambda: any(j["status"] == "running" for j in sweep_jobs(client, sweep["id"])),
        60,
        "a trial to run",
    )
    client.close()
    server.restart(kill=True)
    with server.client() as client:
        done = wait_sweep(client, sweep["id"])
        assert done["status"] == "succeeded", done
        jobs = sweep_jobs(client, sweep["id"])
        ids = [job_id for t in done["trials"] for job_id in t["job_ids"]] + [done["best"]["job_id"]]
        # One job per trial and fold (and the refit): nothing was submitted twice.
        assert len(ids) == len(set(ids)) == 3 * 2 + 1
        assert sorted(j["id"] for j in jobs) == sorted(ids)
        assert all(j["status"] == "succeeded" for j in jobs)
