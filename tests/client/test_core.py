"""The transport-agnostic core: retries, error mapping, SSE parsing, settings (MockTransport,
no sleeping: the clients' sleep is a recorder)."""

from __future__ import annotations

import email.utils
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest
from client_support import Recorder, Routes, body, ok

from mlp_client import (
    AsyncClient,
    Client,
    Conflict,
    InvalidInput,
    MLPError,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    Unauthorized,
)
from mlp_client._core import error_from_response, parse_retry_after, path, resolve_settings
from mlp_client._sse import ServerEvent, SSEDecoder, iter_events

MockClient = Callable[[Callable[[httpx.Request], httpx.Response]], Client]


def test_429_then_200_retries_after_the_servers_delay(
    mock_client: MockClient, recorder: Recorder
) -> None:
    routes = Routes()
    routes[("GET", "/v1/models")] = [
        ok({"detail": "queue full", "code": "queue_full"}, 429, {"Retry-After": "7"}),
        ok({"data": [], "count": 0}),
    ]
    assert mock_client(routes).models.list() == []
    assert recorder.sleeps == [7.0]
    assert len(recorder.requests) == 2


def test_503_without_retry_after_backs_off_exponentially_then_gives_up(
    mock_client: MockClient, recorder: Recorder
) -> None:
    routes = Routes()
    routes[("GET", "/health")] = ok({"detail": "unavailable", "code": "unavailable"}, 503)
    with pytest.raises(ServerError) as caught:
        mock_client(routes).health()
    assert recorder.sleeps == [0.5, 1.0, 2.0]  # RetryPolicy(): 3 retries, 0.5 s doubling
    assert caught.value.status == 503 and len(recorder.requests) == 4


def test_retries_are_bounded_and_the_last_429_is_raised(recorder: Recorder) -> None:
    answer = ok({"detail": "queue full"}, 429, {"Retry-After": "1000"})
    with (
        Client(
            "http://mlp.test",
            transport=httpx.MockTransport(lambda r: answer),
            retry=RetryPolicy(max_retries=1, max_delay=30),
            sleep=recorder.sleep,
        ) as c,
        pytest.raises(RateLimited) as caught,
    ):
        c.jobs.create("ds_x")
    assert recorder.sleeps == [30.0]  # capped
    assert caught.value.retry_after == 1000.0 and caught.value.message == "queue full"


def test_422_and_404_are_not_retried(mock_client: MockClient, recorder: Recorder) -> None:
    routes = Routes()
    mock = mock_client(routes)
    with pytest.raises(NotFound):
        mock.models.get("mdl_x")
    assert recorder.sleeps == [] and len(recorder.requests) == 1


@pytest.mark.anyio
async def test_async_client_retries_through_its_async_sleep(recorder: Recorder) -> None:
    routes = Routes()
    routes[("GET", "/health")] = [ok({}, 429, {"Retry-After": "2"}), ok({"status": "ok"})]
    async with AsyncClient(
        "http://mlp.test", transport=httpx.MockTransport(routes), sleep=recorder.async_sleep
    ) as c:
        assert (await c.health())["status"] == "ok"
    assert recorder.sleeps == [2.0]


def test_retry_after_as_seconds_or_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_060, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == 60.0
    assert parse_retry_after(date, now=2_000_000) == 0.0


def response(status: int, doc: object, headers: dict[str, str] | None = None) -> httpx.Response:
    answer = httpx.Response(status, json=doc, headers=headers)
    answer.read()
    return answer


def test_error_mapping() -> None:
    detail = [
        {"loc": ["body", "training", "epochs"], "msg": "training.epochs: too small"},
        {"loc": ["body", "X", 3, 1], "msg": "X[3][1]: not finite"},
    ]
    invalid = error_from_response(response(422, {"detail": detail}, {"X-Request-ID": "r1"}))
    assert isinstance(invalid, InvalidInput)
    assert invalid.field == "training.epochs" and invalid.request_id == "r1"
    assert invalid.message == "training.epochs: too small; X[3][1]: not finite"
    assert str(invalid) == "422: training.epochs: too small; X[3][1]: not finite (request id r1)"
    query = error_from_response(
        response(422, {"detail": [{"loc": ["query", "label"], "msg": "x"}]})
    )
    assert query.field == "label"
    unauthorized = error_from_response(
        response(401, {"detail": "missing API key", "code": "unauthorized"})
    )
    assert isinstance(unauthorized, Unauthorized) and unauthorized.code == "unauthorized"
    assert isinstance(error_from_response(response(409, {"detail": "ended"})), Conflict)
    internal = error_from_response(response(500, {"detail": "internal error", "request_id": "abc"}))
    assert isinstance(internal, ServerError) and internal.request_id == "abc"
    v2 = error_from_response(response(400, {"error": "bad tensor"}))
    assert isinstance(v2, InvalidInput) and v2.message == "bad tensor"
    teapot = httpx.Response(418, text="<html>\n  nope\n</html>")
    teapot.read()
    other = error_from_response(teapot)
    assert type(other) is MLPError and other.message == "<html> nope </html>"


