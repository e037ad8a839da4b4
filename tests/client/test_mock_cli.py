"""The ``mlp`` command's table-dependent parts (CSV with text columns, evaluate, sweeps) against
a MockTransport, through click's CliRunner."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from client_support import EVALUATION, TABLE_MODEL, Recorder, Routes, body, ok, sse

import mlp_client.cli
from mlp_client import Client
from mlp_client.cli import cli

SWEEP = {
    "id": "swp_1",
    "status": "succeeded",
    "metric": "log_loss",
    "created_at": "2026-01-01T00:00:00Z",
}


@pytest.fixture
def routes(monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> Routes:
    """The mock server every ``mlp`` invocation of the test talks to."""
    table = Routes()

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        recorder.requests.append(request)
        return table(request)

    def make(url: str | None, api_key: str | None) -> Client:
        return Client(
            url,
            api_key,
            transport=httpx.MockTransport(record),
            sleep=recorder.sleep,
            poll_interval=0,
        )

    monkeypatch.setattr(mlp_client.cli, "Client", make)
    table[("GET", "/v1/models/mdl_t")] = ok(TABLE_MODEL)
    return table


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_predict_a_csv_with_text_columns(
    routes: Routes, recorder: Recorder, tmp_path: Path
) -> None:
    routes[("POST", "/v1/models/mdl_t/predict")] = ok(
        {
            "predictions": ["no", "yes"],
            "probabilities": [[0.8, 0.2], [0.3, 0.7]],
            "classes": ["no", "yes"],
        }
    )
    source = tmp_path / "in.csv"
    source.write_text("age,plan,zip,churn\n31,basic,02134,no\n,NA,10001,yes\n")
    out = tmp_path / "out.csv"
    result = run("predict", "mdl_t", "-i", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 2 predictions" in result.stderr and result.stdout == ""
    sent = body(recorder.requests[-1])
    assert sent == {
        "columns": ["age", "plan", "zip"],
        "data": [[31, "basic", "02134"], [None, None, "10001"]],
    }
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["age", "plan", "zip", "churn", "prediction", "p_no", "p_yes"]
    assert rows[2] == ["", "NA", "10001", "yes", "yes", "0.3", "0.7"]  # the input as written


def test_evaluate_renders_metrics_and_confusion_matrix(
    routes: Routes, recorder: Recorder, tmp_path: Path
) -> None:
    routes[("POST", "/v1/models/mdl_t/evaluate")] = ok(EVALUATION)
    source = tmp_path / "test.csv"
    source.write_text("age,plan,zip,churn\n31,basic,02134,no\n")
    result = run("evaluate", "mdl_t", "-i", str(source))
    assert result.exit_code == 0, result.output
    assert body(recorder.requests[-1])["label"] == "churn"
    text = result.stdout
    assert "n_samples: 4" in text and "accuracy" in text and "0.7500" in text
    assert "confusion matrix (rows: true, columns: predicted)" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("true \\ predicted"))
    assert header.split()[-2:] == ["no", "yes"]
    assert any(line.split() == ["yes", "1", "1"] for line in lines)
    assert any(line.split()[:2] == ["no", "0.6667"] for line in lines)
    as_json = run(
        "evaluate", "mdl_t", "-i", "-", "--label", "plan", "--json", input=source.read_text()
    )
    assert json.loads(as_json.stdout) == EVALUATION
    assert body(recorder.requests[-1])["label"] == "plan"


def test_train_sends_table_knobs_and_training_fields(
    routes: Routes, recorder: Recorder, tmp_path: Path
) -> None:
    routes[("POST", "/v1/datasets")] = ok({"id": "ds_t", "n_samples": 2, "n_features": 3}, 201)
    routes[("POST", "/v1/jobs")] = ok(
        {"id": "job_1", "status": "queued", "training": {"epochs": 3}}, 202
    )
    done = {
        "id": "job_1",
        "status": "succeeded",
        "model_id": "mdl_t",
        "progress": {"epoch": 3, "loss": 0.1},
    }
    routes[("GET", "/v1/jobs/job_1")] = [
        ok({"id": "job_1", "status": "queued", "training": {"epochs": 3}}),
        ok(done),
    ]
    routes[("GET", "/v1/jobs/job_1/events")] = sse(
        [("progress", {"epoch": e, "loss": 0.5, "accuracy": 0.9}) for e in (1, 2, 3)]
        + [("status", done)]
    )
    source = tmp_path / "churn.csv"
    source.write_text("id,age,plan,churn\n1,31,basic,no\n")
    result = run(
        "train",
        str(source),
        "--label",
        "churn",
        "--hidden",
        "16,8",
        "--epochs",
        "3",
        "--test-fraction",
        "0.2",
        "--ignore",
        "id",
        "--categorical",
        "plan",
        "--json",
    )
    assert result.exit_code == 0, result.output
    upload, create = recorder.requests[0], recorder.requests[1]
    assert dict(upload.url.params) == {"label": "churn", "categorical": "plan", "ignore": "id"}
    assert body(create) == {
        "dataset_id": "ds_t",
        "architecture": {"hidden_layers": [16, 8]},
        "training": {"epochs": 3, "test_fraction": 0.2},
    }
    assert json.loads(result.stdout)["id"] == "mdl_t"
    assert "epoch 3/3  loss 0.5000  accuracy 0.9000" in result.stderr


def test_watch_a_failed_job_exits_non_zero(routes: Routes) -> None:
    failed = {
        "id": "job_1",
        "status": "failed",
        "error": {"code": "diverged", "message": "loss is NaN"},
    }
    routes[("GET", "/v1/jobs/job_1")] = ok(failed)
    result = run("jobs", "watch", "job_1")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "mlp: error: job job_1 failed: loss is NaN\n"


def test_sweeps_ls(routes: Routes) -> None:
    routes[("GET", "/v1/sweeps")] = ok({"data": [SWEEP], "count": 1})
    text = run("sweeps", "ls")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[0].split() == ["id", "status", "metric", "created_at"]
    assert text.stdout.splitlines()[1].split()[:3] == ["swp_1", "succeeded", "log_loss"]
    assert json.loads(run("sweeps", "ls", "--json").stdout) == [SWEEP]


def test_global_options_before_or_after(routes: Routes, recorder: Recorder) -> None:
    routes[("GET", "/v1/models")] = ok({"data": [TABLE_MODEL], "count": 1})
    for args in (
        ["--url", "http://a.test", "--api-key", "k1", "--json", "models", "ls"],
        ["models", "--json", "ls", "--url", "http://a.test", "--api-key", "k1"],
        ["models", "ls", "--json", "--url", "http://a.test", "--api-key", "k1"],
    ):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)[0]["id"] == "mdl_t"
        request = recorder.requests[-1]
        assert request.url.host == "a.test" and request.headers["authorization"] == "Bearer k1"


def test_server_errors_are_one_line(routes: Routes, recorder: Recorder) -> None:
    detail: Any = [
        {"loc": ["body", "columns"], "msg": "columns: the model does not know column 'x'"}
    ]
    routes[("POST", "/v1/models/mdl_t/predict")] = ok(
        {"detail": detail}, 422, {"X-Request-ID": "rq1"}
    )
    result = run("predict", "mdl_t", "-i", "-", input="x\n1\n")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "mlp: error: 422: columns: the model does not know column 'x' (request id rq1)\n"
    )
    routes[("GET", "/v1/models")] = ok({"detail": "queue full"}, 429, {"Retry-After": "1"})
    limited = run("models", "ls")
    assert limited.exit_code == 1 and limited.stderr.startswith("mlp: error: 429: queue full")
    assert recorder.sleeps == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["train"],
        ["predict"],
        ["evaluate"],
        ["boundary"],
        ["health"],
        ["datasets", "ls"],
        ["jobs", "ls"],
        ["jobs", "watch"],
        ["models", "ls"],
        ["sweeps", "ls"],
    ],
)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Example:" in result.stdout and "--url" in result.stdout


def test_an_unexpected_document_is_still_one_line(routes: Routes) -> None:
    routes[("GET", "/v1/models")] = ok({"data": [{"name": "no id"}], "count": 1})
    result = run("models", "ls")
    assert result.exit_code == 1
    assert result.stderr == "mlp: error: unexpected KeyError: 'id'\n"
