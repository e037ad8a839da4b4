"""The asynchronous client: :class:`AsyncClient` (one ``httpx.AsyncClient``) with the same
resources as :class:`~mlp_client.Client`, their methods coroutines. Requests are built and
answers parsed by the same code as the sync client's (:mod:`mlp_client._calls`,
:mod:`mlp_client._core`, :mod:`mlp_client._tables`); only the sending differs."""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from mlp_client import _calls, _core, _tables
from mlp_client._core import Call, Follower, RetryPolicy
from mlp_client._progress import ProgressArg, make_reporter, make_trial_reporter
from mlp_client._sse import SSEDecoder
from mlp_client.errors import ServerError
from mlp_client.types import AsyncJob, AsyncModel, AsyncSweep, Dataset, JobEvent, Prediction

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient:
    """``AsyncClient(url=None, api_key=None)``, as :class:`~mlp_client.Client`; use it with
    ``async with``. ``sleep`` (a coroutine function) and ``transport`` are for tests."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout | float = _core.DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        poll_interval: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
    ) -> None:
        self.base_url, headers = _core.resolve_settings(url, api_key)
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self.datasets = AsyncDatasets(self)
        self.jobs = AsyncJobs(self)
        self.models = AsyncModels(self)
        self.sweeps = AsyncSweeps(self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def health(self) -> dict[str, Any]:
        doc: dict[str, Any] = await self.run(_calls.health())
        return doc

    async def ready(self) -> bool:
        try:
            await self.run(_calls.ready())
        except ServerError as exc:
            if exc.status == 503:
                return False
            raise
        return True

    async def send(self, call: Call[Any], stream: bool = False) -> httpx.Response:
        """Send ``call``, retrying 429/503 as :class:`RetryPolicy` says; the last answer."""
        attempt = 0
        while True:
            try:
                response = await self.http.send(call.build(self.http), stream=stream)
            except httpx.TransportError as exc:
                raise _core.connection_failed(exc, self.base_url) from None
            delay = self.retry.delay(response, attempt, call)
            if delay is None:
                return response
            await response.aclose()
            await self.sleep(delay)
            attempt += 1

    async def run(self, call: Call[T]) -> T:
        return call.result(await self.send(call))

    @contextlib.asynccontextmanager
    async def stream(self, call: Call[Any]) -> AsyncIterator[httpx.Response]:
        response = await self.send(call, stream=True)
        try:
            if response.is_error:
                await response.aread()
                raise _core.error_from_response(response)
            yield response
        except httpx.TransportError as exc:
            raise _core.connection_failed(exc, self.base_url) from None
        finally:
            await response.aclose()

    async def events(self, call: Call[Any]) -> AsyncGenerator[JobEvent]:
        async with self.stream(call) as response:
            if not _core.is_event_stream(response):
                raise _core.StreamUnavailable("the server did not answer with an event stream")
            decoder = SSEDecoder()
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                data = None if event is None else _core.event_data(event.data)
                if event is not None and data is not None:
                    yield JobEvent(event.event, data)

    async def follow(
        self, follower: Follower, events: Call[Any], poll: Call[Any]
    ) -> dict[str, Any]:
        """As :meth:`mlp_client.Client.follow`."""
        with contextlib.suppress(*_core.FALL_BACK_TO_POLLING):
            async with contextlib.aclosing(self.events(events)) as stream:
                async for event in stream:
                    if follower.event(event.type, event.data):
                        break
        while True:
            doc: dict[str, Any] = await self.run(poll)
            if follower.polled(doc):
                return doc
            await self.sleep(self.poll_interval)


class AsyncDatasets:
    """``client.datasets``."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def upload(
        self,
        data: Any,
        label: str | None = None,
        *,
        task: str | None = None,
        name: str | None = None,
        categorical: Sequence[str] | None = None,
        ignore: Sequence[str] | None = None,
    ) -> Dataset:
        payload = _tables.upload_payload(
            data, label=label, task=task, name=name, categorical=categorical, ignore=ignore
        )
        return Dataset.from_doc(await self.client.run(_calls.upload_dataset(payload)))

    async def generate(self, kind: str, **options: Any) -> Dataset:
        return Dataset.from_doc(await self.client.run(_calls.generate_dataset(kind, options)))

    async def get(self, dataset: Any) -> Dataset:
        return Dataset.from_doc(await self.client.run(_calls.get_dataset(dataset)))

    async def list(self) -> list[Dataset]:
        return [Dataset.from_doc(d) for d in await self.client.run(_calls.list_datasets())]

    async def data(self, dataset: Any) -> dict[str, Any]:
        doc: dict[str, Any] = await self.client.run(_calls.dataset_data(dataset))
        return doc

    async def delete(self, dataset: Any) -> None:
        await self.client.run(_calls.delete_dataset(dataset))


