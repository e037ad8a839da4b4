"""Engine benchmark: every figure is a ratio against a baseline measured in the same run.

    python bench/engine.py [--quick] [--blas-threads N] [--only per-sample,grid,...]
    python bench/engine.py --only sample-loop   # optional diagnostic, not in the default run

Prints Markdown tables (pasted into docs/benchmarks.md) and writes bench/results/engine.json.
Baselines: the teaching notebook's own per-sample loop and double-loop boundary map (copied
faithfully below), scikit-learn's MLPClassifier (when the `bench` extra is installed), and the
machine's GEMM rate. Each baseline and the engine are timed in alternation; ``speedup`` is the
ratio of median wall times, ``speedup_cpu`` that of median process CPU times (which depends
less on how busy a shared machine is, for single-threaded work).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import interleaved_medians, machine, median_time, print_table, write_json

from mlp_engine import MLPClassifier, datasets, decision_grid
from mlp_engine.activations import ACTIVATIONS
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network, Workspace, sample_epoch, with_ones

# --- The notebook's code, copied faithfully (dicts of layers, column-vector biases) -----------


def sig(z):  # type: ignore[no-untyped-def]
    return 1 / (1 + np.exp(-z))


def dsig_dz(z):  # type: ignore[no-untyped-def]
    return sig(z) * (1 - sig(z))


def J(y, yhat):  # type: ignore[no-untyped-def]
    eps = 1e-8
    return -(yhat * np.log(y + eps) + (1 - yhat) * np.log(1 - y + eps))


def dJ_dy(y, yhat):  # type: ignore[no-untyped-def]
    eps = 1e-8
    return (1 - yhat) / (1 - y + eps) - yhat / (y + eps)


def relu(z):  # type: ignore[no-untyped-def]
    return np.where(z > 0, z, 0)


def drelu_dz(z):  # type: ignore[no-untyped-def]
    return np.where(z > 0, 1, 0)


def init_model(shape):  # type: ignore[no-untyped-def]
    w = {}
    b = {}
    for layer in range(1, len(shape)):
        w[layer] = np.random.normal(0, 0.1, size=(shape[layer - 1], shape[layer]))
        b[layer] = np.random.normal(0, 0.1, size=(shape[layer], 1))
    return w, b


def forwardn(x0, w, b):  # type: ignore[no-untyped-def]
    n_layers = len(w)
    x_prev = x0
    for l in range(1, n_layers):  # noqa: E741
        x_l = relu(np.dot(x_prev, w[l]) + b[l].T)
        x_prev = x_l
    return sig(np.dot(x_prev, w[n_layers]) + b[n_layers].T)


def backwardn(x0, w, b, y, yhat, alpha):  # type: ignore[no-untyped-def]
    n_layers = len(w)
    z = {}
    x = {0: x0}
    for l in range(1, n_layers + 1):  # noqa: E741
        z[l] = np.dot(x[l - 1], w[l]) + b[l].T
        x[l] = relu(z[l])
    delta = {}
    for l in range(n_layers, 0, -1):  # noqa: E741
        if l == n_layers:
            delta[l] = dJ_dy(y, yhat) * dsig_dz(z[n_layers])
        else:
            delta[l] = np.dot(w[l + 1], delta[l + 1]) * drelu_dz(z[l]).T
        w[l] -= alpha * np.multiply(delta[l], x[l - 1]).T
        b[l] -= alpha * delta[l]
    return w, b


def trainn(X, yhat, shape, alpha, n_epoch):  # type: ignore[no-untyped-def]
    """The notebook's training loop, minus its print of progress every 10 epochs."""
    n_samples = X.shape[0]
    costs = np.zeros(shape=(n_epoch, 1))
    w, b = init_model(shape)
    for epoch in range(n_epoch):
        for i in range(n_samples):
            x0 = X[i, :]
            yh = yhat[i]
            y = forwardn(x0, w, b)
            w, b = backwardn(x0, w, b, y, yh, alpha)
        predictions = forwardn(X, w, b)
        costs[epoch] = np.mean(J(predictions, yhat))
        _accuracy = np.mean(predictions.round() == yhat)
    return w, b, costs


