"""How often each LSTM/GRU gate is saturated: nearly shut (< 0.1) or wide open (> 0.9).

Karpathy, Johnson & Fei-Fei (2015, "Visualizing and understanding recurrent
networks") plot, per unit, the share of time a gate is left- or right-saturated:
forget gates that stay open mark units that remember for long. The gates are
recomputed from the recorded states with the cells' own gate equations, a chunk
of time steps at a time, so a long text never holds every gate in memory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.nn import FusedRecurrent, Recurrent, as_unrolled
from rnnkit.nn.naming import layer_key

LEFT, RIGHT = 0.1, 0.9
BINS = 50
CHUNK = 4096


@dataclasses.dataclass
class GateSaturation:
    layer: int
    gate: str
    left: np.ndarray       # (H,) share of time each unit's gate is below LEFT
    right: np.ndarray      # (H,) share of time above RIGHT
    histogram: np.ndarray  # (BINS,) counts of all values over [0, 1]

    @property
    def mean_left(self) -> float:
        return float(self.left.mean())

    @property
    def mean_right(self) -> float:
        return float(self.right.mean())


@torch.no_grad()
def gate_saturation(recurrent: Recurrent | FusedRecurrent, embedding: Tensor, ids: np.ndarray,
                    states: dict[str, np.ndarray]) -> list[GateSaturation]:
    """Saturation of every gate of every layer over the text ``ids`` whose ``states`` were recorded."""
    if recurrent.cell_type not in ("lstm", "gru"):
        return []
    unrolled, device = as_unrolled(recurrent), embedding.device
    result = []
    for layer in range(recurrent.num_layers):
        cell = unrolled.cells[layer_key(layer, False)]
        hidden = torch.from_numpy(states[f"h{layer}"]).float().to(device)
        inputs = (embedding.detach().float()[torch.as_tensor(np.asarray(ids, dtype=np.int64), device=device)]
                  if layer == 0 else torch.from_numpy(states[f"h{layer - 1}"]).float().to(device))
        previous = torch.cat([hidden.new_zeros(1, hidden.shape[1]), hidden[:-1]])
        counts: dict[str, list] = {}
        for start in range(0, len(hidden), CHUNK):
            rows = slice(start, start + CHUNK)
            for gate, values in cell.gate_values(cell.project_input(inputs[rows]), previous[rows]).items():
                if gate == "candidate":
                    continue
                left, right, histogram = counts.setdefault(gate, [0, 0, 0])
                counts[gate] = [left + (values < LEFT).sum(0).cpu().numpy(),
                                right + (values > RIGHT).sum(0).cpu().numpy(),
                                histogram + torch.histc(values.float(), BINS, 0.0, 1.0).cpu().numpy()]
        steps = max(len(hidden), 1)
        result += [GateSaturation(layer, gate, left / steps, right / steps, histogram)
                   for gate, (left, right, histogram) in counts.items()]
    return result


def format_saturation(stats: list[GateSaturation]) -> str:
    rows = [f"{'layer':>5}  {'gate':<7} {'< 0.1':>7} {'> 0.9':>7}  units mostly shut / open"]
    for s in stats:
        rows.append(f"{s.layer:>5}  {s.gate:<7} {s.mean_left:>7.1%} {s.mean_right:>7.1%}  "
                    f"{int((s.left > 0.5).sum())} / {int((s.right > 0.5).sum())} of {len(s.left)}")
    return "\n".join(rows)


def plot_saturation(stats: list[GateSaturation], path: Path) -> None:
    """Top row: each gate's histogram of values per layer; bottom row: each unit's share of time
    shut against open, the paper's scatter (units near the right edge are open most of the time)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    gates = list(dict.fromkeys(s.gate for s in stats))
    figure, axes = plt.subplots(2, len(gates), figsize=(3.6 * len(gates), 6.6), squeeze=False)
    edges = np.linspace(0, 1, BINS + 1)
    for column, gate in enumerate(gates):
        top, bottom = axes[0, column], axes[1, column]
        for s in (s for s in stats if s.gate == gate):
            share = s.histogram / max(s.histogram.sum(), 1)
            top.stairs(share, edges, label=f"layer {s.layer}")
            bottom.scatter(s.right, s.left, s=6, alpha=0.6, label=f"layer {s.layer}")
        for limit in (LEFT, RIGHT):
            top.axvline(limit, color="grey", lw=0.6, ls="--")
        top.set_title(f"{gate} gate")
        top.set_xlabel("value")
        top.set_ylabel("share of values")
        top.set_yscale("log")
        bottom.plot([0, 1], [1, 0], color="grey", lw=0.6, ls="--")
        bottom.set_xlim(-0.02, 1.02)
        bottom.set_ylim(-0.02, 1.02)
        bottom.set_xlabel(f"share of time > {RIGHT}")
        bottom.set_ylabel(f"share of time < {LEFT}")
        if len({s.layer for s in stats}) > 1:
            top.legend(fontsize=7)
    figure.suptitle("gate saturation per unit")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
