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
#: Size names and their side length range in pixels (inclusive); both fit a 16-px grid cell.
SIZES = {"small": (7, 9), "big": (11, 13)}
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
    cell : int
        Grid cell (index into :data:`CELLS`), or -1 for a free-standing single object.
    """

    kind: str
    color: str
    size: str
    cx: int
    cy: int
    side: int
    cell: int = -1

    @property
    def where(self) -> str:
        """Position words of the grid cell (``"top left"``, ...), ``""`` for a free object."""
        return CELLS[self.cell] if self.cell >= 0 else ""


#: Grid cells of multi-object scenes (2 x 2 quadrants), as position words.
CELLS = ("top left", "top right", "bottom left", "bottom right")


def sample_shape(rng: np.random.Generator, kind: str, color: str, cell: int | None = None,
                 size: str | None = None) -> Shape:
    """Draw one shape: anywhere (``cell=None``, big sizes allowed) or inside grid cell ``cell``."""
    if size is None:
        size = ("small", "big")[int(rng.integers(2))]
    lo, hi = SIZES[size]
    side = int(rng.integers(lo, hi + 1))
    half = side // 2 + 1
    if cell is None:
        cx = int(rng.integers(half, IMAGE_SIZE - half))
        cy = int(rng.integers(half, IMAGE_SIZE - half))
    else:
        g = IMAGE_SIZE // 2
        ox, oy = (cell % 2) * g, (cell // 2) * g
        cx = ox + int(rng.integers(half, max(half + 1, g - half + 1)))
        cy = oy + int(rng.integers(half, max(half + 1, g - half + 1)))
    return Shape(kind, color, size, cx, cy, side, -1 if cell is None else int(cell))


def sample_scene(rng: np.random.Generator, n_objects: int = 2) -> list[Shape]:
    """Draw a scene of ``n_objects`` (1-4) shapes with distinct kinds and distinct colours.

    One object is placed anywhere; several objects go to distinct cells of the 2 x 2 grid
    (small and big sizes both fit a cell).
    """
    if not 1 <= n_objects <= 4:
        raise ValueError(f"n_objects must be 1..4, got {n_objects}")
    kinds = rng.permutation(len(SHAPES))[:n_objects]
    colors = rng.permutation(len(COLOR_NAMES))[:n_objects]
    if n_objects == 1:
        return [sample_shape(rng, SHAPES[kinds[0]], COLOR_NAMES[colors[0]])]
    cells = rng.permutation(4)[:n_objects]
    return [sample_shape(rng, SHAPES[kinds[i]], COLOR_NAMES[colors[i]], cell=int(cells[i]))
            for i in range(n_objects)]


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
    """One-sentence caption, objects in reading order, e.g.
    ``"a big red circle at the top left and a small blue square at the bottom right."``."""
    if len(scene) == 1:
        return f"{describe(scene[0])}."
    parts = [f"{describe(s)} at the {s.where}" for s in sorted(scene, key=lambda s: s.cell)]
    return " and ".join(parts) + "."
