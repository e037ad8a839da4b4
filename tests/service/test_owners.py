"""Owners (issue 18, item 2): with API keys, each dataset, job and model belongs to the key that
created it; other keys get 404 and do not see it in lists; admin keys see and act on all.

Keys: ``alice`` and ``bob`` (named), one unnamed key, and the admin ``root``.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.inprocess import files_under, make_settings, serve
from helpers.specs import make_spec
from helpers.waiting import TERMINAL, wait_for_async

from app.jobs.sqlite_store import SQLiteJobStore
from app.logging import JsonFormatter
from app.owners import (
    OPEN,
    Owner,
    key_identity,
    keyring,
    only_visible,
    owner_filter,
    parse_key,
    visible,
)
from app.services.models import dataset_points
from app.settings import Settings
from app.storage.datasets import DatasetStore
from app.storage.models import ModelStore
from mlp_engine import MLPClassifier

pytestmark = pytest.mark.anyio

ALICE, BOB, UNNAMED, ROOT = "alice-secret-0123", "bob-secret-4567", "nameless-89ab", "root-cdef"
API_KEYS = [f"alice:{ALICE}", f"bob:{BOB}", UNNAMED]
ADMIN_KEYS = [f"root:{ROOT}"]
SECRETS = (ALICE, BOB, UNNAMED, ROOT)
TRAINING = {"epochs": 3, "batch_size": 16, "seed": 0}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def client(data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(data_dir, api_keys=API_KEYS, admin_keys=ADMIN_KEYS)
    async with serve(settings) as c:
        yield c


async def finished_job(client: httpx.AsyncClient, key: str, body: dict[str, Any]) -> str:
    """Run a job as ``key`` to its end; its model's ID."""
    response = await client.post("/v1/jobs", json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    async def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}", headers=auth(key))).json()
        return job if job["status"] in TERMINAL else None

    job = await wait_for_async(ended, 60, f"job {job_id} to end", 0.05)
    assert job["status"] == "succeeded", job
    return str(job["model_id"])


async def ids(client: httpx.AsyncClient, key: str, collection: str) -> set[str]:
    response = await client.get(f"/v1/{collection}", headers=auth(key))
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["data"]}


# -- settings -------------------------------------------------------------------------------------


def test_key_entries_name_their_owner() -> None:
    alice, bare, admin = keyring(["alice:s1", "s2"], ["root:s3"])
    assert (alice.secret, alice.owner) == (b"s1", Owner("alice"))
    assert bare.owner == Owner(key_identity("s2")) and bare.owner.name.startswith("sha256:")
    assert len(key_identity("s2")) == len("sha256:") + 16 and "s2" not in key_identity("s2")
    assert admin.owner == Owner("root", sees_all=True)
    for bad in ("a b:key", ":key", "name:", "x" * 65 + ":key"):
        with pytest.raises(ValueError, match="name:key"):
            parse_key(bad)
    assert len(keyring(["a:s1", "a:s2", "a:s1"])) == 3  # one name, several keys: fine
    with pytest.raises(ValueError, match="twice"):
        keyring(["a:s1"], ["root:s1"])


