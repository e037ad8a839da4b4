"""Fixtures of the client tests: one real server per module (``live_server``, from
:mod:`helpers.server`), CSV files to train on, and ``mock_client`` for the contract parts the
server does not have yet (httpx ``MockTransport``; retries sleep through a recorder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers.server import Server

from mlp_client import AsyncClient, Client

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``mlp-service`` (embedded job runner) for this module's tests."""
    root = tmp_path_factory.mktemp("client-server")
    (root / "logs").mkdir()
    server = Server(root / "data", root / "logs", {"MLP_MAX_QUEUED_JOBS": "50"})
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(live_server: Server) -> Iterator[Client]:
    with Client(live_server.base_url, poll_interval=0.1) as c:
        yield c


@pytest.fixture
def async_client(live_server: Server) -> AsyncClient:
    return AsyncClient(live_server.base_url, poll_interval=0.1)


def blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two well-separated Gaussian blobs in 2-D: X (n, 2), y (n,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 2)) * 0.5 + np.where(y[:, None] == 1, 2.0, -2.0)
    return X, y


@pytest.fixture
def numeric_csv(tmp_path: Path) -> Path:
    """A numeric CSV with a header; the label column (``kind``, strings) is not last."""
    X, y = blobs()
    lines = ["a,kind,b"] + [
        f"{x0:.5f},{'left' if label == 0 else 'right'},{x1:.5f}"
        for (x0, x1), label in zip(X, y, strict=True)
    ]
    path = tmp_path / "train.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def features_csv(tmp_path: Path) -> Path:
    """Rows to predict on: the two feature columns only."""
    path = tmp_path / "new.csv"
    path.write_text("a,b\n-2.0,-2.1\n2.2,1.9\n-1.8,-2.0\n")
    return path


class Recorder:
    """The requests a mock server saw, and the sleeps a client asked for."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def mock_client(recorder: Recorder) -> Iterator[Callable[[Handler], Client]]:
    """``mock_client(handler)`` -> a :class:`Client` whose requests ``handler`` answers."""
    made: list[Client] = []

    def make(handler: Handler) -> Client:
        def record(request: httpx.Request) -> httpx.Response:
            request.read()
            recorder.requests.append(request)
            return handler(request)

        c = Client(
            "http://mlp.test",
            transport=httpx.MockTransport(record),
            sleep=recorder.sleep,
            poll_interval=0.0,
        )
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def mock_async_client(recorder: Recorder) -> Callable[[Handler], AsyncClient]:
    def make(handler: Handler) -> AsyncClient:
        def record(request: httpx.Request) -> httpx.Response:
            recorder.requests.append(request)
            return handler(request)

        return AsyncClient(
            "http://mlp.test",
            transport=httpx.MockTransport(record),
            sleep=recorder.async_sleep,
            poll_interval=0.0,
        )

    return make