def notebook_boundary(w, b):  # type: ignore[no-untyped-def]
    x1 = np.linspace(-8, 8, 250)
    x2 = np.linspace(-10, 10, 250)
    fun_map = np.empty((x1.size, x2.size))
    for n, i in enumerate(x1):
        for m, j in enumerate(x2):
            fun_map[m, n] = forwardn([i, -j], w, b)[0, 0]
    return fun_map


# --- Measurements -------------------------------------------------------------------------
# Every baseline/engine pair is timed in alternation (``interleaved_medians``): on a shared
# machine the load changes within seconds, and a ratio of medians taken minutes apart is noise.


def engine_fit(X: np.ndarray, y: np.ndarray, epochs: int, **kw: Any) -> Callable[[], None]:
    def run() -> None:
        MLPClassifier(epochs=epochs, seed=0, **kw).fit(X, y)

    return run


NOTEBOOK_KW: dict[str, Any] = {
    "hidden_layers": (5, 3),
    "activation": "relu",
    "optimizer": "sgd",
    "momentum": 0.0,
    "learning_rate": 0.001,
    "init": "notebook",
    "shuffle": False,
    "standardize": False,
}


def bench_per_sample(X: np.ndarray, y: np.ndarray, epochs: int) -> list[dict[str, Any]]:
    """The notebook's loop vs the engine at batch_size=1: sgd (true gradient) and notebook."""
    n = len(X)
    np.random.seed(0)
    yhat = y.reshape(-1, 1).astype(float)
    optimizers = {
        "sgd": "per-sample SGD, (2,5,3,1)",
        "notebook": "per-sample, notebook order, (2,5,3,1)",
    }
    fns: dict[str, Callable[[], Any]] = {
        "baseline": lambda: trainn(X, yhat, (2, 5, 3, 1), 0.001, epochs)
    }
    for optimizer in optimizers:
        kw = {**NOTEBOOK_KW, "optimizer": optimizer}
        fns[optimizer] = engine_fit(X, y, epochs, batch_size=1, **kw)
    timings = interleaved_medians(fns, repeat=5)
    steps = epochs * n
    nb = timings["baseline"]
    rows = []
    for optimizer, case in optimizers.items():
        eng = timings[optimizer]
        rows.append(
            {
                "case": case,
                "optimizer": optimizer,
                "baseline": "notebook loop",
                "baseline_us": nb.wall / steps * 1e6,
                "engine_us": eng.wall / steps * 1e6,
                "speedup": nb.wall / eng.wall,
                "speedup_cpu": nb.cpu / eng.cpu,
                "target": ">= 8x" if optimizer == "sgd" else ">= 5x",
                "met": nb.wall / eng.wall >= (8 if optimizer == "sgd" else 5),
            }
        )
    return rows


