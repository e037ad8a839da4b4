"""Every operation of the HTTP contract as a :class:`~mlp_client._core.Call`: the one place
where paths, bodies and query parameters are spelled. Both clients send these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlp_client import _tables
from mlp_client._core import (
    STREAM_TIMEOUT,
    Call,
    ident,
    path,
    read_bytes,
    read_json,
    read_list,
    read_nothing,
)

ARCHITECTURE_FIELDS = frozenset({"hidden_layers", "activation"})
FORMATS = ("npz", "onnx")


def health() -> Call[Any]:
    return Call("GET", "/health", read_json)


def ready() -> Call[Any]:
    return Call("GET", "/ready", read_json, retry=False)  # a 503 is the answer, not a hiccup


# -- datasets ------------------------------------------------------------------------------


def upload_dataset(payload: _tables.Payload) -> Call[Any]:
    headers = {"Content-Type": payload.content_type} if payload.content_type else {}
    return Call(
        "POST",
        "/v1/datasets",
        read_json,
        params=payload.params,
        json=payload.json,
        content=payload.content,
        headers=headers,
    )


def generate_dataset(kind: str, options: Mapping[str, Any]) -> Call[Any]:
    body = {"kind": kind, **{k: v for k, v in options.items() if v is not None}}
    return Call("POST", "/v1/datasets/generate", read_json, json=body)


def list_datasets() -> Call[list[dict[str, Any]]]:
    return Call("GET", "/v1/datasets", read_list)


def get_dataset(dataset: Any) -> Call[Any]:
    return Call("GET", path("/v1/datasets/{}", ident(dataset)), read_json)


def dataset_data(dataset: Any) -> Call[Any]:
    return Call("GET", path("/v1/datasets/{}/data", ident(dataset)), read_json)


def delete_dataset(dataset: Any) -> Call[None]:
    return Call("DELETE", path("/v1/datasets/{}", ident(dataset)), read_nothing)


# -- jobs ----------------------------------------------------------------------------------


def job_source(data: Any) -> dict[str, Any] | None:
    """``dataset_id`` or inline ``X`` + ``y`` for a job; None when ``data`` must be uploaded
    first (a DataFrame, a CSV path, a split-form dict)."""
    if isinstance(data, str) or isinstance(getattr(data, "id", None), str):
        return {"dataset_id": ident(data)}
    if isinstance(data, Mapping) and "X" in data and "y" in data:
        payload = _tables.upload_payload(data)
        return payload.json
    if isinstance(data, tuple) and len(data) == 2:
        payload = _tables.upload_payload(data)
        return payload.json
    return None


def job_body(
    source: Mapping[str, Any],
    *,
    name: str | None = None,
    task: str | None = None,
    architecture: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``POST /v1/jobs`` body: ``fields`` are bare architecture or training settings
    (``hidden_layers=[16, 16], epochs=100``), merged over the explicit dicts. Settings left
    out (or None) take the server's documented defaults."""
    arch = dict(architecture or {})
    train = dict(training or {})
    for key, value in (fields or {}).items():
        if value is not None:
            (arch if key in ARCHITECTURE_FIELDS else train)[key] = value
    if "hidden_layers" in arch:
        arch["hidden_layers"] = [int(units) for units in arch["hidden_layers"]]
    body: dict[str, Any] = {**source}
    if name is not None:
        body["name"] = name
    if task is not None and "dataset_id" not in body:
        body["task"] = task
    if arch:
        body["architecture"] = arch
    if train:
        body["training"] = train
    return body


def create_job(body: Mapping[str, Any]) -> Call[Any]:
    return Call("POST", "/v1/jobs", read_json, json=dict(body))


def list_jobs(status: str | None = None, limit: int | None = None) -> Call[list[dict[str, Any]]]:
    params: dict[str, Any] = {"status": status, "limit": limit}
    return Call("GET", "/v1/jobs", read_list, params=params)


def get_job(job: Any) -> Call[Any]:
    return Call("GET", path("/v1/jobs/{}", ident(job)), read_json)


def cancel_job(job: Any, keep: bool = False) -> Call[Any]:
    params = {"keep": "true"} if keep else None
    return Call("POST", path("/v1/jobs/{}/cancel", ident(job)), read_json, params=params)


