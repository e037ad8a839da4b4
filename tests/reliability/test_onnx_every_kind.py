"""Item 31: the ONNX export of every kind of model the service can train agrees with ``/predict``.

Each kind (``test_onnx_agrees_with_predict[multiclass-tanh]``, ``[table-max-categories]``, ...)
is trained through the service (``POST /v1/jobs``, on inline ``X``/``y``, a generated set, a CSV
upload or a split-form table), its ONNX file downloaded from ``GET /v1/models/{id}/download
?format=onnx`` and run in onnxruntime on the same inputs ``/predict`` gets: for an array model
the ``input`` matrix; for a table the raw columns as the exported model declares them (one
``[N, 1]`` float32 or string input per column, or one ``input`` matrix when every column is
numeric), with missing numbers (NaN) and categories (``""``), and unseen categories. The labels
must be the same and the probabilities (predictions) within 1e-5 relative of ``/predict``'s
(plus 1e-6 absolute: the graph computes in float32, so a probability near 0 keeps only an
absolute precision). Between them the kinds cover binary, multiclass and regression; every
hidden activation; no hidden layer; float32 parameters; no standardisation; L1 and L2; every
feature cross, on arrays and on tables; categorical columns (with the rarest grouped as
"other", forced categorical numbers, non-ASCII names and values, a column named ``label`` like
the classifier's output, whose input the ``inputs`` metadata renames), missing values in
training or only at predict time. All jobs train in one in-process app (the real embedded
runner), all at once; one table kind is also trained and compared against a real uvicorn server.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from helpers.inprocess import make_settings
from helpers.server import wait_for_job
from helpers.waiting import TERMINAL, wait_for

from app.main import create_app

# The module's first test waits for every kind's job (see ``trained``): more than the default
# per-test timeout on a loaded machine.
pytestmark = pytest.mark.timeout(1500)

RTOL, ATOL = 1e-5, 1e-6
EPOCHS = 30
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "identity")


def _f32(values: Any) -> np.ndarray:
    """float64 values that float32 holds exactly (both sides then see the same numbers)."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


