"""The synchronous client: :class:`Client` (one ``httpx.Client``) and its resources."""

from __future__ import annotations

import builtins
import contextlib
import os
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from mlp_client import _calls, _core, _tables
from mlp_client._core import Call, Follower, RetryPolicy
from mlp_client._progress import ProgressArg, make_reporter, make_trial_reporter
from mlp_client._sse import iter_events
from mlp_client.errors import ServerError
from mlp_client.types import Dataset, Job, JobEvent, Model, Prediction, Sweep

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """``Client(url=None, api_key=None)``: ``url`` defaults to ``MLP_URL`` (else
    ``http://127.0.0.1:8000``), ``api_key`` to ``MLP_API_KEY``. Use it as a context manager.

    ``retry`` bounds the retries of 429/503 answers (which honour ``Retry-After``); ``sleep``
    and ``transport`` are for tests (``httpx.MockTransport``)."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout | float = _core.DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        poll_interval: float = 1.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.base_url, headers = _core.resolve_settings(url, api_key)
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self.datasets = Datasets(self)
        self.jobs = Jobs(self)
        self.models = Models(self)
        self.sweeps = Sweeps(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def health(self) -> dict[str, Any]:
        """``GET /health``: ``{"status": "ok", "version"}``."""
        doc: dict[str, Any] = self.run(_calls.health())
        return doc

    def ready(self) -> bool:
        """Whether ``GET /ready`` says the service can take work (False on a 503)."""
        try:
            self.run(_calls.ready())
        except ServerError as exc:
            if exc.status == 503:
                return False
            raise
        return True

    def send(self, call: Call[Any], stream: bool = False) -> httpx.Response:
        """Send ``call``, retrying 429/503 as :class:`RetryPolicy` says; the last answer."""
        attempt = 0
        while True:
            try:
                response = self.http.send(call.build(self.http), stream=stream)
            except httpx.TransportError as exc:
                raise _core.connection_failed(exc, self.base_url) from None
            delay = self.retry.delay(response, attempt, call)
            if delay is None:
                return response
            response.close()
            self.sleep(delay)
            attempt += 1

    def run(self, call: Call[T]) -> T:
        """Send ``call`` and parse its answer (typed errors for error statuses)."""
        return call.result(self.send(call))

    @contextlib.contextmanager
    def stream(self, call: Call[Any]) -> Iterator[httpx.Response]:
        """An open streamed answer to ``call`` (errors raised before anything is yielded)."""
        response = self.send(call, stream=True)
        try:
            if response.is_error:
                response.read()
                raise _core.error_from_response(response)
            yield response
        except httpx.TransportError as exc:
            raise _core.connection_failed(exc, self.base_url) from None
        finally:
            response.close()

    def events(self, call: Call[Any]) -> Generator[JobEvent]:
        """The JSON events of an SSE route (``StreamUnavailable`` if it is not a stream)."""
        with self.stream(call) as response:
            if not _core.is_event_stream(response):
                raise _core.StreamUnavailable("the server did not answer with an event stream")
            for event in iter_events(response.iter_lines()):
                data = _core.event_data(event.data)
                if data is not None:
                    yield JobEvent(event.event, data)

    def follow(self, follower: Follower, events: Call[Any], poll: Call[Any]) -> dict[str, Any]:
        """Read ``events`` until the final status (falling back to polling on a broken or
        missing stream), then poll ``poll`` until it is terminal: the last document."""
        with (
            contextlib.suppress(*_core.FALL_BACK_TO_POLLING),
            contextlib.closing(self.events(events)) as stream,
        ):
            for event in stream:
                if follower.event(event.type, event.data):
                    break
        while True:
            doc: dict[str, Any] = self.run(poll)
            if follower.polled(doc):
                return doc
            self.sleep(self.poll_interval)


class Datasets:
    """``client.datasets``: upload, generate, get, list, data, delete."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def upload(
        self,
        data: Any,
        label: str | None = None,
        *,
        task: str | None = None,
        name: str | None = None,
        categorical: Sequence[str] | None = None,
        ignore: Sequence[str] | None = None,
    ) -> Dataset:
        """Store ``data``: a DataFrame, a CSV path, an ``(X, y)`` pair or a split-form dict."""
        payload = _tables.upload_payload(
            data, label=label, task=task, name=name, categorical=categorical, ignore=ignore
        )
        return Dataset.from_doc(self.client.run(_calls.upload_dataset(payload)))

    def generate(self, kind: str, **options: Any) -> Dataset:
        """A toy dataset: ``kind`` in notebook, xor, circles, moons, spirals, gaussians;
        ``options``: ``n_samples``, ``noise``, ``seed``, ``n_classes``, ``name``."""
        return Dataset.from_doc(self.client.run(_calls.generate_dataset(kind, options)))

    def get(self, dataset: Any) -> Dataset:
        return Dataset.from_doc(self.client.run(_calls.get_dataset(dataset)))

    def list(self) -> list[Dataset]:
        return [Dataset.from_doc(d) for d in self.client.run(_calls.list_datasets())]

    def data(self, dataset: Any) -> dict[str, Any]:
        """The stored rows: ``{"X", "y"}``."""
        doc: dict[str, Any] = self.client.run(_calls.dataset_data(dataset))
        return doc

    def delete(self, dataset: Any) -> None:
        self.client.run(_calls.delete_dataset(dataset))


