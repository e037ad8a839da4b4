"""Training jobs: check a request against the caps, the compute budget and the engine, then queue.

Every check runs before anything is stored or queued, so a refused job leaves nothing behind.
"""

from __future__ import annotations

import itertools
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from app import numeric
from app.errors import InvalidInput, NotFound
from app.jobs.base import JobRecord, JobRunner, JobSpec
from app.owners import Owner, require_visible, visible
from app.schemas.common import Task
from app.schemas.jobs import TABLE_DEFAULT_L2, Architecture, JobCreate, Training
from app.services.datasets import check_label_lengths, check_labels
from app.settings import Settings
from app.storage.datasets import DatasetMeta, DatasetStore
from app.storage.ids import new_id
from mlp_engine.config import MLPConfig
from mlp_engine.crosses import check_width
from mlp_engine.errors import ConfigError

__all__ = [
    "RunData",
    "check_column_categories",
    "check_run",
    "compute_cost",
    "create_job",
    "crossed_width",
    "encoded_width",
    "n_numeric",
    "n_parameters",
    "owned_job",
    "stored_data",
    "update_steps",
]

_ARCHITECTURE_KEYS = ("hidden_layers", "activation")
_SEED_BOUND = 2**31  # server-drawn seeds fit in any integer type a client may use


def n_parameters(layers: list[int]) -> int:
    """Weights and biases of a dense network with these layer sizes (input to output)."""
    return sum(a * b + b for a, b in itertools.pairwise(layers))


def compute_cost(rows: int, layers: list[int], epochs: int, batch_size: int, step_cost: int) -> int:
    """The compute budget's measure of a training run, an estimate of its time in units of one
    parameter x row: rows x parameters x epochs (the arithmetic) plus epochs x
    ceil(rows / batch_size) x ``step_cost`` (each update step's fixed overhead, which dominates
    small batches: see ``MLP_COMPUTE_STEP_COST``)."""
    return rows * n_parameters(layers) * epochs + update_steps(rows, epochs, batch_size) * step_cost


def update_steps(rows: int, epochs: int, batch_size: int) -> int:
    """The optimizer steps of a run: ``ceil(rows / batch_size)`` per epoch."""
    return epochs * math.ceil(rows / batch_size)


def encoded_width(meta: DatasetMeta, max_categories: int) -> int:
    """The network's input width for a dataset: its features as the engine encodes a table
    (a numeric column 1, +1 for a missing indicator; a categorical one a column per kept
    category, at most ``max_categories`` with "other", +1 for missing). An upper bound: the
    training split can only have fewer categories and gaps than the whole dataset."""
    if meta.layout == "arrays":
        return meta.n_features
    width = 0
    for feature in meta.features:
        gaps = int(feature["missing"] > 0)
        if feature["type"] == "numeric":
            width += 1 + gaps
        else:
            width += min(int(feature["n_categories"]), max_categories) + gaps
    return width


def check_column_categories(meta: DatasetMeta, limit: int) -> None:
    """422 naming the first categorical column with more than ``limit`` distinct values
    (``MLP_MAX_COLUMN_CATEGORIES``): a model stores every one of them (kept or "other")."""
    for feature in meta.features if meta.layout == "table" else ():
        n_categories = int(feature.get("n_categories", 0))
        if n_categories > limit:
            raise InvalidInput(
                ("body", "dataset_id"),
                f"column {feature['name'][:80]!r} of dataset {meta.id!r} has {n_categories:,} "
                f"distinct values; a model learns at most {limit:,} per column "
                "(MLP_MAX_COLUMN_CATEGORIES): upload the dataset without it (ignore=) or with "
                "fewer distinct values",
            )


def owned_job(jobs: JobRunner, owner: Owner, job_id: str) -> JobRecord:
    """The job if ``owner`` may see it; ``NotFound`` otherwise (as if unknown)."""
    record = jobs.get(job_id)
    require_visible(owner, record.owner, "job", job_id)
    return record


def n_numeric(meta: DatasetMeta) -> int:
    """The dataset's numeric columns: what ``feature_crosses`` crosses."""
    if meta.layout == "arrays":
        return meta.n_features
    return sum(feature["type"] == "numeric" for feature in meta.features)


def crossed_width(numeric: int, feature_crosses: Sequence[str]) -> int:
    """The input columns ``feature_crosses`` adds to ``numeric`` numeric columns (the engine's
    count); a 422 naming ``training.feature_crosses`` when that is none or too many."""
    try:
        return check_width(numeric, tuple(feature_crosses))
    except ConfigError as exc:
        raise InvalidInput(("body", "training", "feature_crosses"), exc.message) from None


