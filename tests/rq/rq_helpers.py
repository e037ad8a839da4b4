"""What the RQ back-end tests train (the fixtures are in ``conftest.py``).

Everything else they use is shared: the processes in :mod:`helpers.rq_backend` and
:mod:`helpers.server`, the specs, data and settings in :mod:`helpers.specs` (``settings_for``
with a ``redis_url`` gives the RQ back-end), waiting in :mod:`helpers.waiting`."""

from __future__ import annotations

from typing import Any

from helpers import specs

from app.jobs.base import JobSpec

__all__ = ["make_spec"]


def make_spec(
    dataset_id: str, model_id: str = "model_1", hidden: tuple[int, ...] = (8,), **training: Any
) -> JobSpec:
    """:func:`helpers.specs.make_spec` on ``dataset_id``, its model named "rq test model"."""
    return specs.make_spec(dataset_id, model_id, hidden, name="rq test model", **training)
