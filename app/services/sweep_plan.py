"""Planning a sweep: check a ``SweepCreate`` against the data, the limits and the engine, and
build its document (:mod:`app.services.sweep_state`). Nothing is stored or queued here.

Every trial is checked as the job it will be (caps, the per-job compute budget, the engine's own
validation), so a sweep that is accepted has no trial the job API would refuse; a setting that
comes from the search space is named as ``search.space.<name>`` in the 422.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from app.errors import InvalidInput
from app.schemas.jobs import Architecture, Training
from app.schemas.sweeps import SweepCreate
from app.services.jobs import RunData, check_column_categories, check_run, stored_data
from app.settings import Settings
from app.storage.datasets import DatasetMeta
from app.storage.ids import new_id
from mlp_engine.errors import ConfigError
from mlp_engine.metrics import METRICS
from mlp_engine.model_selection import (
    Dimension,
    grid_size,
    grid_trials,
    parse_space,
    random_trials,
)

__all__ = ["DEFAULT_METRICS", "DEFAULT_RANDOM_TRIALS", "SEARCHABLE", "plan_sweep"]

DEFAULT_METRICS = {"classification": "log_loss", "regression": "mse"}
DEFAULT_RANDOM_TRIALS = 10
DEFAULT_VALIDATION_FRACTION = 0.2  # a trial without CV is scored on this share of its rows
_ARCHITECTURE = frozenset(Architecture.model_fields)
SEARCHABLE = _ARCHITECTURE | frozenset(Training.model_fields)


def plan_sweep(body: SweepCreate, meta: DatasetMeta, settings: Settings) -> dict[str, Any]:
    """The new sweep's document, or :class:`InvalidInput` naming the field or the limit."""
    metric = _metric(body.metric, meta.task)
    seed = body.search.seed if body.search.seed is not None else 0
    if body.cv_folds is not None and body.cv_folds > meta.n_samples:
        raise InvalidInput(
            ("body", "cv_folds"),
            f"cv_folds={body.cv_folds} needs at least {body.cv_folds} rows; the dataset has "
            f"{meta.n_samples}",
        )
    params = _draw(body, settings, seed)
    check_column_categories(meta, settings.max_column_categories)
    data = stored_data(meta, body.training.max_categories)
    trials, cost = _check_trials(body, params, data, settings, seed)
    if cost > settings.sweep_compute_budget:
        raise InvalidInput(
            ("body",),
            f"this sweep would cost {cost:,} (rows x parameters x epochs plus update steps x "
            f"MLP_COMPUTE_STEP_COST, over every trial"
            f"{' and fold' if body.cv_folds else ''}), over the sweep compute budget of "
            f"{settings.sweep_compute_budget:,.0f} (MLP_SWEEP_COMPUTE_BUDGET); use fewer "
            "trials, folds, epochs or units",
        )
    folds: list[int | None] = list(range(body.cv_folds)) if body.cv_folds else [None]
    slots = [
        {"trial": i, "fold": f, "job_id": None, "model_id": None, "status": None, "score": None}
        for i in range(len(trials))
        for f in folds
    ]
    return {
        "id": new_id("swp_"),
        "name": body.name,
        "dataset_id": meta.id,
        "task": meta.task,
        "metric": metric,
        "greater_is_better": METRICS[metric].greater_is_better,
        "cv_folds": body.cv_folds,
        "max_parallel": body.max_parallel or settings.max_concurrent_jobs,
        "strategy": body.search.strategy,
        "seed": seed,
        "trials": trials,
        "slots": slots,
        "refit": None,
        "ended": [],
        "cancel_requested": False,
        "status": "queued",
        "created_at": datetime.now(UTC).isoformat(),
        "finished_at": None,
    }


def _metric(name: str | None, task: str) -> str:
    metric = name or DEFAULT_METRICS[task]
    known = sorted(m for m, entry in METRICS.items() if entry.task == task)
    if metric not in METRICS or METRICS[metric].task != task:
        raise InvalidInput(
            ("body", "metric"),
            f"metric {metric[:64]!r} is not a {task} metric; choose one of {', '.join(known)}",
        )
    return metric