def reference_sample_epoch() -> Callable[..., None]:
    """``reference_epoch`` of tests/engine/test_sample_step.py, loaded by path: the per-sample
    loop as it was before ``mlp_engine.sample_step`` (the test checks both give the same bits)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "engine" / "test_sample_step.py"
    spec = importlib.util.spec_from_file_location("_sample_step_reference", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_epoch  # type: ignore[no-any-return]


def bench_sample_loop(X: np.ndarray, y: np.ndarray, epochs: int) -> list[dict[str, Any]]:
    """Diagnostic: ``sample_epoch`` alone (no estimator around it) against the loop it replaced,
    on the notebook's network, plain SGD and the notebook's order, timed in alternation."""
    reference, X1 = reference_sample_epoch(), with_ones(X, np.float64)
    Y = y.reshape(-1, 1).astype(np.float64)

    def add(params: np.ndarray, grads: np.ndarray) -> None:
        params += grads

    def train(epoch: Callable[..., None], layerwise: bool) -> Callable[[], None]:
        def run() -> None:
            rng = np.random.default_rng(0)
            layers, relu, sigmoid = (2, 5, 3, 1), ACTIVATIONS["relu"], OUTPUTS["sigmoid"]
            net = Network.initialized(layers, relu, sigmoid, "notebook", rng, "float64")
            ws = Workspace(net, 1)
            for _ in range(epochs):
                epoch(ws, X1, Y, add, -0.001, layerwise)

        return run

    rows, steps = [], epochs * len(X)
    for order in ("sgd", "notebook"):
        t = interleaved_medians(
            {
                "old": train(reference, order == "notebook"),
                "new": train(sample_epoch, order == "notebook"),
            },
            repeat=9,
        )
        rows.append(
            {
                "case": f"sample_epoch alone, {order}, (2,5,3,1)",
                "old_us": t["old"].wall / steps * 1e6,
                "new_us": t["new"].wall / steps * 1e6,
                "old_cpu_us": t["old"].cpu / steps * 1e6,
                "new_cpu_us": t["new"].cpu / steps * 1e6,
                "speedup": t["old"].wall / t["new"].wall,
                "speedup_cpu": t["old"].cpu / t["new"].cpu,
            }
        )
    return rows


def sklearn_fit(X: np.ndarray, y: np.ndarray, epochs: int, batch: int) -> Callable[[], None] | None:
    """scikit-learn's MLPClassifier with the same layers, sgd and batch size, or None."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier as SkMLP
    except ImportError:  # the `bench` extra is not installed
        return None

    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            SkMLP(
                hidden_layer_sizes=(5, 3),
                solver="sgd",
                batch_size=batch,
                learning_rate_init=0.001,
                momentum=0.0,
                max_iter=epochs,
                shuffle=False,
                n_iter_no_change=10**9,
                tol=0.0,
                random_state=0,
            ).fit(X, y)

    return run


def bench_batches(X: np.ndarray, y: np.ndarray, epochs: int) -> list[dict[str, Any]]:
    n = len(X)
    rows = []
    for batch in (32, n):
        fns = {"engine": engine_fit(X, y, epochs, batch_size=batch, **NOTEBOOK_KW)}
        sk_fit = sklearn_fit(X, y, epochs, batch)
        if sk_fit is not None:
            fns["baseline"] = sk_fit
        timings = interleaved_medians(fns, repeat=5)
        eng = timings["engine"]
        row: dict[str, Any] = {
            "case": f"batch {batch}, (2,5,3,1)",
            "engine_us": eng.wall / (epochs * n) * 1e6,
        }
        if sk_fit is not None:
            base = timings["baseline"]
            row["baseline"] = "scikit-learn sgd"
            row["baseline_us"] = base.wall / (epochs * n) * 1e6
            row["speedup"] = base.wall / eng.wall
            row["speedup_cpu"] = base.cpu / eng.cpu
            if batch == 32:
                row["target"] = ">= 5x"
                row["met"] = row["speedup"] >= 5
        rows.append(row)
    return rows


