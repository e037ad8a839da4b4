"""Scale-out benchmark of the RQ back-end: the same batch of jobs on 1 worker and on 2 workers.

    python bench/scale.py [--jobs 8] [--workers 1,2] [--epochs 200]

Starts its own redis-server (loopback, no persistence) and ``python -m app.worker`` processes
on a temporary data dir, submits ``--jobs`` identical jobs (the teaching notebook's setup: a
(2, 5, 3, 1) ReLU network, per-sample SGD on the 1000-row notebook set) through
:class:`~app.jobs.rq_runner.RQRunner`, and measures the wall time from the first submission to
the last job's end. Prints a Markdown table and writes bench/results/scale.json.

Each worker trains one job at a time on one core (BLAS limited to one thread), so on a machine
with at least as many free cores as workers the speed-up approaches the number of workers.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# Run as a script, this folder is sys.path[0], and bench/http.py there would shadow the standard
# library's http package (which redis and rq import): keep the folder, but last.
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path.pop(0)
    sys.path.append(str(_HERE))

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine, print_table, write_json

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_TRAINING: dict[str, Any] = {
    "learning_rate": 0.001,
    "batch_size": 1,
    "optimizer": "sgd",
    "momentum": 0.0,
    "init": "notebook",
    "shuffle": False,
    "standardize": False,
    "seed": 1,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"redis://127.0.0.1:{port}/0"


def start_workers(count: int, data_dir: Path, url: str, log: Path) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLP_")}
    env.update(
        {
            "MLP_DATA_DIR": str(data_dir),
            "MLP_REDIS_URL": url,
            "MLP_LOG_LEVEL": "warning",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
    )
    workers = []
    for _ in range(count):
        with open(log, "ab") as out:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "app.worker"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(5)


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_round(n_workers: int, n_jobs: int, epochs: int, root: Path, url: str) -> dict[str, Any]:
    """Train ``n_jobs`` identical jobs on ``n_workers`` fresh workers; the timings."""
    import redis
    from rq import Queue, Worker

    from app.jobs.base import JobSpec
    from app.jobs.rq_runner import RQRunner
    from app.settings import Settings
    from app.storage.datasets import DatasetStore
    from mlp_engine import datasets

    with redis.Redis.from_url(url) as client:
        client.flushall()
    data_dir = root / f"data-{n_workers}"
    X, y = datasets.make("notebook", n_samples=1000, seed=0)
    dataset_id = DatasetStore(data_dir).create(X, y, name="notebook", task="classification").id
    settings = Settings(
        data_dir=data_dir,
        job_backend="rq",
        redis_url=url,
        max_concurrent_jobs=n_workers,
        max_queued_jobs=n_jobs,
        log_level="warning",
    )
    runner = RQRunner(settings)
    runner.start()
    workers = start_workers(n_workers, data_dir, url, root / "workers.log")
    try:
        queue = Queue("mlp-jobs", connection=runner.connection)
        wait(lambda: Worker.count(queue=queue) == n_workers, 60, "the workers to register")
        start = time.perf_counter()
        ids = [
            runner.submit(
                JobSpec(
                    dataset_id=dataset_id,
                    task="classification",
                    architecture={"hidden_layers": [5, 3], "activation": "relu"},
                    training={**NOTEBOOK_TRAINING, "epochs": epochs},
                    model_id=f"model_{n_workers}_{i}",
                )
            ).id
            for i in range(n_jobs)
        ]
        wait(lambda: runner.counts()["succeeded"] == n_jobs, 900, "the jobs to succeed")
        wall = time.perf_counter() - start
        records = [runner.get(job_id) for job_id in ids]
    finally:
        stop_workers(workers)
        runner.stop()
    durations = [
        (r.finished_at - r.started_at).total_seconds()
        for r in records
        if r.started_at is not None and r.finished_at is not None
    ]
    return {
        "workers": n_workers,
        "jobs": n_jobs,
        "wall_s": wall,
        "jobs_per_min": 60.0 * n_jobs / wall,
        "mean_job_s": statistics.mean(durations),
        "max_running_at_once": max_overlap(records),
    }


def max_overlap(records: list[Any]) -> int:
    """The largest number of jobs whose [started_at, finished_at] intervals overlap."""
    points = []
    for record in records:
        points += [(record.started_at, 1), (record.finished_at, -1)]
    best = current = 0
    for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
        current += delta
        best = max(best, current)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8, help="identical jobs per round (8)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (1,2)")
    parser.add_argument("--epochs", type=int, default=200, help="epochs per job (200)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    sys.path.insert(0, str(REPO))
    root = Path(tempfile.mkdtemp(prefix="mlp-scale-"))
    redis_process, url = start_redis(root)
    try:
        time.sleep(0.3)
        rows = [run_round(n, args.jobs, args.epochs, root, url) for n in counts]
    finally:
        redis_process.terminate()
        redis_process.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    load = os.getloadavg()[0]
    base = rows[0]["wall_s"]
    for row in rows:
        row["speedup"] = base / row["wall_s"]
    print_table(
        f"RQ scale-out: {args.jobs} notebook jobs ({args.epochs} epochs, per-sample SGD)",
        rows,
        [
            "workers",
            "jobs",
            "wall_s",
            "jobs_per_min",
            "mean_job_s",
            "max_running_at_once",
            "speedup",
        ],
    )
    path = write_json(
        "scale",
        {
            "machine": machine(),
            "load_average_1min": load,
            "jobs": args.jobs,
            "epochs": args.epochs,
            "rows": rows,
        },
    )
    print(f"\n1-minute load average at the end: {load:.2f} on {os.cpu_count()} CPUs")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
