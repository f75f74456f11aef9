"""Where a captioner looked: the photo once per word, its 7x7 attention map laid over it, in a grid.

The map is upsampled smoothly to the photo's size (as in Xu et al.'s figures) and
drawn as a translucent white-over-dark shade, so the bright region is where the
word's context came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLUMNS = 5


def upsample(weights: np.ndarray, size: int) -> np.ndarray:
    """(G, G) -> (size, size) by bilinear interpolation, for a smooth overlay."""
    import torch

    grid = torch.as_tensor(np.asarray(weights, dtype=np.float32))[None, None]
    return torch.nn.functional.interpolate(grid, size=(size, size), mode="bilinear",
                                           align_corners=False)[0, 0].numpy()


def plot_caption_attention(image: np.ndarray, words: list[str], weights: np.ndarray, path: Path,
                           title: str = "") -> None:
    """``image`` (H, W, 3) uint8; ``weights`` (len(words), 49): row t is where word t looked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    weights = np.asarray(weights, dtype=np.float64)
    side = int(round(weights.shape[1] ** 0.5)) if weights.ndim == 2 else 0
    if weights.shape != (len(words), side * side):
        raise ValueError(f"weights {weights.shape} for {len(words)} words over a square grid")
    panels = len(words) + 1
    rows = -(-panels // COLUMNS)
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(2.2 * COLUMNS, 2.4 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    axes.flat[0].imshow(image)
    axes.flat[0].set_title("photo", fontsize=9)
    for t, word in enumerate(words, 1):
        shade = upsample(weights[t - 1].reshape(side, side), image.shape[0])
        axes.flat[t].imshow(image)
        axes.flat[t].imshow(shade / max(shade.max(), 1e-9), cmap="gray", alpha=0.6, vmin=0, vmax=1,
                            extent=(0, image.shape[1], image.shape[0], 0))
        axes.flat[t].set_title(word, fontsize=10)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
