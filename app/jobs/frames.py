"""Weight frames of a job, for replay: recorded while it trains, kept beside its model.

A running job records every epoch's parameters in a :class:`~mlp_engine.frames.FrameRecorder`
(at most 100 frames spread over the run, fewer for a model so large that 100 frames would pass
:data:`MAX_FRAMES_BYTES`) and writes them beside its live snapshot,
``<data_dir>/snapshots/<job>.frames.npz`` (disposable, like the snapshot: atomic, not fsynced,
at most a few times a second). When the job saves a model (succeeded, or cancelled with
``keep=true``) the frames are written durably to ``<data_dir>/models/<model>.frames.npz``
*before* the model file, so a listed model always has its frames; they are deleted with the
model and are not part of its download. Both files are read with
:func:`~mlp_engine.frames.load_frames` (sizes checked before anything is read).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, BinaryIO

import mlp_engine
from app.jobs.base import JobRecord, JobSpec
from app.jobs.core import replace_snapshot, snapshot_path
from app.storage.datasets import DatasetStore
from app.storage.models import ModelStore
from mlp_engine.frames import (
    MAX_FRAMES,
    FrameRecorder,
    Frames,
    load_frames,
    parameters,
    save_frames,
)
from mlp_engine.persistence import write_atomic

__all__ = [
    "FRAMES_SUFFIX",
    "MAX_FRAMES_BYTES",
    "JobFrames",
    "job_frames_path",
    "keep_snapshot",
    "model_frames_path",
    "read_frames",
]

logger = logging.getLogger(__name__)

FRAMES_SUFFIX = ".frames.npz"
MAX_FRAMES_BYTES = 64 * 2**20  # a frames file holds at most this many bytes of parameters
_MIN_WRITE_INTERVAL = 0.25  # seconds between two writes of a running job's frames file
_WRITE_BYTES_PER_SECOND = 32 * 2**20  # larger files are written less often


def job_frames_path(data_dir: Path, job_id: str) -> Path:
    """The frames of a running job (beside its snapshot)."""
    return Path(data_dir) / "snapshots" / f"{job_id}{FRAMES_SUFFIX}"


def model_frames_path(data_dir: Path, model_id: str) -> Path:
    """The frames of a stored model (beside its model file)."""
    return Path(data_dir) / "models" / f"{model_id}{FRAMES_SUFFIX}"


def read_frames(path: Path, n_parameters: int | None) -> Frames | None:
    """The frames at ``path`` for a model of ``n_parameters`` parameters; None if there is no
    such file (``n_parameters`` None: any). Raises ``ModelFormatError`` for a damaged one."""
    try:
        with open(path, "rb") as fh:
            return load_frames(fh, n_parameters=n_parameters, max_bytes=MAX_FRAMES_BYTES + 2**20)
    except FileNotFoundError:
        return None


class JobFrames:
    """The recorder of one run: :meth:`add` after every epoch, :meth:`keep` before the model
    is saved. Recording problems are logged, never raised: frames must not fail a job."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.recorder: FrameRecorder | None = None
        self.last_write = float("-inf")
        self.interval = _MIN_WRITE_INTERVAL
        self.failed = False

    def add(self, epoch: int, estimator: Any) -> None:
        """Record the estimator's parameters after ``epoch``; write the live file if due."""
        if estimator is None or self.failed:
            return
        try:
            params = parameters(estimator)
            if self.recorder is None:
                limit = max(2, min(MAX_FRAMES, MAX_FRAMES_BYTES // max(1, params.nbytes)))
                self.recorder = FrameRecorder(limit)
                self.interval = max(
                    _MIN_WRITE_INTERVAL, limit * params.nbytes / _WRITE_BYTES_PER_SECOND
                )
            self.recorder.add(epoch, params)
            now = time.monotonic()
            if now - self.last_write >= self.interval:
                self.last_write = now
                self._write_live()
        except Exception as exc:
            self.failed = True
            logger.warning(
                "frames of %s not recorded: %s: %s", self.path.name, type(exc).__name__, exc
            )

    def _write_live(self) -> None:
        """Atomically replace the live frames file (not fsynced: it is disposable)."""
        recorder = self.recorder
        assert recorder is not None
        replace_snapshot(self.path, lambda fh: save_frames(fh, recorder.frames()))

    def keep(self, data_dir: Path, model_id: str) -> None:
        """Write the frames durably beside the model about to be saved as ``model_id`` (call
        before writing the model file). Logged and skipped when nothing was recorded or the
        write fails: the model matters more than its replay."""
        if self.recorder is None or not len(self.recorder) or self.failed:
            return
        target = model_frames_path(data_dir, model_id)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            save_frames(target, self.recorder.frames())
        except Exception as exc:
            logger.warning(
                "frames of model %s not saved: %s: %s", model_id, type(exc).__name__, exc
            )

    def remove(self) -> None:
        """Delete the live frames file (the run is over)."""
        self.path.unlink(missing_ok=True)


def save_job_model(
    data_dir: Path, job_id: str, spec: JobSpec, model: Any, label: str | None
) -> None:
    """Save a job's model under the job's model ID, name, dataset and owner (the one place a
    job's model file is written: a finished run, or a kept cancelled one)."""
    ModelStore(data_dir, clean_temp=False).save(
        model,
        model_id=spec.model_id,
        name=spec.name,
        job_id=job_id,
        dataset_id=spec.dataset_id,
        label=label,
        owner=spec.owner,
    )


def keep_if_asked(data_dir: Path, job_id: str, record: JobRecord | None) -> str | None:
    """``cancel?keep=true`` of a run killed after the grace period (either runner): its latest
    snapshot becomes the job's model. The model ID; None without a keep request, without a
    snapshot, or when keeping fails (logged)."""
    if record is None or not (record.cancel_requested and record.cancel_keep):
        return None
    try:
        return keep_snapshot(data_dir, job_id, record.spec)
    except Exception:
        logger.exception("job %s: its snapshot could not be kept as a model", job_id)
        return None


def keep_snapshot(data_dir: Path, job_id: str, spec: JobSpec) -> str | None:
    """``cancel?keep=true`` for a run that could not save its model itself (killed after the
    cancel's grace period): its latest snapshot becomes the job's model, its live frames the
    model's frames. Returns the model ID, or None if there is no readable snapshot."""
    try:
        model = mlp_engine.load(snapshot_path(data_dir, job_id))
    except FileNotFoundError:
        return None
    except mlp_engine.ModelFormatError as exc:
        logger.warning("job %s: its snapshot cannot be kept: %s", job_id, exc)
        return None
    try:
        frames = job_frames_path(data_dir, job_id).read_bytes()
    except OSError:
        frames = None
    if frames is not None:
        data = frames

        def write(fh: BinaryIO) -> None:
            fh.write(data)

        target = model_frames_path(data_dir, spec.model_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, write)
    try:
        label = DatasetStore(data_dir, clean_temp=False).get(spec.dataset_id).label
    except Exception:  # the dataset may be gone; the model is kept all the same
        label = None
    save_job_model(data_dir, job_id, spec, model, label)
    logger.info(
        "job %s: cancelled with keep; its latest snapshot is model %s", job_id, spec.model_id
    )
    return spec.model_id
