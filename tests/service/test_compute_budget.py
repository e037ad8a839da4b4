"""Issue 18 finding 4: the compute budget counts update steps, not only rows x parameters x epochs.

Per-sample SGD over 100k rows for 10,000 epochs is 10^9 update steps (about 2 h here) while its
rows x parameters x epochs (1.7e10) was under the default budget (2e10): it must be refused with
a 422 saying how to fit it, while the notebook's own setup and ordinary jobs stay accepted.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers.assertions import assert_422

pytestmark = pytest.mark.anyio

# The service's own defaults for the limits under test (the in-process LIMITS are smaller).
DEFAULTS: dict[str, Any] = {
    "max_rows": 100_000,
    "max_epochs": 10_000,
    "max_batch_size": 100_000,
    "compute_budget": 2e10,
    "compute_step_cost": 1000,
    "max_units": 1024,
}


def body(dataset_id: str, hidden: list[int], **training: Any) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "architecture": {"hidden_layers": hidden},
        "training": {"seed": 0, **training},
    }


async def test_per_sample_sgd_for_10000_epochs_on_100k_rows_is_refused(
    app_client: Any, gen: Any
) -> None:
    async with app_client(**DEFAULTS) as client:
        dataset = await gen(client, "moons", n_samples=100_000)
        response = await client.post(
            "/v1/jobs", json=body(dataset["id"], [4], epochs=10_000, batch_size=1)
        )
        assert_422(
            response,
            ["body"],
            "compute budget of 20,000,000,000 (MLP_COMPUTE_BUDGET)",
            "100,000 x 17 x 10,000 = 17,000,000,000",
            "10,000 x ceil(100,000 / 1) x 1,000",
            "MLP_COMPUTE_STEP_COST",
            "at most 196 epochs",  # 2e10 // (1.7e6 + 1e5 x 1000)
            "a batch_size of at least 334",  # 2e6 per epoch - 1.7e6 leaves 300 steps
        )
        assert (await client.get("/v1/jobs")).json()["count"] == 0
        fits = body(dataset["id"], [4], epochs=10_000, batch_size=334)
        assert (await client.post("/v1/jobs", json=fits)).status_code == 202
        job_id = (await client.get("/v1/jobs")).json()["data"][0]["id"]
        await client.post(f"/v1/jobs/{job_id}/cancel")


async def test_the_notebook_setup_and_typical_jobs_stay_within_the_budget(
    app_client: Any, gen: Any
) -> None:
    async with app_client(**DEFAULTS, max_queued_jobs=20) as client:
        notebook = await gen(client, "notebook")  # 1000 rows, 2 features
        moons = await gen(client, "moons", n_samples=10_000)
        accepted = [
            # the notebook's network (2,5,3,1), per-sample, its 200 epochs and ten times that
            body(notebook["id"], [5, 3], epochs=200, batch_size=1, optimizer="notebook"),
            body(notebook["id"], [5, 3], epochs=2000, batch_size=1, optimizer="sgd"),
            body(moons["id"], [64, 64], epochs=200),  # the default batch of 32
            body(moons["id"], [16], epochs=100, batch_size=8),
        ]
        for job in accepted:
            response = await client.post("/v1/jobs", json=job)
            assert response.status_code == 202, (job, response.text)
            await client.post(f"/v1/jobs/{response.json()['id']}/cancel")
