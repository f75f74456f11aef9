"""A confusion matrix as a PNG: rows normalised, so each shows where one class's examples went."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_confusion(matrix: np.ndarray, labels: list[str], path: Path, title: str = "") -> None:
    """Row-normalised heatmap with the labels on both axes and the share in each cell."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    counts = np.asarray(matrix, dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = max(4.0, 0.45 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(labels) <= 30:
        for (row, col), share in np.ndenumerate(shares):
            if share >= 0.005:
                axes.text(col, row, f"{share:.2f}"[1:] if share < 1 else "1", ha="center", va="center",
                          fontsize=7, color="white" if share > 0.6 else "black")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    axes.set_title(title or "confusion matrix (rows sum to 1)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
