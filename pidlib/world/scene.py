"""Scenes of the classroom world: a few coloured shapes on a dark canvas.

A scene is a list of :class:`Shape` objects. :func:`render` draws it with PIL
into a small RGB image, :func:`caption` describes it in words. Everything is a
pure function of the scene, and scenes are drawn from a ``numpy`` generator,
so a seed fixes the whole world.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

#: Image side in pixels.
IMAGE_SIZE = 32
#: Shape kinds, in the canonical option order used by fixed-order task families.
SHAPES = ("circle", "square", "triangle", "cross")
#: Colours (name -> RGB), canonical order.
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 230),
    "yellow": (235, 215, 40),
}
COLOR_NAMES = tuple(COLORS)
#: Size names and their side length range in pixels (inclusive).
SIZES = {"small": (7, 9), "big": (12, 14)}
BACKGROUND = (30, 30, 30)


@dataclass(frozen=True)
class Shape:
    """One object of a scene.

    Attributes
    ----------
    kind : str
        One of :data:`SHAPES`.
    color : str
        One of :data:`COLOR_NAMES`.
    size : str
        ``"small"`` or ``"big"``.
    cx, cy : int
        Centre in pixels.
    side : int
        Bounding-box side in pixels.
    """

    kind: str
    color: str
    size: str
    cx: int
    cy: int
    side: int

    @property
    def where(self) -> str:
        """Horizontal position word: ``"left"`` or ``"right"``."""
        return "left" if self.cx < IMAGE_SIZE / 2 else "right"


def sample_shape(rng: np.random.Generator, kind: str, color: str, slot: int | None = None,
                 size: str | None = None) -> Shape:
    """Draw one shape. ``slot`` 0/1 puts it in the left/right half, ``None`` anywhere."""
    if size is None:
        size = ("small", "big")[int(rng.integers(2))]
    lo, hi = SIZES[size]
    side = int(rng.integers(lo, hi + 1))
    half = side // 2 + 1
    if slot is None:
        cx = int(rng.integers(half, IMAGE_SIZE - half))
    else:
        x0 = half if slot == 0 else IMAGE_SIZE // 2 + half - 1
        x1 = IMAGE_SIZE // 2 - half + 1 if slot == 0 else IMAGE_SIZE - half
        cx = int(rng.integers(x0, max(x0 + 1, x1)))
    cy = int(rng.integers(half, IMAGE_SIZE - half))
    return Shape(kind, color, size, cx, cy, side)


def sample_scene(rng: np.random.Generator, n_objects: int = 2, *, distinct_kinds: bool = True,
                 distinct_colors: bool = True) -> list[Shape]:
    """Draw a scene with ``n_objects`` (1 or 2) shapes side by side."""
    if n_objects not in (1, 2):
        raise ValueError(f"n_objects must be 1 or 2, got {n_objects}")
    kinds = rng.choice(len(SHAPES), size=n_objects, replace=not distinct_kinds)
    colors = rng.choice(len(COLOR_NAMES), size=n_objects, replace=not distinct_colors)
    if n_objects == 1:
        return [sample_shape(rng, SHAPES[kinds[0]], COLOR_NAMES[colors[0]])]
    order = rng.permutation(2)
    return [sample_shape(rng, SHAPES[kinds[i]], COLOR_NAMES[colors[i]], slot=int(order[i]))
            for i in range(2)]


def _draw(d: ImageDraw.ImageDraw, s: Shape) -> None:
    h = s.side / 2
    box = (s.cx - h, s.cy - h, s.cx + h - 1, s.cy + h - 1)
    fill = COLORS[s.color]
    if s.kind == "circle":
        d.ellipse(box, fill=fill)
    elif s.kind == "square":
        d.rectangle(box, fill=fill)
    elif s.kind == "triangle":
        d.polygon([(s.cx, box[1]), (box[0], box[3]), (box[2], box[3])], fill=fill)
    elif s.kind == "cross":
        t = max(2, s.side // 3) / 2
        d.rectangle((s.cx - t, box[1], s.cx + t - 1, box[3]), fill=fill)
        d.rectangle((box[0], s.cy - t, box[2], s.cy + t - 1), fill=fill)
    else:  # pragma: no cover - guarded by SHAPES
        raise ValueError(f"unknown shape kind {s.kind!r}")


def render(scene: list[Shape]) -> Image.Image:
    """Render a scene to a ``IMAGE_SIZE`` x ``IMAGE_SIZE`` RGB PIL image."""
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND)
    d = ImageDraw.Draw(img)
    for s in scene:
        _draw(d, s)
    return img


def describe(s: Shape) -> str:
    """``"a big red circle"``."""
    return f"a {s.size} {s.color} {s.kind}"


def caption(scene: list[Shape]) -> str:
    """One-sentence caption, e.g. ``"a big red circle on the left and a small blue square on the right."``."""
    if len(scene) == 1:
        return f"{describe(scene[0])}."
    parts = [f"{describe(s)} on the {s.where}" for s in sorted(scene, key=lambda s: s.cx)]
    return " and ".join(parts) + "."
