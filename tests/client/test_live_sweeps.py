"""The client's sweeps resource and ``mlp sweeps ls`` against a real server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers.server import Server
from helpers.specs import FOREVER

from mlp_client import AsyncClient, Client, JobFailed
from mlp_client.cli import cli

pytestmark = pytest.mark.integration

FAST = {"epochs": 5, "batch_size": 16}


def test_create_with_cv_waits_for_the_refit_and_lists(client: Client, live_server: Server) -> None:
    ds = client.datasets.generate("xor", n_samples=60, seed=0)
    rows: list[dict[str, object]] = []
    sweep = client.sweeps.create(
        ds, space={"learning_rate": [0.05, 0.005]}, cv_folds=3, training=FAST
    ).wait(progress=rows.append)
    assert sweep.status == "succeeded" and sweep.metric == "log_loss"
    assert sorted(row["index"] for row in rows) == [0, 1]  # the callback saw each trial once
    assert [t["index"] for t in sweep.trials] == [0, 1]
    assert all(len(t["job_ids"]) == 3 for t in sweep.trials)
    assert sweep.best is not None and sweep.best_model().id == sweep.best["model_id"]
    assert sweep.refresh().leaderboard == sweep.leaderboard
    events = list(client.sweeps.stream(sweep))  # a finished sweep replays its trials
    assert [e.type for e in events] == ["trial", "trial", "status"]
    result = CliRunner().invoke(
        cli, ["--url", live_server.base_url, "--json", "sweeps", "ls"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert sweep.id in [s["id"] for s in json.loads(result.stdout)]


def test_cancelled_sweep_raises_job_failed(client: Client) -> None:
    ds = client.datasets.generate("xor", n_samples=60, seed=0)
    # Endless trials: a sweep that merely takes a while could end before the cancel.
    sweep = client.sweeps.create(ds, space={"learning_rate": [0.05, 0.005]}, training=FOREVER)
    sweep.cancel()
    with pytest.raises(JobFailed):
        sweep.wait(timeout=120)
    assert client.sweeps.get(sweep.id).status == "cancelled"


@pytest.mark.anyio
async def test_async_client_sweep(live_server: Server) -> None:
    async with AsyncClient(live_server.base_url) as c:
        ds = await c.datasets.generate("moons", n_samples=60, seed=0)
        sweep = await c.sweeps.create(
            ds,
            space={"learning_rate": {"log_uniform": [0.001, 0.1]}},
            strategy="random",
            max_trials=2,
            seed=3,
            metric="accuracy",
            training=FAST,
        )
        done = await sweep.wait()
        assert done.status == "succeeded" and len(done.trials) == 2
        assert (await done.best_model()).id == done.best["model_id"]  # type: ignore[index]
