"""An attention map as a PNG: source tokens across, target tokens down, weight as shade."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_attention(weights: np.ndarray, source: list[str], target: list[str], path: Path, title: str = "") -> None:
    """``weights`` (len(target), len(source)): row t is where output token t looked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(target), len(source)):
        raise ValueError(f"weights {weights.shape} for {len(target)} target and {len(source)} source tokens")
    figure, axes = plt.subplots(figsize=(max(4.0, 0.45 * len(source) + 2), max(3.0, 0.4 * len(target) + 1.5)))
    image = axes.imshow(weights, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(len(source)), [s.strip() or repr(s) for s in source], rotation=60, ha="right")
    axes.set_yticks(range(len(target)), [t.strip() or repr(t) for t in target])
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="attention weight")
    if title:
        axes.set_title(title, fontsize=9)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