def _dims(body: SweepCreate) -> list[Dimension]:
    space = {
        name: value.model_dump() if isinstance(value, BaseModel) else value
        for name, value in body.search.space.items()
    }
    try:
        return parse_space(space, SEARCHABLE, grid=body.search.strategy == "grid")
    except ConfigError as exc:
        raise InvalidInput(("body", *exc.field.split(".")), exc.message) from None


def _draw(body: SweepCreate, settings: Settings, seed: int) -> list[dict[str, Any]]:
    """Every trial's params, refusing more than ``MLP_SWEEP_MAX_TRIALS`` before building any."""
    dims, limit, search = _dims(body), settings.sweep_max_trials, body.search
    if search.max_trials is not None and search.max_trials > limit:
        raise InvalidInput(
            ("body", "search", "max_trials"),
            f"max_trials is {search.max_trials}; at most {limit} trials per sweep are allowed "
            "(MLP_SWEEP_MAX_TRIALS)",
        )
    if search.strategy == "random":
        return random_trials(dims, search.max_trials or DEFAULT_RANDOM_TRIALS, seed)
    size = grid_size(dims) or 0
    if size > limit:
        raise InvalidInput(
            ("body", "search", "space"),
            f"the grid has {_count(size)} combinations, over the limit of {limit} trials per "
            "sweep (MLP_SWEEP_MAX_TRIALS); search fewer values or use strategy 'random'",
        )
    return grid_trials(dims, search.max_trials)


def _count(size: int) -> str:
    return f"{size:,}" if size < 10**15 else f"about 10^{int(math.log10(size))}"


def _check_trials(
    body: SweepCreate,
    all_params: list[dict[str, Any]],
    data: RunData,
    settings: Settings,
    seed: int,
) -> tuple[list[dict[str, Any]], int]:
    """Each trial's resolved settings, and the cost of every job of the sweep together."""
    k = body.cv_folds
    rows = data.rows - data.rows // k if k else data.rows  # the largest training part
    trials, total, largest = [], 0, 0
    for params in all_params:
        architecture, training = _settings(body, params, seed)
        try:
            arch, train, cost = check_run(architecture, training, data, settings, rows)
        except InvalidInput as exc:
            raise _from_space(exc, params) from None
        trials.append({"params": params, "architecture": arch, "training": train})
        total += cost * (k or 1)
        largest = max(largest, cost)
    if k:  # the refit of the best trial on every row
        total += math.ceil(largest * data.rows / max(rows, 1))
    return trials, total


def _settings(
    body: SweepCreate, params: dict[str, Any], seed: int
) -> tuple[Architecture, Training]:
    """The base settings with the trial's params over them (the seed: the sweep's, unless
    set; without CV, ``validation_fraction`` 0.2 unless set)."""
    arch_params = {k: v for k, v in params.items() if k in _ARCHITECTURE}
    training = body.training.model_dump(exclude_unset=True)
    training.update({k: v for k, v in params.items() if k not in _ARCHITECTURE})
    training.setdefault("seed", seed)
    if body.cv_folds is None:
        training.setdefault("validation_fraction", DEFAULT_VALIDATION_FRACTION)
        if training["validation_fraction"] == 0:
            raise InvalidInput(
                _where("validation_fraction", params),
                "a sweep without cv_folds scores each trial on its validation split: "
                "validation_fraction must be > 0",
            )
    try:
        architecture = Architecture(**{**body.architecture.model_dump(), **arch_params})
        return architecture, Training(**training)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        raise InvalidInput(_where(name, params), f"{name}: {error['msg']}") from None


def _where(name: str, params: dict[str, Any]) -> tuple[str, ...]:
    """The 422's ``loc`` of a setting: in the space, or in the base settings."""
    if name in params:
        return ("body", "search", "space", name)
    return ("body", "architecture" if name in _ARCHITECTURE else "training", name)


def _from_space(exc: InvalidInput, params: dict[str, Any]) -> InvalidInput:
    """A trial's 422: a setting that comes from the space is named ``search.space.<name>``."""
    loc = exc.loc
    if len(loc) >= 3 and loc[0] == "body" and loc[2] in params:
        return InvalidInput(("body", "search", "space", *loc[2:]), exc.message)
    return exc
