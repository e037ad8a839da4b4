"""README.md's table walk-through and quick start run as written against a real server, so
they stay true.

The code blocks are taken from their sections by heading: shell blocks run with bash (``set
-euo pipefail``, the venv's ``bin`` first on ``PATH`` so ``mlp`` is found, ``MLP_URL`` set as
the quick start says), Python blocks are exec'd. Each runs in a temporary directory holding
``penguins.csv``: the lines the README shows, continued by rows of the same kind. The only
thing replaced in a block is ``http://127.0.0.1:8000``, by the test server's URL.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.server import REPO, Server

pytestmark = pytest.mark.integration

README = REPO / "README.md"
README_URL = "http://127.0.0.1:8000"
SCRIPT_TIMEOUT = 600.0  # only turns a hang into a failure (two busy cores)
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
HELD_OUT = range(57, 64)  # test_fraction 0.2 of 300 rows, stratified by class
METRICS = {"accuracy", "balanced_accuracy", "log_loss", "roc_auc", "f1_macro"}
# species: (share, islands, bill length mean and sd, flipper length mean and sd)
SPECIES = {
    "Adelie": (0.45, ["Torgersen", "Biscoe", "Dream"], (38.8, 2.7), (190.0, 6.5)),
    "Chinstrap": (0.2, ["Dream"], (48.8, 3.3), (196.0, 7.1)),
    "Gentoo": (0.35, ["Biscoe"], (47.5, 3.1), (217.0, 6.5)),
}


@pytest.fixture(scope="module")
def backend() -> str:
    return "embedded"


def section(*headings: str) -> str:
    """The text of ``## headings[0]`` (and within it ``### headings[1]``)."""
    text = README.read_text(encoding="utf-8")
    for level, heading in enumerate(headings, start=2):
        marker = "#" * level
        start = text.index(f"\n{marker} {heading}\n")
        ends = [text.find(f"\n{'#' * n} ", start + 1) for n in range(2, level + 1)]
        end = min([e for e in ends if e != -1], default=len(text))
        text = text[start:end]
    return text


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def only_block(language: str, *headings: str) -> str:
    found = blocks(section(*headings), language)
    assert len(found) == 1, f"expected one {language} block under {headings}, got {len(found)}"
    return found[0]


def penguin_rows(n: int, first_id: int, seed: int = 0) -> list[str]:
    """``n`` CSV rows like the README's: species-dependent measurements, a few ``NA`` and
    empty cells."""
    rng = np.random.default_rng(seed)
    names = list(SPECIES)
    shares = [SPECIES[name][0] for name in names]
    rows = []
    for i in range(n):
        species = names[rng.choice(len(names), p=shares)]
        _, islands, (bill_mean, bill_sd), (flipper_mean, flipper_sd) = SPECIES[species]
        island = islands[rng.integers(len(islands))]
        bill = f"{rng.normal(bill_mean, bill_sd):.1f}" if rng.random() > 0.03 else "NA"
        flipper = f"{rng.normal(flipper_mean, flipper_sd):.0f}" if rng.random() > 0.03 else ""
        sex = ["male", "female", "NA", ""][rng.choice(4, p=[0.47, 0.47, 0.03, 0.03])]
        rows.append(f"{first_id + i},{species},{island},{bill},{flipper},{sex}")
    return rows


@pytest.fixture(scope="module")
def penguins_text() -> str:
    """The README's ``penguins.csv`` lines, continued to 300 rows."""
    shown = only_block("csv", "Real tables: from a CSV to predictions by name").splitlines()
    assert shown[0] == "id,species,island,bill_length_mm,flipper_length_mm,sex"
    last_id = int(shown[-1].split(",")[0])
    return "\n".join([*shown, *penguin_rows(301 - len(shown), last_id + 1)]) + "\n"


