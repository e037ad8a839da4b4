"""Issue 18 finding 7: a storage quota on datasets and models (per key, and in all).

Twenty ``generate`` requests of 890 bytes wrote 46 MiB: now a write that would pass
``MLP_STORAGE_QUOTA_BYTES`` (per owner) or ``MLP_STORAGE_TOTAL_QUOTA_BYTES`` is a 507 before
anything is written, deleting frees room, and ``/metrics`` shows the bytes used.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.inprocess import files_under, make_settings, serve

from mlp_engine import MLPClassifier, datasets

pytestmark = pytest.mark.anyio

ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789"
XOR = {"kind": "xor", "n_samples": 300}  # a ~7.5 KB dataset file (300 x 2 + 300 float64)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def fill(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> list[str]:
    """Generate datasets until the first 507; the IDs of those stored."""
    stored: list[str] = []
    for _ in range(100):
        response = await client.post("/v1/datasets/generate", json=XOR, headers=headers)
        if response.status_code == 507:
            return stored
        assert response.status_code == 201, response.text
        stored.append(response.json()["id"])
    raise AssertionError("the quota was never reached")


def used_bytes(metrics: str, owner: str) -> float:
    match = re.search(rf'^mlp_storage_used_bytes{{owner="{owner}"}} (\S+)$', metrics, re.M)
    assert match is not None, metrics
    return float(match.group(1))


def model_file() -> bytes:
    X, y = datasets.make("moons", n_samples=60)
    buffer = io.BytesIO()
    MLPClassifier(hidden_layers=[4], epochs=2, seed=0).fit(X, y).save(buffer)
    return buffer.getvalue()


async def test_generate_until_507_then_a_delete_frees_room(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with serve(make_settings(data_dir, storage_quota_bytes=40_000)) as client:
        stored = await fill(client)
        assert 3 <= len(stored) <= 5
        on_disk = sum(p.stat().st_size for p in files_under(data_dir / "datasets"))
        assert on_disk <= 40_000  # checked before writing: the refused one left nothing
        refused = await client.post("/v1/datasets/generate", json=XOR)
        assert refused.status_code == 507
        body = refused.json()
        assert body["code"] == "storage_quota_full"
        assert (
            "storage quota full" in body["detail"] and "MLP_STORAGE_QUOTA_BYTES" in body["detail"]
        )
        imported = await client.post("/v1/models/import", content=model_file())
        assert imported.status_code in (201, 507), imported.text  # whether a model still fits
        metrics = (await client.get("/metrics")).text
        assert used_bytes(metrics, "none") >= on_disk
        assert 'mlp_storage_quota_bytes{scope="owner"} 40000.0' in metrics

        assert (await client.delete(f"/v1/datasets/{stored[0]}")).status_code == 204
        again = await client.post("/v1/datasets/generate", json=XOR)
        assert again.status_code == 201, again.text


async def test_jobs_and_sweeps_are_refused_while_the_owner_is_over_the_quota(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    async with serve(make_settings(data_dir, storage_quota_bytes=40_000)) as client:
        stored = await fill(client)
        # A file written behind the API's back (say, by a job process) counts once it is seen:
        # the delete makes the next check scan the directories again.
        (data_dir / "datasets" / "ds_planted.npz").write_bytes(bytes(40_000))
        assert (await client.delete(f"/v1/datasets/{stored.pop()}")).status_code == 204
        job = {"dataset_id": stored[0], "training": {"epochs": 1}}
        response = await client.post("/v1/jobs", json=job)
        assert response.status_code == 507, response.text
        assert "storage quota full" in response.json()["detail"]
        sweep = {"dataset_id": stored[0], "search": {"space": {"l2": [0.0, 0.1]}}}
        response = await client.post("/v1/sweeps", json=sweep)
        assert response.status_code == 507, response.text
        assert (await client.get("/v1/jobs")).json()["count"] == 0
        assert (await client.get("/v1/sweeps")).json()["count"] == 0


async def test_each_key_has_its_own_quota_and_all_share_the_total(tmp_path: Path) -> None:
    keys: dict[str, Any] = {"api_keys": [f"alice:{ALICE}", f"bob:{BOB}"]}
    settings = make_settings(tmp_path / "data", storage_quota_bytes=40_000, **keys)
    async with serve(settings) as client:
        alices = await fill(client, auth(ALICE))
        assert alices
        # Alice is full; Bob is not.
        bob = await client.post("/v1/datasets/generate", json=XOR, headers=auth(BOB))
        assert bob.status_code == 201, bob.text
        metrics = (await client.get("/metrics", headers=auth(ALICE))).text
        assert used_bytes(metrics, "alice") > used_bytes(metrics, "bob") > 0
        # Bob cannot free Alice's room (her dataset is not his to see), Alice can.
        assert (
            await client.delete(f"/v1/datasets/{alices[0]}", headers=auth(BOB))
        ).status_code == 404
        assert (
            await client.delete(f"/v1/datasets/{alices[0]}", headers=auth(ALICE))
        ).status_code == 204
        assert (
            await client.post("/v1/datasets/generate", json=XOR, headers=auth(ALICE))
        ).status_code == 201

    total = make_settings(tmp_path / "data2", storage_total_quota_bytes=40_000, **keys)
    async with serve(total) as client:
        alices = await fill(client, auth(ALICE))
        refused = await client.post("/v1/datasets/generate", json=XOR, headers=auth(BOB))
        assert refused.status_code == 507  # the total is shared: Bob finds no room either
        assert "MLP_STORAGE_TOTAL_QUOTA_BYTES" in refused.json()["detail"]
        await client.delete(f"/v1/datasets/{alices[0]}", headers=auth(ALICE))
        bob = await client.post("/v1/datasets/generate", json=XOR, headers=auth(BOB))
        assert bob.status_code == 201, bob.text
