"""Helpers of the client tests: a tiny in-memory stand-in for the contract's future parts
(``Routes`` for ``httpx.MockTransport``: canned documents, SSE bodies or sequences keyed by
(method, path)), the ``Recorder`` of requests and sleeps, and a toy data set (``blobs``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import numpy as np

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]

TABLE_MODEL: dict[str, Any] = {
    "id": "mdl_t",
    "name": "churn model",
    "task": "classification",
    "classes": ["no", "yes"],
    "layers": [4, 8, 1],
    "label": "churn",
    "features": [
        {"name": "age", "type": "numeric", "missing": 0},
        {"name": "plan", "type": "categorical", "missing": 1, "categories": ["basic", "pro"]},
        {"name": "zip", "type": "categorical", "missing": 0, "categories": ["02134", "10001"]},
    ],
    "metrics": {"loss": 0.2, "accuracy": 0.9},
    "dataset_id": "ds_t",
    "evaluation": {"train": {"accuracy": 0.9}, "validation": None, "test": None},
}

EVALUATION: dict[str, Any] = {
    "n_samples": 4,
    "metrics": {
        "accuracy": 0.75,
        "balanced_accuracy": 0.75,
        "log_loss": 0.5,
        "roc_auc": None,
        "f1_macro": 0.73,
        "confusion_matrix": {"labels": ["no", "yes"], "matrix": [[2, 0], [1, 1]]},
        "per_class": {
            "no": {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2},
            "yes": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
        },
    },
}


def ok(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=doc, headers=headers)


def sse(events: Iterable[tuple[str, Any]], comments: bool = True) -> httpx.Response:
    """An event-stream body; with ``comments``, keep-alive lines between the events."""
    parts = [": ping\n\n"] if comments else []
    for name, data in events:
        parts.append(f"event: {name}\ndata: {json.dumps(data)}\n\n")
    headers = {"content-type": "text/event-stream; charset=utf-8"}
    return httpx.Response(200, content="".join(parts).encode(), headers=headers)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


class Routes:
    """``routes[("GET", "/v1/x")] = answer`` (a response, a callable, or a list answered in
    turn, the last one repeated); anything else is a 404 in the server's shape."""

    def __init__(self) -> None:
        self.table: dict[tuple[str, str], Answer | list[Answer]] = {}

    def __setitem__(self, key: tuple[str, str], answer: Answer | list[Answer]) -> None:
        self.table[key] = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.table.get((request.method, request.url.path))
        if answer is None:
            return ok({"detail": f"no route {request.url.path}", "code": "not_found"}, 404)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        return answer(request) if callable(answer) else answer


def blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two well-separated Gaussian blobs in 2-D: X (n, 2), y (n,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 2)) * 0.5 + np.where(y[:, None] == 1, 2.0, -2.0)
    return X, y


class Recorder:
    """The requests a mock server saw, and the sleeps a client asked for."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
