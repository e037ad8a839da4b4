"""SQLiteJobStore: FIFO claims, race-free transitions across connections and processes,
fencing by run_id, recovery of jobs whose runner died, capacity."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.specs import make_spec

from app.jobs.base import JobNotFound, JobStateError, QueueFull
from app.jobs.core import FinalState, estimate_retry_after
from app.jobs.sqlite_store import DB_FILENAME, RunnerIdentity, SQLiteJobStore

OWNER_A = RunnerIdentity("owner-a", "scope", 1)
OWNER_B = RunnerIdentity("owner-b", "scope", 2)
BIG = 1_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteJobStore]:
    s = SQLiteJobStore(tmp_path / DB_FILENAME)
    yield s
    s.close()


def add(store: SQLiteJobStore, job_id: str, capacity: int = BIG) -> None:
    store.insert(job_id, make_spec(model_id=job_id), capacity=capacity, concurrency=1)


def test_insert_get_list_counts(store: SQLiteJobStore) -> None:
    for i in range(3):
        add(store, f"j{i}")
    record = store.get("j1")
    assert record is not None
    assert record.status == "queued"
    assert record.spec == make_spec(model_id="j1")
    assert record.created_at.tzinfo is not None
    assert record.attempts == 0 and record.history == [] and record.error is None
    assert [r.id for r in store.list()] == ["j2", "j1", "j0"]
    assert [r.id for r in store.list(limit=1)] == ["j2"]
    assert store.list("running") == []
    assert store.counts() == {
        "queued": 3,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert store.get("nope") is None
    assert store.exists("j0") and not store.exists("nope")


def test_claim_is_fifo_and_respects_the_cap(store: SQLiteJobStore) -> None:
    for i in range(3):
        add(store, f"j{i}")
    first = store.claim(OWNER_A, max_running=2)
    second = store.claim(OWNER_B, max_running=2)
    assert first is not None and second is not None
    assert (first.job_id, second.job_id) == ("j0", "j1")
    assert first.attempts == 1 and first.run_id != second.run_id
    assert store.claim(OWNER_A, max_running=2) is None  # two already run
    record = store.get("j0")
    assert record is not None
    assert record.status == "running" and record.started_at is not None
    assert store.owned_running("owner-a") == {"j0": (first.run_id, False)}
    assert store.finish("j0", first.run_id, FinalState("succeeded", model_id="j0"))
    third = store.claim(OWNER_A, max_running=2)
    assert third is not None and third.job_id == "j2"


def test_progress_and_final_state_are_fenced_by_run_id(store: SQLiteJobStore) -> None:
    add(store, "j")
    claim = store.claim(OWNER_A, max_running=1)
    assert claim is not None
    assert store.begin_run("j", "other-run", 123) is None
    assert store.begin_run("j", claim.run_id, 123) is not None
    rows = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4}]
    report = store.report("j", claim.run_id, rows, {"epoch": 2, "epochs": 3, "loss": 0.4})
    assert report.owned and not report.cancel_requested
    assert not store.report("j", "other-run", [{"epoch": 3, "loss": 0.1}], None).owned
    assert not store.finish("j", "other-run", FinalState("succeeded"))
    assert store.finish(
        "j", claim.run_id, FinalState("succeeded", model_id="m", rows=[{"epoch": 3}])
    )
    assert not store.finish("j", claim.run_id, FinalState("failed"))  # only once
    record = store.get("j")
    assert record is not None
    assert record.status == "succeeded" and record.model_id == "m"
    assert [row["epoch"] for row in record.history] == [1, 2, 3]
    assert record.progress == {"epoch": 2, "epochs": 3, "loss": 0.4}
    assert record.finished_at is not None
    state = store.event_state("j", after_epoch=1)
    assert state is not None and [r["epoch"] for r in state.rows] == [2, 3]
    assert state.status == "succeeded"


def test_claims_race_free_across_connections(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    seed = SQLiteJobStore(path)
    for i in range(40):
        add(seed, f"j{i:02d}")
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        own = SQLiteJobStore(path)  # one store (connection) per thread, as across processes
        owner = RunnerIdentity(f"o{n}", "scope", n)
        while True:
            claim = own.claim(owner, max_running=BIG)
            if claim is None:
                break
            with lock:
                claimed.append(claim.job_id)
        own.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [f"j{i:02d}" for i in range(40)]  # each exactly once
    seed.close()


def _claim_all(path: str, n: int, cap: int, out: multiprocessing.Queue[tuple[str, int]]) -> None:
    store = SQLiteJobStore(Path(path))
    owner = RunnerIdentity(f"proc{n}", "scope", n)
    while True:
        claim = store.claim(owner, max_running=cap)
        if claim is None:
            if not store.has_queued():
                break
            time.sleep(0.001)
            continue
        running = store.counts()["running"]
        out.put((claim.job_id, running))
        assert store.finish(claim.job_id, claim.run_id, FinalState("succeeded"))


def test_claims_race_free_across_processes_and_cap_holds(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    seed = SQLiteJobStore(path)
    for i in range(30):
        add(seed, f"j{i:02d}")
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[tuple[str, int]] = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(str(path), n, 2, out)) for n in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in range(30)]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert sorted(job for job, _ in results) == [f"j{i:02d}" for i in range(30)]
    assert max(running for _, running in results) <= 2
    assert seed.counts()["succeeded"] == 30
    seed.close()


def test_recovery_by_stale_heartbeat_reruns_once_then_interrupted(store: SQLiteJobStore) -> None:
    add(store, "j")
    first = store.claim(OWNER_A, max_running=1)
    assert first is not None
    store.report("j", first.run_id, [{"epoch": 1, "loss": 1.0}], {"epoch": 1})
    # A fresh heartbeat is not stale; the recovering runner never releases its own jobs.
    assert store.recover(stale_before=time.time() - 60) == []
    assert store.recover(stale_before=time.time() + 1, exclude_owner="owner-a") == []
    assert store.recover(stale_before=time.time() + 1, exclude_owner="owner-b") == [("j", "queued")]
    record = store.get("j")
    assert record is not None
    assert record.status == "queued" and record.attempts == 1 and record.started_at is None
    # The dead run can no longer write.
    assert not store.finish("j", first.run_id, FinalState("succeeded"))

    second = store.claim(OWNER_B, max_running=1)
    assert second is not None and second.attempts == 2
    record = store.get("j")
    assert record is not None and record.history == []  # the re-run starts over
    assert store.recover(stale_before=time.time() - 60, dead_owners=["owner-b"]) == [
        ("j", "failed")
    ]
    record = store.get("j")
    assert record is not None
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "interrupted"
    assert record.finished_at is not None


def test_heartbeat_keeps_jobs_alive(store: SQLiteJobStore) -> None:
    add(store, "j")
    assert store.claim(OWNER_A, max_running=1) is not None
    time.sleep(0.05)
    cutoff = time.time()
    time.sleep(0.05)
    store.heartbeat(OWNER_A)
    assert store.recover(stale_before=cutoff) == []
    assert store.foreign_owners("owner-b") == [OWNER_A]
    assert store.foreign_owners("owner-a") == []


def test_release_after_a_crash_counts_attempts(store: SQLiteJobStore) -> None:
    add(store, "j")
    claim = store.claim(OWNER_A, max_running=1)
    assert claim is not None
    assert store.release("j", "other-run") is None
    assert store.release("j", claim.run_id) == "queued"
    claim = store.claim(OWNER_A, max_running=1)
    assert claim is not None
    assert store.release("j", claim.run_id) == "failed"
    record = store.get("j")
    assert record is not None and record.error is not None
    assert (record.status, record.error["code"], record.attempts) == ("failed", "interrupted", 2)


def test_graceful_requeue_does_not_count_the_attempt(store: SQLiteJobStore) -> None:
    add(store, "j")
    for _ in range(3):
        claim = store.claim(OWNER_A, max_running=1)
        assert claim is not None and claim.attempts == 1
        assert store.requeue("j", claim.run_id) == "queued"
    record = store.get("j")
    assert record is not None and (record.status, record.attempts) == ("queued", 0)


def test_cancel(store: SQLiteJobStore) -> None:
    add(store, "queued")
    record = store.request_cancel("queued")
    assert record.status == "cancelled" and record.finished_at is not None
    assert store.claim(OWNER_A, max_running=1) is None  # a cancelled job never starts
    with pytest.raises(JobStateError):
        store.request_cancel("queued")  # already ended
    with pytest.raises(JobNotFound):
        store.request_cancel("missing")

    add(store, "running")
    claim = store.claim(OWNER_A, max_running=1)
    assert claim is not None
    record = store.request_cancel("running")
    assert record.status == "running" and record.cancel_requested
    assert store.owned_running("owner-a") == {"running": (claim.run_id, True)}
    report = store.report("running", claim.run_id, [{"epoch": 1}], None)
    assert report.owned and report.cancel_requested
    # Its process dies before it could stop: the job ends cancelled, not re-queued.
    assert store.release("running", claim.run_id) == "cancelled"


def test_capacity_counts_running_and_queued(store: SQLiteJobStore) -> None:
    add(store, "a", capacity=2)
    add(store, "b", capacity=2)
    with pytest.raises(QueueFull) as info:
        add(store, "c", capacity=2)
    assert info.value.capacity == 2 and info.value.retry_after >= 1
    claim = store.claim(OWNER_A, max_running=1)
    assert claim is not None
    with pytest.raises(QueueFull):
        add(store, "c", capacity=2)  # running still counts
    store.finish("a", claim.run_id, FinalState("succeeded"))
    add(store, "c", capacity=2)  # a finished job frees its slot
    assert store.get("c") is not None


def test_retry_after_follows_recent_durations(store: SQLiteJobStore) -> None:
    add(store, "a")
    claim = store.claim(OWNER_A, max_running=1)
    assert claim is not None
    store.finish("a", claim.run_id, FinalState("succeeded"))
    add(store, "b", capacity=1)
    with pytest.raises(QueueFull) as info:
        add(store, "c", capacity=1)
    assert info.value.retry_after == 1  # jobs here take milliseconds


def test_store_reopens_after_close(store: SQLiteJobStore) -> None:
    add(store, "j")
    store.close()
    assert store.exists("j")


@pytest.mark.parametrize(
    ("durations", "oldest_start", "concurrency", "expected"),
    [
        ([], None, 1, 10),  # nothing known: the default job length
        ([], None, 4, 3),  # ... drained four at a time: ceil(10 / 4)
        ([30.0, 50.0], None, 2, 20),  # mean 40 over two slots
        ([30.0, 50.0], 90.0, 2, 30),  # mean 40, the oldest has run 10 s of it
        ([30.0, 50.0], 0.0, 1, 1),  # overdue: at least 1
        ([5000.0], None, 1, 600),  # capped at 10 minutes
        ([0.2], None, 1, 1),  # rounded up, never 0
    ],
)
def test_estimate_retry_after(
    durations: list[float], oldest_start: float | None, concurrency: int, expected: int
) -> None:
    assert estimate_retry_after(durations, oldest_start, 100.0, concurrency) == expected


def test_a_final_state_needs_a_terminal_status() -> None:
    with pytest.raises(ValueError, match="terminal"):
        FinalState("running")


def test_importing_the_job_interface_loads_no_numpy_store_or_runner() -> None:
    code = (
        "import sys, app.jobs.base; "
        "heavy = {'numpy', 'app.jobs.sqlite_store', 'app.jobs.embedded', 'app.storage'}; "
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
