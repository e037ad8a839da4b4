"""The contract's second-round parts through the client, against a MockTransport (the server
does not have them yet): table uploads, predict by columns, evaluate, ONNX download, sweeps,
and the ways ``wait`` falls back to polling."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
from client_support import EVALUATION, TABLE_MODEL, Recorder, Routes, body, ok, sse

from mlp_client import AsyncClient, Client, Dataset, JobFailed, Sweep, WaitTimeout
from mlp_client._progress import make_reporter

MockClient = Callable[[Callable[[httpx.Request], httpx.Response]], Client]

DATASET = {
    "id": "ds_t",
    "name": "churn",
    "n_samples": 3,
    "n_features": 3,
    "task": "classification",
    "classes": ["no", "yes"],
    "label": "churn",
    "features": TABLE_MODEL["features"],
}
JOB = {"id": "job_1", "status": "queued", "dataset_id": "ds_t", "training": {"epochs": 3}}
DONE = {**JOB, "status": "succeeded", "model_id": "mdl_t", "progress": {"epoch": 3, "loss": 0.1}}


def table_routes() -> Routes:
    routes = Routes()
    routes[("POST", "/v1/datasets")] = ok(DATASET, 201)
    routes[("POST", "/v1/jobs")] = ok(JOB, 202)
    routes[("GET", "/v1/models/mdl_t")] = ok(TABLE_MODEL)
    routes[("POST", "/v1/models/mdl_t/predict")] = ok(
        {
            "predictions": ["no", "yes"],
            "probabilities": [[0.8, 0.2], [0.3, 0.7]],
            "classes": ["no", "yes"],
        }
    )
    routes[("POST", "/v1/models/mdl_t/evaluate")] = ok(EVALUATION)
    return routes


def churn_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31.0, None],
            "plan": ["basic", pd.NA],
            "zip": ["02134", "10001"],
            "churn": ["no", "yes"],
        }
    )


def test_dataframe_upload_and_training_fields(mock_client: MockClient, recorder: Recorder) -> None:
    c = mock_client(table_routes())
    dataset = c.datasets.upload(churn_frame(), label="churn", categorical=["zip"])
    assert isinstance(dataset, Dataset) and dataset.label == "churn"
    assert [f["type"] for f in dataset.features] == ["numeric", "categorical", "categorical"]
    sent = body(recorder.requests[0])
    assert sent["label"] == "churn" and sent["categorical"] == ["zip"]
    assert sent["data"] == [[31.0, "basic", "02134", "no"], [None, None, "10001", "yes"]]
    job = c.jobs.create(
        dataset, hidden_layers=(16, 16), epochs=100, test_fraction=0.2, class_weight="balanced"
    )
    assert job.status == "queued"
    assert body(recorder.requests[1]) == {
        "dataset_id": "ds_t",
        "architecture": {"hidden_layers": [16, 16]},
        "training": {"epochs": 100, "test_fraction": 0.2, "class_weight": "balanced"},
    }


def test_create_uploads_a_frame_first(mock_client: MockClient, recorder: Recorder) -> None:
    c = mock_client(table_routes())
    c.jobs.create(churn_frame(), label="churn", activation="tanh", training={"seed": 3})
    upload, create = recorder.requests
    assert upload.url.path == "/v1/datasets" and body(upload)["label"] == "churn"
    assert body(create) == {
        "dataset_id": "ds_t",
        "architecture": {"activation": "tanh"},
        "training": {"seed": 3},
    }


def test_csv_upload_with_text_columns_and_knobs(
    mock_client: MockClient, recorder: Recorder, tmp_path: Path
) -> None:
    path = tmp_path / "churn.csv"
    path.write_text("id,age,plan,churn\n1,31,basic,no\n2,NA,pro,yes\n")
    mock_client(table_routes()).datasets.upload(path, "churn", ignore=["id"], categorical=["age"])
    request = recorder.requests[0]
    assert request.headers["content-type"] == "text/csv"
    assert request.content == path.read_bytes()
    assert dict(request.url.params) == {"label": "churn", "ignore": "id", "categorical": "age"}


def test_predict_by_columns_and_evaluate(mock_client: MockClient, recorder: Recorder) -> None:
    c = mock_client(table_routes())
    model = c.models.get("mdl_t")
    assert model.label == "churn" and model.features[1]["name"] == "plan"
    assert model.predict(churn_frame()) == ["no", "yes"]
    sent = body(recorder.requests[-1])
    assert sent == {
        "columns": ["age", "plan", "zip"],
        "data": [[31.0, "basic", "02134"], [None, None, "10001"]],
    }
    assert model.predict_proba([{"age": 3, "plan": "pro", "zip": "02134"}]) == [
        [0.8, 0.2],
        [0.3, 0.7],
    ]
    assert body(recorder.requests[-1]) == {"instances": [{"age": 3, "plan": "pro", "zip": "02134"}]}
    assert model.evaluate(churn_frame()) == EVALUATION
    assert body(recorder.requests[-1])["label"] == "churn"  # from the model
    model.evaluate()
    assert body(recorder.requests[-1]) == {"dataset_id": "ds_t"}
    model.evaluate(churn_frame(), label="plan")
    assert body(recorder.requests[-1])["label"] == "plan"


def test_onnx_download(mock_client: MockClient, recorder: Recorder, tmp_path: Path) -> None:
    routes = table_routes()
    routes[("GET", "/v1/models/mdl_t/download")] = httpx.Response(200, content=b"onnx-bytes" * 1000)
    model = mock_client(routes).models.get("mdl_t")
    path = model.download(tmp_path / "m.onnx")
    assert path.read_bytes() == b"onnx-bytes" * 1000
    assert recorder.requests[-1].url.params["format"] == "onnx"
    model.download(tmp_path / "m.bin", format="npz")
    assert "format" not in recorder.requests[-1].url.params
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.onnx"]
    with pytest.raises(ValueError, match="format"):
        model.download(tmp_path / "m.x", format="pickle")


SWEEP = {
    "id": "swp_1",
    "status": "running",
    "metric": "log_loss",
    "trials": [],
    "leaderboard": [],
    "best": None,
}
TRIALS = [
    {
        "index": 0,
        "params": {"l2": 0.0},
        "status": "succeeded",
        "job_ids": ["job_a"],
        "score": 0.4,
        "model_id": "mdl_a",
    },
    {
        "index": 1,
        "params": {"l2": 0.1},
        "status": "succeeded",
        "job_ids": ["job_b"],
        "score": 0.3,
        "model_id": "mdl_t",
    },
]
SWEEP_DONE = {
    **SWEEP,
    "status": "succeeded",
    "trials": TRIALS,
    "leaderboard": [1, 0],
    "best": {
        "trial": 1,
        "params": {"l2": 0.1},
        "score": 0.3,
        "model_id": "mdl_t",
        "job_id": "job_b",
    },
}


def sweep_routes() -> Routes:
    routes = table_routes()
    routes[("POST", "/v1/sweeps")] = ok(SWEEP, 202)
    routes[("GET", "/v1/sweeps")] = ok({"data": [SWEEP_DONE], "count": 1})
    routes[("GET", "/v1/sweeps/swp_1")] = ok(SWEEP_DONE)
    routes[("GET", "/v1/sweeps/swp_1/events")] = sse(
        [("trial", t) for t in TRIALS] + [("status", {"status": "succeeded"})]
    )
    routes[("POST", "/v1/sweeps/swp_1/cancel")] = ok({**SWEEP, "status": "cancelled"}, 202)
    return routes


def test_sweep_create_wait_and_best_model(
    mock_client: MockClient, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    c = mock_client(sweep_routes())
    sweep = c.sweeps.create(
        "ds_t",
        {"l2": [0.0, 0.1], "learning_rate": {"log_uniform": [1e-4, 1e-1]}},
        strategy="random",
        max_trials=4,
        seed=1,
        cv_folds=3,
        metric="log_loss",
        training={"epochs": 50},
    )
    assert isinstance(sweep, Sweep) and not sweep.done
    assert body(recorder.requests[0]) == {
        "dataset_id": "ds_t",
        "cv_folds": 3,
        "metric": "log_loss",
        "training": {"epochs": 50},
        "search": {
            "strategy": "random",
            "space": {"l2": [0.0, 0.1], "learning_rate": {"log_uniform": [1e-4, 1e-1]}},
            "max_trials": 4,
            "seed": 1,
        },
    }
    finished = sweep.wait(progress=True)
    assert finished.done and finished.leaderboard == [1, 0] and finished.best is not None
    err = capsys.readouterr().err
    assert "trial 0 succeeded  score 0.4000" in err and "trial 1 succeeded  score 0.3000" in err
    assert err.count("trial 1 ") == 1  # the polled document repeats it; shown once
    assert finished.best_model().id == "mdl_t"
    assert [s.id for s in c.sweeps.list()] == ["swp_1"]
    assert c.sweeps.cancel("swp_1").status == "cancelled"
    assert [e.type for e in sweep.stream()] == ["trial", "trial", "status"]


def test_failed_sweep_raises(mock_client: MockClient) -> None:
    routes = sweep_routes()
    routes[("GET", "/v1/sweeps/swp_1")] = ok({**SWEEP, "status": "failed"})
    with pytest.raises(JobFailed) as caught:
        mock_client(routes).sweeps.wait("swp_1")
    assert caught.value.code == "failed"
    with pytest.raises(ValueError, match="no best model"):
        Sweep.from_doc({**SWEEP, "status": "failed"}, mock_client(routes)).best_model()


@pytest.mark.parametrize(
    "events",
    [
        ok({"detail": "boom"}, 500),  # the stream route fails
        ok({"not": "a stream"}),  # a proxy answered JSON
        "broken",  # the connection drops mid-stream
    ],
    ids=["server-error", "not-a-stream", "broken-stream"],
)
def test_wait_falls_back_to_polling(
    mock_client: MockClient, recorder: Recorder, events: object
) -> None:
    routes = table_routes()
    running = {**JOB, "status": "running", "progress": {"epoch": 1, "loss": 0.5}}
    routes[("GET", "/v1/jobs/job_1")] = [ok(running), ok(running), ok(DONE)]

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    routes[("GET", "/v1/jobs/job_1/events")] = broken if events == "broken" else events  # type: ignore[assignment]
    rows: list[object] = []
    model = mock_client(routes).jobs.wait("job_1", progress=rows.append)
    assert model.id == "mdl_t"
    assert rows[-1] == DONE["progress"]
    paths = [r.url.path for r in recorder.requests]
    assert paths.count("/v1/jobs/job_1") == 3 and "/v1/jobs/job_1/events" in paths


def test_wait_reads_the_stream_and_confirms_once(
    mock_client: MockClient, recorder: Recorder
) -> None:
    routes = table_routes()
    routes[("GET", "/v1/jobs/job_1")] = [ok(JOB), ok(DONE)]
    rows = [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.5} for e in (1, 2, 3)]
    routes[("GET", "/v1/jobs/job_1/events")] = sse(
        [("progress", r) for r in rows] + [("status", DONE)]
    )
    seen: list[object] = []
    assert mock_client(routes).jobs.wait("job_1", progress=seen.append).id == "mdl_t"
    assert seen == [*rows, DONE["progress"]] and recorder.sleeps == []


def test_failed_job_and_timeout(mock_client: MockClient) -> None:
    routes = table_routes()
    failed = {**JOB, "status": "failed", "error": {"code": "diverged", "message": "loss is NaN"}}
    routes[("GET", "/v1/jobs/job_1")] = ok(failed)
    with pytest.raises(JobFailed, match="loss is NaN") as caught:
        mock_client(routes).jobs.wait("job_1")
    assert caught.value.code == "diverged"
    routes[("GET", "/v1/jobs/job_1")] = ok({**JOB, "status": "running"})
    routes[("GET", "/v1/jobs/job_1/events")] = ok({}, 503)
    with pytest.raises(WaitTimeout):
        mock_client(routes).jobs.wait("job_1", timeout=0)


@pytest.mark.anyio
async def test_async_tables_and_sweeps(recorder: Recorder) -> None:
    routes = sweep_routes()
    async with AsyncClient(
        "http://mlp.test", transport=httpx.MockTransport(routes), sleep=recorder.async_sleep
    ) as c:
        model = await c.models.get("mdl_t")
        assert await model.predict(churn_frame()) == ["no", "yes"]
        assert await model.evaluate(churn_frame()) == EVALUATION
        sweep = await c.sweeps.create("ds_t", {"l2": [0.0, 0.1]})
        finished = await sweep.wait()
        assert finished.best is not None and (await finished.best_model()).id == "mdl_t"
        assert [s.status for s in await c.sweeps.list()] == ["succeeded"]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_reporters() -> None:
    plain = io.StringIO()
    reporter = make_reporter(True, total=100, stream=plain)
    for epoch in range(1, 101):
        reporter.update({"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.5})
    reporter.close()
    lines = plain.getvalue().splitlines()
    assert len(lines) == 11 and lines[0].startswith("epoch 1/100  loss 1.0000  accuracy 0.5000")
    assert lines[-1].startswith("epoch 100/100")
    terminal = FakeTerminal()
    bar = make_reporter(True, total=5, stream=terminal)
    assert type(bar).__name__ == "_Rich"
    for epoch in range(1, 6):
        bar.update({"epoch": epoch, "loss": 0.25})
    bar.close()
    assert "5/5" in terminal.getvalue() and "loss 0.2500" in terminal.getvalue()
    silent = io.StringIO()
    make_reporter(False, total=5, stream=silent).update({"epoch": 1})
    assert silent.getvalue() == ""


@pytest.mark.anyio
async def test_async_wait_falls_back_to_polling_and_streams(recorder: Recorder) -> None:
    routes = table_routes()
    running = {**JOB, "status": "running", "progress": {"epoch": 2, "loss": 0.5}}
    routes[("GET", "/v1/jobs/job_1")] = [ok(running), ok(running), ok(DONE)]
    routes[("GET", "/v1/jobs/job_1/events")] = ok({"detail": "boom"}, 502)
    transport = httpx.MockTransport(routes)
    async with AsyncClient(
        "http://mlp.test", transport=transport, sleep=recorder.async_sleep, poll_interval=0.25
    ) as c:
        rows: list[object] = []
        model = await c.jobs.wait("job_1", progress=rows.append)
        assert model.id == "mdl_t" and rows[-1] == DONE["progress"]
        assert recorder.sleeps == [0.25]  # one poll found it running, the next one done
        rows_sse = [{"epoch": 1, "loss": 0.3}]
        routes[("GET", "/v1/jobs/job_1/events")] = sse(
            [("progress", r) for r in rows_sse] + [("status", DONE)]
        )
        events = [e async for e in (await c.jobs.get("job_1")).stream()]
        assert [(e.type, e.data.get("epoch")) for e in events] == [
            ("progress", 1),
            ("status", None),
        ]
        routes[("GET", "/v1/jobs/job_1")] = ok({**JOB, "status": "failed", "error": None})
        with pytest.raises(JobFailed, match="it is failed"):
            await c.jobs.wait("job_1")
