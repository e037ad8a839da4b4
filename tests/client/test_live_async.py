"""The async client against a real server: the same operations, awaited."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from client_support import blobs
from helpers.server import Server, free_port
from helpers.specs import FOREVER

from mlp_client import (
    AsyncClient,
    AsyncJob,
    AsyncModel,
    ConnectionFailed,
    InvalidInput,
    JobFailed,
    NotFound,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SMALL = {"hidden_layers": [4], "epochs": 15, "seed": 2}


async def test_train_predict_and_files(async_client: AsyncClient, tmp_path: Path) -> None:
    async with async_client as c:
        assert (await c.health())["status"] == "ok" and await c.ready()
        dataset = await c.datasets.generate("circles", n_samples=60, seed=1)
        assert dataset.id in [d.id for d in await c.datasets.list()]
        job = await c.jobs.create(dataset, **SMALL)
        assert isinstance(job, AsyncJob)
        rows: list[dict[str, object]] = []
        model = await job.wait(progress=rows.append, timeout=120)
        assert isinstance(model, AsyncModel) and rows[-1]["epoch"] == 15
        events = [event async for event in job.stream()]
        assert events[-1].type == "status" and len(events) == 16
        assert (await c.jobs.get(job.id)).model_id == model.id
        assert job.id in [j.id for j in await c.jobs.list()]
        labels = await model.predict([[0.0, 0.0], [1.0, 1.0]])
        proba = await model.predict_proba(np.array([[0.0, 0.0], [1.0, 1.0]]))
        assert len(labels) == 2 and np.asarray(proba).shape == (2, 2)
        assert (await model.boundary(format="png", resolution=10)).startswith(b"\x89PNG")
        assert len((await model.boundary(resolution=10))["x"]) == 10
        path = await model.download(tmp_path / "m.npz")
        copy = await c.models.import_file(path)
        assert await copy.predict([[0.0, 0.0], [1.0, 1.0]]) == labels
        await copy.delete()
        with pytest.raises(NotFound) as caught:
            await c.models.get(copy.id)
        assert caught.value.request_id


async def test_async_errors(async_client: AsyncClient) -> None:
    async with async_client as c:
        with pytest.raises(InvalidInput) as caught:
            await c.jobs.create(blobs(20), hidden_layers=[0])
        assert caught.value.field == "architecture.hidden_layers[0]"
        dataset = await c.datasets.generate("spirals", n_samples=400, seed=1)
        # Endless: a job that merely takes a while could end before the cancel (then a 409).
        job = await c.jobs.create(dataset, hidden_layers=[32, 32], **FOREVER)
        await job.cancel()
        with pytest.raises(JobFailed):
            await job.wait(timeout=120)
    async with AsyncClient(f"http://127.0.0.1:{free_port()}") as unreachable:
        with pytest.raises(ConnectionFailed):
            await unreachable.health()


async def test_async_upload_csv(live_server: Server, numeric_csv: Path) -> None:
    async with AsyncClient(live_server.base_url) as c:
        dataset = await c.datasets.upload(numeric_csv, label="kind")
        assert dataset.classes == ["left", "right"]
        assert (await c.datasets.data(dataset))["y"][:2] == ["left", "right"]
        await c.datasets.delete(dataset)
