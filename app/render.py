"""Render a decision-boundary grid as a PNG: the teaching notebook's picture.

Uses matplotlib's object API (``Figure`` + the Agg canvas), never ``pyplot``: no global state, so
concurrent requests can render in worker threads.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LinearSegmentedColormap, ListedColormap, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from app.palette import CONTOUR, REGRESSION_RAMP, class_colour, heat_tint

__all__ = [
    "MAX_POINTS",
    "BoundaryFigure",
    "boundary_figure",
    "draw_contour",
    "multiclass_rgb",
    "render_boundary_png",
]

MAX_POINTS = 5000  # training points drawn at most (an evenly spaced subsample beyond that)
MAX_LABEL_CHARS = 40  # class labels and axis names are cut beyond this in the picture
_FIGSIZE = (6.4, 4.8)
_DPI = 100
# The page's palette (app/palette.py): regression ramp, and white to a class tint for classes.
_RAMP = LinearSegmentedColormap.from_list("playground_ramp", REGRESSION_RAMP)
_BINARY = LinearSegmentedColormap.from_list(
    "playground_binary", [heat_tint(0), (1.0, 1.0, 1.0), heat_tint(1)]
)


def plain_text(value: object) -> str:
    """``value`` as text matplotlib draws literally, at most ``MAX_LABEL_CHARS`` characters.

    Class labels and column names come from users: matplotlib reads ``$...$`` as mathtext, where
    an unknown command is an error and deep nesting costs seconds, so every ``$`` is escaped; a
    long label is cut with an ellipsis (its full text is in the JSON, not the picture).
    """
    text = str(value)
    if len(text) > MAX_LABEL_CHARS:
        text = text[: MAX_LABEL_CHARS - 1] + "\u2026"
    return text.replace("$", r"\$")


def render_boundary_png(
    xs: np.ndarray,
    ys: np.ndarray,
    values: np.ndarray,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    *,
    axis_labels: tuple[str, str] = ("x0", "x1"),
    title: str | None = None,
    value_label: str = "prediction",
    size: tuple[float, float] | None = None,
) -> bytes:
    """PNG bytes of a boundary grid.

    Args:
        xs: (nx,) grid x coordinates; ys: (ny,) grid y coordinates.
        values: binary (ny, nx) P(classes[1]); multiclass (ny, nx, k) class probabilities;
            regression (ny, nx) predictions (regression when ``classes`` is None).
        X: (n, 2) training points in the plotted features, or None; y: (n,) their labels.
        classes: the model's class labels (None for regression).
        axis_labels: names of the two plotted features.
        title: the picture's title (default: "decision boundary" or "prediction");
        value_label: the colour bar's label for regression values; size: (width, height) in
        inches at 100 dpi (default 6.4 x 4.8).
    """
    picture = boundary_figure(
        xs, ys, values, X, y, classes,
        axis_labels=axis_labels, title=title, value_label=value_label, size=size,
    )  # fmt: skip
    buffer = io.BytesIO()
    picture.figure.savefig(buffer, format="png")
    return buffer.getvalue()


@dataclass(frozen=True)
class BoundaryFigure:
    """A drawn boundary picture and the artists that change from one frame to the next (the
    animation redraws them over the rest, see :mod:`app.animation`)."""

    figure: Figure
    ax: Any
    image: AxesImage
    contour: Any  # the 0.5 decision contour of a binary picture, or None


def boundary_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    values: np.ndarray,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    *,
    axis_labels: tuple[str, str] = ("x0", "x1"),
    title: str | None = None,
    value_label: str = "prediction",
    size: tuple[float, float] | None = None,
    value_range: tuple[float, float] | None = None,
) -> BoundaryFigure:
    """The picture of :func:`render_boundary_png` (same arguments) on an Agg canvas, not yet
    drawn; ``value_range`` fixes the colour scale of regression values (default: theirs)."""
    fig = Figure(figsize=size or _FIGSIZE, dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    extent = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    contour = None
    if value_range is None:
        value_range = (float(values.min()), float(values.max()))
    if classes is None:
        image = ax.imshow(
            values, origin="lower", extent=extent, aspect="auto", cmap=_RAMP,
            vmin=value_range[0], vmax=value_range[1],
        )  # fmt: skip
        fig.colorbar(image, ax=ax, label=value_label)
    elif values.ndim == 3:
        image = _draw_multiclass(fig, ax, values, extent, classes)
    else:
        image = ax.imshow(
            values, origin="lower", extent=extent, aspect="auto", cmap=_BINARY, vmin=0, vmax=1
        )
        fig.colorbar(image, ax=ax, label=f"P(class = {plain_text(classes[1])})")
        contour = draw_contour(ax, xs, ys, values)
    if X is not None and y is not None and len(X):
        _draw_points(ax, X, y, classes, value_range=value_range)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(plain_text(axis_labels[0]))
    ax.set_ylabel(plain_text(axis_labels[1]))
    ax.set_title(title or ("decision boundary" if classes is not None else "prediction"))
    return BoundaryFigure(fig, ax, image, contour)


def draw_contour(ax: Any, xs: np.ndarray, ys: np.ndarray, values: np.ndarray) -> Any:
    """The 0.5 decision contour of binary ``values`` (ny, nx), or None where it has none."""
    if float(values.min()) < 0.5 < float(values.max()):
        return ax.contour(xs, ys, values, levels=[0.5], colors=[to_rgba(CONTOUR)], linewidths=2)
    return None


def multiclass_rgb(values: np.ndarray) -> np.ndarray:
    """RGB (ny, nx, 3) of class probabilities ``values`` (ny, nx, k): each cell in its
    predicted class's tint, from white at a uniform guess (1/k) to the full tint at
    certainty, as on the page."""
    k = values.shape[2]
    predicted = values.argmax(axis=2)
    strength = np.clip((values.max(axis=2) - 1 / k) / (1 - 1 / k), 0.0, 1.0)
    tints = np.array([heat_tint(i) for i in range(k)])
    rgb: np.ndarray = 1.0 + (tints[predicted] - 1.0) * strength[..., np.newaxis]
    return rgb


def _draw_multiclass(
    fig: Figure, ax: Any, values: np.ndarray, extent: tuple[float, ...], classes: Sequence[Any]
) -> AxesImage:
    """Colour each cell by its predicted class (:func:`multiclass_rgb`), with a colour bar of
    the classes."""
    k = len(classes)
    image: AxesImage = ax.imshow(
        multiclass_rgb(values), origin="lower", extent=extent, aspect="auto"
    )
    cmap = ListedColormap([class_colour(i) for i in range(k)])
    mappable = ScalarMappable(norm=Normalize(vmin=-0.5, vmax=k - 0.5), cmap=cmap)
    bar = fig.colorbar(mappable, ax=ax, ticks=range(k), label="predicted class")
    bar.set_ticklabels([plain_text(c) for c in classes])
    return image


def _draw_points(
    ax: Any,
    X: np.ndarray,
    y: np.ndarray,
    classes: Sequence[Any] | None,
    *,
    value_range: tuple[float, float],
) -> None:
    """Scatter the training points (at most MAX_POINTS), coloured by class or by target.

    Regression targets share the heat map's colour scale (``value_range``).
    """
    if len(X) > MAX_POINTS:
        keep = np.linspace(0, len(X) - 1, MAX_POINTS).astype(np.intp)
        X, y = X[keep], y[keep]
    if classes is None:
        ax.scatter(
            X[:, 0], X[:, 1], c=y, cmap=_RAMP, vmin=value_range[0], vmax=value_range[1],
            s=12, edgecolors="white", linewidths=0.5,
        )  # fmt: skip
        return
    drawn = 0
    for index, label in enumerate(classes):
        mask = y == label
        if mask.any():
            ax.scatter(
                X[mask, 0], X[mask, 1], s=14, edgecolors="white",
                color=class_colour(index),
                linewidths=0.5, label=f"class {plain_text(label)}",
            )  # fmt: skip
            drawn += 1
    if 0 < drawn <= 20:
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