class Jobs:
    """``client.jobs``: create, get, list, cancel, stream, wait."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def create(
        self,
        data: Any,
        *,
        label: str | None = None,
        name: str | None = None,
        task: str | None = None,
        architecture: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Job:
        """Start training on ``data`` (a Dataset or its ID, an ``(X, y)`` pair; a DataFrame
        or CSV path is uploaded first, with ``label``). ``fields``: any architecture or
        training setting by its bare name (``hidden_layers=[16, 16], epochs=100``)."""
        source = _calls.job_source(data)
        if source is None:
            source = {"dataset_id": self.client.datasets.upload(data, label, task=task).id}
        body = _calls.job_body(
            source,
            name=name,
            task=task,
            architecture=architecture,
            training=training,
            fields=fields,
        )
        return Job.from_doc(self.client.run(_calls.create_job(body)), self.client)

    def get(self, job: Any) -> Job:
        return Job.from_doc(self.client.run(_calls.get_job(job)), self.client)

    def list(self, status: str | None = None, limit: int | None = None) -> list[Job]:
        docs = self.client.run(_calls.list_jobs(status, limit))
        return [Job.from_doc(d, self.client) for d in docs]

    def cancel(self, job: Any, keep: bool = False) -> Job:
        return Job.from_doc(self.client.run(_calls.cancel_job(job, keep)), self.client)

    def stream(self, job: Any) -> Iterator[JobEvent]:
        """The job's events (``progress`` rows, then one ``status``) until it ends."""
        return self.client.events(_calls.job_events(job))

    def wait(
        self, job: Any, *, progress: ProgressArg = False, timeout: float | None = None
    ) -> Model:
        """Follow the job (its event stream, else polling) until it ends and return its
        model; :class:`~mlp_client.JobFailed` if it failed or was cancelled. ``progress``:
        True for a bar (terminal) or lines (stderr), or a callable given each progress row."""
        current = self.get(job)
        reporter = make_reporter(progress, _core.total_epochs(current.raw))
        follower = Follower(reporter, f"job {current.id}", timeout, _core.job_rows)
        try:
            doc = current.raw
            if not current.done:
                doc = self.client.follow(
                    follower, _calls.job_events(current), _calls.get_job(current)
                )
        finally:
            reporter.close()
        return self.client.models.get(_core.finished_model_id(doc))


