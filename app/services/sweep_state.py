"""A sweep's document and how it moves on: pure functions over the JSON document that
:mod:`app.jobs.sweep_store` keeps (no I/O here but through the ``JobLookup`` given).

The document: ``trials`` (each ``params`` and the resolved ``architecture`` / ``training``),
``slots`` (one per trial and fold: ``trial``, ``fold``, ``job_id``, ``model_id``, ``status``,
``score``), ``refit`` (a slot, with CV, once every trial has ended), ``ended`` (trial indices in
the order they ended: the SSE ``trial`` events), ``cancel_requested``, ``status``.

A slot's ``status`` is None until it is given a job ID, then ``pending`` until the runner knows the
job, then the job's status. Job IDs are chosen (and stored) before the job is submitted, so a
submission that is retried, or made by two processes at once, can only ever create that one job.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import fmean, pstdev
from typing import Any

from app.jobs.base import TERMINAL_STATUSES, JobSpec
from app.storage.ids import new_id

__all__ = [
    "ACTIVE",
    "JobLookup",
    "advance",
    "leaderboard",
    "public",
    "slot_spec",
    "trial_view",
]

Doc = dict[str, Any]
Slot = dict[str, Any]
# (job_id) -> (status, model_id) or None when the runner does not know the job.
JobLookup = Callable[[str], tuple[str, str | None] | None]
# (model_id, split, metric) -> the model's metric on that split, or None.
ScoreLookup = Callable[[str, str, str], float | None]
ACTIVE = frozenset({"pending", "queued", "running"})


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _slots(doc: Doc) -> list[Slot]:
    refit = doc.get("refit")
    return [*doc["slots"], refit] if refit is not None else list(doc["slots"])


def _refresh(doc: Doc, jobs: JobLookup, score: ScoreLookup) -> None:
    """Read the state of every slot that has a job and has not ended."""
    split = "test" if doc["cv_folds"] else "validation"
    for slot in _slots(doc):
        if slot["job_id"] is None and doc["cancel_requested"]:
            slot["status"] = "cancelled"  # never started
        if slot["job_id"] is None or slot["status"] in TERMINAL_STATUSES:
            continue
        state = jobs(slot["job_id"])
        if state is None:  # not submitted yet; a cancelled sweep never will
            slot["status"] = "cancelled" if doc["cancel_requested"] else "pending"
            continue
        slot["status"] = state[0]
        if state[0] == "succeeded" and slot is not doc.get("refit"):
            slot["score"] = score(state[1] or slot["model_id"], split, doc["metric"])


def _trial_status(slots: list[Slot]) -> str:
    statuses = [s["status"] for s in slots]
    if all(s in TERMINAL_STATUSES for s in statuses):
        for final in ("failed", "cancelled"):
            if final in statuses:
                return final
        return "succeeded"
    if any(s in ("running", *TERMINAL_STATUSES) for s in statuses):
        return "running"
    return "queued"


def _trial_slots(doc: Doc) -> list[list[Slot]]:
    grouped: list[list[Slot]] = [[] for _ in doc["trials"]]
    for slot in doc["slots"]:
        grouped[slot["trial"]].append(slot)
    return grouped


def _trial_score(slots: list[Slot]) -> tuple[float | None, float | None]:
    scores = [s["score"] for s in slots]
    if (
        not scores
        or any(s is None or s != s for s in scores)
        or _trial_status(slots) != "succeeded"
    ):
        return None, None
    return fmean(scores), (pstdev(scores) if len(scores) > 1 else None)


def leaderboard(doc: Doc) -> list[int]:
    """Indices of the scored trials, best first (the metric's direction; ties by index)."""
    scored = [(i, _trial_score(slots)[0]) for i, slots in enumerate(_trial_slots(doc))]
    sign = -1.0 if doc["greater_is_better"] else 1.0
    ranked = sorted((sign * s, i) for i, s in scored if s is not None)
    return [i for _, i in ranked]


def _assign(doc: Doc) -> None:
    """Give job IDs to the next slots, keeping at most ``max_parallel`` of them active; with CV,
    the refit once every trial has ended."""
    if doc["cancel_requested"]:
        return
    free = doc["max_parallel"] - sum(s["status"] in ACTIVE for s in _slots(doc))
    for slot in doc["slots"]:
        if free <= 0:
            return
        if slot["job_id"] is None:
            slot.update(job_id=new_id("job_"), model_id=new_id("mdl_"), status="pending")
            free -= 1
    trials_done = all(s["status"] in TERMINAL_STATUSES for s in doc["slots"])
    board = leaderboard(doc)
    if doc["cv_folds"] and trials_done and doc.get("refit") is None and board and free > 0:
        doc["refit"] = {
            "trial": board[0],
            "fold": None,
            "job_id": new_id("job_"),
            "model_id": new_id("mdl_"),
            "status": "pending",
            "score": None,
        }


def _sweep_status(doc: Doc) -> str:
    slots = _slots(doc)
    if any(s["status"] in ACTIVE for s in slots) or any(
        s["job_id"] is None for s in doc["slots"] if not doc["cancel_requested"]
    ):
        started = any(s["status"] not in (None, "pending", "queued") for s in slots)
        return "running" if started else "queued"
    if doc["cancel_requested"]:
        return "cancelled"
    if not leaderboard(doc):
        return "failed"
    refit = doc.get("refit")
    if doc["cv_folds"] and refit is None:
        return "running"  # the refit is about to be assigned
    return "succeeded" if refit is None else str(refit["status"])


def advance(doc: Doc, jobs: JobLookup, score: ScoreLookup) -> Doc:
    """The next state of ``doc`` (a new document; ``doc`` is left as it was)."""
    new = copy.deepcopy(doc)
    if new["status"] in TERMINAL_STATUSES:
        return new
    _refresh(new, jobs, score)
    _assign(new)
    for index, slots in enumerate(_trial_slots(new)):
        if index not in new["ended"] and _trial_status(slots) in TERMINAL_STATUSES:
            new["ended"].append(index)
    new["status"] = _sweep_status(new)
    if new["status"] in TERMINAL_STATUSES:
        new["finished_at"] = _now()
    return new


def slot_spec(doc: Doc, slot: Slot) -> JobSpec:
    """The job of one slot: a fold of a trial (its fold held out), a trial scored on its
    validation split, or the refit of the best trial on all the data."""
    trial = doc["trials"][slot["trial"]]
    training = dict(trial["training"])
    label = doc["name"] or doc["id"]
    cv_fold = None
    if slot is doc.get("refit"):
        name = f"{label}: refit of trial {slot['trial']}"
    elif slot["fold"] is None:
        name = f"{label}: trial {slot['trial']}"
    else:
        name = f"{label}: trial {slot['trial']} fold {slot['fold']}"
        training["test_fraction"] = 0.0  # the fold is the held-out part
        cv_fold = {"k": doc["cv_folds"], "fold": slot["fold"], "seed": doc["seed"]}
    return JobSpec(
        dataset_id=doc["dataset_id"],
        task=doc["task"],
        architecture=dict(trial["architecture"]),
        training=training,
        model_id=slot["model_id"],
        name=name[:200],
        sweep_id=doc["id"],
        cv_fold=cv_fold,
        owner=doc.get("owner"),
    )


def trial_view(doc: Doc, index: int) -> dict[str, Any]:
    """One trial as the API shows it."""
    slots = _trial_slots(doc)[index]
    score, score_std = _trial_score(slots)
    refit = doc.get("refit")
    model_id = None
    if not doc["cv_folds"] and slots and slots[0]["status"] == "succeeded":
        model_id = slots[0]["model_id"]
    elif refit is not None and refit["trial"] == index and refit["status"] == "succeeded":
        model_id = refit["model_id"]
    return {
        "index": index,
        "params": doc["trials"][index]["params"],
        "status": _trial_status(slots),
        "job_ids": [s["job_id"] for s in slots if s["job_id"] is not None],
        "score": score,
        "score_std": score_std,
        "model_id": model_id,
    }


def _best(doc: Doc, board: list[int]) -> dict[str, Any] | None:
    if not board:
        return None
    trial = trial_view(doc, board[0])
    refit = doc.get("refit")
    if doc["cv_folds"]:
        done = refit is not None and refit["trial"] == board[0]
        job_id = refit["job_id"] if done and refit is not None else None
        model_id = trial["model_id"]
    else:
        job_id, model_id = trial["job_ids"][0], trial["model_id"]
    return {
        "trial": board[0],
        "params": trial["params"],
        "score": trial["score"],
        "model_id": model_id,
        "job_id": job_id,
    }


def public(doc: Doc) -> dict[str, Any]:
    """The sweep as ``GET /v1/sweeps/{id}`` shows it."""
    board = leaderboard(doc)
    keys = ("id", "name", "status", "metric", "greater_is_better", "dataset_id", "cv_folds")
    return {
        **{key: doc[key] for key in keys},
        "max_parallel": doc["max_parallel"],
        "strategy": doc["strategy"],
        "seed": doc["seed"],
        "trials": [trial_view(doc, i) for i in range(len(doc["trials"]))],
        "leaderboard": board,
        "best": _best(doc, board),
        "created_at": doc["created_at"],
        "finished_at": doc["finished_at"],
    }
