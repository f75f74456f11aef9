"""Training curves from a run's logs: loss against steps and wall time, learning rate, gradient norm.

Each figure is drawn once with matplotlib and kept both ways: a PNG file to share,
and SVG text to inline into the HTML report (which must load with no network).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Curve:
    label: str
    x: list[float]
    y: list[float]
    style: str = "-"


@dataclass
class Figure:
    name: str
    title: str
    xlabel: str
    ylabel: str
    curves: list[Curve]
    log_y: bool = False


def smooth(values: list[float], span: int = 10) -> list[float]:
    """A trailing moving average, so a noisy training loss reads as a trend."""
    if len(values) < 2:
        return list(values)
    array = np.asarray(values, dtype=np.float64)
    sums = np.concatenate([[0.0], np.cumsum(array)])
    ends = np.arange(1, len(array) + 1)
    starts = np.maximum(0, ends - span)
    return ((sums[ends] - sums[starts]) / (ends - starts)).tolist()


def render(figure: Figure, png: Path) -> str:
    """Write ``png`` and return the same plot as an inline ``<svg>`` element."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: no embedded glyph paths, smaller SVG
    fig, axes = plt.subplots(figsize=(7.5, 3.4))
    for curve in figure.curves:
        axes.plot(curve.x, curve.y, curve.style, label=curve.label, linewidth=1.2, markersize=3)
    axes.set_title(figure.title, loc="left", fontsize=10)
    axes.set_xlabel(figure.xlabel)
    axes.set_ylabel(figure.ylabel)
    if figure.log_y:
        axes.set_yscale("log")
    if len(figure.curves) > 1:
        axes.legend(frameon=False, fontsize=8)
    axes.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and DOCTYPE: the page is HTML
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)  # HTML needs no namespace URLs
