"""Figure 8 of bench/http.py: a 10,000-row table predict against the same rows as numbers.

A seeded table (4 numeric columns, 3 categorical ones of 3-5 categories, about 1% of the cells
null, an integer label) is uploaded in pandas' split form and a (16, 16) network trained on it.
The same rows, encoded by that model's own preprocessing plan (``mlp_engine.inputs.encode``:
medians for missing numbers, one-hot blocks with a missing level), are uploaded as an ``X``/``y``
dataset and a network of the same hidden layers trained on them: the "same-shaped model".

Then, in rounds, ``POST /v1/models/{table}/predict`` with ``{"instances": [{column: value}]}``,
the same with ``{"columns", "data"}``, and ``POST /v1/models/{numbers}/predict`` with
``{"X": [[number]]}``, back to back, the bodies serialised beforehand. Each request's end-to-end
time (client clock) and the server's ``Server-Timing`` total (receiving the body, parsing,
encoding, the forward pass, the response) are recorded; a figure is the median of the per-round
ratios (the first round, a warm-up, is left out).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

import mlp_engine
from mlp_engine.inputs import encode

ROWS = 10_000
NUMERIC = ("length", "depth", "mass", "age")
CATEGORIES = {
    "island": ("Biscoe", "Dream", "Torgersen"),
    "colour": ("red", "green", "blue", "black", "white"),
    "size": ("S", "M", "L", "XL"),
}
NULL_FRACTION = 0.01
FORMS = ("instances", "split", "X")


def make_table(rows: int, seed: int = 0) -> tuple[list[str], list[list[Any]]]:
    """``(columns, data)``: the features, then ``label``; JSON-ready cells, nulls included."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    for j, name in enumerate(NUMERIC):
        columns[name] = np.round(rng.normal(10.0 * (j + 1), 3.0, rows), 2).tolist()
    for name, values in CATEGORIES.items():
        columns[name] = np.array(values)[rng.integers(0, len(values), rows)].tolist()
    score = np.array(columns["length"]) / 10 + (np.array(columns["island"]) == "Dream")
    label = (score + rng.normal(0, 0.5, rows) > 1.5).astype(int).tolist()
    for cells in columns.values():
        for i in np.flatnonzero(rng.random(rows) < NULL_FRACTION).tolist():
            cells[i] = None
    names = [*columns, "label"]
    data = [list(row) for row in zip(*columns.values(), label, strict=True)]
    return names, data


class TablePredict:
    """The two models and three bodies of figure 8, and its timed rounds.

    ``train(dataset_body)`` uploads a dataset (a JSON body for ``POST /v1/datasets``), trains a
    (16, 16) network on it and returns the model's ID; ``data_dir`` is the service's.
    """

    def __init__(
        self, client: httpx.Client, data_dir: Path, train: Callable[[dict[str, Any]], str]
    ) -> None:
        self.client = client
        names, data = make_table(ROWS)
        features = names[:-1]
        self.table_model = train({"columns": names, "data": data, "label": "label"})
        model = mlp_engine.load(data_dir / "models" / f"{self.table_model}.npz")
        table = {name: [row[j] for row in data] for j, name in enumerate(features)}
        table = {
            name: np.array(cells, dtype=object if name in CATEGORIES else np.float64)
            for name, cells in table.items()
        }
        X = encode(table, model.plan_, model.feature_names_in_, model.layers_[0])
        y = [row[-1] for row in data]
        self.numbers_model = train({"X": X.tolist(), "y": y})
        rows = [row[:-1] for row in data]
        instances = [dict(zip(features, row, strict=True)) for row in rows]
        self.bodies = {
            "instances": orjson.dumps({"instances": instances}),
            "split": orjson.dumps({"columns": features, "data": rows}),
            "X": orjson.dumps({"X": X.tolist()}),
        }
        self.width = int(X.shape[1])

    def post(self, form: str) -> tuple[float, float, bytes]:
        """One predict: (end-to-end ms, Server-Timing total ms, response body)."""
        model = self.numbers_model if form == "X" else self.table_model
        start = time.perf_counter()
        response = self.client.post(
            f"/v1/models/{model}/predict",
            content=self.bodies[form],
            headers={"content-type": "application/json"},
        )
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{form}: {response.status_code} {response.text[:300]}")
        total = response.headers.get("server-timing", "").rpartition("total;dur=")[2]
        return elapsed, float(total or "nan"), response.content

    def run(self, repeats: int) -> dict[str, Any]:
        """``repeats`` timed rounds (after one warm-up); per form its times, per table form its
        per-round ratios to ``X``."""
        times: dict[str, dict[str, list[float]]] = {f: {"e2e": [], "server": []} for f in FORMS}
        for round_ in range(repeats + 1):
            answers = {}
            for form in FORMS:
                e2e, server, answers[form] = self.post(form)
                if round_:
                    times[form]["e2e"].append(e2e)
                    times[form]["server"].append(server)
            if answers["instances"] != answers["split"]:
                raise RuntimeError("instances and columns/data bodies answered differently")
        ratios = {
            f"{form}/{clock}": [
                a / b for a, b in zip(times[form][clock], times["X"][clock], strict=True)
            ]
            for form in ("instances", "split")
            for clock in ("e2e", "server")
        }
        return {
            "rows": ROWS,
            "encoded_width": self.width,
            "body_bytes": {form: len(body) for form, body in self.bodies.items()},
            "times_ms": times,
            "ratios": ratios,
            "median_ms": {
                form: {clock: statistics.median(v) for clock, v in t.items()}
                for form, t in times.items()
            },
            "median_ratio": {key: statistics.median(v) for key, v in ratios.items()},
        }


def target_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Figure 8's rows of bench/http.py's table (target: the end-to-end ratio at most 3x)."""
    ms, ratio, size = result["median_ms"], result["median_ratio"], result["body_bytes"]
    rows = []
    for form, label in (("instances", "`instances`"), ("split", "`columns`/`data`")):
        rows.append(
            {
                "figure": f"8. predict, 10,000 table rows as {label} vs as numeric X",
                "measured": f"end to end {ms[form]['e2e']:.1f} vs {ms['X']['e2e']:.1f} ms = "
                f"{ratio[form + '/e2e']:.2f}x (server {ms[form]['server']:.1f} vs "
                f"{ms['X']['server']:.1f} ms = {ratio[form + '/server']:.2f}x; bodies "
                f"{size[form] / 2**20:.2f} vs {size['X'] / 2**20:.2f} MiB, "
                f"X {result['encoded_width']} wide)",
                "target": "<= 3x",
                "met": "yes" if ratio[form + "/e2e"] <= 3 else "NO",
            }
        )
    return rows