def test_settings_read_named_and_admin_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLP_API_KEYS", "alice:s1, s2")
    monkeypatch.setenv("MLP_ADMIN_KEYS", "root:s3")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api_keys == ["alice:s1", "s2"] and settings.admin_keys == ["root:s3"]
    assert settings.keys_enabled
    monkeypatch.setenv("MLP_API_KEYS", "bad name:s1")
    with pytest.raises(ValueError, match="name:key"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("MLP_API_KEYS", "alice:s3")
    with pytest.raises(ValueError, match="twice"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("MLP_API_KEYS")
    only_admin = Settings(_env_file=None)  # type: ignore[call-arg]
    assert only_admin.keys_enabled and only_admin.api_keys == []


async def test_admin_keys_alone_close_the_api(data_dir: Path) -> None:
    async with serve(make_settings(data_dir, admin_keys=ADMIN_KEYS)) as client:
        assert (await client.get("/v1/datasets")).status_code == 401
        assert (await client.get("/v1/datasets", headers=auth(ROOT))).status_code == 200
        assert (await client.get("/v2")).status_code == 401


# -- datasets -------------------------------------------------------------------------------------


async def test_datasets_belong_to_their_key(client: httpx.AsyncClient, data_dir: Path) -> None:
    generated = await client.post(
        "/v1/datasets/generate", json={"kind": "xor", "n_samples": 40}, headers=auth(ALICE)
    )
    uploaded = await client.post(
        "/v1/datasets", json={"X": [[0], [1], [2], [3]], "y": [0, 1, 0, 1]}, headers=auth(BOB)
    )
    csv = await client.post(
        "/v1/datasets",
        content=b"a,b\n1,x\n2,y\n3,x\n",
        headers={**auth(UNNAMED), "Content-Type": "text/csv"},
    )
    for response in (generated, uploaded, csv):
        assert response.status_code == 201, response.text
        assert "owner" not in response.json()  # the public shape is unchanged
    a, b, c = (r.json()["id"] for r in (generated, uploaded, csv))
    assert await ids(client, ALICE, "datasets") == {a}
    assert await ids(client, BOB, "datasets") == {b}
    assert await ids(client, UNNAMED, "datasets") == {c}
    assert await ids(client, ROOT, "datasets") == {a, b, c}

    for method, url in (("GET", f"/v1/datasets/{a}"), ("GET", f"/v1/datasets/{a}/data")):
        response = await client.request(method, url, headers=auth(BOB))
        assert response.status_code == 404, response.text
        assert response.json()["detail"] == f"dataset {a!r} not found"
        assert (await client.request(method, url, headers=auth(ALICE))).status_code == 200
        assert (await client.request(method, url, headers=auth(ROOT))).status_code == 200
    assert (await client.delete(f"/v1/datasets/{a}", headers=auth(BOB))).status_code == 404
    assert (await client.delete(f"/v1/datasets/{b}", headers=auth(ROOT))).status_code == 204

    store = DatasetStore(data_dir)
    assert store.get(a).owner == "alice"
    assert store.get(c).owner == key_identity(UNNAMED)
    stored = b"".join(p.read_bytes() for p in files_under(data_dir))
    assert not any(secret.encode() in stored for secret in SECRETS)


# -- jobs -------------------------------------------------------------------------------------


async def test_jobs_belong_to_their_key(client: httpx.AsyncClient) -> None:
    dataset = (
        await client.post(
            "/v1/datasets/generate", json={"kind": "xor", "n_samples": 40}, headers=auth(ALICE)
        )
    ).json()["id"]
    body = {"dataset_id": dataset, "training": TRAINING}
    # Another key's dataset is refused exactly as an unknown one.
    refused = await client.post("/v1/jobs", json=body, headers=auth(BOB))
    unknown = await client.post(
        "/v1/jobs", json={**body, "dataset_id": "ds_unknown"}, headers=auth(BOB)
    )
    assert refused.status_code == unknown.status_code == 422
    assert (
        refused.json()["detail"][0]["msg"].replace(dataset, "ds_unknown")
        == (unknown.json()["detail"][0]["msg"])
    )
    await finished_job(client, ALICE, body)
    job = (await client.get("/v1/jobs", headers=auth(ALICE))).json()["data"][0]["id"]

    assert await ids(client, BOB, "jobs") == set()
    assert await ids(client, ALICE, "jobs") == {job}
    assert await ids(client, ROOT, "jobs") == {job}
    listed = await client.get("/v1/jobs?status=succeeded", headers=auth(BOB))
    assert listed.json() == {"data": [], "count": 0}
    for method, url in (
        ("GET", f"/v1/jobs/{job}"),
        ("GET", f"/v1/jobs/{job}/events"),
        ("GET", f"/v1/jobs/{job}/boundary"),
        ("GET", f"/v1/jobs/{job}/boundary?epoch=1"),
        ("GET", f"/v1/jobs/{job}/frames"),
        ("POST", f"/v1/jobs/{job}/cancel"),
        ("POST", f"/v1/jobs/{job}/cancel?keep=true"),
    ):
        response = await client.request(method, url, headers=auth(BOB))
        assert response.status_code == 404, (url, response.text)
        assert response.json()["detail"] == f"job {job!r} not found"
        allowed = await client.request(method, url, headers=auth(ROOT))
        assert allowed.status_code == (409 if "cancel" in url else 200), allowed.text


async def test_sweeps_and_their_jobs_belong_to_their_key(client: httpx.AsyncClient) -> None:
    dataset = (
        await client.post(
            "/v1/datasets/generate", json={"kind": "xor", "n_samples": 40}, headers=auth(ALICE)
        )
    ).json()["id"]
    body: dict[str, Any] = {
        "dataset_id": dataset,
        "training": TRAINING,
        "search": {"strategy": "grid", "space": {"learning_rate": [0.01, 0.1]}},
    }
    refused = await client.post("/v1/sweeps", json=body, headers=auth(BOB))
    assert refused.status_code == 404, refused.text  # bob cannot sweep alice's dataset
    response = await client.post("/v1/sweeps", json=body, headers=auth(ALICE))
    assert response.status_code == 202, response.text
    sweep = response.json()["id"]

    async def ended() -> dict[str, Any] | None:
        doc: dict[str, Any] = (await client.get(f"/v1/sweeps/{sweep}", headers=auth(ALICE))).json()
        return doc if doc["status"] in TERMINAL else None

    doc = await wait_for_async(ended, 120, f"sweep {sweep} to end", 0.05)
    assert doc["status"] == "succeeded", doc
    assert await ids(client, BOB, "sweeps") == set()
    assert await ids(client, ALICE, "sweeps") == await ids(client, ROOT, "sweeps") == {sweep}
    trial_jobs = {job for trial in doc["trials"] for job in trial["job_ids"]}
    assert trial_jobs and trial_jobs <= await ids(client, ALICE, "jobs")
    assert await ids(client, BOB, "jobs") == set()
    for method, url in (
        ("GET", f"/v1/sweeps/{sweep}"),
        ("GET", f"/v1/sweeps/{sweep}/events"),
        ("POST", f"/v1/sweeps/{sweep}/cancel"),
    ):
        response = await client.request(method, url, headers=auth(BOB))
        assert response.status_code == 404, (url, response.text)
        assert response.json()["detail"] == f"sweep {sweep!r} not found"
        allowed = await client.request(method, url, headers=auth(ROOT))
        assert allowed.status_code == (409 if "cancel" in url else 200), allowed.text


async def test_inline_job_data_belongs_to_the_job_key(client: httpx.AsyncClient) -> None:
    X = [[float(i % 7), float(i % 3)] for i in range(30)]
    y = [i % 2 for i in range(30)]
    await finished_job(client, BOB, {"X": X, "y": y, "training": TRAINING})
    (dataset,) = await ids(client, BOB, "datasets")
    assert await ids(client, ALICE, "datasets") == set()
    (job,) = (await client.get("/v1/jobs", headers=auth(BOB))).json()["data"]
    assert job["dataset_id"] == dataset


# -- models -------------------------------------------------------------------------------------


async def test_models_belong_to_their_key(client: httpx.AsyncClient, data_dir: Path) -> None:
    dataset = (
        await client.post(
            "/v1/datasets/generate", json={"kind": "xor", "n_samples": 40}, headers=auth(ALICE)
        )
    ).json()["id"]
    model = await finished_job(client, ALICE, {"dataset_id": dataset, "training": TRAINING})
    assert ModelStore(data_dir).get(model).owner == "alice"
    assert await ids(client, BOB, "models") == set()
    assert await ids(client, ALICE, "models") == await ids(client, ROOT, "models") == {model}

    predict = {"X": [[0.1, 0.2]]}
    infer = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 2], "data": [0, 1]}]}
    v1 = [
        ("POST", f"/v1/models/{model}/predict", predict),
        ("GET", f"/v1/models/{model}", None),
        ("GET", f"/v1/models/{model}/download", None),
        ("GET", f"/v1/models/{model}/download?format=onnx", None),
        ("GET", f"/v1/models/{model}/split", None),
        ("GET", f"/v1/models/{model}/boundary?resolution=5", None),
        ("GET", f"/v1/models/{model}/boundary?resolution=5&epoch=1", None),
        ("GET", f"/v1/models/{model}/boundary?resolution=5&layer=1&unit=0", None),
        ("GET", f"/v1/models/{model}/frames", None),
        ("GET", f"/v1/models/{model}/animation", None),
        ("POST", f"/v1/models/{model}/evaluate", {"dataset_id": dataset}),
    ]
    v2 = [
        ("POST", f"/v2/models/{model}/infer", infer),
        ("POST", f"/v2/models/{model}/versions/1/infer", infer),
        ("GET", f"/v2/models/{model}", None),
        ("GET", f"/v2/models/{model}/versions/1", None),
        ("GET", f"/v2/models/{model}/ready", None),
        ("GET", f"/v2/models/{model}/versions/1/ready", None),
    ]
    # Twice: first with the model not in the cache (loaded in a thread), then cached.
    for _ in range(2):
        for method, url, body in [*v1, *v2]:
            response = await client.request(method, url, json=body, headers=auth(BOB))
            assert response.status_code == 404, (url, response.text)
            message = f"model {model!r} not found"
            assert message == (response.json().get("detail") or response.json()["error"])
            for key in (ALICE, ROOT):
                response = await client.request(method, url, json=body, headers=auth(key))
                assert response.status_code in (200, 501), (url, response.text)  # 501: no onnx
    assert (await client.delete(f"/v1/models/{model}", headers=auth(BOB))).status_code == 404
    assert (await client.delete(f"/v1/models/{model}", headers=auth(ROOT))).status_code == 204


