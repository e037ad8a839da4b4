"""The ``mlp`` command against a real server: through click's CliRunner, and as the installed
entry point in a subprocess."""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers.server import Server, free_port

from mlp_client.cli import cli

pytestmark = pytest.mark.integration

TRAIN = ["--hidden", "4", "--epochs", "15", "--seed", "1"]


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlp: error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def cli_model(live_server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model trained by ``mlp train`` (the last stdout line is its ID)."""
    path = tmp_path_factory.mktemp("cli") / "train.csv"
    path.write_text("a,b,y\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(40)))
    result = run("--url", live_server.base_url, "train", str(path), "--label", "y", *TRAIN)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_train_prints_model_id_last_and_progress_to_stderr(
    live_server: Server, numeric_csv: Path
) -> None:
    result = run(
        "train", str(numeric_csv), "--label", "kind", *TRAIN, "--url", live_server.base_url
    )
    assert result.exit_code == 0, result.output
    model_id = result.stdout.strip().splitlines()[-1]
    assert model_id.startswith("mdl_")
    assert "epoch 15/15" in result.stderr and "dataset " in result.stderr
    shown = run("--url", live_server.base_url, "--json", "models", "ls")
    assert model_id in [m["id"] for m in json.loads(shown.stdout)]


def test_train_no_wait_then_watch(live_server: Server, numeric_csv: Path) -> None:
    url = ["--url", live_server.base_url]
    started = run(*url, "train", str(numeric_csv), "--label", "kind", *TRAIN, "--no-wait")
    assert started.exit_code == 0, started.output
    job_id = started.stdout.strip().splitlines()[-1]
    assert job_id.startswith("job_")
    watched = run("jobs", "watch", job_id, *url)
    assert watched.exit_code == 0, watched.output
    assert watched.stdout.strip().startswith("mdl_")
    listed = run("jobs", "ls", "--status", "succeeded", *url)
    assert job_id in listed.stdout and listed.stdout.startswith("id")


def test_predict_csv_out_and_json(live_server: Server, cli_model: str, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("a,b\n1,2\n6,4\n")
    out = tmp_path / "out.csv"
    url = ["--url", live_server.base_url]
    result = run("predict", cli_model, "-i", str(source), "-o", str(out), *url)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert list(rows[0]) == ["a", "b", "prediction", "p_0", "p_1"]
    assert [r["a"] for r in rows] == ["1", "6"]
    assert all(abs(float(r["p_0"]) + float(r["p_1"]) - 1) < 1e-9 for r in rows)
    assert all(r["prediction"] in ("0", "1") for r in rows)
    piped = run("predict", cli_model, "-i", "-", "--json", *url, input=source.read_text())
    assert piped.exit_code == 0, piped.output
    doc = json.loads(piped.stdout)
    assert doc["predictions"] == [int(r["prediction"]) for r in rows]
    to_stdout = run(*url, "predict", cli_model, "-i", str(source))
    assert to_stdout.stdout.splitlines()[0].endswith(",p_1")


def test_boundary_and_listings(live_server: Server, cli_model: str, tmp_path: Path) -> None:
    url = ["--url", live_server.base_url]
    picture = tmp_path / "b.png"
    result = run("boundary", cli_model, "-o", str(picture), "--resolution", "20", *url)
    assert result.exit_code == 0, result.output
    assert picture.read_bytes().startswith(b"\x89PNG")
    for group in ("datasets", "jobs", "models"):
        listed = run(group, "ls", *url)
        assert listed.exit_code == 0 and listed.stdout.startswith("id"), listed.output
    health = run("health", *url)
    assert health.exit_code == 0 and health.stdout.startswith("ok")
    assert json.loads(run("--json", "health", *url).stdout)["status"] == "ok"


def test_errors_are_one_line(live_server: Server, tmp_path: Path) -> None:
    url = ["--url", live_server.base_url]
    assert_one_line_error(
        run("models", "ls", "--url", f"http://127.0.0.1:{free_port()}"), "connection"
    )
    assert_one_line_error(
        run("predict", "mdl_nope", "-i", "-", *url, input="a,b\n1,2\n"),
        "404",
        "mdl_nope",
        "request id",
    )
    assert_one_line_error(
        run("predict", "mdl_nope", "-i", str(tmp_path / "missing.csv"), *url), "missing.csv"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,x,0\n2,3,1\n")  # text columns are fine; an unknown label is not
    assert_one_line_error(run("train", str(bad), "--label", "nope", *url), "422", "nope")
    assert_one_line_error(run("train", str(bad), *url), "--label")
    assert_one_line_error(run("train", str(bad), "--label", "y", "--hidden", "a,b", *url), "16,16")
    assert_one_line_error(run("jobs", "watch", "job_nope", *url), "404")


def mlp_executable() -> Path:
    """The ``mlp`` console script installed beside this Python (``pip install -e .``)."""
    path = Path(sys.executable).parent / "mlp"
    if not path.exists():
        pytest.fail(f"{path} is missing: install the project (pip install -e .)")
    return path


def test_installed_entry_point(live_server: Server, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x,label,z\n" + "".join(f"{i % 9},{i % 2},{i % 4}\n" for i in range(40)))
    env = {**os.environ, "MLP_URL": live_server.base_url}
    mlp = str(mlp_executable())

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [mlp, *args], env=env, capture_output=True, text=True, timeout=180, check=False
        )

    trained = call("train", str(data), "--label", "label", *TRAIN)
    assert trained.returncode == 0, trained.stderr
    model_id = trained.stdout.strip().splitlines()[-1]
    assert model_id.startswith("mdl_") and "epoch" in trained.stderr
    rows = tmp_path / "rows.csv"
    rows.write_text("x,z\n1,2\n8,3\n")
    predicted = call("predict", model_id, "-i", str(rows), "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert len(json.loads(predicted.stdout)["predictions"]) == 2
    missing = call("predict", "mdl_missing", "-i", str(rows))
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "404" in missing.stderr
    usage = call("predict", model_id)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
    env["MLP_URL"] = f"http://127.0.0.1:{free_port()}"
    down = call("health")
    assert down.returncode == 1 and down.stderr.startswith("mlp: error: connection")


def test_train_on_a_real_terminal_draws_a_live_bar(live_server: Server, tmp_path: Path) -> None:
    """``mlp train`` with its stderr on a pseudo-terminal (as in a shell): a live bar (rich,
    redrawn in place with escape codes) that ends at the last epoch, and stdout still carries
    only the model id."""
    data = tmp_path / "train.csv"
    data.write_text("x,label,z\n" + "".join(f"{i % 9},{i % 2},{i % 4}\n" for i in range(40)))
    primary, secondary = pty.openpty()
    env = {**os.environ, "MLP_URL": live_server.base_url, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [str(mlp_executable()), "train", str(data), "--label", "label", *TRAIN],
        stdout=subprocess.PIPE,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    screen = bytearray()
    while True:  # read the terminal until the command closes it (EIO on Linux)
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen.extend(chunk)
    os.close(primary)
    stdout, _ = process.communicate(timeout=180)
    assert process.returncode == 0, screen.decode(errors="replace")
    assert stdout.decode().strip().startswith("mdl_")
    text = screen.decode(errors="replace")
    assert "\x1b[" in text  # drawn in place, not printed line by line
    assert "15/15" in text and "loss" in text  # the bar reached the last epoch with its metrics
