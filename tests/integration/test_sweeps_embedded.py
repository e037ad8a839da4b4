"""Sweeps against a real embedded-runner server: two API processes (``MLP_HTTP_WORKERS=2``)
advancing the same sweep create each of its jobs once, and a 10^6 grid is refused with a 422
naming the limit before anything is built or queued (RELIABILITY.md item 30); the README's sweep
snippet runs as written."""

from __future__ import annotations

from typing import Any

import pytest
from test_readme_snippets import snippet
from test_sweeps_live import FAST, SWEEP_ENV, sweep_jobs, wait_sweep

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backend() -> str:
    """The multi-process case is about the compare-and-set in the store, the refusal about
    the request; the RQ variants of the sweep flow are in test_sweeps_live.py."""
    return "embedded"


def test_several_api_processes_advance_one_sweep_once(start_server: Any) -> None:
    server = start_server(mlp_http_workers="2", **SWEEP_ENV)
    with server.client() as client:
        ds = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 40}).json()
        body = {
            "dataset_id": ds["id"],
            "training": FAST,
            "search": {"space": {"learning_rate": [0.1, 0.03, 0.01, 0.003]}},
            "cv_folds": 2,
            "max_parallel": 2,
        }
        sweep = client.post("/v1/sweeps", json=body).json()
        done = wait_sweep(client, sweep["id"])
        assert done["status"] == "succeeded"
        assert len(sweep_jobs(client, sweep["id"])) == 4 * 2 + 1


def test_a_huge_grid_is_refused_naming_the_limit(shared_server: Any) -> None:
    with shared_server.client() as client:
        ds = client.post("/v1/datasets/generate", json={"kind": "xor"}).json()
        space = {
            "l2": list(range(100)),
            "epochs": list(range(1, 101)),
            "batch_size": list(range(1, 101)),
        }
        response = client.post(
            "/v1/sweeps", json={"dataset_id": ds["id"], "search": {"space": space}}
        )
        assert response.status_code == 422
        assert "1,000,000 combinations" in response.text and "MLP_SWEEP_MAX_TRIALS" in response.text
        assert all(s["dataset_id"] != ds["id"] for s in client.get("/v1/sweeps").json()["data"])


def test_readme_sweep_snippet_runs(shared_server: Any) -> None:
    code = snippet("Sweeps: hyper-parameter search")
    assert code.count("127.0.0.1:8000") == 1, code
    code = code.replace("127.0.0.1:8000", f"127.0.0.1:{shared_server.port}")
    namespace: dict[str, Any] = {"__name__": "readme_snippet"}
    exec(compile(code, "README.md (Sweeps)", "exec"), namespace)
    sweep, model = namespace["sweep"], namespace["model"]
    assert sweep.status == "succeeded" and len(sweep.trials) == 4
    assert model.id == sweep.best["model_id"]
    scores = [sweep.trials[i]["score"] for i in sweep.leaderboard]
    assert scores == sorted(scores, reverse=True)
