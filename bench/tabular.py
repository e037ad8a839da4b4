"""Table benchmark: ``app.tabular.parse_csv`` against ``pandas.read_csv`` (C engine), same bytes;
then the accuracy of the service's default training against a scikit-learn pipeline.

    python bench/tabular.py [--quick] [--rows N] [--only parse|accuracy] [--diagnose]

Section 2 (accuracy, ``bench/tabular_accuracy.py``, whose docstring says what it does): seven
tables with text columns and gaps, the engine with the service's defaults against scikit-learn's
ColumnTransformer + MLPClassifier on the same held-out rows, and a 3%-positive table trained
without and with ``class_weight="balanced"``. ``--diagnose`` adds the engine's accuracy under a
few other settings (to see why it differs).

The table is realistic and seeded: 15 numeric columns (several magnitudes, ~5% gaps, mostly
empty cells, some ``NA``/``NaN``/``N/A``), 4 text columns (~10 categories, ~10% ``NA``) and a
class label. Its gaps are all in pandas' default NA set, so the timed ``pandas.read_csv`` with
default options does the same job (checked: same numbers, same missing counts; a ``?`` would
turn a pandas column into Python strings and make pandas several times slower).
``plain`` has no quotes; ``all_quoted`` quotes every field (as Excel can; R quotes all text):
both take the vectorised path. ``commas`` puts a comma in some categories, so those fields are
quoted and the file goes through the ``csv`` module. The figure is the ratio of median
times, measured in alternation (acceptance: at most 5x pandas on ``plain``, 100k x 20).
Prints Markdown tables and writes bench/results/tabular.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder is sys.path[0], and bench/http.py there would shadow the standard
# library's http (which pandas' imports reach): move it to the end.
_HERE = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path.pop(0)
    sys.path.append(str(_HERE))

import argparse
import csv
import io
import logging
from typing import Any

import numpy as np
import tabular_accuracy as accuracy
from _common import interleaved_medians, machine, print_table, write_json

from app.tabular import ParsedTable, parse_csv

N_NUMERIC, N_TEXT = 15, 4
CATEGORIES = ["Biscoe", "Dream", "Torgersen", "New York", "São Paulo", "Adelie", "x", "y", "z", "w"]


def make_table(n_rows: int, variant: str = "plain", *, seed: int = 0) -> bytes:
    """CSV bytes of the benchmark table (header + ``n_rows`` rows x 20 columns)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    gaps = np.array(["", "", "", "NA", "NaN", "N/A"])  # in pandas' default NA set too
    for j in range(N_NUMERIC):
        values = rng.normal(0, 10.0 ** rng.integers(0, 4), n_rows)
        if j % 5 == 4:
            values = np.round(values)  # integer-valued columns
        cells = values.round(int(rng.integers(1, 5))).astype(str).astype(object)
        holes = rng.random(n_rows) < 0.05
        cells[holes] = gaps[rng.integers(0, gaps.size, int(holes.sum()))]
        columns[f"num{j}"] = cells
    commas = variant == "commas"
    categories = [c + (", Inc" if commas and i % 3 == 0 else "") for i, c in enumerate(CATEGORIES)]
    for j in range(N_TEXT):
        cells = np.array(categories, dtype=object)[rng.integers(0, len(categories), n_rows)]
        cells[rng.random(n_rows) < 0.1] = "NA"
        columns[f"text{j}"] = cells
    columns["species"] = np.array(["Adelie", "Chinstrap", "Gentoo"], dtype=object)[
        rng.integers(0, 3, n_rows)
    ]
    out = io.StringIO()
    quoting = csv.QUOTE_ALL if variant == "all_quoted" else csv.QUOTE_MINIMAL
    writer = csv.writer(out, lineterminator="\n", quoting=quoting)
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return out.getvalue().encode()


def check_against_pandas(table: ParsedTable, frame: Any) -> None:
    """The numbers and missing counts must agree, or the timing means nothing."""
    for feature in table.features:
        name = feature["name"]
        if int(frame[name].isna().sum()) != feature["missing"]:
            raise SystemExit(f"{name}: missing counts differ from pandas")
        if feature["type"] == "numeric":
            expected = frame[name].to_numpy(dtype=float)
            if not np.array_equal(table.columns[name], expected, equal_nan=True):
                raise SystemExit(f"{name}: values differ from pandas")


