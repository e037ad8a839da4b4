"""README.md's client snippets run as written against a real server, so they stay true.

Each snippet is taken from its section, pointed at the test server and a real model (its
``127.0.0.1:8000`` and ``"mdl_..."`` are the only things replaced), run, and its results are
checked against ``/v1/models/{id}/predict``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.server import REPO, Server

from mlp_engine import MLPClassifier

pytestmark = pytest.mark.integration

README = REPO / "README.md"
ROWS = [[0.0, 0.0], [0.0, 3.5]]  # the rows the snippets send


@pytest.fixture(scope="module")
def backend() -> str:
    return "embedded"


def snippet(heading: str) -> str:
    """The first ```python block of the README section ``## heading``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no python snippet under '## {heading}'"
    return match.group(1)


@pytest.fixture(scope="module")
def model_id(shared_server: Server) -> str:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2)) * [1.0, 2.0]
    model = MLPClassifier(hidden_layers=(6,), epochs=20, seed=0).fit(X, (X[:, 1] > 1).astype(int))
    buf = io.BytesIO()
    model.save(buf)
    with shared_server.client() as client:
        response = client.post(
            "/v1/models/import",
            content=buf.getvalue(),
            headers={"Content-Type": "application/octet-stream"},
        )
    assert response.status_code == 201, response.text
    value: str = response.json()["id"]
    return value


def run(heading: str, server: Server, model_id: str) -> dict[str, Any]:
    code = snippet(heading)
    assert code.count("127.0.0.1:8000") == 1 and code.count('"mdl_..."') == 1, code
    code = code.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
    code = code.replace('"mdl_..."', repr(model_id))
    namespace: dict[str, Any] = {"__name__": "readme_snippet"}
    exec(compile(code, f"README.md ({heading})", "exec"), namespace)
    return namespace


def expected(server: Server, model_id: str) -> dict[str, Any]:
    response = httpx.post(f"{server.base_url}/v1/models/{model_id}/predict", json={"X": ROWS})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_standard_inference_client(shared_server: Server, model_id: str) -> None:
    namespace = run("Use a standard inference client", shared_server, model_id)
    want = expected(shared_server, model_id)
    assert namespace["labels"].tolist() == want["predictions"]
    np.testing.assert_allclose(namespace["probabilities"], want["probabilities"], atol=1e-12)


def test_run_the_model_anywhere(
    shared_server: Server, model_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the snippet writes <model_id>.onnx to the current directory
    namespace = run("Run the model anywhere", shared_server, model_id)
    assert (tmp_path / f"{model_id}.onnx").is_file()
    want = expected(shared_server, model_id)
    assert namespace["labels"].tolist() == want["predictions"]
    diff = np.abs(namespace["probabilities"] - np.asarray(want["probabilities"]))
    assert diff.max() <= 2e-5