def test_sse_decoder_follows_the_whatwg_rules() -> None:
    lines = [
        ": ping",
        "",
        "event: progress",
        'data: {"epoch": 1,',
        'data:  "loss": 0.5}',
        "id: 7",
        "",
        "retry: 100",
        "data: plain\r",
        "",
        "event: ignored-without-data",
        "",
        "data: dropped-unterminated",
    ]
    events = list(iter_events(lines))
    assert events == [
        ServerEvent("progress", '{"epoch": 1,\n "loss": 0.5}', "7"),
        ServerEvent("message", "plain", "7"),
    ]
    assert SSEDecoder().feed("") is None


def test_settings_and_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLP_URL", raising=False)
    monkeypatch.delenv("MLP_API_KEY", raising=False)
    url, headers = resolve_settings(None, None)
    assert url == "http://127.0.0.1:8000" and "Authorization" not in headers
    url, headers = resolve_settings("http://h:1/", "k")
    assert url == "http://h:1" and headers["Authorization"] == "Bearer k"
    assert path("/v1/models/{}", "../etc/passwd") == "/v1/models/..%2Fetc%2Fpasswd"


def test_small_request_shapes(mock_client: MockClient, recorder: Recorder) -> None:
    routes = Routes()
    job = {"id": "job_1", "status": "running"}
    routes[("POST", "/v1/jobs/job_1/cancel")] = ok(job, 202)
    routes[("GET", "/v1/jobs")] = ok({"data": [job], "count": 1})
    routes[("POST", "/v1/datasets/generate")] = ok({"id": "ds_1"}, 201)
    routes[("GET", "/v1/models/mdl_1/boundary")] = ok({"x": [], "y": []})
    routes[("GET", "/ready")] = [ok({"status": "ready"}), ok({"detail": "not ready"}, 503)]
    c = mock_client(routes)
    c.jobs.cancel("job_1", keep=True)
    assert recorder.requests[-1].url.params["keep"] == "true"
    assert [j.id for j in c.jobs.list(status="running", limit=5)] == ["job_1"]
    assert dict(recorder.requests[-1].url.params) == {"status": "running", "limit": "5"}
    c.datasets.generate("spirals", n_samples=100, n_classes=3, noise=None)
    assert body(recorder.requests[-1]) == {"kind": "spirals", "n_samples": 100, "n_classes": 3}
    c.models.boundary(
        "mdl_1", features=["age", "income"], fixed={"plan": "pro", "x": 1}, resolution=50
    )
    assert dict(recorder.requests[-1].url.params) == {
        "format": "json",
        "features": "age,income",
        "fixed": "plan:pro,x:1",
        "resolution": "50",
    }
    assert c.ready() is True
    assert c.ready() is False
    assert recorder.sleeps == []  # readiness is a probe: a 503 is its answer, not retried


def test_importing_the_client_needs_neither_numpy_nor_pandas() -> None:
    # (httpx itself imports click and rich when they are installed, for its own CLI)
    code = (
        "import sys, mlp_client; "
        "heavy = {'numpy', 'pandas', 'app', 'mlp_engine', 'mlp_client.cli'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_predicting_rows_by_id_needs_one_request(
    mock_client: MockClient, recorder: Recorder
) -> None:
    routes = Routes()
    routes[("POST", "/v1/models/mdl_1/predict")] = ok({"predictions": [1], "classes": [0, 1]})
    assert mock_client(routes).models.predict("mdl_1", [[0.5, 1.5]]) == [1]
    assert [r.url.path for r in recorder.requests] == ["/v1/models/mdl_1/predict"]
    assert body(recorder.requests[0]) == {"X": [[0.5, 1.5]]}
