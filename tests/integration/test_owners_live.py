"""Owners against a real uvicorn server (both job back-ends): two named keys and an admin key;
each key sees only what it created, the admin sees all, and the access log names the key (never
the key itself)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from helpers.server import wait_for_job

pytestmark = pytest.mark.integration

ALICE, BOB, ROOT = "alice-live-secret-1", "bob-live-secret-2", "root-live-secret-3"


def _ids(client: httpx.Client, key: str, collection: str) -> set[str]:
    response = client.get(f"/v1/{collection}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["data"]}


def test_two_keys_see_only_their_own(start_server: Any) -> None:
    server = start_server(mlp_api_keys=f"alice:{ALICE},bob:{BOB}", mlp_admin_keys=f"root:{ROOT}")
    alice = {"Authorization": f"Bearer {ALICE}"}
    bob = {"Authorization": f"Bearer {BOB}"}
    with server.client(headers=alice) as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 60})
        assert dataset.status_code == 201, dataset.text
        body = {"dataset_id": dataset.json()["id"], "training": {"epochs": 3, "seed": 0}}
        job = client.post("/v1/jobs", json=body)
        assert job.status_code == 202, job.text
        done = wait_for_job(client, job.json()["id"])
        assert done["status"] == "succeeded", done
        model = done["model_id"]
        rows = {"X": [[0.1, 0.2], [-1.0, 1.0]]}
        assert client.post(f"/v1/models/{model}/predict", json=rows).status_code == 200

        for collection in ("datasets", "jobs", "models"):
            assert _ids(client, BOB, collection) == set()
            assert _ids(client, ALICE, collection) == _ids(client, ROOT, collection)
            assert len(_ids(client, ALICE, collection)) == 1
        infer = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 2], "data": [0, 1]}]}
        for method, url, json in (
            ("GET", f"/v1/datasets/{dataset.json()['id']}", None),
            ("GET", f"/v1/jobs/{job.json()['id']}", None),
            ("GET", f"/v1/models/{model}", None),
            ("POST", f"/v1/models/{model}/predict", rows),
            ("POST", f"/v2/models/{model}/infer", infer),
            ("DELETE", f"/v1/models/{model}", None),
        ):
            response = client.request(method, url, json=json, headers=bob)
            assert response.status_code == 404, (url, response.text)
        assert client.post(f"/v2/models/{model}/infer", json=infer).status_code == 200
        admin = {"Authorization": f"Bearer {ROOT}"}
        assert client.delete(f"/v1/models/{model}", headers=admin).status_code == 204
    log = server.log()
    assert '"owner":"alice"' in log and '"owner":"bob"' in log and '"owner":"root"' in log
    assert not any(secret in log for secret in (ALICE, BOB, ROOT))