RNG = np.random.default_rng(7)
X = _f32(RNG.normal(size=(80, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0])
PROBE = _f32(RNG.normal(size=(12, 3)) * [1.5, 15.0, 150.0] + [0.0, 5.0, -50.0])
BINARY = (X[:, 0] + X[:, 1] / 10.0 > 0.5).astype(int).tolist()
LETTERS = np.array(["a", "b", "c"])[np.argmax(X / [1.0, 10.0, 100.0], axis=1)].tolist()
TARGET = (np.tanh(X[:, 0]) + X[:, 1] / 10.0).tolist()


# ------------------------------------------------------------------------------------ tables

COLOURS = ["red", "green", "blue", "café", "紫", "teal"]
MISSING_TOKENS = ["", "NA", "?", "null"]


def _table(
    n: int, seed: int, *, colours: int = 4, missing: bool = True, unseen: bool = False
) -> dict[str, list[Any]]:
    """Columns ``größe`` and ``weight`` (numeric) and ``colour`` (categorical); ``None`` is a
    missing cell. ``unseen`` adds a colour no training row has."""
    rng = np.random.default_rng(seed)
    names = COLOURS[:colours] + (["mauve"] if unseen else [])
    # Skewed: the first colours are common, the last ones rare (for max_categories).
    weights = np.array([2.0**-i for i in range(len(names))])
    table: dict[str, list[Any]] = {
        "größe": _f32(rng.normal(size=n) * 3.0 + 1.0).tolist(),
        "colour": rng.choice(names, n, p=weights / weights.sum()).tolist(),
        "weight": _f32(rng.normal(size=n) * 20.0 - 5.0).tolist(),
    }
    if missing:
        for column in table.values():
            for i in rng.choice(n, n // 7, replace=False):
                column[i] = None
    return table


def _csv(table: dict[str, list[Any]], label: str, labels: Sequence[Any]) -> str:
    """The table as CSV, missing cells written as one of the CSV missing tokens in turn."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*table, label])
    columns = list(table.values())
    for i in range(len(labels)):
        cells = [
            MISSING_TOKENS[(i + j) % len(MISSING_TOKENS)] if c[i] is None else c[i]
            for j, c in enumerate(columns)
        ]
        writer.writerow([*cells, labels[i]])
    return out.getvalue()


def _rows(table: dict[str, list[Any]]) -> tuple[list[str], list[list[Any]]]:
    """The split form of ``table``: column names and rows of cells."""
    return list(table), [list(row) for row in zip(*table.values(), strict=True)]


TRAIN = _table(90, 1)
TRAIN_FULL = _table(90, 2, missing=False)
TRAIN_MANY = _table(120, 3, colours=6)
TABLE_PROBE = _table(14, 4, colours=6, unseen=True)  # rare colours, an unseen one, missing cells
TABLE_PROBE["colour"][:2] = ["", None]  # a missing category both ways /predict takes it


def _hot(table: dict[str, list[Any]]) -> list[str]:
    return ["hot" if c in ("red", "café") else "cold" for c in table["colour"]]


def _size_class(table: dict[str, list[Any]]) -> list[str]:
    sizes = [0.0 if s is None else s for s in table["größe"]]
    return ["small" if s < 0 else "medium" if s < 2 else "large" for s in sizes]


def _amount(table: dict[str, list[Any]]) -> list[float]:
    return [
        (0.0 if s is None else s) + (1.0 if c == "red" else 0.0)
        for s, c in zip(table["größe"], table["colour"], strict=True)
    ]


CODES = _table(90, 5, missing=False)
CODES["code"] = [str(i % 4 + 1) for i in range(90)]  # whole numbers, forced categorical
CODE_PROBE = _table(14, 6, unseen=True)
CODE_PROBE["code"] = ["1", "2", "3", "4", "7", None, "1", "2", "3", "4", "9", "1", "2", "3"]

NUMERIC = {k: v for k, v in TRAIN.items() if k != "colour"}
NUMERIC_PROBE = {k: v for k, v in TABLE_PROBE.items() if k != "colour"}


# ------------------------------------------------------------------------------------ kinds


@dataclass(frozen=True)
class Kind:
    """One kind of model: how its data is sent, its job settings, and the probe rows."""

    data: dict[str, Any]  # {"inline": job fields} | {"csv": text, "params": {...}} | ...
    probe: tuple[list[str], list[list[Any]]] | None = None  # a table's columns and cells
    architecture: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)


def _inline(y: list[Any], task: str = "classification") -> dict[str, Any]:
    return {"inline": {"X": X.tolist(), "y": y, "task": task}}


def _csv_data(text: str, label: str, **params: str) -> dict[str, Any]:
    return {"csv": text, "params": {"label": label, **params}}


def _kinds() -> dict[str, Kind]:
    tasks = [("binary", BINARY, "classification"), ("multiclass", LETTERS, "classification")]
    tasks.append(("regression", TARGET, "regression"))
    kinds = {
        f"{name}-{activation}": Kind(_inline(y, task), architecture={"activation": activation})
        for name, y, task in tasks
        for activation in ACTIVATIONS
    }
    table = _rows(TABLE_PROBE)
    kinds.update(
        {
            "binary-no-hidden-layer": Kind(_inline(BINARY), architecture={"hidden_layers": []}),
            "multiclass-float32": Kind(_inline(LETTERS), training={"dtype": "float32"}),
            "regression-not-standardised": Kind(
                _inline(TARGET, "regression"), training={"standardize": False}
            ),
            "binary-l1-l2": Kind(_inline(BINARY), training={"l1": 1e-3, "l2": 1e-2}),
            "multiclass-crosses": Kind(
                _inline(LETTERS), training={"feature_crosses": ["square", "product", "sin"]}
            ),
            "generated-spirals": Kind(
                {"generate": {"kind": "spirals", "n_classes": 3, "n_samples": 90, "seed": 0}},
                architecture={"activation": "tanh"},
            ),
            "table-binary": Kind(_csv_data(_csv(TRAIN, "target", _hot(TRAIN)), "target"), table),
            "table-multiclass-sigmoid": Kind(
                _csv_data(_csv(TRAIN, "target", _size_class(TRAIN)), "target"),
                table,
                architecture={"activation": "sigmoid"},
            ),
            "table-regression": Kind(
                _csv_data(_csv(TRAIN, "amount", _amount(TRAIN)), "amount", task="regression"),
                table,
            ),
            "table-all-numeric-missing": Kind(
                _csv_data(_csv(NUMERIC, "target", _hot(TRAIN)), "target"), _rows(NUMERIC_PROBE)
            ),
            "table-no-missing-in-training": Kind(
                _csv_data(_csv(TRAIN_FULL, "target", _hot(TRAIN_FULL)), "target"), table
            ),
            "table-max-categories": Kind(
                _csv_data(_csv(TRAIN_MANY, "target", _hot(TRAIN_MANY)), "target"),
                table,
                training={"max_categories": 3},
            ),
            "table-crosses-l1": Kind(
                _csv_data(_csv(TRAIN, "target", _size_class(TRAIN)), "target"),
                table,
                training={"feature_crosses": ["square", "product", "sin"], "l1": 1e-3},
            ),
            "table-forced-categorical": Kind(
                _csv_data(_csv(CODES, "target", _hot(CODES)), "target", categorical="code"),
                _rows(CODE_PROBE),
            ),
            # A categorical column named `label`, as the classifier's ONNX output: its input is
            # `label_input` (the model's `inputs` metadata maps columns to inputs).
            "table-column-named-label": Kind(
                _csv_data(_csv(LABELLED, "target", _hot(TRAIN)), "target"),
                _rows(LABELLED_PROBE),
            ),
            "table-split-form": Kind(
                {"split": {"columns": [*TRAIN, "target"], "label": "target"}},
                table,
                architecture={"activation": "leaky_relu"},
            ),
        }
    )
    return kinds


LABELLED = {"label" if name == "colour" else name: column for name, column in TRAIN.items()}
LABELLED_PROBE = {"label" if name == "colour" else name: col for name, col in TABLE_PROBE.items()}
KINDS = _kinds()


# ------------------------------------------------------------------------------------ training


def _dataset(client: TestClient, data: dict[str, Any]) -> dict[str, Any]:
    """The job body's data part: inline ``X``/``y``, or a stored dataset's ID."""
    if "inline" in data:
        inline: dict[str, Any] = data["inline"]
        return inline
    if "generate" in data:
        response = client.post("/v1/datasets/generate", json=data["generate"])
    elif "csv" in data:
        response = client.post(
            "/v1/datasets",
            content=data["csv"].encode(),
            params=data["params"],
            headers={"Content-Type": "text/csv"},
        )
    else:
        cells = _rows(TRAIN)[1]
        labels = _hot(TRAIN)
        body = {**data["split"], "data": [[*row, y] for row, y in zip(cells, labels, strict=True)]}
        response = client.post("/v1/datasets", json=body)
    assert response.status_code == 201, response.text
    return {"dataset_id": response.json()["id"]}


def _job(client: TestClient, kind: Kind) -> str:
    body = {
        **_dataset(client, kind.data),
        "architecture": {"hidden_layers": [6, 4], **kind.architecture},
        "training": {"epochs": EPOCHS, "seed": 0, "batch_size": 16, **kind.training},
    }
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """One app; every kind's job submitted at once; ``{kind: model_id}`` once all have ended."""
    data_dir = tmp_path_factory.mktemp("onnx-kinds") / "data"
    settings = make_settings(
        data_dir, max_concurrent_jobs=2, max_queued_jobs=len(KINDS), max_features=8
    )
    with TestClient(create_app(settings)) as client:
        jobs = {name: _job(client, kind) for name, kind in KINDS.items()}

        def all_ended() -> dict[str, Any] | None:
            records = {name: client.get(f"/v1/jobs/{job}").json() for name, job in jobs.items()}
            return records if all(r["status"] in TERMINAL for r in records.values()) else None

        # 31 jobs, two at a time, each a fresh process: ~1 min on a quiet machine, 5+ under a
        # load of 12; the wait only turns a hang into a failure (the module's timeout allows it).
        records = wait_for(all_ended, 1200.0, "every kind's job to end", 1.0)
        failed = {name: r["error"] for name, r in records.items() if r["status"] != "succeeded"}
        assert not failed, failed
        yield client, {name: r["model_id"] for name, r in records.items()}


# ------------------------------------------------------------------------------------ comparing


def _feeds(
    features: list[dict[str, Any]], columns: list[str], cells: list[list[Any]]
) -> dict[str, np.ndarray]:
    """onnxruntime's inputs for rows of ``cells`` (``None`` = missing), as the exported model
    declares them: one float32 ``input`` matrix when every feature is numeric, else one
    ``[N, 1]`` input per column (float32 with NaN, or strings with ``""``)."""
    at = {name: i for i, name in enumerate(columns)}

    def column(name: str, numeric: bool) -> np.ndarray:
        values = [row[at[name]] for row in cells]
        if numeric:
            return np.array([math.nan if v is None else v for v in values], dtype=np.float32)
        return np.array(["" if v is None else str(v) for v in values], dtype=object)

    kinds = {str(f["name"]): f["type"] == "numeric" for f in features}
    if all(kinds.values()):
        return {"input": np.stack([column(name, True) for name in kinds], axis=1)}
    return {name: column(name, numeric)[:, None] for name, numeric in kinds.items()}


def _run(content: bytes, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs for ``feeds`` keyed by column (renamed by the ``inputs`` metadata, if any)."""
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    renamed = json.loads(session.get_modelmeta().custom_metadata_map.get("inputs", "{}"))
    feeds = {renamed.get(name, name): value for name, value in feeds.items()}
    assert sorted(i.name for i in session.get_inputs()) == sorted(feeds)
    names = [out.name for out in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def assert_agree(onnx_out: dict[str, np.ndarray], expected: dict[str, Any]) -> None:
    """Labels equal; probabilities (or predictions) within ``RTOL`` (+ ``ATOL``)."""
    if "probabilities" in expected:
        assert onnx_out["label"].tolist() == expected["predictions"]
        got, want = onnx_out["probabilities"], np.asarray(expected["probabilities"])
    else:
        got, want = onnx_out["predictions"], np.asarray(expected["predictions"])
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def _probe(kind: Kind, model: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[list[Any]]]:
    """The ``/predict`` body and the same rows as columns and cells."""
    if kind.probe is not None:
        columns, cells = kind.probe
        return {"columns": columns, "data": cells}, columns, cells
    n_features = model["layers"][0] - len(model.get("crossed_features") or [])
    rows = PROBE[:, :n_features].tolist() if "generate" not in kind.data else _spiral_probe()
    return {"X": rows}, [f"x{i}" for i in range(len(rows[0]))], rows


def _spiral_probe() -> list[list[float]]:
    return _f32(np.random.default_rng(8).uniform(-1.5, 1.5, size=(12, 2))).tolist()


@pytest.mark.parametrize("kind", list(KINDS))
def test_onnx_agrees_with_predict(trained: tuple[TestClient, dict[str, str]], kind: str) -> None:
    client, model_ids = trained
    model_id = model_ids[kind]
    model = client.get(f"/v1/models/{model_id}").json()
    body, columns, cells = _probe(KINDS[kind], model)
    response = client.post(f"/v1/models/{model_id}/predict", json=body)
    assert response.status_code == 200, response.text
    onnx_file = client.get(f"/v1/models/{model_id}/download", params={"format": "onnx"})
    assert onnx_file.status_code == 200, onnx_file.text
    assert_agree(
        _run(onnx_file.content, _feeds(model["features"], columns, cells)), response.json()
    )


def test_the_kinds_cover_what_a_job_can_ask_for() -> None:
    """Every activation, task, cross and column kind above is one the schemas offer."""
    from app.schemas.jobs import ActivationName, CrossName

    assert set(ACTIVATIONS) == set(get_args(ActivationName))
    crossed = {c for k in KINDS.values() for c in k.training.get("feature_crosses", [])}
    assert crossed == set(get_args(CrossName))


# ------------------------------------------------------------------------------ a real server


@pytest.mark.integration
def test_a_table_model_agrees_on_a_real_server(start_server: Any) -> None:
    server = start_server()
    kind = KINDS["table-crosses-l1"]
    with server.client() as client:
        response = client.post(
            "/v1/datasets",
            content=kind.data["csv"].encode(),
            params=kind.data["params"],
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 201, response.text
        body = {
            "dataset_id": response.json()["id"],
            "architecture": {"hidden_layers": [6, 4]},
            "training": {"epochs": EPOCHS, "seed": 0, "batch_size": 16, **kind.training},
        }
        response = client.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["id"])
        assert job["status"] == "succeeded", job["error"]
        model = client.get(f"/v1/models/{job['model_id']}").json()
        assert model["crossed_features"]
        columns, cells = kind.probe or ([], [])
        predicted = client.post(
            f"/v1/models/{model['id']}/predict", json={"columns": columns, "data": cells}
        )
        assert predicted.status_code == 200, predicted.text
        onnx_file = client.get(f"/v1/models/{model['id']}/download", params={"format": "onnx"})
        assert onnx_file.status_code == 200, onnx_file.text
    assert_agree(
        _run(onnx_file.content, _feeds(model["features"], columns, cells)), predicted.json()
    )
