"""Sweep benchmark: one 16-trial, 3-fold sweep (48 fold jobs + the refit) on the embedded
runner and on RQ with 1 and 2 workers.

    python bench/sweep.py [--epochs 60] [--rows 600] [--backends embedded:1,rq:1,rq:2] [--repeat 1]

Each round runs on a fresh temporary data dir: the sweep service and its advancing loop as the
API process runs them (:class:`~app.services.sweeps.SweepService`, ``SweepDriver``), over the
embedded runner (``embedded:N``: N job processes) or over RQ (``rq:N``: a real redis-server on
127.0.0.1, no persistence, and N real ``python -m app.worker`` processes started here and
stopped at the end). The wall time runs from ``POST``-equivalent creation to the sweep's end.
With ``--repeat R`` the whole list runs R times, interleaved, and each runner's median round is
shown (the machine's load drifts). Prints a Markdown table and writes bench/results/sweep.json.
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
import statistics
import tempfile
import time
from typing import Any

from _common import machine, print_table, write_json
from scale import max_overlap, start_redis, start_workers, stop_workers, wait

REPO = Path(__file__).resolve().parents[1]
TERMINAL = ("succeeded", "failed", "cancelled")
SPACE: dict[str, Any] = {
    "learning_rate": [0.03, 0.01, 0.003, 0.001],
    "hidden_layers": [[8], [16], [8, 8], [16, 16]],
}


def run_round(
    backend: str, n: int, args: argparse.Namespace, root: Path, url: str | None
) -> dict[str, Any]:
    """One sweep on a fresh data dir over ``backend`` with ``n`` job slots / workers."""
    from app.main import build_runner
    from app.schemas.sweeps import SweepCreate
    from app.services.sweeps import SweepDriver, SweepService, open_sweep_store
    from app.settings import Settings
    from app.storage.datasets import DatasetStore
    from app.storage.models import ModelStore
    from mlp_engine import datasets

    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / f"data-{backend}-{n}"
    X, y = datasets.make("notebook", n_samples=args.rows, seed=0)
    store = DatasetStore(data_dir)
    dataset_id = store.create(X, y, name="notebook", task="classification").id
    options: dict[str, Any] = {"job_backend": backend, "redis_url": url} if url else {}
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        max_concurrent_jobs=n,
        max_queued_jobs=64,
        log_level="warning",
        **options,
    )
    if url:
        import redis

        with redis.Redis.from_url(url) as client:
            client.flushall()
    runner = build_runner(settings)
    runner.start()
    workers = start_workers(n, data_dir, url, root / "workers.log") if url else []
    service = SweepService(
        settings, store, ModelStore(data_dir), runner, open_sweep_store(runner, data_dir)
    )
    driver = SweepDriver(service, 0.1)
    driver.start()
    try:
        if url:
            from rq import Queue, Worker

            queue = Queue(settings.rq_queue, connection=runner.connection)  # type: ignore[attr-defined]
            wait(lambda: Worker.count(queue=queue) == n, 60, "the workers to register")
        body = SweepCreate.model_validate(
            {
                "dataset_id": dataset_id,
                "training": {"epochs": args.epochs, "batch_size": 8, "seed": 1},
                "search": {"strategy": "grid", "space": SPACE},
                "cv_folds": 3,
                "max_parallel": n,
            }
        )
        start = time.perf_counter()
        sweep_id = service.create(body)["id"]
        wait(lambda: service.get(sweep_id)["status"] in TERMINAL, 1800, "the sweep")
        wall = time.perf_counter() - start
        doc = service.get(sweep_id)
        job_ids = [j for t in doc["trials"] for j in t["job_ids"]] + [doc["best"]["job_id"]]
        records = [runner.get(job_id) for job_id in job_ids]
    finally:
        driver.stop()
        stop_workers(workers)
        runner.stop()
    durations = [(r.finished_at - r.started_at).total_seconds() for r in records]  # type: ignore[operator]
    return {
        "runner": f"{backend}, {n} {'workers' if url else 'job processes'}",
        "status": doc["status"],
        "jobs": len(records),
        "wall_s": wall,
        "mean_job_s": statistics.mean(durations),
        "busy_share": sum(durations) / (wall * n),
        "max_running_at_once": max_overlap(records),
        "best_trial": doc["best"]["trial"],
    }


def medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per runner (first-seen order): the round with the median wall time."""
    by_runner: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_runner.setdefault(row["runner"], []).append(row)
    result = []
    for runs in by_runner.values():
        runs.sort(key=lambda row: row["wall_s"])
        chosen = dict(runs[(len(runs) - 1) // 2])
        chosen["rounds"] = len(runs)
        result.append(chosen)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60, help="epochs per job (60)")
    parser.add_argument("--rows", type=int, default=600, help="rows of the notebook set (600)")
    parser.add_argument("--backends", default="embedded:1,rq:1,rq:2", help="runner:slots list")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of the whole list, interleaved (1)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    root = Path(tempfile.mkdtemp(prefix="mlp-sweep-bench-"))
    redis_process, url = start_redis(root)
    rows = []
    try:
        time.sleep(0.3)
        items = [item.split(":") for item in args.backends.split(",")]
        for r in range(args.repeat):
            for i, (backend, n) in enumerate(items):
                rurl = url if backend == "rq" else None
                rows.append(run_round(backend, int(n), args, root / f"r{r}-{i}", rurl))
    finally:
        redis_process.terminate()
        redis_process.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    load = os.getloadavg()[0]
    rows = medians(rows)
    for row in rows:
        row["speedup"] = rows[0]["wall_s"] / row["wall_s"]
    columns = ["runner", "rounds", "status", "jobs", "wall_s", "mean_job_s", "busy_share"]
    columns += ["max_running_at_once", "best_trial", "speedup"]
    print_table(
        f"Sweep: 16 trials x 3 folds + refit ({args.rows} rows, {args.epochs} epochs per job)",
        rows,
        columns,
    )
    meta = {"machine": machine(), "load_average_1min": load, "epochs": args.epochs}
    path = write_json("sweep", {**meta, "rows_per_dataset": args.rows, "rows": rows})
    print(f"\n1-minute load average at the end: {load:.2f} on {os.cpu_count()} CPUs")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
