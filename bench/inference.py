"""Inference benchmark: the engine's predict_proba against onnxruntime on the same model.

    python bench/inference.py [--quick] [--rounds N]

For each network (2, 5, 3, 1), (20, 64, 64, 3) and (784, 512, 512, 10) a float32
``MLPClassifier`` is fitted (one epoch on random data: the weights only need to be realistic in
size), exported with the service's own ``mlp_engine.onnx_export.to_onnx``, and both run the same
float32 rows: one row, and 10,000 rows. One thread each side: BLAS through threadpoolctl (and
``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` set before NumPy is imported), onnxruntime through
``intra_op_num_threads = inter_op_num_threads = 1`` with sequential execution. The engine and
onnxruntime are timed in alternation (medians over rounds; each round repeats a call enough
times to last a few milliseconds), and the table gives ``ratio`` = engine time / onnxruntime
time, wall clock and process CPU time. The outputs are compared too (largest absolute
difference of the probabilities).

Prints a Markdown table (docs/benchmarks.md, Inference) and writes bench/results/inference.json.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import interleaved_medians, machine, print_table, write_json

from mlp_engine import MLPClassifier
from mlp_engine.onnx_export import to_onnx

NETWORKS: tuple[tuple[int, ...], ...] = ((2, 5, 3, 1), (20, 64, 64, 3), (784, 512, 512, 10))
ROWS = (1, 10_000)
TARGETS = {1: 2.0, 10_000: 1.5}


def fitted_model(layers: tuple[int, ...], seed: int = 0) -> MLPClassifier:
    """A float32 classifier with these layers (one output unit = two classes)."""
    rng = np.random.default_rng(seed)
    n_classes = 2 if layers[-1] == 1 else layers[-1]
    X = rng.standard_normal((256, layers[0]))
    y = np.arange(256) % n_classes
    model = MLPClassifier(
        hidden_layers=layers[1:-1], epochs=1, batch_size=64, dtype="float32", seed=seed
    )
    return model.fit(X, y)


def onnx_session(model: MLPClassifier) -> Any:
    """An onnxruntime session for the model's ONNX export, one thread, sequential."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        to_onnx(model), sess_options=options, providers=["CPUExecutionProvider"]
    )


def calls_per_round(fn: Callable[[], Any], seconds: float) -> int:
    """How many calls of ``fn`` last about ``seconds`` (at least 1)."""
    fn()
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 4:
        fn()
        count += 1
    return max(1, int(count * 4))


def bench_case(layers: tuple[int, ...], n_rows: int, rounds: int) -> dict[str, Any]:
    """One network and row count: engine and onnxruntime timed in alternation."""
    model = fitted_model(layers)
    session = onnx_session(model)
    X = np.random.default_rng(1).standard_normal((n_rows, layers[0])).astype(np.float32)
    feed = {"input": X}

    def engine() -> Any:
        return model.predict_proba(X)

    def onnxrt() -> Any:
        return session.run(["probabilities"], feed)[0]

    diff = float(np.max(np.abs(engine().astype(np.float64) - onnxrt())))
    number = {name: calls_per_round(fn, 0.02) for name, fn in (("e", engine), ("o", onnxrt))}
    timings = interleaved_medians(
        {"engine": engine, "onnxruntime": onnxrt},
        repeat=rounds,
        number={"engine": number["e"], "onnxruntime": number["o"]},
    )
    eng, ort_ = timings["engine"], timings["onnxruntime"]
    ratio = eng.wall / ort_.wall
    return {
        "network": str(layers).replace(" ", ""),
        "rows": n_rows,
        "engine_us": eng.wall * 1e6,
        "onnxruntime_us": ort_.wall * 1e6,
        "ratio": ratio,
        "ratio_cpu": eng.cpu / ort_.cpu,
        "max_abs_diff": diff,
        "target": f"<= {TARGETS[n_rows]:g}x",
        "met": "yes" if ratio <= TARGETS[n_rows] else "no",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case (default 15)")
    parser.add_argument("--rows", type=int, choices=ROWS, default=None, help="only this row count")
    args = parser.parse_args()
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=1)
    import onnxruntime

    facts = {
        **machine(),
        "onnxruntime": onnxruntime.__version__,
        "blas": [
            {k: info.get(k) for k in ("internal_api", "version", "num_threads")}
            for info in threadpool_info()
        ],
    }
    print(facts)
    rounds = args.rounds or (3 if args.quick else 15)
    load_before, started = os.getloadavg(), time.perf_counter()
    counts = ROWS if args.rows is None else (args.rows,)
    rows = [bench_case(layers, n, rounds) for layers in NETWORKS for n in counts]
    columns = ["network", "rows", "engine_us", "onnxruntime_us", "ratio", "ratio_cpu"]
    print_table(
        "Engine predict_proba vs onnxruntime (float32, one thread each; ratio = engine / ORT)",
        rows,
        [*columns, "max_abs_diff", "target", "met"],
    )
    path = write_json(
        "inference",
        {
            "machine": facts,
            "rounds": rounds,
            "seconds": time.perf_counter() - started,
            "load_average_before_after": [load_before, os.getloadavg()],
            "cases": rows,
        },
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