class AsyncJobs:
    """``client.jobs``."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def create(
        self,
        data: Any,
        *,
        label: str | None = None,
        name: str | None = None,
        task: str | None = None,
        architecture: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> AsyncJob:
        source = _calls.job_source(data)
        if source is None:
            uploaded = await self.client.datasets.upload(data, label, task=task)
            source = {"dataset_id": uploaded.id}
        body = _calls.job_body(
            source,
            name=name,
            task=task,
            architecture=architecture,
            training=training,
            fields=fields,
        )
        return AsyncJob.from_doc(await self.client.run(_calls.create_job(body)), self.client)

    async def get(self, job: Any) -> AsyncJob:
        return AsyncJob.from_doc(await self.client.run(_calls.get_job(job)), self.client)

    async def list(self, status: str | None = None, limit: int | None = None) -> list[AsyncJob]:
        docs = await self.client.run(_calls.list_jobs(status, limit))
        return [AsyncJob.from_doc(d, self.client) for d in docs]

    async def cancel(self, job: Any, keep: bool = False) -> AsyncJob:
        doc = await self.client.run(_calls.cancel_job(job, keep))
        return AsyncJob.from_doc(doc, self.client)

    def stream(self, job: Any) -> AsyncIterator[JobEvent]:
        return self.client.events(_calls.job_events(job))

    async def wait(
        self, job: Any, *, progress: ProgressArg = False, timeout: float | None = None
    ) -> AsyncModel:
        current = await self.get(job)
        reporter = make_reporter(progress, _core.total_epochs(current.raw))
        follower = Follower(reporter, f"job {current.id}", timeout, _core.job_rows)
        try:
            doc = current.raw
            if not current.done:
                doc = await self.client.follow(
                    follower, _calls.job_events(current), _calls.get_job(current)
                )
        finally:
            reporter.close()
        return await self.client.models.get(_core.finished_model_id(doc))


class AsyncModels:
    """``client.models``."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def get(self, model: Any) -> AsyncModel:
        return AsyncModel.from_doc(await self.client.run(_calls.get_model(model)), self.client)

    async def list(self) -> list[AsyncModel]:
        docs = await self.client.run(_calls.list_models())
        return [AsyncModel.from_doc(d, self.client) for d in docs]

    async def delete(self, model: Any) -> None:
        await self.client.run(_calls.delete_model(model))

    async def _doc(self, model: Any) -> dict[str, Any]:
        return model.raw if isinstance(model, AsyncModel) else (await self.get(model)).raw

    async def prediction(self, model: Any, data: Any) -> Prediction:
        doc = await self._doc(model) if _tables.is_table(data) else {}
        body = _tables.predict_payload(data, doc)
        return Prediction.from_doc(await self.client.run(_calls.predict(model, body)))

    async def predict(self, model: Any, data: Any) -> builtins.list[Any]:
        return (await self.prediction(model, data)).predictions

    async def predict_proba(self, model: Any, data: Any) -> builtins.list[builtins.list[float]]:
        result = await self.prediction(model, data)
        if result.probabilities is None:
            raise TypeError("predict_proba needs a classifier; this model is a regressor")
        return result.probabilities

    async def evaluate(
        self, model: Any, data: Any = None, *, label: str | None = None
    ) -> dict[str, Any]:
        doc = await self._doc(model)
        data = doc.get("dataset_id") if data is None else data
        body = _tables.evaluate_payload(data, label or doc.get("label"))
        result: dict[str, Any] = await self.client.run(_calls.evaluate(model, body))
        return result

    async def boundary(self, model: Any, format: str = "json", **query: Any) -> Any:
        return await self.client.run(_calls.boundary(model, format, query))

    async def download(
        self, model: Any, target: str | os.PathLike[str], format: str | None = None
    ) -> Path:
        destination = Path(target)
        call = _calls.download_model(model, _calls.download_format(str(destination), format))
        partial = destination.with_name(destination.name + ".part")
        async with self.client.stream(call) as response:
            with open(partial, "wb") as handle:  # small local writes
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
        partial.replace(destination)
        return destination

    async def import_file(self, source: str | os.PathLike[str] | bytes) -> AsyncModel:
        content = source if isinstance(source, bytes) else Path(source).read_bytes()
        doc = await self.client.run(_calls.import_model(content))
        return AsyncModel.from_doc(doc, self.client)


class AsyncSweeps:
    """``client.sweeps``."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def create(
        self,
        dataset: Any,
        space: Mapping[str, Any],
        *,
        strategy: str = "grid",
        max_trials: int | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> AsyncSweep:
        body = _calls.sweep_body(
            dataset,
            space,
            strategy=strategy,
            options=options,
            search={"max_trials": max_trials, "seed": seed},
        )
        return AsyncSweep.from_doc(await self.client.run(_calls.create_sweep(body)), self.client)

    async def get(self, sweep: Any) -> AsyncSweep:
        return AsyncSweep.from_doc(await self.client.run(_calls.get_sweep(sweep)), self.client)

    async def list(self) -> list[AsyncSweep]:
        docs = await self.client.run(_calls.list_sweeps())
        return [AsyncSweep.from_doc(d, self.client) for d in docs]

    async def cancel(self, sweep: Any) -> AsyncSweep:
        doc = await self.client.run(_calls.cancel_sweep(sweep))
        return AsyncSweep.from_doc(doc, self.client)

    def stream(self, sweep: Any) -> AsyncIterator[JobEvent]:
        return self.client.events(_calls.sweep_events(sweep))

    async def wait(
        self, sweep: Any, *, progress: ProgressArg = False, timeout: float | None = None
    ) -> AsyncSweep:
        reporter = make_trial_reporter(progress)
        follower = Follower(reporter, f"sweep {_core.ident(sweep)}", timeout, _core.sweep_rows)
        doc = await self.client.follow(
            follower, _calls.sweep_events(sweep), _calls.get_sweep(sweep)
        )
        _core.check_sweep(doc)
        return AsyncSweep.from_doc(doc, self.client)