def job_events(job: Any) -> Call[None]:
    headers = {"Accept": "text/event-stream"}
    url = path("/v1/jobs/{}/events", ident(job))
    return Call("GET", url, read_nothing, headers=headers, timeout=STREAM_TIMEOUT)


# -- models --------------------------------------------------------------------------------


def list_models() -> Call[list[dict[str, Any]]]:
    return Call("GET", "/v1/models", read_list)


def get_model(model: Any) -> Call[Any]:
    return Call("GET", path("/v1/models/{}", ident(model)), read_json)


def delete_model(model: Any) -> Call[None]:
    return Call("DELETE", path("/v1/models/{}", ident(model)), read_nothing)


def predict(model: Any, body: Mapping[str, Any]) -> Call[Any]:
    return Call("POST", path("/v1/models/{}/predict", ident(model)), read_json, json=dict(body))


def evaluate(model: Any, body: Mapping[str, Any]) -> Call[Any]:
    return Call("POST", path("/v1/models/{}/evaluate", ident(model)), read_json, json=dict(body))


def boundary(model: Any, format: str, query: Mapping[str, Any]) -> Call[Any]:
    """``GET .../boundary``: ``features`` and ``fixed`` may be given as sequences / dicts."""
    params: dict[str, Any] = {"format": format}
    for key, value in query.items():
        if isinstance(value, Mapping):
            value = ",".join(f"{k}:{v}" for k, v in value.items())
        elif isinstance(value, Sequence) and not isinstance(value, str):
            value = ",".join(str(v) for v in value)
        params[key] = value
    parse = read_bytes if format == "png" else read_json
    headers = {"Accept": "image/png"} if format == "png" else {}
    return Call("GET", path("/v1/models/{}/boundary", ident(model)), parse, params, headers=headers)


def download_format(target: str, format: str | None) -> str:
    """The download format: given, else ``onnx`` for a ``.onnx`` path, else ``npz``."""
    chosen = format or ("onnx" if target.lower().endswith(".onnx") else "npz")
    if chosen not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {chosen!r}")
    return chosen


def download_model(model: Any, format: str) -> Call[None]:
    headers = {"Accept": "application/octet-stream"}
    url = path("/v1/models/{}/download", ident(model))
    # npz is the default: servers before ONNX export refuse an unknown ``format`` parameter.
    params = None if format == "npz" else {"format": format}
    return Call("GET", url, read_nothing, params, headers=headers, timeout=STREAM_TIMEOUT)


def import_model(content: bytes) -> Call[Any]:
    headers = {"Content-Type": "application/octet-stream"}
    return Call("POST", "/v1/models/import", read_json, content=content, headers=headers)


# -- sweeps --------------------------------------------------------------------------------


def sweep_body(
    dataset: Any,
    space: Mapping[str, Any],
    *,
    strategy: str = "grid",
    options: Mapping[str, Any] | None = None,
    search: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``POST /v1/sweeps`` body. ``options``: ``name``, ``architecture``, ``training``,
    ``cv_folds``, ``metric``, ``max_parallel`` (None = server default); ``search`` adds
    ``max_trials`` / ``seed`` to the search block."""
    body: dict[str, Any] = {"dataset_id": ident(dataset)}
    body.update({k: v for k, v in (options or {}).items() if v is not None})
    block: dict[str, Any] = {"strategy": strategy, "space": dict(space)}
    block.update({k: v for k, v in (search or {}).items() if v is not None})
    body["search"] = block
    return body


def create_sweep(body: Mapping[str, Any]) -> Call[Any]:
    return Call("POST", "/v1/sweeps", read_json, json=dict(body))


def list_sweeps() -> Call[list[dict[str, Any]]]:
    return Call("GET", "/v1/sweeps", read_list)


def get_sweep(sweep: Any) -> Call[Any]:
    return Call("GET", path("/v1/sweeps/{}", ident(sweep)), read_json)


def cancel_sweep(sweep: Any) -> Call[Any]:
    return Call("POST", path("/v1/sweeps/{}/cancel", ident(sweep)), read_json)


def sweep_events(sweep: Any) -> Call[None]:
    headers = {"Accept": "text/event-stream"}
    url = path("/v1/sweeps/{}/events", ident(sweep))
    return Call("GET", url, read_nothing, headers=headers, timeout=STREAM_TIMEOUT)
