"""Each photo's features, computed once by the frozen encoder and kept in the run as safetensors.

The encoder is the slow part (a CNN pass per photo) and never changes during
training, so ``features.safetensors`` holds every split's grids (N, 49, C) and
pooled vectors (N, C) in float16, with the encoder's name and the image order in
its metadata. A later run over the same photos can start from that file
(``--features``), which is linked into the new run rather than computed again.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rnnkit.data.images import load_image
from rnnkit.errors import UserError
from rnnkit.tasks.caption.encoder import SIZE, make_encoder
from rnnkit.train import checkpoint

FEATURES = "features.safetensors"
BATCH = 32


class Features:
    """Grids and pooled vectors by image name."""

    def __init__(self, names: list[str], grid: torch.Tensor, pooled: torch.Tensor, encoder: str) -> None:
        self.names, self.grid, self.pooled, self.encoder = names, grid, pooled, encoder
        self.row = {name: i for i, name in enumerate(names)}

    def rows(self, names: list[str]) -> torch.Tensor:
        return torch.tensor([self.row[n] for n in names], dtype=torch.long)


def encode_images(paths: list[Path], encoder: str, device: torch.device, show_progress: bool | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(grid (N, 49, C), pooled (N, C)) in float32, a batch of photos at a time, with a progress bar."""
    from tqdm.auto import tqdm

    encode = make_encoder(encoder, device)
    grids = []
    with tqdm(total=len(paths), unit="img", desc=f"features ({encoder})", leave=False,
              disable=not (sys.stderr.isatty() if show_progress is None else show_progress)) as bar:
        for start in range(0, len(paths), BATCH):
            chosen = paths[start:start + BATCH]
            grids.append(encode(np.stack([load_image(p, SIZE) for p in chosen])))
            bar.update(len(chosen))
    grid = torch.cat(grids)
    return grid, grid.mean(dim=1)


def compute_features(run: Path, folder: Path, names: list[str], encoder: str, device: torch.device,
                     show_progress: bool | None = None) -> Features:
    """Every named photo through the encoder, written to the run atomically."""
    began = time.perf_counter()
    grid, pooled = encode_images([folder / n for n in names], encoder, device, show_progress)
    half = {"grid": grid.half().contiguous(), "pooled": pooled.half().contiguous()}
    metadata = {"encoder": encoder, "images": json.dumps(names)}
    checkpoint.atomic_write(run / FEATURES, lambda tmp: save_file(half, str(tmp), metadata=metadata))
    print(f"features: {len(names):,} images through {encoder} in {time.perf_counter() - began:.1f} s",
          file=sys.stderr)
    return Features(names, half["grid"], half["pooled"], encoder)


def read_features(path: Path) -> Features:
    """A features file, refused in one line when it is not one."""
    try:
        with safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            names = json.loads(metadata["images"])
            return Features(names, file.get_tensor("grid"), file.get_tensor("pooled"), metadata["encoder"])
    except FileNotFoundError:
        raise UserError(f"{path}: no such features file; give a run's {FEATURES}") from None
    except (KeyError, ValueError, OSError, SafetensorError) as err:
        raise UserError(f"{path}: not an rnnkit features file ({err.__class__.__name__}); give a run's "
                        f"{FEATURES} or drop --features") from None


def reuse_features(run: Path, given: Path, names: list[str], encoder: str) -> Features:
    """An earlier run's features, checked to cover these photos with this encoder, linked into the run."""
    features = read_features(given)
    if features.encoder != encoder:
        raise UserError(f"{given}: features of --encoder {features.encoder}, not {encoder}; pass --encoder "
                        f"{features.encoder} or drop --features")
    missing = [n for n in names if n not in features.row]
    if missing:
        raise UserError(f"{given}: has no features for {missing[0]} ({len(missing):,} images missing); drop "
                        "--features to compute them")
    target = run / FEATURES
    try:
        os.link(given, target)
    except OSError:  # another file system
        shutil.copyfile(given, target)
    return features