def bench_grid(X: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    np.random.seed(1)
    w, b = init_model((2, 5, 3, 1))
    clf = MLPClassifier(epochs=1, batch_size=len(X), seed=0, **NOTEBOOK_KW).fit(X, y)
    timings = interleaved_medians(
        {
            "baseline": lambda: notebook_boundary(w, b),
            "engine": lambda: decision_grid(clf, (-8, 8), (-10, 10), resolution=250),
        },
        repeat=7,
        number={"engine": 5},
    )
    nb, g250 = timings["baseline"].wall, timings["engine"].wall
    g1000 = median_time(lambda: decision_grid(clf, (-8, 8), (-10, 10), resolution=1000), repeat=5)
    return [
        {
            "case": "boundary 250x250",
            "baseline": "notebook double loop",
            "baseline_ms": nb * 1e3,
            "engine_ms": g250 * 1e3,
            "speedup": nb / g250,
            "speedup_cpu": timings["baseline"].cpu / timings["engine"].cpu,
            "target": ">= 350x",
            "met": nb / g250 >= 350,
        },
        {"case": "boundary 1000x1000", "engine_ms": g1000 * 1e3},
    ]


def step_products(dtype: str, batch: int = 128) -> Callable[[], None]:
    """The eight matrix products of one (784, 512, 512, 10) training step, in the engine's own
    layout (``Workspace``: activations transposed, a row of ones per layer input): three
    forward products, three gradient products and two delta products. Timed alone, with the
    same BLAS threads, they are the ceiling of the step: what the GEMMs of this size reach."""
    rng = np.random.default_rng(1)
    layers = (784, 512, 512, 10)
    pairs = list(itertools.pairwise(layers))
    w_t = [rng.standard_normal((b, a + 1)).astype(dtype) for a, b in pairs]  # forward (out, in+1)
    ins = [rng.standard_normal((a + 1, batch)).astype(dtype) for a, _ in pairs]  # (in+1, m)
    deltas = [rng.standard_normal((b, batch)).astype(dtype) for _, b in pairs]  # (out, m)
    weights = [rng.standard_normal((a, b)).astype(dtype) for a, b in pairs[1:]]  # (in, out)

    def run() -> None:
        for w, a in zip(w_t, ins, strict=True):
            w.dot(a)
        for a, d in zip(ins, deltas, strict=True):
            a.dot(d.T)
        for w, d in zip(weights, deltas[1:], strict=True):
            w.dot(d)

    return run


def bench_compute_bound(n_samples: int, epochs: int) -> list[dict[str, Any]]:
    rows = []
    layers = (784, 512, 512, 10)
    n_params = sum(a * b + b for a, b in itertools.pairwise(layers))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, 784))
    y = rng.integers(0, 10, n_samples)
    n = 1024  # the GEMM: (n, n) @ (n, n)
    for dtype in ("float64", "float32"):
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        a @ b  # warm-up
        fit = engine_fit(
            X,
            y,
            epochs,
            hidden_layers=(512, 512),
            optimizer="sgd",
            learning_rate=0.01,
            batch_size=128,
            dtype=dtype,
            standardize=False,
        )
        timings = interleaved_medians(
            {"gemm": lambda a=a, b=b: a @ b, "engine": fit, "products": step_products(dtype)},
            repeat=3,
            number={"gemm": 10, "products": 20},
        )
        peak = 2 * n**3 / timings["gemm"].wall / 1e9
        # forward 2P + backward 4P flops per sample, plus the per-epoch loss pass (2P), plus
        # the fit's one evaluation pass over the training rows at the end (``evaluation_``:
        # 2P per sample; not counted before 2026-12-04, which understated the rate by 1/9
        # at 2 epochs).
        flops = epochs * n_samples * 8 * n_params + n_samples * 2 * n_params
        achieved = flops / timings["engine"].wall / 1e9
        # The step's eight products per sample: forward and gradient 2P each, the two delta
        # products 2 x (in x out) of the upper layers (no bias row; the first layer needs none).
        product_flops = 4 * n_params + 2 * (512 * 512 + 512 * 10)
        own = 128 * product_flops / timings["products"].wall / 1e9
        rows.append(
            {
                "case": f"(784,512,512,10) batch 128 {dtype}",
                "gemm_gflops": peak,
                "products_gflops": own,
                "products_of_gemm": own / peak,
                "engine_gflops": achieved,
                "engine_of_products": achieved / own,
                "fraction": achieved / peak,
                "target": ">= 60% (2 threads)",
                "met": achieved / peak >= 0.6,
            }
        )
    return rows


