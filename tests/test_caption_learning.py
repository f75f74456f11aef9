"""The captioner learns the synthetic shapes task end to end, and its attention finds each colour's shape.

Through the command line as a user runs it: ``rnnkit train caption`` on 1,200 generated
images (EfficientNet-Lite0 features), then the best weights caption the 120 held-out
test images. Captions name the shapes left to right, so getting them exactly needs the
colour, the shape and the order; and when the model says a colour word its attention
should sit on that shape rather than on the image's others.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from caption_data import CELL, make_shapes
from test_caption import has_vision

from rnnkit.cli import main
from rnnkit.tasks.caption import run as caption_run
from rnnkit.tasks.caption.decoding import CaptionSearch
from rnnkit.tasks.caption.encoder import GRID
from rnnkit.tasks.caption.features import FEATURES, read_features

RECIPE = ["--encoder", "efficientnet-lite0", "--min-count", "1", "--steps", "800", "--hidden-size", "128",
          "--embedding-size", "64", "--batch-size", "48", "--lr", "6e-3", "--dropout", "0.1",
          "--eval-every", "400", "--backend", "eager", "--no-progress", "--seed", "0"]
PATCH = 224 // GRID
CENTRES = torch.tensor([[(p % GRID + 0.5) * PATCH, (p // GRID + 0.5) * PATCH] for p in range(GRID * GRID)])


def colour_attention_on_its_shape(shapes: list, attention: torch.Tensor) -> list[bool]:
    """For each shape's colour word (words 1, 6, 11: "a red square left of a ..."), whether most of
    the attention falls on the grid positions nearer that shape than any other in the image."""
    centres = torch.tensor([[(column + 0.5) * CELL, (row + 0.5) * CELL] for _, _, column, row in shapes])
    nearest = torch.cdist(CENTRES, centres).argmin(dim=1)
    found = []
    for k in range(len(shapes)):
        mass = torch.zeros(len(shapes)).index_add_(0, nearest, attention[1 + 5 * k].float())
        found.append(int(mass.argmax()) == k)
    return found


@pytest.mark.skipif(not has_vision(), reason="the vision extra is not installed (pip install 'rnnkit[vision]')")
def test_the_shapes_task_is_learned_exactly_and_colour_words_attend_to_their_shape(tmp_path: Path):
    layouts = make_shapes(tmp_path, 1200)
    assert main(["train", "caption", str(tmp_path), "--out", str(tmp_path / "run"), *RECIPE]) == 0
    loaded = caption_run.load(tmp_path / "run")
    data = caption_run.read_captions(tmp_path / "run", loaded.config)
    names = data.splits["test"]
    found = caption_run.caption_features(loaded, read_features(tmp_path / "run" / FEATURES), names, CaptionSearch())
    right = [name for name, hyps in zip(names, found, strict=True) if hyps[0][0] == data.captions[name][0]]
    assert len(right) > 0.95 * len(names), f"{len(right)} of {len(names)} test captions exact"
    hits = [hit for name, hyps in zip(names, found, strict=True) if name in right and len(layouts[name]) > 1
            for hit in colour_attention_on_its_shape(layouts[name], hyps[0][1].attention)]
    assert sum(hits) > 0.9 * len(hits), f"{sum(hits)} of {len(hits)} colour words attend to their shape"
