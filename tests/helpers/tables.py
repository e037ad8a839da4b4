"""A small seeded table with numeric and text columns, for the live table-model tests."""

from __future__ import annotations

from typing import Any

import numpy as np

FRUIT_COLUMNS = ["size", "weight", "colour"]


def fruit(n: int, seed: int, size_gaps: bool = True) -> tuple[dict[str, Any], np.ndarray]:
    """Two numeric columns (``size`` with gaps unless ``size_gaps=False``) and a text column
    (``colour``, with gaps as ``""``); text labels ``apple``/``pear``."""
    rng = np.random.default_rng(seed)
    size = rng.normal(5.0, 1.5, n)
    weight = rng.normal(150.0, 30.0, n)
    colour = np.array(["green", "red", "yellow"])[rng.integers(0, 3, n)]
    label = np.where((size > 5.0) ^ (colour == "red"), "apple", "pear")
    if size_gaps:
        size[rng.random(n) < 0.1] = np.nan
    colour[rng.random(n) < 0.1] = ""
    return {"size": size, "weight": weight, "colour": colour}, label
