"""The ONNX graph of a model's feature crosses (``mlp_engine.crosses``), for ``onnx_export``.

The crossed columns are computed from the graph's raw numeric input, as the engine does:
``Mul`` for squares, two ``Gather``s and a ``Mul`` for the products, ``Sin`` for the sines,
side by side (``Concat``) in the engine's order, then ``(c - mean) / scale``; the block is
appended after the rest of the preprocessed input. For a table the numeric columns are taken
after median imputation (``IsNaN`` + ``Where``). Like the rest of the graph, float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mlp_engine.crosses import Crosses, product_pairs

if TYPE_CHECKING:
    from mlp_engine.onnx_export import ColumnStep, _Graph

__all__ = ["add_crosses", "append_crosses"]


def add_crosses(g: _Graph, values: str, crosses: Crosses) -> str:
    """``values: (N, d)`` float32 raw numeric inputs -> ``(N, crosses.width)`` scaled crosses."""
    blocks = []
    if "square" in crosses.kinds:
        blocks.append(g.op("Mul", [values, values], "squares"))
    if "product" in crosses.kinds:
        left, right = product_pairs(crosses.n_inputs)
        a = g.op("Gather", [values, g.const("product_left", left, np.int64)], "left", axis=1)
        b = g.op("Gather", [values, g.const("product_right", right, np.int64)], "right", axis=1)
        blocks.append(g.op("Mul", [a, b], "products"))
    if "sin" in crosses.kinds:
        blocks.append(g.op("Sin", [values], "sines"))
    crossed = blocks[0] if len(blocks) == 1 else g.op("Concat", blocks, "crossed", axis=1)
    if not ((crosses.mean == 0.0).all() and (crosses.scale == 1.0).all()):
        centred = g.op("Sub", [crossed, g.const("cross_mean", crosses.mean)], "crossed_centred")
        crossed = g.op("Div", [centred, g.const("cross_scale", crosses.scale)], "crossed_scaled")
    return crossed


def _imputed_numeric(g: _Graph, steps: Sequence[ColumnStep], matrix: str) -> str:
    """A table's numeric columns ``(N, d)`` with NaN replaced by each one's median.

    ``matrix``: the single ``(N, n_columns)`` input when every column is numeric, else ``""``
    (one ``(N, 1)`` input per column, ``g.column_inputs[column]``).
    """
    numeric = [step for step in steps if step.kind == "numeric"]
    if matrix:
        values = matrix
    elif len(numeric) == 1:
        values = g.column_inputs[numeric[0].column]
    else:
        inputs = [g.column_inputs[step.column] for step in numeric]
        values = g.op("Concat", inputs, "numeric_columns", axis=1)
    medians = [float(step.state["median"]) for step in numeric]
    gaps = g.op("IsNaN", [values], "numeric_gaps")
    return g.op("Where", [gaps, g.const("numeric_median", medians), values], "numeric_filled")


def append_crosses(
    g: _Graph,
    x: str,
    crosses: Crosses | None,
    raw: str,
    table: Sequence[ColumnStep] | None = None,
) -> str:
    """``x: (N, k)`` preprocessed input -> ``(N, k + crosses.width)`` with the crosses of the
    raw numeric inputs appended (``x`` itself without crosses).

    ``raw``: the graph's float32 matrix input (``""`` for a table with per-column inputs);
    ``table``: a table model's column steps (None for an array model, whose ``raw`` input
    holds exactly the crossed columns).
    """
    if crosses is None:
        return x
    values = raw if table is None else _imputed_numeric(g, table, raw)
    block = add_crosses(g, values, crosses)
    return g.op("Concat", [x, block], "with_crosses", axis=1)