@pytest.fixture
def workdir(tmp_path: Path, penguins_text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "penguins.csv").write_text(penguins_text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the snippets read and write files where they run
    return tmp_path


def pointed(code: str, server: Server) -> str:
    assert code.count(README_URL) <= 1, code
    return code.replace(README_URL, server.base_url)


def run_shell(code: str, server: Server, cwd: Path) -> str:
    """Run ``code`` with bash; its stdout (the test fails with stderr if it exits non-zero)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLP_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["MLP_URL"] = server.base_url
    script = cwd / "snippet.sh"
    script.write_text(pointed(code, server), encoding="utf-8")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}\n{result.stdout}"
    return result.stdout


def run_python(code: str, server: Server, name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "readme_snippet"}
    exec(compile(pointed(code, server), f"README.md ({name})", "exec"), namespace)
    return namespace


def json_documents(text: str) -> list[Any]:
    """Every JSON object in ``text`` (one per line, or several on one line)."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    i = text.find("{")
    while i != -1:
        try:
            doc, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        found.append(doc)
        i = text.find("{", end)
    return found


def assert_metrics(metrics: dict[str, Any], n_rows: int | range) -> None:
    """Classification metrics of ``n_rows`` rows (a range: a stratified split's rounding)."""
    assert set(metrics) >= METRICS, metrics
    assert 0.8 <= metrics["balanced_accuracy"] <= 1.0, metrics
    assert metrics["confusion_matrix"]["labels"] == CLASSES
    assert set(metrics["per_class"]) == set(CLASSES)
    counted = sum(map(sum, metrics["confusion_matrix"]["matrix"]))
    assert counted == sum(c["support"] for c in metrics["per_class"].values())
    assert counted in (n_rows if isinstance(n_rows, range) else [n_rows]), counted


def test_real_tables_with_curl(shared_server: Server, workdir: Path) -> None:
    code = only_block("sh", "Real tables: from a CSV to predictions by name", "With curl")
    docs = json_documents(run_shell(code, shared_server, workdir))
    status = [d for d in docs if "status" in d and "model_id" in d]
    assert status and status[-1]["status"] == "succeeded", docs
    test_metrics = [d for d in docs if "per_class" in d]
    assert len(test_metrics) == 1, docs  # evaluation.test, printed alone
    assert_metrics(test_metrics[0], n_rows=HELD_OUT)
    predictions = [d for d in docs if "predictions" in d]
    assert len(predictions) == 1, docs
    assert predictions[0]["predictions"] == ["Gentoo", "Chinstrap", "Adelie"]  # as the README says
    assert predictions[0]["classes"] == CLASSES
    np.testing.assert_allclose(np.sum(predictions[0]["probabilities"], axis=1), 1.0)
    evaluations = [d for d in docs if "n_samples" in d and "metrics" in d]
    assert len(evaluations) == 1, docs
    assert evaluations[0]["n_samples"] == 300
    assert_metrics(evaluations[0]["metrics"], n_rows=300)


def test_real_tables_with_httpx(
    shared_server: Server, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = only_block("python", "Real tables: from a CSV to predictions by name", "With httpx")
    namespace = run_python(code, shared_server, "Real tables, with httpx")
    assert namespace["job"]["status"] == "succeeded"
    model = namespace["model"]
    assert model["label"] == "species"
    assert [f["name"] for f in model["features"]] == [
        "island",
        "bill_length_mm",
        "flipper_length_mm",
        "sex",
    ]
    assert_metrics(model["evaluation"]["test"], n_rows=HELD_OUT)
    assert namespace["prediction"]["predictions"] == ["Gentoo", "Chinstrap", "Adelie"]
    assert namespace["scores"]["n_samples"] == 300
    assert_metrics(namespace["scores"]["metrics"], n_rows=300)
    out = capsys.readouterr().out
    assert '"status": "succeeded"' in out  # the event stream's last line was printed


def test_quick_start_from_the_command_line(shared_server: Server, workdir: Path) -> None:
    code = only_block("sh", "Quick start", "From the command line")
    assert "mid=$(mlp train penguins.csv" in code
    out = run_shell(code + 'echo "model: $mid"\n', shared_server, workdir)
    # mlp train's stdout (captured whole by $(...)) was the model ID alone
    match = re.search(r"^model: (mdl_[\w-]+)$", out, re.MULTILINE)
    assert match is not None and out.endswith(f"model: {match[1]}\n"), out
    model_id = match[1]
    with (workdir / "predicted.csv").open(newline="") as handle:
        predicted = list(csv.DictReader(handle))
    assert len(predicted) == 4
    assert set(predicted[0]) >= {"island", "prediction", *(f"p_{c}" for c in CLASSES)}
    for row in predicted:
        assert row["prediction"] in CLASSES
        assert abs(sum(float(row[f"p_{c}"]) for c in CLASSES) - 1.0) < 1e-9
    assert [row["prediction"] for row in predicted][:1] == ["Gentoo"]
    assert "balanced_accuracy" in out and "confusion matrix" in out  # mlp evaluate's report
    assert (workdir / "boundary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("mdl_")]
    assert model_id in listed  # mlp models ls


def test_quick_start_from_python(shared_server: Server, workdir: Path) -> None:
    code = only_block("python", "Quick start", "From Python")
    namespace = run_python(code, shared_server, "Quick start, from Python")
    model = namespace["model"]
    assert model.label == "species" and model.classes == CLASSES
    assert_metrics(model.raw["evaluation"]["test"], n_rows=HELD_OUT)
    assert namespace["labels"] == ["Gentoo", "Adelie"]  # as the README says
    probabilities = np.asarray(namespace["probabilities"])
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert namespace["report"]["n_samples"] == 300
    assert_metrics(namespace["report"]["metrics"], n_rows=300)
