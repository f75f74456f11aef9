"""The test period as a PNG: the truth, the model's forecasts and the best baseline's."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_forecast(times: np.ndarray, truth: np.ndarray, model: np.ndarray, baseline: np.ndarray,
                  baseline_name: str, path: Path, title: str, unit: str = "") -> None:
    """One line each over the same times (one-step-ahead forecasts when the horizon is longer)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    dates = times.astype("datetime64[s]").astype(object)
    figure, axes = plt.subplots(figsize=(11, 4))
    axes.plot(dates, truth, color="black", linewidth=0.9, label="truth")
    axes.plot(dates, baseline, color="tab:orange", linewidth=0.9, alpha=0.8, label=baseline_name)
    axes.plot(dates, model, color="tab:blue", linewidth=1.1, label="rnnkit")
    axes.set_ylabel(unit)
    axes.set_title(title, loc="left")
    axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, frameon=False)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
