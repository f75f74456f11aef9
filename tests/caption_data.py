"""Captioned photos made in the tests: coloured shapes at known places, and the caption that says so.

Each image holds one to three shapes in distinct columns of a 3x3 layout; its caption
names them left to right ("a red square left of a blue circle"), so a captioner that
reads the image can get every caption exactly, and each colour word has one place
its attention should go.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (40, 60, 230), "yellow": (230, 210, 30)}
SHAPES = ("square", "circle", "triangle")
SIZE, CELL = 224, 224 // 3


def draw(shapes: list[tuple[str, str, int, int]]) -> np.ndarray:
    """(224, 224, 3) uint8 on grey: each (colour, shape, column, row) filling most of its cell."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    image = np.full((SIZE, SIZE, 3), 90, dtype=np.uint8)
    for colour, shape, column, row in shapes:
        cx, cy, r = column * CELL + CELL / 2, row * CELL + CELL / 2, CELL * 0.4
        if shape == "square":
            inside = (abs(x - cx) <= r) & (abs(y - cy) <= r)
        elif shape == "circle":
            inside = (x - cx) ** 2 + (y - cy) ** 2 <= r ** 2
        else:
            inside = (y <= cy + r) & (y >= cy - r) & (abs(x - cx) <= (y - (cy - r)) / 2)
        image[inside] = COLOURS[colour]
    return image


def scene(rng: np.random.Generator) -> tuple[list[tuple[str, str, int, int]], str]:
    count = int(rng.integers(1, 4))
    columns = sorted(rng.choice(3, size=count, replace=False).tolist())
    shapes = [(str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)), c, int(rng.integers(0, 3)))
              for c in columns]
    return shapes, " left of ".join(f"a {colour} {shape}" for colour, shape, _, _ in shapes)


def make_shapes(folder: Path, images: int, seed: int = 0) -> dict[str, list]:
    """``images`` JPEGs in folder/images and captions.tsv beside them; returns each image's shapes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines, layouts = [], {}
    for index in range(images):
        shapes, caption = scene(rng)
        name = f"shapes_{index:04d}.png"
        Image.fromarray(draw(shapes)).save(folder / "images" / name)
        lines.append(f"{name}\t{caption}")
        layouts[name] = shapes
    (folder / "captions.tsv").write_text("\n".join(lines) + "\n")
    return layouts
