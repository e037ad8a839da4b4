"""The playground's colours: one palette for the page's canvas and the PNG that render.py draws.

The page reads the same values from CSS custom properties in ``app/static/style.css``
(``--class-0`` ... ``--class-9``, ``--ramp-0`` ... ``--ramp-4``, ``--heat-tint``, ``--contour``);
``tests/service/test_render_palette.py`` fails if the two drift apart.
"""

from __future__ import annotations

__all__ = [
    "CLASS_COLOURS",
    "CONTOUR",
    "HEAT_TINT",
    "REGRESSION_RAMP",
    "class_colour",
    "heat_tint",
]

CLASS_COLOURS: tuple[str, ...] = (
    "#e8590c", "#1971c2", "#2f9e44", "#9c36b5", "#c92a2a",
    "#0c8599", "#f08c00", "#5f3dc4", "#c2255c", "#495057",
)  # fmt: skip
"""Class ``k`` is drawn in ``CLASS_COLOURS[k % 10]`` (points, swatches, heat-map tints)."""

HEAT_TINT = 0.42
"""How far the classification heat map goes from white towards a class colour (0 to 1)."""

REGRESSION_RAMP: tuple[str, ...] = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
"""Colour stops, low to high, of regression outputs (viridis, five stops, linear between)."""

CONTOUR = "#111827d9"
"""The decision contour's colour (``#rrggbbaa``)."""


def class_colour(index: int) -> str:
    """The colour of class number ``index`` (``#rrggbb``)."""
    return CLASS_COLOURS[index % len(CLASS_COLOURS)]


def heat_tint(index: int) -> tuple[float, float, float]:
    """RGB in [0, 1] of the heat map where the model is sure of class ``index``."""
    colour = class_colour(index)

    def towards(channel: str) -> float:
        return 1.0 + (int(channel, 16) / 255.0 - 1.0) * HEAT_TINT

    return (towards(colour[1:3]), towards(colour[3:5]), towards(colour[5:7]))
