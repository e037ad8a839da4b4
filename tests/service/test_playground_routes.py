"""The playground's routes: ``GET /`` and ``/static/*``, and ``GET /v1/jobs/{id}/boundary``."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from helpers.specs import FOREVER, LONG_JOB_LIMITS

from app.api.deps import get_jobs
from app.api.routes.playground import STATIC_DIR
from app.jobs.base import JobNotFound, JobRecord, JobSpec, JobStatus
from app.main import create_app
from app.settings import Settings
from mlp_engine import MLPClassifier, datasets

pytestmark = pytest.mark.anyio

WaitJob = Any  # the conftest's ``wait_job`` fixture: ``await wait_job(client, job_id)``
AppClient = Any  # the conftest's ``app_client`` fixture: ``async with app_client(**settings)``

GRID_KEYS = {"task", "x", "y", "features", "fixed", "classes", "probabilities"}
# A job that runs until it is cancelled (an app with LONG_JOB_LIMITS admits it): the tests
# cancel it once they have seen what they need; one that merely ran for seconds could end first.
LONG_JOB: dict[str, Any] = {
    "architecture": {"hidden_layers": [16, 16], "activation": "tanh"},
    "training": {**FOREVER, "optimizer": "sgd", "seed": 0},
}
QUICK_JOB: dict[str, Any] = {
    "architecture": {"hidden_layers": [8], "activation": "tanh"},
    "training": {"epochs": 30, "batch_size": 16, "seed": 0},
}


# ------------------------------------------------------------------------------- the page


async def test_root_serves_the_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js"></script>' in response.text
    assert 'id="final-accuracy"' in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert (await client.head("/")).status_code == 200


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "javascript"),
        ("api.js", "javascript"),
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
async def test_static_files_have_their_content_types(
    client: httpx.AsyncClient, name: str, content_type: str
) -> None:
    response = await client.get(f"/static/{name}")
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert response.content == (STATIC_DIR / name).read_bytes()
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "etag" in response.headers


async def test_every_file_the_page_loads_is_served(client: httpx.AsyncClient) -> None:
    """index.html's links and every ES module import resolve (a missing module breaks the page)."""
    page = (await client.get("/")).text
    wanted = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page))
    for module in STATIC_DIR.glob("*.js"):
        imports = re.findall(r'from "\./([^"]+)"', module.read_text())
        wanted.update(f"/static/{name}" for name in imports)
    assert {"/static/app.js", "/static/style.css", "/static/boundary.js"} <= wanted
    for path in sorted(wanted):
        response = await client.get(path)
        assert response.status_code == 200, path


def test_the_page_has_no_inline_script() -> None:
    """The CSP allows scripts from files only: no inline <script> and no on* handlers."""
    page = (STATIC_DIR / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.DOTALL)
    assert scripts and all(body.strip() == "" for body in scripts)
    assert all('src="/static/' in tag for tag in re.findall(r"<script\b[^>]*>", page))
    assert not re.search(r"\son[a-z]+\s*=", page)


def test_front_end_modules_stay_small() -> None:
    """Each ES module holds one concern: none is longer than 600 lines."""
    modules = sorted(STATIC_DIR.glob("*.js"))
    assert len(modules) > 10  # app.js is split by panel
    for module in modules:
        assert len(module.read_text().splitlines()) <= 600, module.name


