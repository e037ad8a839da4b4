"""Items 18, 19, 20 and 23 with real processes: kill -9, SIGTERM and a really full disk.

Every death here is real: ``SIGKILL`` of the uvicorn process (its job processes must notice and
exit by themselves), ``SIGKILL`` of a job process, ``SIGTERM`` of the server as ``docker compose
stop`` sends it. The full disk is a size-limited tmpfs mounted as the data directory, so the
model save fails with a genuine ``ENOSPC`` from the kernel (see test_disk_full_...).
``RELIABILITY_KILL_CYCLES`` sets the number of kill -9 cycles of item 18 (default 4).
"""

from __future__ import annotations

import io
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.disk import fill_disk
from helpers.jobdb import job_row, set_epochs
from helpers.processes import group_pids, pid_alive
from helpers.server import Server, wait_for_epoch, wait_for_job
from helpers.soak import kill_cycles
from helpers.specs import FOREVER, LONG_JOB_ENV, notebook_job
from helpers.waiting import wait_for

import mlp_engine
from mlp_engine.persistence import TEMP_PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATA_SUBDIRS = ("datasets", "models", "snapshots")


# ------------------------------------------------------------------------------- helpers


def temp_files(data_dir: Path, before: float | None = None) -> list[Path]:
    """The temp files of the data directory; with ``before`` (a ``time.time()``) only those
    last written before then (a write begun later may be under way, not left over)."""
    found = [p for sub in DATA_SUBDIRS for p in (data_dir / sub).glob(f"{TEMP_PREFIX}*")]
    if before is None:
        return found
    return [p for p in found if _mtime(p, before) < before]


