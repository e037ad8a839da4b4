"""The training as an animated GIF: the boundary at each recorded frame, drawn like the PNG.

Each frame is the picture of ``app.render`` (matplotlib Agg, the page's palette) at a smaller
size, with its epoch in the title; Pillow (a matplotlib dependency) assembles the GIF. The size
is bounded: at most :data:`~mlp_engine.frames.MAX_FRAMES` frames of
:data:`FRAME_SIZE` pixels on a grid of :data:`GRID_RESOLUTION` points per axis, and at most
:data:`MAX_GIF_BYTES` bytes (beyond that every other frame is dropped, the first and the last
kept, until it fits).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from PIL import Image

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


def render_animation(epochs: Sequence[int], draw: Callable[[int], bytes]) -> bytes:
    """The GIF of ``draw(epoch)`` (PNG bytes of the picture at that epoch) for each of
    ``epochs`` (at most MAX_FRAMES are drawn, spread over them)."""
    chosen = list(epochs)
    if not chosen:
        raise ValueError("an animation needs at least one frame")
    if len(chosen) > MAX_FRAMES:
        step = (len(chosen) - 1) / (MAX_FRAMES - 1)
        chosen = [chosen[round(i * step)] for i in range(MAX_FRAMES)]
    images = []
    for epoch in chosen:
        with Image.open(io.BytesIO(draw(epoch))) as picture:
            image = picture.convert("RGB")
        if image.size != FRAME_SIZE:
            image = image.resize(FRAME_SIZE)
        images.append(image)
    return assemble_gif(images, MAX_GIF_BYTES)


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
    """The GIF bytes: one shared adaptive palette per frame, every frame shown FRAME_MS."""
    frames = [image.quantize(colors=255, method=Image.Quantize.MEDIANCUT) for image in images]
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
