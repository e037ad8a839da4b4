"""Fixtures of the client tests: one real server per module (``live_server``, from
:mod:`helpers.server`), CSV files to train on, and ``mock_client`` for the contract parts the
server does not have yet (httpx ``MockTransport``; retries sleep through a recorder).
Importable helpers live in :mod:`client_support` (a conftest cannot be imported by name)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from client_support import Recorder, blobs
from helpers.server import Server, cancel_unfinished
from helpers.specs import LONG_JOB_ENV

from mlp_client import AsyncClient, Client

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``mlp-service`` (embedded job runner) for this module's tests; it admits
    :data:`~helpers.specs.FOREVER` jobs (a job to be cancelled must not be able to end first)."""
    root = tmp_path_factory.mktemp("client-server")
    (root / "logs").mkdir()
    env = {"MLP_MAX_QUEUED_JOBS": "50", **{k.upper(): v for k, v in LONG_JOB_ENV.items()}}
    server = Server(root / "data", root / "logs", env)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _nothing_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test on the module's server: cancel what it left unfinished (an endless job
    of a test that failed before its cancel would block every later test of the module)."""
    yield
    if "live_server" in request.fixturenames:
        cancel_unfinished(request.getfixturevalue("live_server").base_url)


@pytest.fixture
def client(live_server: Server) -> Iterator[Client]:
    with Client(live_server.base_url, poll_interval=0.1) as c:
        yield c


@pytest.fixture
def async_client(live_server: Server) -> AsyncClient:
    return AsyncClient(live_server.base_url, poll_interval=0.1)


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