def parse_section(n_rows: int, repeat: int) -> list[dict[str, Any]]:
    """Median times of parse_csv and pandas.read_csv (default options) per table variant."""
    import pandas as pd

    rows = []
    for variant in ("plain", "all_quoted", "commas"):
        data = make_table(n_rows, variant)
        table = parse_csv(data, label="species", task=None, max_rows=n_rows, max_columns=100)
        check_against_pandas(table, pd.read_csv(io.BytesIO(data)))
        timings = interleaved_medians(
            {
                "tabular": lambda data=data: parse_csv(
                    data, label="species", task=None, max_rows=n_rows, max_columns=100
                ),
                "pandas": lambda data=data: pd.read_csv(io.BytesIO(data)),
            },
            repeat=repeat,
        )
        ours, theirs = timings["tabular"], timings["pandas"]
        rows.append(
            {
                "table": variant,
                "shape": f"{n_rows} x {len(table.columns) + 1}",
                "MB": len(data) / 1e6,
                "tabular_s": ours.wall,
                "pandas_s": theirs.wall,
                "ratio": ours.wall / theirs.wall,
                "ratio_cpu": ours.cpu / theirs.cpu,
            }
        )
    return rows


def upload_section(n_rows: int, repeat: int) -> dict[str, Any]:
    """The whole upload, end to end: ``POST /v1/datasets`` of the plain table's CSV to a real
    server (parse, type inference, codes, the atomic ``.npz`` write, the response) against
    ``pandas.read_csv`` of the same bytes in this process, medians of ``repeat`` alternated."""
    import contextlib
    import os
    import signal
    import socket
    import subprocess
    import tempfile
    import time

    import httpx
    import pandas as pd

    data = make_table(n_rows, "plain")
    with tempfile.TemporaryDirectory(prefix="mlp-bench-upload-") as tmp:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLP_")}
        env.update({"MLP_DATA_DIR": tmp, "MLP_HOST": "127.0.0.1", "MLP_PORT": str(port)})
        env["MLP_MAX_ROWS"] = str(max(n_rows, 100_000))
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            with httpx.Client(base_url=url, timeout=120) as client:

                def upload() -> None:
                    response = client.post(
                        "/v1/datasets?label=species",
                        content=data,
                        headers={"Content-Type": "text/csv"},
                    )
                    if response.status_code != 201:
                        raise RuntimeError(f"upload: {response.status_code} {response.text[:300]}")

                timings = interleaved_medians(
                    {"upload": upload, "pandas": lambda: pd.read_csv(io.BytesIO(data))},
                    repeat=repeat,
                )
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    ours, theirs = timings["upload"], timings["pandas"]
    return {
        "table": "plain, POST /v1/datasets",
        "MB": len(data) / 1e6,
        "upload_s": ours.wall,
        "pandas_s": theirs.wall,
        "ratio": ours.wall / theirs.wall,
    }


def print_accuracy(section: dict[str, Any]) -> None:
    """Section 2's tables and its verdict (within 2 points on average, 5 at worst)."""
    print_table(
        "Tables: the service's default training vs a scikit-learn pipeline (test accuracy)",
        section["rows"],
        accuracy.COLUMNS,
    )
    mean, worst = section["mean_diff"], section["worst_diff"]
    verdict = "met" if mean >= -2 and worst >= -5 else "NOT met"
    print(f"\nengine - sklearn: {mean:+.1f} points on average, {worst:+.1f} at worst ({verdict})")
    print(f"(both comparisons took {section['seconds']:.0f} s)")
    title = "Imbalanced table (3% positives): unweighted vs class_weight='balanced'"
    print_table(title, section["imbalanced"], accuracy.IMBALANCED_COLUMNS)
    if section["diagnosis"] is not None:
        title = "Diagnosis: engine test accuracy % (train accuracy) under other settings"
        print_table(title, section["diagnosis"], ["dataset", "sklearn", *accuracy.VARIANTS])
        print(f"(the diagnosis took {section['diagnosis_seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k rows, 3 rounds")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", choices=["parse", "accuracy"], help="run one section")
    parser.add_argument(
        "--diagnose", action="store_true", help="accuracy: also the engine under other settings"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    n_rows = 10_000 if args.quick else args.rows
    repeat = 3 if args.quick else 5
    results: dict[str, Any] = {"machine": machine(), "rows": n_rows}

    # --- Section 1: parse speed against pandas.read_csv (C engine) ------------------------------
    if args.only in (None, "parse"):
        results["parse"] = parse_section(n_rows, repeat)
        columns = ["table", "shape", "MB", "tabular_s", "pandas_s", "ratio", "ratio_cpu"]
        title = "Parsing a CSV upload: app.tabular vs pandas.read_csv"
        print_table(title, results["parse"], columns)
        results["upload"] = upload_section(n_rows, repeat)
        columns = ["table", "MB", "upload_s", "pandas_s", "ratio"]
        print_table("Uploading it over HTTP vs pandas.read_csv", [results["upload"]], columns)

    # --- Section 2: accuracy against a scikit-learn pipeline (bench/tabular_accuracy.py) --------
    if args.only in (None, "accuracy"):
        results["accuracy"] = accuracy.accuracy_section(args.quick, args.diagnose)
        print_accuracy(results["accuracy"])

    path = write_json("tabular", results)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
