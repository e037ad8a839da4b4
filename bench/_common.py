"""Shared helpers for the benchmark scripts: timing by medians, tables, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def median_time(fn: Callable[[], Any], *, repeat: int = 5, number: int = 1) -> float:
    """Median wall time in seconds of ``number`` calls of ``fn``, over ``repeat`` rounds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


class Timing(NamedTuple):
    """Median seconds per call: wall-clock, and CPU time of this process (all its threads)."""

    wall: float
    cpu: float


def interleaved_medians(
    fns: Mapping[str, Callable[[], Any]],
    *,
    repeat: int = 5,
    number: Mapping[str, int] | None = None,
) -> dict[str, Timing]:
    """Median time per call of each of ``fns``, measured in alternation.

    Each of ``repeat`` rounds times every function once in turn (``number[name]`` calls, default
    1), so a change in the load of a shared machine hits a baseline and the engine alike and
    their ratio stays meaningful. The CPU time depends less on the load for single-threaded
    work (it also counts BLAS threads, spinning ones included).
    """
    counts = dict.fromkeys(fns, 1) | dict(number or {})
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(counts[name]):
                fn()
            walls[name].append((time.perf_counter() - wall) / counts[name])
            cpus[name].append((time.process_time() - cpu) / counts[name])
    return {
        name: Timing(statistics.median(walls[name]), statistics.median(cpus[name])) for name in fns
    }


def machine() -> dict[str, Any]:
    import numpy as np

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }


def print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A GitHub-flavoured Markdown table (pasteable into docs/benchmarks.md)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col, "")
            if isinstance(value, float):
                value = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
            cells.append(str(value))
        print("| " + " | ".join(cells) + " |")


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path
