"""Plain-text rendering for the command line: aligned tables, evaluation reports and the
predict output CSV. Pure functions of documents to text."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from mlp_client._tables import Table
from mlp_client.types import Prediction

__all__ = ["evaluation_report", "prediction_csv", "table"]


def cell_text(value: Any) -> str:
    """A cell for people: floats with 4 significant decimals, None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return ",".join(cell_text(v) for v in value)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned text table (numbers right-aligned), header first."""
    texts = [[cell_text(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in texts:
        widths = [max(w, len(t)) for w, t in zip(widths, row, strict=False)]
    numeric = [
        all(isinstance(row[j], int | float) or row[j] is None for row in rows) and bool(rows)
        for j in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=False)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in texts)])


def prediction_csv(source: Table, prediction: Prediction) -> str:
    """The input's columns (as read) plus ``prediction`` and one ``p_<class>`` per class."""
    classes = prediction.classes or []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*source.columns, "prediction", *(f"p_{c}" for c in classes)])
    probabilities = prediction.probabilities or [[] for _ in prediction.predictions]
    for row, label, probs in zip(source.rows, prediction.predictions, probabilities, strict=True):
        writer.writerow([*row, label, *(repr(float(p)) for p in probs)])
    return out.getvalue()


def _scalar_metrics(metrics: Mapping[str, Any]) -> list[list[Any]]:
    return [
        [name, value]
        for name, value in metrics.items()
        if value is None or isinstance(value, int | float)
    ]


def evaluation_report(doc: Mapping[str, Any]) -> str:
    """``n_samples``, the scalar metrics, the confusion matrix (rows = true, columns =
    predicted) and the per-class precision / recall / f1 / support."""
    metrics = doc.get("metrics") or {}
    parts = [
        f"n_samples: {doc.get('n_samples')}",
        table(["metric", "value"], _scalar_metrics(metrics)),
    ]
    confusion = metrics.get("confusion_matrix")
    if isinstance(confusion, Mapping):
        labels = [str(label) for label in confusion.get("labels", [])]
        rows = [
            [label, *counts]
            for label, counts in zip(labels, confusion.get("matrix", []), strict=False)
        ]
        parts.append("confusion matrix (rows: true, columns: predicted)")
        parts.append(table(["true \\ predicted", *labels], rows))
    per_class = metrics.get("per_class")
    if isinstance(per_class, Mapping):
        keys = ["precision", "recall", "f1", "support"]
        rows = [[label, *(scores.get(k) for k in keys)] for label, scores in per_class.items()]
        parts.append(table(["class", *keys], rows))
    return "\n\n".join(parts)