async def test_a_cached_file_is_revalidated(client: httpx.AsyncClient) -> None:
    first = await client.get("/static/app.js")
    assert first.headers["cache-control"] == "no-cache"
    again = await client.get("/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/static/missing.js",
        "/static/",
        "/static/..%2Fapi%2Froutes%2Fplayground.py",
        "/static/%2E%2E/%2E%2E/settings.py",
        "/static/../../app/settings.py",
    ],
)
async def test_unknown_or_outside_static_paths_are_404(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "detail" in response.json()  # a JSON error, never a file's content


async def test_the_page_is_outside_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not any(p.startswith("/static") for p in paths)
    operation = paths["/v1/jobs/{job_id}/boundary"]["get"]
    assert {"200", "404", "409", "422"} <= set(operation["responses"])
    assert "image/png" in operation["responses"]["200"]["content"]
    params = {p["name"] for p in operation["parameters"]}
    assert params == {
        "job_id",
        "x_min",
        "x_max",
        "y_min",
        "y_max",
        "resolution",
        "nx",
        "ny",
        "features",
        "fixed",
        "format",
        "epoch",  # replay
        "layer",  # neuron previews
        "unit",
    }
    # The same query as the model's boundary: same names, schemas and descriptions.
    model_operation = paths["/v1/models/{model_id}/boundary"]["get"]
    job_query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    model_query = {p["name"]: p for p in model_operation["parameters"] if p["in"] == "query"}
    assert job_query == model_query


async def test_the_page_needs_no_key_but_the_api_does(app_client: AppClient) -> None:
    async with app_client(api_keys=["s3cret"]) as client:
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/static/app.js")).status_code == 200
        response = await client.get("/v1/jobs/job_x/boundary")
        assert response.status_code == 401
        authorised = await client.get(
            "/v1/jobs/job_x/boundary", headers={"Authorization": "Bearer s3cret"}
        )
        assert authorised.status_code == 404


# ------------------------------------------------------------------- live boundary (real)


async def _start_job(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    generated = await client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 200})
    dataset = generated.json()
    response = await client.post("/v1/jobs", json={"dataset_id": dataset["id"], **body})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


async def test_unknown_job_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/jobs/job_doesnotexist/boundary")
    assert response.status_code == 404
    assert "job_doesnotexist" in response.json()["detail"]
    assert (await client.get("/v1/jobs/bad%20id/boundary")).status_code in (404, 422)


async def test_running_job_boundary_comes_from_its_snapshot(
    app_client: AppClient, wait_job: WaitJob
) -> None:
    async with app_client(snapshot_every_epochs=1, **LONG_JOB_LIMITS) as client:
        job = await _start_job(client, LONG_JOB)
        url = f"/v1/jobs/{job['id']}/boundary"
        try:
            with anyio.fail_after(60):
                while True:
                    response = await client.get(url, params={"resolution": 7})
                    if response.status_code == 200:
                        break
                    assert response.status_code == 409, response.text
                    assert job["id"] in response.json()["detail"]
                    await anyio.sleep(0.05)
            # Still running, so the grid cannot have come from a (final) model.
            assert (await client.get(f"/v1/jobs/{job['id']}")).json()["status"] == "running"
            grid = response.json()
            assert set(grid) >= GRID_KEYS
            assert len(grid["x"]) == 7 and len(grid["y"]) == 7
            assert len(grid["probabilities"]) == 7 and len(grid["probabilities"][0]) == 7
            assert grid["classes"] == [0, 1]

            ranged = await client.get(
                url, params={"x_min": -1, "x_max": 1, "y_min": 0, "y_max": 2, "nx": 3, "ny": 4}
            )
            assert ranged.status_code == 200
            assert ranged.json()["x"] == [-1.0, 0.0, 1.0]
            assert len(ranged.json()["y"]) == 4

            png = await client.get(url, params={"format": "png", "resolution": 20})
            assert png.status_code == 200
            assert png.headers["content-type"] == "image/png"
            assert png.content.startswith(b"\x89PNG")

            bad = await client.get(url, params={"x_min": 2, "x_max": 1})
            assert bad.status_code == 422
            assert "x_min" in str(bad.json()["detail"])
            assert (await client.get(url, params={"resolution": 1})).status_code == 422
            too_fine = await client.get(url, params={"resolution": 100_000})
            assert too_fine.status_code == 422
            assert "resolution" in str(too_fine.json()["detail"])
        finally:
            await client.post(f"/v1/jobs/{job['id']}/cancel")
        ended = await wait_job(client, job["id"])
        assert ended["status"] == "cancelled"
        response = await client.get(url)
        assert response.status_code == 409
        assert "cancelled" in response.json()["detail"]


