"""One palette: the page's CSS custom properties equal app/palette.py, and the PNG uses it."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from app.api.routes.playground import STATIC_DIR
from app.palette import CLASS_COLOURS, CONTOUR, HEAT_TINT, REGRESSION_RAMP, heat_tint
from app.render import render_boundary_png


def css_variables() -> dict[str, str]:
    """The custom properties of style.css's ``:root`` block."""
    css = (STATIC_DIR / "style.css").read_text()
    root = re.search(r":root\s*\{(.*?)\}", css, re.DOTALL)
    assert root is not None
    return dict(re.findall(r"--([\w-]+):\s*([^;]+);", root.group(1)))


def numbered(variables: dict[str, str], prefix: str) -> list[str]:
    values = []
    while f"{prefix}{len(values)}" in variables:
        values.append(variables[f"{prefix}{len(values)}"].strip().lower())
    return values


def test_the_page_css_defines_the_service_palette() -> None:
    variables = css_variables()
    assert numbered(variables, "class-") == [c.lower() for c in CLASS_COLOURS]
    assert numbered(variables, "ramp-") == [c.lower() for c in REGRESSION_RAMP]
    assert float(variables["heat-tint"]) == HEAT_TINT
    assert variables["contour"].strip().lower() == CONTOUR.lower()


def test_the_map_script_takes_its_colours_from_the_css() -> None:
    """No colour of the palette is written into the scripts (they read style.css instead).

    Class 0's orange is left out: the validation curve of the charts has that colour too.
    """
    for script in STATIC_DIR.glob("*.js"):
        text = script.read_text().lower()
        for colour in (*CLASS_COLOURS[1:], *REGRESSION_RAMP, CONTOUR):
            assert colour.lower() not in text, f"{script.name} hard-codes {colour}"


def centre_pixel(png: bytes) -> np.ndarray:
    """RGB in [0, 1] at the middle of the picture (inside the plot area)."""
    image = imread(io.BytesIO(png), format="png")
    height, width = image.shape[:2]
    return np.asarray(image[height // 2, width // 2, :3], dtype=np.float64)


def grid(nx: int = 30, ny: int = 20) -> tuple[np.ndarray, np.ndarray]:
    return np.linspace(-1.0, 1.0, nx), np.linspace(-2.0, 2.0, ny)


@pytest.mark.parametrize(("probability", "index"), [(0.0, 0), (1.0, 1)])
def test_binary_png_is_tinted_with_the_class_colours(probability: float, index: int) -> None:
    xs, ys = grid()
    values = np.full((len(ys), len(xs)), probability)
    png = render_boundary_png(xs, ys, values, classes=[0, 1])
    assert centre_pixel(png) == pytest.approx(heat_tint(index), abs=2 / 255)


def test_multiclass_png_is_tinted_with_the_class_colours() -> None:
    xs, ys = grid()
    values = np.zeros((len(ys), len(xs), 3))
    values[..., 2] = 1.0  # sure of class 2 everywhere
    png = render_boundary_png(xs, ys, values, classes=[0, 1, 2])
    assert centre_pixel(png) == pytest.approx(heat_tint(2), abs=2 / 255)


def test_regression_png_uses_the_ramp() -> None:
    xs, ys = grid()
    values = np.where(np.broadcast_to(xs, (len(ys), len(xs))) < 0, 0.0, 1.0)
    image = imread(io.BytesIO(render_boundary_png(xs, ys, values)), format="png")
    height, width = image.shape[:2]
    left = image[height // 2, int(width * 0.2), :3]  # the plot's left half: the lowest value
    right = image[height // 2, int(width * 0.6), :3]  # its right half: the highest
    assert left == pytest.approx(to_rgb(REGRESSION_RAMP[0]), abs=2 / 255)
    assert right == pytest.approx(to_rgb(REGRESSION_RAMP[-1]), abs=2 / 255)
