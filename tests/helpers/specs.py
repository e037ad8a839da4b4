"""What tests train: job bodies for the HTTP API, :class:`JobSpec` objects and settings for the
runners, small datasets.

Jobs that must keep running until the test cancels them use :data:`FOREVER` (an epoch count far
beyond any test's life, whatever the machine's speed); a server or app running them needs the
limits of :data:`LONG_JOB_ENV` / :data:`LONG_JOB_LIMITS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from app.jobs.base import JobSpec
from app.settings import Settings
from app.storage.datasets import DatasetStore

__all__ = [
    "FOREVER",
    "LONG_JOB_ENV",
    "LONG_JOB_LIMITS",
    "NOTEBOOK_TRAINING",
    "make_data",
    "make_spec",
    "notebook_job",
    "settings_for",
    "stored_dataset",
]

# Training that never ends on its own within a test: a million epochs of per-sample updates.
FOREVER: dict[str, Any] = {"epochs": 1_000_000, "batch_size": 1}
# Limits that admit FOREVER jobs: for Settings / make_settings, and as start_server(**env).
LONG_JOB_LIMITS: dict[str, Any] = {"max_epochs": 1_000_000, "compute_budget": 1e15}
LONG_JOB_ENV: dict[str, str] = {"mlp_max_epochs": "1000000", "mlp_compute_budget": "1e15"}

# The teaching notebook's training, exactly (seed 1 reaches >= 0.99 on the `notebook` set
# generated with seed 0); per-sample SGD, so a few hundred epochs take seconds.
NOTEBOOK_TRAINING: dict[str, Any] = {
    "epochs": 200,
    "learning_rate": 0.001,
    "batch_size": 1,
    "optimizer": "sgd",
    "momentum": 0.0,
    "init": "notebook",
    "shuffle": False,
    "standardize": False,
    "seed": 1,
}


def notebook_job(
    dataset_id: str, epochs: int = 200, seed: int = 1, **fields: Any
) -> dict[str, Any]:
    """A ``POST /v1/jobs`` body: the notebook's 2-5-3-1 ReLU network and training on
    ``dataset_id``; ``fields`` (e.g. ``name``) are added to the body."""
    return {
        "dataset_id": dataset_id,
        "architecture": {"hidden_layers": [5, 3], "activation": "relu"},
        "training": {**NOTEBOOK_TRAINING, "epochs": epochs, "seed": seed},
        **fields,
    }


def make_data(n: int = 200, seed: int = 0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """An XOR-like two-class problem: X (n, 2) times ``scale``, y (n,) of 0/1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X * scale, y


def stored_dataset(data_dir: Path, name: str = "xor", **data: Any) -> str:
    """Store :func:`make_data` (``data``: its arguments) in ``data_dir`` as a classification
    dataset; its ID."""
    X, y = make_data(**data)
    return DatasetStore(data_dir).create(X, y, name=name, task="classification").id


def make_spec(
    dataset_id: str = "ds_1",
    model_id: str = "model_1",
    hidden: tuple[int, ...] = (8,),
    name: str = "test model",
    **training: Any,
) -> JobSpec:
    """A classification :class:`JobSpec` on ``dataset_id``; ``training`` overrides the defaults
    (5 epochs, learning rate 0.05, seed 0)."""
    return JobSpec(
        dataset_id=dataset_id,
        task="classification",
        architecture={"hidden_layers": list(hidden), "activation": "relu"},
        training={"epochs": 5, "learning_rate": 0.05, "seed": 0, **training},
        model_id=model_id,
        name=name,
    )


def settings_for(data_dir: Path, redis_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for a job runner on ``data_dir`` (no ``.env`` file read): the embedded back-end
    with one slot, or with ``redis_url`` the RQ back-end with two; ``overrides`` last."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "max_concurrent_jobs": 1,
        "max_queued_jobs": 10,
        "progress_interval_seconds": 0.05,
        "job_cancel_grace_seconds": 3.0,
        "snapshot_every_epochs": 5,
        "log_json": False,
    }
    if redis_url is not None:
        values.update(job_backend="rq", redis_url=redis_url, max_concurrent_jobs=2)
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]
