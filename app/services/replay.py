"""Replay: the weight frames of jobs and models, and a model (or a job's network) at one of them.

A job's frames are read from its live frames file while it runs, and from its model's once it
has one (succeeded, or cancelled with ``keep=true``); a job without either has none. See
:mod:`app.jobs.frames` for where the files are and how they are written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from app import animation
from app.errors import Conflict, NotFound, ServiceError
from app.jobs.base import JobRecord, JobRunner
from app.jobs.frames import job_frames_path, model_frames_path, read_frames
from app.owners import Owner
from app.services.boundary import BoundaryQuery, evaluate_grid
from app.services.jobs import owned_job
from app.services.models import dataset_points, job_network, owned_model
from app.storage.datasets import DatasetStore
from app.storage.models import Estimator, ModelStore
from mlp_engine import ModelFormatError
from mlp_engine.frames import Frames, at_frame

__all__ = [
    "EpochNotRecorded",
    "animation_gif",
    "job_at_epoch",
    "job_frames",
    "model_at_epoch",
    "model_frames",
    "recorded_epochs",
]


class EpochNotRecorded(NotFound):
    """``epoch=K`` names no recorded frame (HTTP 404)."""

    def __init__(self, owner: str, epoch: int, frames: Frames | None) -> None:
        recorded = recorded_epochs(frames)
        shown = ", ".join(map(str, recorded[:5])) + (", ..." if len(recorded) > 5 else "")
        ServiceError.__init__(
            self,
            f"epoch {epoch} is not a recorded frame of {owner} "
            + (f"(recorded: {shown}; GET its /frames)" if recorded else "(it has no frames)"),
        )
        self.resource, self.resource_id = "frame", str(epoch)


def recorded_epochs(frames: Frames | None) -> list[int]:
    """The recorded epochs, ascending (empty without frames)."""
    return [] if frames is None else [int(e) for e in frames.epochs.tolist()]


def _read(path: Path, owner: str) -> Frames | None:
    try:
        return read_frames(path, None)
    except ModelFormatError:
        raise Conflict(f"the frames of {owner} cannot be read: the file is damaged") from None


def model_frames(models: ModelStore, model_id: str) -> Frames | None:
    """The frames of a stored model (None for a model without any, e.g. an imported one);
    404 for an unknown model."""
    models.get(model_id)  # 404
    return _read(model_frames_path(models.root.parent, model_id), f"model {model_id!r}")


def job_frames(
    jobs: JobRunner, models: ModelStore, data_dir: Path, job_id: str, owner: Owner
) -> tuple[Frames | None, JobRecord]:
    """The frames of a job (running: so far; with a model: the model's; else None); 404 for
    an unknown job or another key's."""
    record = owned_job(jobs, owner, job_id)
    if record.status == "running":
        frames = _read(job_frames_path(data_dir, job_id), f"job {job_id!r}")
        if frames is not None:
            return frames, record
        record = jobs.get(job_id)  # it may have ended meanwhile and have a model now
    if record.model_id is None:
        return None, record
    try:
        return model_frames(models, record.model_id), record
    except NotFound:  # the model was deleted (its frames with it)
        return None, record


def _at_epoch(model: Estimator, frames: Frames | None, epoch: int, owner: str) -> Any:
    """``model`` with the parameters of the frame of ``epoch`` (404 if not recorded)."""
    row = None if frames is None else frames.index(epoch)
    if frames is None or row is None:
        raise EpochNotRecorded(owner, epoch, frames)
    params: np.ndarray = frames.params[row]
    try:
        return at_frame(model, params)
    except ValueError:
        raise Conflict(f"the frames of {owner} do not fit its network") from None


def model_at_epoch(models: ModelStore, model_id: str, epoch: int | None, owner: Owner) -> Estimator:
    """The stored model, or with ``epoch`` the model as it was after that recorded epoch; 404
    for an unknown model or another key's."""
    model = owned_model(models, owner, model_id)
    if epoch is None:
        return model
    return _at_epoch(model, model_frames(models, model_id), epoch, f"model {model_id!r}")  # type: ignore[no-any-return]


def job_at_epoch(
    jobs: JobRunner,
    models: ModelStore,
    data_dir: Path,
    job_id: str,
    epoch: int | None,
    owner: Owner,
) -> tuple[Estimator, JobRecord]:
    """The job's network (latest snapshot or its model), or with ``epoch`` the network as it
    was after that recorded epoch."""
    model, record = job_network(jobs, models, job_id, owner)
    if epoch is None:
        return model, record
    frames, record = job_frames(jobs, models, data_dir, job_id, owner)
    return _at_epoch(model, frames, epoch, f"job {job_id!r}"), record


def animation_gif(
    models: ModelStore, model_id: str, query: BoundaryQuery, datasets: DatasetStore, owner: Owner
) -> bytes:
    """The GIF of the model's boundary (or of a unit, with ``layer``/``unit``) at every
    recorded frame, on the query's axes, ranges and fixed values (its resolution, format and
    epoch are not used). 409 for a model without frames."""
    model = owned_model(models, owner, model_id)
    frames = model_frames(models, model_id)
    if frames is None:
        raise Conflict(f"model {model_id!r} has no recorded frames (it was not trained here)")
    side = animation.GRID_RESOLUTION
    query = dataclasses.replace(query, resolution=side, nx=None, ny=None, format="png")
    name = f"model {model_id!r}"
    grids = [
        (epoch, evaluate_grid(_at_epoch(model, frames, epoch, name), query, side))
        for epoch in recorded_epochs(frames)
    ]
    last = grids[-1][1]
    X = y = None
    if last.unit is None:
        dataset_id = model.metadata_.get("dataset_id")
        X, y = dataset_points(datasets, dataset_id, model, last.axes, owner)
    title = "prediction" if last.classes is None else "decision boundary"
    if last.unit is not None:
        title = f"layer {last.unit[0]}, unit {last.unit[1]}"
    return animation.render_animation(
        last.xs, last.ys, [(epoch, grid.values) for epoch, grid in grids], X, y, last.classes,
        axis_labels=last.names, title=title,
        value_label="activation" if last.unit is not None else "prediction",
    )  # fmt: skip