def bench_barrier(threads: int, calls: int = 200) -> list[dict[str, Any]]:
    """What a threaded GEMM costs on this machine: one of the compute-bound network's products,
    ``(128, 785) @ (785, 512)`` float64, timed call by call with 1 and with ``threads`` BLAS
    threads (median and 90th percentile of ``calls`` calls, in alternation). On an idle
    machine the threaded median is about half the single-thread one; on a busy one each call
    waits at OpenBLAS's barrier for a thread the scheduler has parked, which the percentile
    shows."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((128, 785)), rng.standard_normal((785, 512))
    times: dict[int, list[float]] = {1: [], threads: []}
    for _ in range(calls):
        for n in times:
            with threadpool_limits(limits=n, user_api="blas"):
                start = time.perf_counter()
                a @ b
                times[n].append(time.perf_counter() - start)
    rows = []
    for n, values in times.items():
        values.sort()
        rows.append(
            {
                "case": f"(128,785) @ (785,512) float64, {n} BLAS thread(s)",
                "median_us": values[len(values) // 2] * 1e6,
                "p90_us": values[int(len(values) * 0.9)] * 1e6,
                "gflops_at_median": 2 * 128 * 785 * 512 / values[len(values) // 2] / 1e9,
            }
        )
    return rows


def machine_facts() -> dict[str, Any]:
    """``machine()`` plus the CPU model and the BLAS NumPy uses."""
    facts = machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            models = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        facts["cpu_model"] = models[0] if models else None
    except OSError:
        facts["cpu_model"] = None
    try:
        from threadpoolctl import threadpool_info

        facts["blas"] = [
            {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        ]
    except ImportError:  # the `bench` extra is not installed
        facts["blas"] = None
    return facts


SECTIONS = ("per-sample", "batches", "grid", "compute", "barrier")
OPTIONAL = ("sample-loop",)
"""Diagnostics run only when ``--only`` names them."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (a smoke run)")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS threads (needs threadpoolctl); the default leaves the library's own",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections of {SECTIONS + OPTIONAL}",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.blas_threads, user_api="blas")
    print(machine_facts())
    epochs = 2 if args.quick else 5
    X, y = datasets.make("notebook", n_samples=1000, seed=0)
    started, load_before = time.perf_counter(), os.getloadavg()
    results: dict[str, Any] = {}
    speedups = ["baseline", "baseline_us", "engine_us", "speedup", "speedup_cpu", "target", "met"]
    if "per-sample" in only:
        results["per_sample"] = bench_per_sample(X, y, epochs)
        print_table(
            "Per-sample training (us per sample-step)",
            results["per_sample"],
            ["case", "optimizer", *speedups],
        )
    if "sample-loop" in only:
        results["sample_loop"] = bench_sample_loop(X, y, epochs)
        print_table(
            "Per-sample epoch alone vs the loop it replaced (us per sample-step)",
            results["sample_loop"],
            ["case", "old_us", "new_us", "old_cpu_us", "new_cpu_us", "speedup", "speedup_cpu"],
        )
    if "batches" in only:
        results["batches"] = bench_batches(X, y, epochs * 4)
        print_table(
            "Mini-batch and full batch (us per sample per epoch)",
            results["batches"],
            ["case", *speedups],
        )
    if "grid" in only:
        results["grid"] = bench_grid(X, y)
        columns = ["case", "baseline", "baseline_ms", "engine_ms", "speedup", "speedup_cpu"]
        print_table("Decision-boundary grid", results["grid"], [*columns, "target", "met"])
    if "compute" in only:
        results["compute_bound"] = bench_compute_bound(
            2048 if args.quick else 8192, 1 if args.quick else 2
        )
        print_table(
            "Compute-bound network vs the machine's GEMM rate",
            results["compute_bound"],
            [
                "case",
                "gemm_gflops",
                "products_gflops",
                "products_of_gemm",
                "engine_gflops",
                "engine_of_products",
                "fraction",
                "target",
                "met",
            ],
        )
    if "barrier" in only:
        results["barrier"] = bench_barrier(max(2, args.blas_threads or 2))
        print_table(
            "One threaded GEMM of the compute-bound network (the barrier's cost)",
            results["barrier"],
            ["case", "median_us", "p90_us", "gflops_at_median"],
        )
    path = write_json(
        "engine",
        {
            "machine": machine_facts(),
            "blas_threads": args.blas_threads,
            "seconds": time.perf_counter() - started,
            "load_average_before_after": [load_before, os.getloadavg()],  # a shared machine
            **results,
        },
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