async def test_an_imported_model_belongs_to_the_importer(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    dataset = (
        await client.post(
            "/v1/datasets/generate", json={"kind": "xor", "n_samples": 40}, headers=auth(ALICE)
        )
    ).json()["id"]
    model = await finished_job(client, ALICE, {"dataset_id": dataset, "training": TRAINING})
    file = (await client.get(f"/v1/models/{model}/download", headers=auth(ALICE))).content
    assert b'"owner":"alice"' in file or b'"owner": "alice"' in file  # it names its owner
    imported = await client.post(
        "/v1/models/import",
        content=file,
        headers={**auth(BOB), "Content-Type": "application/octet-stream"},
    )
    assert imported.status_code == 201, imported.text
    copy = imported.json()["id"]
    assert imported.json()["dataset_id"] == dataset  # it still names alice's dataset...
    assert ModelStore(data_dir).get(copy).owner == "bob"
    assert await ids(client, BOB, "models") == {copy}
    assert copy not in await ids(client, ALICE, "models")
    # ... which bob still cannot read through it: not for evaluate, nor the boundary's points.
    evaluate = await client.post(
        f"/v1/models/{copy}/evaluate", json={"dataset_id": dataset}, headers=auth(BOB)
    )
    assert evaluate.status_code == 422 and "not found" in evaluate.text
    png = await client.get(f"/v1/models/{copy}/boundary?format=png&resolution=5", headers=auth(BOB))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    store, models = DatasetStore(data_dir), ModelStore(data_dir)
    estimator = models.load(copy)
    assert dataset_points(store, dataset, estimator, (0, 1), Owner("bob")) == (None, None)
    X, _ = dataset_points(store, dataset, estimator, (0, 1), Owner("alice"))
    assert X is not None and X.shape == (40, 2)


# -- records without an owner ---------------------------------------------------------------------


def _unowned(data_dir: Path) -> tuple[str, str]:
    """A dataset and a model written without an owner (open mode, or before owners existed)."""
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    y = np.array([0, 0, 1, 1])
    dataset = DatasetStore(data_dir).create(X, y, name="old", task="classification").id
    model = MLPClassifier(hidden_layers=(2,), epochs=2, seed=0).fit(X, y)
    ModelStore(data_dir).save(model, model_id="mdl_old", name="old", job_id=None, dataset_id=None)
    return dataset, "mdl_old"


async def test_records_without_owner_are_for_admins_when_keys_are_on(data_dir: Path) -> None:
    dataset, model = _unowned(data_dir)
    settings = make_settings(data_dir, api_keys=API_KEYS, admin_keys=ADMIN_KEYS)
    async with serve(settings) as client:
        assert await ids(client, ALICE, "datasets") == await ids(client, ALICE, "models") == set()
        assert await ids(client, ROOT, "datasets") == {dataset}
        assert await ids(client, ROOT, "models") == {model}
        for url in (f"/v1/datasets/{dataset}", f"/v1/models/{model}", f"/v2/models/{model}"):
            assert (await client.get(url, headers=auth(ALICE))).status_code == 404
            assert (await client.get(url, headers=auth(ROOT))).status_code == 200
    async with serve(make_settings(data_dir)) as client:  # open mode: everything, as before
        assert {d["id"] for d in (await client.get("/v1/datasets")).json()["data"]} == {dataset}
        assert (await client.get(f"/v1/models/{model}")).status_code == 200
        generated = await client.post(
            "/v1/datasets/generate", json={"kind": "xor", "n_samples": 40}
        )
        assert DatasetStore(data_dir).get(generated.json()["id"]).owner is None
        meta = json.loads(np.load(DatasetStore(data_dir).root / f"{dataset}.npz")["meta"].tobytes())
        assert "owner" not in meta  # open mode writes the files exactly as before


def test_owner_rules() -> None:
    alice, root = Owner("alice"), Owner("root", sees_all=True)
    assert OPEN.sees_all and OPEN.name is None
    assert [Owner("alice").name, root.sees_all] == ["alice", True]
    assert visible(alice, "alice") and not visible(alice, "bob") and not visible(alice, None)
    assert visible(root, None) and visible(OPEN, "bob")
    assert owner_filter(alice) == "alice" and owner_filter(root) is None
    assert owner_filter(OPEN) is None

    class Item:
        def __init__(self, owner: str | None) -> None:
            self.owner = owner

    items = [Item("alice"), Item("bob"), Item(None)]
    assert only_visible(alice, items) == items[:1] and only_visible(root, items) == items


# -- logs and metrics -----------------------------------------------------------------------------


async def test_logs_and_metrics_name_the_key_never_the_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        for key in (ALICE, UNNAMED, ROOT):
            assert (await client.get("/v1/models", headers=auth(key))).status_code == 200
        assert (await client.get("/v1/models", headers=auth("wrong"))).status_code == 401
    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "app.access"
    ]
    owners = [line.get("owner") for line in lines if line["path"] == "/v1/models"]
    assert owners == ["alice", key_identity(UNNAMED), "root", None]
    metrics = (await client.get("/metrics")).text
    assert (
        'mlp_http_requests_by_owner_total{owner="alice",route="/v1/models",status="200"} 1.0'
        in (metrics)
    )
    assert f'owner="{key_identity(UNNAMED)}"' in metrics
    logged = io.StringIO()
    logged.write("\n".join(JsonFormatter().format(r) for r in caplog.records))
    assert not any(s in logged.getvalue() or s in metrics for s in SECRETS)