class Models:
    """``client.models``: get, list, delete, predict, evaluate, boundary, download, import."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, model: Any) -> Model:
        return Model.from_doc(self.client.run(_calls.get_model(model)), self.client)

    def list(self) -> list[Model]:
        return [Model.from_doc(d, self.client) for d in self.client.run(_calls.list_models())]

    def delete(self, model: Any) -> None:
        self.client.run(_calls.delete_model(model))

    def _doc(self, model: Any) -> dict[str, Any]:
        return model.raw if isinstance(model, Model) else self.get(model).raw

    def prediction(self, model: Any, data: Any) -> Prediction:
        """Predict on ``data`` (DataFrame, CSV :class:`~mlp_client.Table`, rows, dicts)."""
        # Only a table's encoding depends on the model (its columns); rows need no lookup.
        doc = self._doc(model) if _tables.is_table(data) else {}
        body = _tables.predict_payload(data, doc)
        return Prediction.from_doc(self.client.run(_calls.predict(model, body)))

    def predict(self, model: Any, data: Any) -> builtins.list[Any]:
        return self.prediction(model, data).predictions

    def predict_proba(self, model: Any, data: Any) -> builtins.list[builtins.list[float]]:
        result = self.prediction(model, data)
        if result.probabilities is None:
            raise TypeError("predict_proba needs a classifier; this model is a regressor")
        return result.probabilities

    def evaluate(self, model: Any, data: Any = None, *, label: str | None = None) -> dict[str, Any]:
        """``{"n_samples", "metrics"}``; ``data`` defaults to the model's training dataset,
        ``label`` to the model's label column."""
        doc = self._doc(model)
        data = doc.get("dataset_id") if data is None else data
        body = _tables.evaluate_payload(data, label or doc.get("label"))
        result: dict[str, Any] = self.client.run(_calls.evaluate(model, body))
        return result

    def boundary(self, model: Any, format: str = "json", **query: Any) -> Any:
        """The boundary grid (dict) or PNG bytes (``format="png"``); ``query``: x_min,
        x_max, y_min, y_max, resolution, nx, ny, features, fixed."""
        return self.client.run(_calls.boundary(model, format, query))

    def download(
        self, model: Any, target: str | os.PathLike[str], format: str | None = None
    ) -> Path:
        """Stream the model file to ``target`` (written whole, then renamed into place)."""
        destination = Path(target)
        call = _calls.download_model(model, _calls.download_format(str(destination), format))
        partial = destination.with_name(destination.name + ".part")
        with self.client.stream(call) as response, open(partial, "wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
        partial.replace(destination)
        return destination

    def import_file(self, source: str | os.PathLike[str] | bytes) -> Model:
        """Upload a ``.npz`` made by this service (a path or its bytes)."""
        content = source if isinstance(source, bytes) else Path(source).read_bytes()
        return Model.from_doc(self.client.run(_calls.import_model(content)), self.client)


class Sweeps:
    """``client.sweeps``: create, get, list, cancel, stream, wait."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def create(
        self,
        dataset: Any,
        space: Mapping[str, Any],
        *,
        strategy: str = "grid",
        max_trials: int | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> Sweep:
        """Start a sweep over ``space`` (``{param: [values] | {"uniform": [lo, hi]} ...}``);
        ``options``: ``cv_folds``, ``metric``, ``max_parallel``, ``name``, ``architecture``,
        ``training``."""
        body = _calls.sweep_body(
            dataset,
            space,
            strategy=strategy,
            options=options,
            search={"max_trials": max_trials, "seed": seed},
        )
        return Sweep.from_doc(self.client.run(_calls.create_sweep(body)), self.client)

    def get(self, sweep: Any) -> Sweep:
        return Sweep.from_doc(self.client.run(_calls.get_sweep(sweep)), self.client)

    def list(self) -> list[Sweep]:
        return [Sweep.from_doc(d, self.client) for d in self.client.run(_calls.list_sweeps())]

    def cancel(self, sweep: Any) -> Sweep:
        return Sweep.from_doc(self.client.run(_calls.cancel_sweep(sweep)), self.client)

    def stream(self, sweep: Any) -> Iterator[JobEvent]:
        """The sweep's events (a ``trial`` event as each trial ends, then ``status``)."""
        return self.client.events(_calls.sweep_events(sweep))

    def wait(
        self, sweep: Any, *, progress: ProgressArg = False, timeout: float | None = None
    ) -> Sweep:
        """Follow the sweep until it ends -> the finished sweep (raises
        :class:`~mlp_client.JobFailed` if it failed or was cancelled)."""
        reporter = make_trial_reporter(progress)
        follower = Follower(reporter, f"sweep {_core.ident(sweep)}", timeout, _core.sweep_rows)
        doc = self.client.follow(follower, _calls.sweep_events(sweep), _calls.get_sweep(sweep))
        _core.check_sweep(doc)
        return Sweep.from_doc(doc, self.client)