def _mtime(path: Path, default: float) -> float:
    """``path``'s modification time; ``default`` if it is gone (renamed: a finished write)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return default


def running_job(server: Server, client: httpx.Client) -> tuple[str, int]:
    """Start an endless notebook job (the server needs :data:`LONG_JOB_ENV`) and wait until it
    has trained a few epochs; (job ID, its PID). A test that needs it to end after a re-run
    gives it an epoch count with :func:`set_epochs` once the run that must not end is over."""
    dataset = client.post("/v1/datasets/generate", json={"kind": "notebook"}).json()
    job = client.post("/v1/jobs", json=notebook_job(dataset["id"], FOREVER["epochs"])).json()
    wait_for_epoch(client, job["id"], 3)
    pid = job_row(server.data_dir, job["id"])["pid"]
    assert pid and pid_alive(pid)
    return job["id"], pid


# ----------------------------------------------------------- item 18: kill -9 during writes


def big_model_file() -> bytes:
    """A ~2 MB model file (2 x 512 x 512 weights): each import is a long write to kill."""
    X = np.random.default_rng(0).normal(size=(20, 2))
    model = mlp_engine.MLPClassifier(hidden_layers=(512, 512), epochs=1, batch_size=20)
    buffer = io.BytesIO()
    model.fit(X, (X[:, 0] > 0).astype(int)).save(buffer)
    return buffer.getvalue()


class Writer(threading.Thread):
    """Keeps the server writing models (imports and short jobs) until it dies."""

    def __init__(self, base_url: str, model_file: bytes, kind: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=base_url, timeout=10)
        self.model_file = model_file
        self.kind = kind
        self.accepted = 0

    def run(self) -> None:
        rng = np.random.default_rng(abs(hash(self.kind)) % 2**32)
        with self.client:
            while True:
                try:
                    if self.kind == "import":
                        response = self.client.post("/v1/models/import", content=self.model_file)
                    else:
                        X = rng.normal(size=(30, 2)).round(3)
                        body = {
                            "X": X.tolist(),
                            "y": (X[:, 0] > 0).astype(int).tolist(),
                            "architecture": {"hidden_layers": [256, 256]},
                            "training": {"epochs": 2},
                        }
                        response = self.client.post("/v1/jobs", json=body)
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code in (201, 202):
                    self.accepted += 1
                elif response.status_code == 429:
                    time.sleep(0.05)


def check_store(server: Server, client: httpx.Client, restarted: float | None = None) -> int:
    """Every model file present loads (here and through the API); no temp file is left (with
    ``restarted``, the time the server was started again: re-run jobs may be writing since)."""
    left = temp_files(server.data_dir, restarted)
    assert left == [], left
    # Re-run jobs may still be adding models: list first, then look at the files.
    listed = {m["id"] for m in client.get("/v1/models").json()["data"]}
    models = (server.data_dir / "models").glob("*.npz")
    files = sorted(path for path in models if not path.name.endswith(".frames.npz"))
    assert listed <= {path.stem for path in files}
    for path in files:
        mlp_engine.load(path)  # raises if the file is not a complete, valid model
        response = client.get(f"/v1/models/{path.stem}")
        assert response.status_code == 200, (path.name, response.text)
    for path in (server.data_dir / "datasets").glob("*.npz"):
        assert client.get(f"/v1/datasets/{path.stem}/data").status_code == 200, path.name
    return len(files)


def test_kill_9_during_model_writes_leaves_only_loadable_models(start_server: Any) -> None:
    cycles = kill_cycles(4)
    model_file = big_model_file()
    server = start_server(mlp_max_concurrent_jobs="2", mlp_max_queued_jobs="50")
    rng = random.Random(18)
    models_seen = 0
    for _ in range(cycles):
        writers = [Writer(server.base_url, model_file, kind) for kind in ("import", "job")]
        for writer in writers:
            writer.start()
        # Kill at a random point of the writes: after a random number of accepted requests.
        wanted = rng.randint(1, 4)
        wait_for(
            lambda writers=writers, wanted=wanted: all(w.accepted >= wanted for w in writers),
            60,
            f"{wanted} accepted imports and jobs",
        )
        group = server.groups[-1]
        server.kill9()
        for writer in writers:
            writer.join(timeout=15)
        # Every process of the dead server exits by itself (job processes, fork server).
        wait_for(lambda group=group: not group_pids(group), 60, "the dead server's processes")
        restarted = time.time()
        server.start()
        with server.client() as client:
            models_seen = check_store(server, client, restarted)
    assert models_seen > 0, "no model was ever written: the test did not exercise writes"
    # Interrupted jobs are re-run after the restart and none is left stuck in `running`.
    with server.client() as client:
        for job in client.get("/v1/jobs", params={"limit": 1000}).json()["data"]:
            wait_for_job(client, job["id"], timeout=120)
        check_store(server, client)


# ------------------------------------------------------------ item 19: kill -9 mid-training


def test_kill_9_of_the_server_mid_training_reruns_the_job_once(start_server: Any) -> None:
    server = start_server(**LONG_JOB_ENV)
    with server.client() as client:
        job_id, pid = running_job(server, client)
    server.kill9()
    # The orphaned job process notices its server is gone and exits: it never runs on alone.
    wait_for(lambda: not pid_alive(pid), 60, "the orphaned job process to exit")
    assert job_row(server.data_dir, job_id)["status"] == "running"  # nobody could record it
    set_epochs(server.data_dir, job_id, 250)  # for its re-run
    server.start()
    with server.client() as client:
        done = wait_for_job(client, job_id, timeout=120)
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"]["epoch"] == 250
    row = job_row(server.data_dir, job_id)
    assert row["attempts"] == 2  # the interrupted run and exactly one re-run
    assert temp_files(server.data_dir) == []


def test_kill_9_of_the_job_process_reruns_it_once(start_server: Any) -> None:
    server = start_server(**LONG_JOB_ENV)
    with server.client() as client:
        job_id, pid = running_job(server, client)
        set_epochs(server.data_dir, job_id, 200)  # for its re-run; the killed run is endless
        os.kill(pid, signal.SIGKILL)
        done = wait_for_job(client, job_id, timeout=120)
        assert done["status"] == "succeeded", done["error"]
        row = job_row(server.data_dir, job_id)
        assert row["attempts"] == 2
        assert client.get(f"/v1/models/{done['model_id']}").status_code == 200
    assert not pid_alive(pid)


# ------------------------------------------------------------------- item 20: SIGTERM


def test_sigterm_mid_training_exits_within_the_grace_and_loses_no_job(
    start_server: Any,
) -> None:
    server = start_server(**LONG_JOB_ENV)
    with server.client() as client:
        job_id, pid = running_job(server, client)
    assert server.process is not None
    group = server.groups[-1]
    server.process.send_signal(signal.SIGTERM)
    # The server exits by itself (a hang fails here, long before docker's SIGKILL would come).
    server.process.wait(timeout=60)
    wait_for(lambda: not group_pids(group), 30, "the job processes to exit")
    # A clean shutdown (uvicorn re-raises the SIGTERM it handled, hence -15 rather than 0).
    assert server.process.returncode in (0, -signal.SIGTERM), server.log()[-2000:]
    log = server.log()
    assert "Application shutdown complete" in log
    # Within the grace: the job stopped when told to, after its epoch; it was neither killed
    # for outlasting the shutdown grace nor waited for until it finished.
    assert "did not stop in time" not in log, log[-2000:]
    assert not pid_alive(pid)
    # The job went back to the queue (its attempt not counted) and left no partial file.
    row = job_row(server.data_dir, job_id)
    assert (row["status"], row["attempts"]) == ("queued", 0), row
    assert temp_files(server.data_dir) == []
    assert list((server.data_dir / "models").glob("*.npz")) == []
    set_epochs(server.data_dir, job_id, 250)  # for the run after the restart
    server.start()
    with server.client() as client:
        done = wait_for_job(client, job_id, timeout=120)
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"]["epoch"] == 250


# ------------------------------------------------------------------- item 23: disk full


def test_disk_full_during_a_save_fails_the_job_disk_full_and_keeps_older_models(
    start_server: Any, small_disk: Path
) -> None:
    data_dir = small_disk / "data"
    server = start_server(data_dir=data_dir)
    small = {"architecture": {"hidden_layers": [4]}, "training": {"epochs": 5, "seed": 0}}
    # 2 x 512 x 512 weights: a ~2 MB model file, more than the space left below.
    big = {"architecture": {"hidden_layers": [512, 512]}, "training": {"epochs": 1}}
    with server.client() as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 40})
        dataset_id = dataset.json()["id"]
        first = client.post("/v1/jobs", json={"dataset_id": dataset_id, **small}).json()
        older = wait_for_job(client, first["id"])
        assert older["status"] == "succeeded"
        before = client.post(f"/v1/models/{older['model_id']}/predict", json={"X": [[0, 1]]})
        assert before.status_code == 200

        filler = fill_disk(small_disk, leave=1 * 2**20)
        failing = client.post("/v1/jobs", json={"dataset_id": dataset_id, **big}).json()
        failed = wait_for_job(client, failing["id"])
        assert failed["status"] == "failed", failed
        assert failed["error"]["code"] == "disk_full", failed["error"]
        assert "no space left" in failed["error"]["message"]
        assert failed["model_id"] is None
        assert str(data_dir) not in str(failed["error"])

        # The older model is intact, nothing half-written is left, the listing is consistent.
        after = client.post(f"/v1/models/{older['model_id']}/predict", json={"X": [[0, 1]]})
        assert after.json() == before.json()
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == [older["model_id"]]
        assert temp_files(data_dir) == []
        mlp_engine.load(data_dir / "models" / f"{older['model_id']}.npz")

        # Space back: the same job settings now succeed.
        filler.unlink()
        retry = client.post("/v1/jobs", json={"dataset_id": dataset_id, **big}).json()
        assert wait_for_job(client, retry["id"])["status"] == "succeeded"
    server.stop()