async def test_succeeded_job_boundary_is_its_model(
    client: httpx.AsyncClient, wait_job: WaitJob
) -> None:
    job = await _start_job(client, QUICK_JOB)
    done = await wait_job(client, job["id"])
    assert done["status"] == "succeeded"
    query = {"resolution": 9, "x_min": -1.5, "x_max": 1.5, "y_min": -1.5, "y_max": 1.5}
    from_job = await client.get(f"/v1/jobs/{job['id']}/boundary", params=query)
    from_model = await client.get(f"/v1/models/{done['model_id']}/boundary", params=query)
    assert from_job.status_code == from_model.status_code == 200
    assert from_job.json() == from_model.json()

    await client.delete(f"/v1/models/{done['model_id']}")
    gone = await client.get(f"/v1/jobs/{job['id']}/boundary")
    assert gone.status_code == 404
    assert done["model_id"] in gone.json()["detail"]


# ------------------------------------------------------ live boundary (runner states, faked)


class FakeRunner:
    """A runner whose one job is in a chosen state with a chosen snapshot."""

    def __init__(self, status: JobStatus, snapshot: bytes | None) -> None:
        spec = JobSpec(
            dataset_id="ds_gone",
            task="classification",
            architecture={"hidden_layers": [4], "activation": "tanh"},
            training={},
            model_id="mdl_none",
        )
        self.record = JobRecord("job_fake", status, datetime.now(UTC), spec)
        self.data = snapshot

    def get(self, job_id: str) -> JobRecord:
        if job_id != self.record.id:
            raise JobNotFound(job_id)
        return self.record

    def snapshot(self, job_id: str, max_bytes: int | None = None) -> bytes | None:
        return self.data if job_id == self.record.id else None


def _snapshot_bytes(n_features: int = 2) -> bytes:
    X, y = datasets.make("moons", n_samples=60)
    if n_features == 3:
        X = X @ [[1.0, 0.0, 0.5], [0.0, 1.0, -0.5]]
    model = MLPClassifier(hidden_layers=[4], epochs=3, seed=0).fit(X, y)
    buffer = io.BytesIO()
    model.save(buffer)
    return buffer.getvalue()


@pytest.fixture
async def fake_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app (to override its runner) and a client, with the lifespan run."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("queued", "queued"),
        ("running", "not written a weights snapshot yet"),
        ("failed", "ended as failed"),
        ("cancelled", "ended as cancelled"),
    ],
)
async def test_no_snapshot_is_409(
    fake_app: tuple[FastAPI, httpx.AsyncClient], status: JobStatus, words: str
) -> None:
    app, client = fake_app
    app.dependency_overrides[get_jobs] = lambda: FakeRunner(status, None)
    response = await client.get("/v1/jobs/job_fake/boundary")
    assert response.status_code == 409
    assert words in response.json()["detail"]
    assert (await client.get("/v1/jobs/job_other/boundary")).status_code == 404


async def test_unreadable_snapshot_is_409(fake_app: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = fake_app
    app.dependency_overrides[get_jobs] = lambda: FakeRunner("running", b"not a zip file")
    response = await client.get("/v1/jobs/job_fake/boundary")
    assert response.status_code == 409
    assert "snapshot" in response.json()["detail"]


async def test_snapshot_of_a_wider_model_takes_features_and_fixed(
    fake_app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = fake_app
    app.dependency_overrides[get_jobs] = lambda: FakeRunner("running", _snapshot_bytes(3))
    url = "/v1/jobs/job_fake/boundary"
    response = await client.get(url, params={"features": "0,2", "fixed": "0.25", "resolution": 5})
    assert response.status_code == 200, response.text
    assert response.json()["features"] == [0, 2]
    assert response.json()["fixed"] == [0.25]
    wrong = await client.get(url, params={"features": "0,3"})
    assert wrong.status_code == 422
    assert "features" in str(wrong.json()["detail"])
    # The PNG skips the training points when the job's dataset is gone.
    png = await client.get(url, params={"format": "png", "resolution": 10})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