async def test_open_mode_has_no_owner_metric(data_dir: Path) -> None:
    async with serve(make_settings(data_dir)) as client:
        await client.get("/v1/models")
        assert "mlp_http_requests_by_owner" not in (await client.get("/metrics")).text


# -- the SQLite job store -------------------------------------------------------------------------


def test_the_sqlite_store_keeps_and_filters_by_owner(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    owners = ["alice", "bob", None, "alice"]
    for i, owner in enumerate(owners):
        spec = replace(make_spec(model_id=f"mdl_{i}"), owner=owner)
        store.insert(f"job_{i}", spec, capacity=10, concurrency=1)
    assert [r.id for r in store.list(owner="alice")] == ["job_3", "job_0"]
    assert [r.id for r in store.list("queued", owner="bob")] == ["job_1"]
    assert store.list("running", owner="alice") == []
    assert [r.id for r in store.list(limit=2)] == ["job_3", "job_2"]
    assert [r.id for r in store.list(owner="alice", limit=1)] == ["job_3"]
    assert [store.get(f"job_{i}").owner for i in range(4)] == owners  # type: ignore[union-attr]
    assert store.queue_order() == ["job_0", "job_1", "job_2", "job_3"]


def test_a_kept_snapshot_belongs_to_the_job_owner(tmp_path: Path) -> None:
    """``cancel?keep=true`` of a run killed after the grace period saves its snapshot as the
    job's model: under the job's owner, as a finished run's model is."""
    from app.jobs.core import snapshot_path
    from app.jobs.frames import keep_snapshot

    dataset = DatasetStore(tmp_path).create(
        np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 3), [0, 1, 1, 0] * 3,
        name="xor", task="classification",
    )  # fmt: skip
    spec = replace(make_spec(dataset.id, model_id="mdl_kept"), owner="alice")
    model = MLPClassifier(hidden_layers=(3,), epochs=2).fit(
        np.array([[0.0, 0.0], [1.0, 1.0]] * 3), [0, 1] * 3
    )
    path = snapshot_path(tmp_path, "job_kept")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    assert keep_snapshot(tmp_path, "job_kept", spec) == "mdl_kept"
    assert ModelStore(tmp_path).get("mdl_kept").owner == "alice"