def create_job(
    job: JobCreate,
    settings: Settings,
    datasets: DatasetStore,
    jobs: JobRunner,
    owner: Owner,
) -> JobRecord:
    """Check the request (caps, data, budget, the engine's own validation), then queue it;
    inline ``X`` + ``y`` are stored as a dataset first. The job (and inline data) belong to
    ``owner``; another key's dataset is not found."""
    _check_caps(job.architecture, job.training, settings)
    if datasets.quota is not None:  # its model (and frames) will need room: none left is a 507
        datasets.quota.check(owner.name, 1)
    data = _training_data(job, settings, datasets, owner)
    architecture, training, _ = check_run(job.architecture, job.training, data, settings)
    spec = JobSpec(
        dataset_id=job.dataset_id or "",  # inline data: set once the data is stored
        task=data.task,
        architecture=architecture,
        training=training,
        model_id=new_id("mdl_"),
        name=job.name,
        owner=owner.name,
    )
    return _submit(jobs, datasets, spec, data)


def check_run(
    architecture: Architecture,
    training: Training,
    data: RunData,
    settings: Settings,
    rows: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Every check of one training run on ``data`` (caps, class weights, the compute budget
    over ``rows`` training rows (all by default), the engine's own validation) ->
    ``(architecture, training, cost)``: the engine's settings, defaults resolved, and the
    run's :func:`compute_cost`. :class:`InvalidInput` naming the field otherwise."""
    _check_caps(architecture, training, settings)
    _check_class_weight(training, data)
    crossed = crossed_width(data.numeric, training.feature_crosses)
    layers = _layers(data, architecture.hidden_layers, crossed)
    rows = data.rows if rows is None else rows
    cost = _check_budget(rows, layers, training, settings)
    resolved_architecture = architecture.model_dump()
    resolved_training = resolve_training(training, table=data.table)
    _engine_check(resolved_architecture, resolved_training)
    return resolved_architecture, resolved_training, cost


def stored_data(meta: DatasetMeta, max_categories: int) -> RunData:
    """What :func:`check_run` needs to know of a stored dataset."""
    width = encoded_width(meta, max_categories)
    classes = list(meta.classes or ())
    return _TrainingData(
        meta.n_samples, width, n_numeric(meta), meta.task, classes, meta.layout == "table"
    )


def _check_caps(architecture: Architecture, training: Training, settings: Settings) -> None:
    hidden = architecture.hidden_layers
    if len(hidden) > settings.max_hidden_layers:
        raise InvalidInput(
            ("body", "architecture", "hidden_layers"),
            f"hidden_layers has {len(hidden)} layers; at most {settings.max_hidden_layers} "
            "are allowed",
        )
    for i, units in enumerate(hidden):
        if units > settings.max_units:
            raise InvalidInput(
                ("body", "architecture", "hidden_layers", i),
                f"hidden_layers[{i}] has {units} units; at most {settings.max_units} are allowed",
            )
    if training.epochs > settings.max_epochs:
        raise InvalidInput(
            ("body", "training", "epochs"),
            f"epochs is {training.epochs}; at most {settings.max_epochs} are allowed",
        )
    if training.batch_size > settings.max_batch_size:
        raise InvalidInput(
            ("body", "training", "batch_size"),
            f"batch_size is {training.batch_size}; at most {settings.max_batch_size} are allowed",
        )


def _check_budget(rows: int, layers: list[int], training: Training, settings: Settings) -> int:
    """The run's :func:`compute_cost`; a 422 stating both parts and how to fit it if it is over
    ``MLP_COMPUTE_BUDGET``."""
    epochs, batch, step_cost = training.epochs, training.batch_size, settings.compute_step_cost
    cost = compute_cost(rows, layers, epochs, batch, step_cost)
    budget = settings.compute_budget
    if cost <= budget:
        return cost
    per_epoch = rows * n_parameters(layers)
    steps = update_steps(rows, epochs, batch)
    raise InvalidInput(
        ("body",),
        f"this run would cost {cost:,}: rows x parameters x epochs = {rows:,} x "
        f"{n_parameters(layers):,} x {epochs:,} = {per_epoch * epochs:,} ({layers[0]:,} inputs "
        f"after encoding) plus update steps x step cost = {epochs:,} x ceil({rows:,} / "
        f"{batch:,}) x {step_cost:,} = {steps * step_cost:,} (MLP_COMPUTE_STEP_COST), over the "
        f"compute budget of {budget:,.0f} (MLP_COMPUTE_BUDGET); to fit it, "
        f"{_how_to_fit(rows, per_epoch, training, settings)}",
    )


def _how_to_fit(rows: int, per_epoch: int, training: Training, settings: Settings) -> str:
    """What would bring a run over the budget under it: the most epochs that fit at this
    batch_size, and the smallest batch_size that fits these epochs (if any does)."""
    budget, step_cost = settings.compute_budget, settings.compute_step_cost
    epoch_cost = per_epoch + math.ceil(rows / training.batch_size) * step_cost
    advice = []
    if epoch_cost <= budget:
        advice.append(f"use at most {int(budget // epoch_cost):,} epochs")
    spare = budget / training.epochs - per_epoch  # what the steps of one epoch may cost
    if step_cost and spare >= step_cost and training.batch_size < rows:
        batch = math.ceil(rows / int(spare // step_cost))
        advice.append(f"a batch_size of at least {batch:,}")
    if not advice:
        return "use fewer epochs, rows, units or categories"
    return " or ".join(advice) + " (or fewer rows, units or categories)"


def _check_class_weight(training: Training, data: _TrainingData) -> None:
    """``class_weight`` needs a classifier, and its labels must be classes of the data."""
    setting, loc = training.class_weight, ("body", "training", "class_weight")
    if setting is None:
        return
    if data.task != "classification":
        raise InvalidInput(loc, "class_weight applies to classification only")
    if isinstance(setting, dict):
        known = {str(label) for label in data.classes}
        for label in setting:
            if label not in known:
                raise InvalidInput(
                    (*loc, label),
                    f"class_weight names {label[:80]!r}, which is not a class of the data "
                    f"(classes: {', '.join(sorted(known))[:200]})",
                )


def resolve_training(training: Training, *, table: bool) -> dict[str, Any]:
    """The engine's keyword arguments with every default filled in (and a seed drawn); an
    unset ``l2`` is :data:`TABLE_DEFAULT_L2` on tables, else 0 (the notebook optimizer's only
    value)."""
    resolved = training.model_dump()
    if resolved["l2"] is None:
        penalise = table and training.optimizer != "notebook"
        resolved["l2"] = TABLE_DEFAULT_L2 if penalise else 0.0
    if resolved["seed"] is None:
        resolved["seed"] = secrets.randbelow(_SEED_BOUND)
    return resolved


def _engine_check(architecture: dict[str, Any], training: dict[str, Any]) -> None:
    """Let the engine's own validation speak (422 naming the field) before anything is queued."""
    try:
        MLPConfig(**architecture, **training)
    except ConfigError as exc:
        field = exc.field
        group = "architecture" if field in _ARCHITECTURE_KEYS else "training"
        loc: tuple[str | int, ...] = ("body", group, field)
        if field not in _ARCHITECTURE_KEYS and field not in training:
            loc = ("body", "training")
        raise InvalidInput(loc, exc.message) from None


@dataclass(frozen=True)
class _TrainingData:
    """What the checks need to know about the data; inline arrays are stored only on success."""

    rows: int
    width: int  # the encoded columns (a table's one-hot and indicator columns), before crosses
    numeric: int  # the numeric columns (what feature crosses cross)
    task: Task
    classes: list[int | str]  # [] for regression
    table: bool = False  # a stored table (CSV or split form), not X/y arrays
    X: np.ndarray | None = None
    y: np.ndarray | None = None


RunData = _TrainingData


def _training_data(
    job: JobCreate, settings: Settings, store: DatasetStore, owner: Owner
) -> _TrainingData:
    if job.dataset_id is not None:
        try:
            meta = store.get(job.dataset_id)
            if not visible(owner, meta.owner):
                raise NotFound("dataset", job.dataset_id)
        except NotFound:
            raise InvalidInput(
                ("body", "dataset_id"),
                f"dataset {job.dataset_id!r} not found (create it first)",
            ) from None
        check_column_categories(meta, settings.max_column_categories)
        return stored_data(meta, job.training.max_categories)
    task: Task = job.task or "classification"
    # pydantic has checked every value is a finite number (no booleans): take the fast path.
    X = numeric.as_matrix(
        job.X,
        ("body", "X"),
        max_rows=settings.max_rows,
        max_features=settings.max_features,
        raw=b"",
    )
    numeric.release(job.X)  # the rows as lists are done with: freed in slices, not at once
    if job.y is not None:
        check_label_lengths(job.y, ("body", "y"), settings.max_label_chars)
    y = numeric.as_labels(job.y, ("body", "y"), n_rows=X.shape[0])
    y = check_labels(y, task, settings, ("body", "y"))
    classes = np.unique(y).tolist() if task == "classification" else []
    return _TrainingData(X.shape[0], X.shape[1], X.shape[1], task, classes, X=X, y=y)


def _layers(data: _TrainingData, hidden: list[int], crossed: int) -> list[int]:
    """Input (the encoded and ``crossed`` columns), hidden and output sizes (one sigmoid output
    for two classes or regression)."""
    n_classes = len(data.classes)
    outputs = 1 if data.task == "regression" or n_classes <= 2 else n_classes
    return [data.width + crossed, *hidden, outputs]


def _submit(jobs: JobRunner, store: DatasetStore, spec: JobSpec, data: _TrainingData) -> JobRecord:
    """Store inline data as a dataset, then queue; a refused job leaves no dataset behind."""
    if data.X is None or data.y is None:
        return jobs.submit(spec)
    name = f"data of job {spec.name}" if spec.name else "inline job data"
    dataset_id = store.create(data.X, data.y, name=name, task=data.task, owner=spec.owner).id
    try:
        return jobs.submit(replace(spec, dataset_id=dataset_id))
    except Exception:
        store.delete(dataset_id)
        raise
