"""The client against a real server: every method the server supports today."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from client_support import blobs
from helpers.server import Server, free_port
from helpers.specs import FOREVER

from mlp_client import (
    Client,
    Conflict,
    ConnectionFailed,
    Dataset,
    InvalidInput,
    Job,
    JobEvent,
    JobFailed,
    Model,
    NotFound,
    Unauthorized,
)
from mlp_client.cli import cli

pytestmark = pytest.mark.integration

SMALL = {"hidden_layers": [4], "epochs": 20, "seed": 1}


@pytest.fixture(scope="module")
def trained(live_server: Server) -> tuple[str, str]:
    """One model trained on a generated XOR set, shared by the read-only tests:
    (dataset id, model id)."""
    with Client(live_server.base_url, poll_interval=0.1) as c:
        dataset = c.datasets.generate("xor", n_samples=80, seed=3)
        model = c.jobs.create(dataset, **SMALL).wait()
        return dataset.id, model.id


def test_health_and_ready(client: Client) -> None:
    assert client.health()["status"] == "ok"
    assert client.ready() is True


def test_upload_xy_pair_of_numpy_arrays(client: Client) -> None:
    X, y = blobs(20)
    dataset = client.datasets.upload((X, y), name="blobs")
    assert isinstance(dataset, Dataset)
    assert (dataset.n_samples, dataset.n_features, dataset.name) == (20, 2, "blobs")
    assert dataset.classes == [0, 1]
    stored = client.datasets.data(dataset)
    assert np.allclose(stored["X"], X) and stored["y"] == y.tolist()


def test_upload_csv_path_with_label_column(client: Client, numeric_csv: Path) -> None:
    dataset = client.datasets.upload(numeric_csv, label="kind")
    assert (dataset.n_samples, dataset.n_features) == (60, 2)
    assert dataset.classes == ["left", "right"]


def test_generate_get_list_delete(client: Client) -> None:
    dataset = client.datasets.generate("moons", n_samples=40, noise=0.1, seed=2)
    assert dataset.n_samples == 40 and dataset.task == "classification"
    assert client.datasets.get(dataset.id) == dataset
    assert dataset.id in [d.id for d in client.datasets.list()]
    client.datasets.delete(dataset)
    with pytest.raises(NotFound) as caught:
        client.datasets.get(dataset.id)
    assert caught.value.status == 404 and dataset.id in caught.value.message


def test_job_lifecycle_with_progress_lines(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = client.datasets.generate("xor", n_samples=60, seed=5)
    job = client.jobs.create(dataset, name="lifecycle", **SMALL)
    assert isinstance(job, Job) and job.dataset_id == dataset.id
    model = job.wait(progress=True, timeout=120)
    assert isinstance(model, Model) and model.name == "lifecycle"
    err = capsys.readouterr().err
    assert "epoch 1/20" in err and "epoch 20/20" in err and "loss" in err and "accuracy" in err
    finished = client.jobs.get(job.id)
    assert finished.status == "succeeded" and finished.done and finished.model_id == model.id
    assert job.id in [j.id for j in client.jobs.list(status="succeeded")]
    assert job.id not in [j.id for j in client.jobs.list(status="failed")]
    with pytest.raises(Conflict) as caught:
        finished.cancel()
    assert caught.value.status == 409


def test_stream_of_a_finished_job_replays_every_epoch_then_status(client: Client) -> None:
    job = client.jobs.create(blobs(30), **SMALL)  # inline (X, y)
    model = client.jobs.wait(job)
    events = list(job.stream())
    assert all(isinstance(e, JobEvent) for e in events)
    assert [e.data["epoch"] for e in events[:-1]] == list(range(1, 21))
    assert events[-1].type == "status" and events[-1].data["model_id"] == model.id


def test_wait_with_a_callback_sees_rows(client: Client) -> None:
    rows: list[dict[str, object]] = []
    job = client.jobs.create(blobs(30), **SMALL)
    job.wait(progress=rows.append)
    assert rows and rows[-1]["epoch"] == 20


def test_cancelled_job_raises_job_failed(client: Client) -> None:
    dataset = client.datasets.generate("spirals", n_samples=400, seed=1)
    # Endless: a job that merely takes a while could end before the cancel (then a 409).
    job = client.jobs.create(dataset, hidden_layers=[32, 32], **FOREVER)
    job.cancel()
    with pytest.raises(JobFailed) as caught:
        job.wait(timeout=120)
    assert caught.value.code == "cancelled" and caught.value.job["status"] == "cancelled"


def test_model_methods(client: Client, trained: tuple[str, str], tmp_path: Path) -> None:
    dataset_id, model_id = trained
    model = client.models.get(model_id)
    assert model.dataset_id == dataset_id and model.layers[0] == 2
    assert model_id in [m.id for m in client.models.list()]
    rows = [[0.5, 0.5], [-0.5, 0.5], [0.5, -0.5]]
    labels = model.predict(rows)
    assert len(labels) == 3 and set(labels) <= set(model.classes or [])
    proba = model.predict_proba(np.array(rows))
    assert np.asarray(proba).shape == (3, len(model.classes or []))
    assert np.allclose(np.sum(proba, axis=1), 1.0)
    frame = pd.DataFrame(rows, columns=["x0", "x1"])
    assert model.predict(frame) == labels  # a numeric frame goes positionally today
    grid = model.boundary(resolution=12)
    assert len(grid["x"]) == 12 and len(grid["probabilities"]) == 12
    assert model.boundary(format="png", resolution=12).startswith(b"\x89PNG")
    saved = model.download(tmp_path / "m.npz")
    assert saved.stat().st_size == model.raw["size_bytes"]
    copy = client.models.import_file(saved)
    assert copy.id != model.id and copy.layers == model.layers
    assert copy.predict(rows) == labels
    copy.delete()
    with pytest.raises(NotFound):
        client.models.get(copy.id)


def test_unknown_model_is_not_found_with_request_id(client: Client) -> None:
    with pytest.raises(NotFound) as caught:
        client.models.get("mdl_doesnotexist")
    error = caught.value
    assert error.status == 404 and "mdl_doesnotexist" in error.message
    assert error.request_id and error.request_id in str(error)


def test_bad_input_is_invalid_input_naming_the_field(client: Client) -> None:
    with pytest.raises(InvalidInput) as caught:
        client.jobs.create(blobs(20), epochs=0)
    assert caught.value.status == 422 and caught.value.field == "training.epochs"
    with pytest.raises(InvalidInput) as caught:
        client.datasets.upload(([[1.0, 2.0], [float("nan"), 1.0]], [0, 1]))
    assert caught.value.field is not None and caught.value.field.startswith("X")


def test_unreachable_server_is_connection_failed() -> None:
    with Client(f"http://127.0.0.1:{free_port()}") as c, pytest.raises(ConnectionFailed) as caught:
        c.health()
    assert caught.value.status is None and "127.0.0.1" in str(caught.value)


def test_url_and_key_from_environment(live_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLP_URL", live_server.base_url)
    monkeypatch.setenv("MLP_API_KEY", "secret")
    with Client() as c:
        assert c.base_url == live_server.base_url
        assert c.http.headers["authorization"] == "Bearer secret"
        assert c.health()["status"] == "ok"


def test_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "logs").mkdir()
    server = Server(tmp_path / "data", tmp_path / "logs", {"MLP_API_KEYS": "k1,k2"})
    server.start()
    try:
        monkeypatch.delenv("MLP_API_KEY", raising=False)
        with Client(server.base_url) as anonymous:
            assert anonymous.health()["status"] == "ok"  # health stays open
            with pytest.raises(Unauthorized) as caught:
                anonymous.models.list()
            assert caught.value.status == 401 and "missing API key" in caught.value.message
        with Client(server.base_url, api_key="wrong") as wrong, pytest.raises(Unauthorized):
            wrong.datasets.list()
        with Client(server.base_url, api_key="k2") as keyed:
            assert keyed.models.list() == []
        result = CliRunner().invoke(cli, ["models", "ls", "--url", server.base_url])
        assert result.exit_code == 1 and "401" in result.stderr
        result = CliRunner().invoke(
            cli, ["models", "ls", "--url", server.base_url, "--api-key", "k1"]
        )
        assert result.exit_code == 0 and result.stdout.startswith("id")
    finally:
        server.stop()
