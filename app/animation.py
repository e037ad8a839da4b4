"""The training as an animated GIF: the boundary at each recorded frame, drawn like the PNG.

Each frame is the picture of ``app.render`` (matplotlib Agg, the page's palette) at a smaller
size, with its epoch in the title, drawn by blitting (the axes, ticks and colour bar once, the
changing heat map, contour, points and title per frame); Pillow (a matplotlib dependency)
assembles the GIF. The size is bounded: at most :data:`~mlp_engine.frames.MAX_FRAMES` frames
of :data:`FRAME_SIZE` pixels on a grid of :data:`GRID_RESOLUTION` points per axis, and at most
:data:`MAX_GIF_BYTES` bytes (beyond that every other frame is dropped, the first and the last
kept, until it fits).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from app.render import boundary_figure, draw_contour, multiclass_rgb
from mlp_engine.frames import MAX_FRAMES

__all__ = [
    "FRAME_INCHES",
    "FRAME_SIZE",
    "GRID_RESOLUTION",
    "MAX_GIF_BYTES",
    "assemble_gif",
    "render_animation",
]

FRAME_INCHES = (4.8, 3.6)  # at 100 dpi
FRAME_SIZE = (480, 360)  # pixels
GRID_RESOLUTION = 80  # grid points per axis of each frame
MAX_GIF_BYTES = 8 * 2**20
FRAME_MS = 120  # how long each frame shows
LAST_FRAME_MS = 1500  # the final picture stays a little longer


def render_animation(
    xs: np.ndarray,
    ys: np.ndarray,
    frames: Sequence[tuple[int, np.ndarray]],
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    *,
    axis_labels: tuple[str, str] = ("x0", "x1"),
    title: str = "decision boundary",
    value_label: str = "prediction",
) -> bytes:
    """The GIF of ``frames``, ``[(epoch, values)]`` with ``values`` as
    :func:`app.render.render_boundary_png` takes them (at most MAX_FRAMES are drawn, spread
    over them); ``X``, ``y`` the training points; regression values share one colour scale.

    The picture is drawn once; each frame then redraws only what changes (the heat map, the
    contour, the points over them and the title) over a copy of the rest (blitting).
    """
    chosen = _spread(list(frames))
    value_range = None
    if classes is None:
        value_range = (
            min(float(v.min()) for _, v in chosen),
            max(float(v.max()) for _, v in chosen),
        )
    picture = boundary_figure(
        xs, ys, chosen[-1][1], X, y, classes, axis_labels=axis_labels, title=title,
        value_label=value_label, size=FRAME_INCHES, value_range=value_range,
    )  # fmt: skip
    ax, canvas = picture.ax, cast(FigureCanvasAgg, picture.figure.canvas)
    if picture.contour is not None:
        picture.contour.remove()
    legend = ax.get_legend()
    if legend is not None:  # redrawn over every frame it would cost a third of the time
        legend.remove()
    moving = [picture.image, *ax.collections, ax.title]
    for artist in moving:
        artist.set_animated(True)
    picture.figure.tight_layout()  # the axis labels fit the small frame
    canvas.draw()  # type: ignore[no-untyped-call]
    background = canvas.copy_from_bbox(picture.figure.bbox)  # type: ignore[no-untyped-call]
    images = []
    for epoch, values in chosen:
        canvas.restore_region(background)  # type: ignore[no-untyped-call]
        picture.image.set_data(multiclass_rgb(values) if values.ndim == 3 else values)
        ax.draw_artist(picture.image)
        contour = (
            draw_contour(ax, xs, ys, values) if classes is not None and values.ndim == 2 else None
        )
        if contour is not None:
            ax.draw_artist(contour)
            contour.remove()
        ax.title.set_text(f"{title} (epoch {epoch})")
        for artist in moving[1:]:
            ax.draw_artist(artist)
        rgba = np.asarray(canvas.buffer_rgba())  # type: ignore[no-untyped-call]
        images.append(Image.fromarray(np.ascontiguousarray(rgba[..., :3])))
    return assemble_gif(images, MAX_GIF_BYTES)


def _spread(frames: list[tuple[int, np.ndarray]]) -> list[tuple[int, np.ndarray]]:
    """At most MAX_FRAMES of ``frames``, evenly spread, the first and the last kept."""
    if not frames:
        raise ValueError("an animation needs at least one frame")
    if len(frames) <= MAX_FRAMES:
        return frames
    step = (len(frames) - 1) / (MAX_FRAMES - 1)
    return [frames[round(i * step)] for i in range(MAX_FRAMES)]


def assemble_gif(images: list[Image.Image], max_bytes: int) -> bytes:
    """A looping GIF of ``images`` (RGB), halving the frames (first and last kept) until it
    takes at most ``max_bytes`` bytes; a single frame that does not fit is a ValueError."""
    while True:
        data = _encode(images)
        if len(data) <= max_bytes:
            return data
        if len(images) <= 1:
            raise ValueError(f"one frame of the animation takes {len(data)} bytes")
        images = [*images[:-1:2], images[-1]] if len(images) > 2 else images[-1:]


def _encode(images: list[Image.Image]) -> bytes:
    """The GIF bytes: one palette for every frame (from the first, middle and last frames,
    quantised once: quantising each frame on its own costs more than drawing it)."""
    samples = [images[0], images[len(images) // 2], images[-1]]
    width, height = samples[0].size
    montage = Image.new("RGB", (width, height * len(samples)))
    for row, sample in enumerate(samples):
        montage.paste(sample, (0, row * height))
    palette = montage.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    frames = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    durations = [FRAME_MS] * (len(frames) - 1) + [LAST_FRAME_MS]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=durations if len(frames) > 1 else LAST_FRAME_MS,
        loop=0,
        optimize=False,
        disposal=1,
    )
    return buffer.getvalue()
