"""Replay and neuron previews: /frames, boundary ?epoch= and ?layer=&unit=, /animation (GIF),
cancel?keep=true, on the embedded runner in process."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.assertions import assert_422
from helpers.specs import FOREVER, LONG_JOB_LIMITS
from helpers.waiting import wait_for_async
from PIL import Image

from app.animation import FRAME_SIZE, MAX_GIF_BYTES

pytestmark = pytest.mark.anyio


def body(dataset_id: str, **training: Any) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "architecture": {"hidden_layers": [4, 3], "activation": "tanh"},
        "training": {"epochs": 30, "batch_size": 16, "seed": 1, **training},
    }


async def finished(client: httpx.AsyncClient, gen: Any, wait_job: Any, **training: Any) -> Any:
    dataset = await gen(client, "xor", n_samples=120)
    job = (await client.post("/v1/jobs", json=body(dataset["id"], **training))).json()
    done = await wait_job(client, job["id"])
    assert done["status"] == "succeeded", done
    return done


async def epochs_of(client: httpx.AsyncClient, path: str) -> list[int]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    epochs: list[int] = response.json()["epochs"]
    return epochs


async def test_a_finished_job_and_its_model_list_their_frames(
    client: httpx.AsyncClient, gen: Any, wait_job: Any
) -> None:
    done = await finished(client, gen, wait_job, epochs=150)
    epochs = await epochs_of(client, f"/v1/models/{done['model_id']}/frames")
    assert len(epochs) == 100 and epochs[0] == 1 and epochs[-1] == 150
    assert epochs == sorted(set(epochs))
    assert await epochs_of(client, f"/v1/jobs/{done['id']}/frames") == epochs
    assert (await client.get("/v1/models/mdl_unknown/frames")).status_code == 404
    assert (await client.get("/v1/jobs/job_unknown/frames")).status_code == 404


async def test_boundary_at_a_recorded_epoch_and_404_otherwise(
    client: httpx.AsyncClient, gen: Any, wait_job: Any
) -> None:
    done = await finished(client, gen, wait_job)
    model, job = f"/v1/models/{done['model_id']}", f"/v1/jobs/{done['id']}"
    assert await epochs_of(client, f"{model}/frames") == list(range(1, 31))
    final = (await client.get(f"{model}/boundary?resolution=12")).json()
    first = (await client.get(f"{model}/boundary?resolution=12&epoch=1")).json()
    last = (await client.get(f"{model}/boundary?resolution=12&epoch=30")).json()
    assert first["epoch"] == 1 and last["epoch"] == 30 and "epoch" not in final
    np.testing.assert_allclose(last["probabilities"], final["probabilities"])
    assert not np.allclose(first["probabilities"], final["probabilities"])
    from_job = (await client.get(f"{job}/boundary?resolution=12&epoch=1")).json()
    assert from_job["probabilities"] == first["probabilities"]
    for path in (model, job):
        missing = await client.get(f"{path}/boundary?epoch=31")
        assert missing.status_code == 404, missing.text
        assert "epoch 31" in missing.text
        assert_422(await client.get(f"{path}/boundary?epoch=0"), ["query", "epoch"])
    png = await client.get(f"{model}/boundary?format=png&epoch=2")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"


async def test_neuron_previews_and_422_for_a_bad_layer_or_unit(
    client: httpx.AsyncClient, gen: Any, wait_job: Any
) -> None:
    done = await finished(client, gen, wait_job)
    model = f"/v1/models/{done['model_id']}"
    response = await client.get(f"{model}/boundary?resolution=9&layer=1&unit=3")
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["layer"] == 1 and preview["unit"] == 3 and preview["classes"] is None
    values = np.asarray(preview["values"])
    assert values.shape == (9, 9) and np.abs(values).max() <= 1.0  # tanh
    other = (await client.get(f"{model}/boundary?resolution=9&layer=2&unit=0&epoch=5")).json()
    assert other["epoch"] == 5 and np.asarray(other["values"]).shape == (9, 9)
    output = (await client.get(f"{model}/boundary?resolution=9&layer=3&unit=0")).json()
    plain = (await client.get(f"{model}/boundary?resolution=9")).json()
    np.testing.assert_allclose(output["values"], plain["probabilities"])
    job = f"/v1/jobs/{done['id']}"
    assert (await client.get(f"{job}/boundary?layer=0&unit=1")).status_code == 200
    for path in (model, job):
        assert_422(await client.get(f"{path}/boundary?layer=4&unit=0"), ["query", "layer"])
        assert_422(await client.get(f"{path}/boundary?layer=1&unit=4"), ["query", "unit"])
        assert_422(await client.get(f"{path}/boundary?layer=1"), ["query", "unit"])
        assert_422(await client.get(f"{path}/boundary?unit=1"), ["query", "layer"])
        assert_422(await client.get(f"{path}/boundary?layer=-1&unit=0"), ["query", "layer"])
    png = await client.get(f"{model}/boundary?format=png&layer=2&unit=1")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


async def test_animation_is_a_bounded_gif_with_one_frame_per_recorded_epoch(
    client: httpx.AsyncClient, gen: Any, wait_job: Any
) -> None:
    done = await finished(client, gen, wait_job, epochs=12)
    model = f"/v1/models/{done['model_id']}"
    response = await client.get(f"{model}/animation")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/gif"
    assert len(response.content) <= MAX_GIF_BYTES
    with Image.open(io.BytesIO(response.content)) as gif:
        assert gif.format == "GIF" and gif.size == FRAME_SIZE
        assert gif.n_frames == len(await epochs_of(client, f"{model}/frames")) == 12
    neuron = await client.get(f"{model}/animation?layer=1&unit=0")
    assert neuron.status_code == 200
    assert (await client.get("/v1/models/mdl_unknown/animation")).status_code == 404


async def test_a_model_without_frames(client: httpx.AsyncClient, gen: Any, wait_job: Any) -> None:
    done = await finished(client, gen, wait_job, epochs=3)
    data = (await client.get(f"/v1/models/{done['model_id']}/download")).content
    imported = (await client.post("/v1/models/import", content=data)).json()
    model = f"/v1/models/{imported['id']}"
    assert await epochs_of(client, f"{model}/frames") == []
    assert (await client.get(f"{model}/boundary?epoch=1")).status_code == 404
    assert (await client.get(f"{model}/animation")).status_code == 409


async def test_deleting_a_model_deletes_its_frames(
    client: httpx.AsyncClient, gen: Any, wait_job: Any, data_dir: Path
) -> None:
    done = await finished(client, gen, wait_job, epochs=3)
    frames = data_dir / "models" / f"{done['model_id']}.frames.npz"
    assert frames.is_file()
    assert (await client.delete(f"/v1/models/{done['model_id']}")).status_code == 204
    assert not frames.exists()
    assert await epochs_of(client, f"/v1/jobs/{done['id']}/frames") == []


async def test_a_running_job_replays_its_frames_and_cancel_keep_saves_a_model(
    app_client: Any, gen: Any, wait_job: Any
) -> None:
    async with app_client(**LONG_JOB_LIMITS, snapshot_every_epochs=1) as client:
        dataset = await gen(client, "xor", n_samples=40)
        spec = body(dataset["id"], **FOREVER)
        job = (await client.post("/v1/jobs", json=spec)).json()
        path = f"/v1/jobs/{job['id']}"

        async def some_frames() -> list[int]:
            return await epochs_of(client, f"{path}/frames")

        epochs = await wait_for_async(some_frames, 60, "the running job's first frames")
        assert epochs[0] == 1

        async def snapshot() -> bool:
            return (await client.get(f"{path}/boundary?resolution=5")).status_code == 200

        await wait_for_async(snapshot, 60, "the running job's first snapshot")
        at_first = await client.get(f"{path}/boundary?resolution=5&epoch=1")
        assert at_first.status_code == 200 and at_first.json()["epoch"] == 1
        response = await client.post(f"{path}/cancel?keep=true")
        assert response.status_code == 202, response.text
        done = await wait_job(client, job["id"])
        assert done["status"] == "cancelled" and done["model_id"] is not None
        model = f"/v1/models/{done['model_id']}"
        meta = (await client.get(model)).json()
        assert meta["job_id"] == job["id"]
        predicted = await client.post(f"{model}/predict", json={"X": [[0.5, -0.5]]})
        assert predicted.status_code == 200 and len(predicted.json()["predictions"]) == 1
        kept = await epochs_of(client, f"{model}/frames")
        assert kept[0] == 1 and kept == await epochs_of(client, f"{path}/frames")
        assert (await client.get(f"{path}/boundary?resolution=5")).status_code == 200


async def test_cancel_without_keep_or_of_a_queued_job_keeps_nothing(
    app_client: Any, gen: Any, wait_job: Any
) -> None:
    async with app_client(**LONG_JOB_LIMITS) as client:
        dataset = await gen(client, "xor", n_samples=40)
        running = (await client.post("/v1/jobs", json=body(dataset["id"], **FOREVER))).json()
        queued = (await client.post("/v1/jobs", json=body(dataset["id"], **FOREVER))).json()
        await wait_job(client, running["id"], until={"running"})
        response = await client.post(f"/v1/jobs/{queued['id']}/cancel?keep=true")
        assert response.status_code == 202 and response.json()["status"] == "cancelled"
        assert response.json()["model_id"] is None
        await client.post(f"/v1/jobs/{running['id']}/cancel")
        done = await wait_job(client, running["id"])
        assert done["status"] == "cancelled" and done["model_id"] is None
        assert await epochs_of(client, f"/v1/jobs/{running['id']}/frames") == []
        assert_422(
            await client.post(f"/v1/jobs/{running['id']}/cancel?keep=maybe"), ["query", "keep"]
        )
