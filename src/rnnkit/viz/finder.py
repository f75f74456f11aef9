"""Rank neurons by how closely their activation follows a text feature.

The score is Pearson's correlation over the characters of the text, so a neuron
that is high inside quotes and low outside them scores near +1, and one that is
low inside scores near -1; neurons are ranked by its absolute value. A feature
that never varies in the text (no quotes at all, say) has no ranking.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnkit.viz.activations import neuron_name


@dataclasses.dataclass(frozen=True)
class Match:
    feature: str
    neuron: str   # "h0:137"
    correlation: float


def correlations(values: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson's r of each column of ``values`` (T, N) with ``feature`` (T,); 0 for constant columns."""
    centred = values - values.mean(axis=0)
    target = feature - feature.mean()
    spread = np.sqrt((centred**2).sum(axis=0) * (target**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (centred * target[:, None]).sum(axis=0) / spread
    return np.nan_to_num(r, nan=0.0)


def find_neurons(states: dict[str, np.ndarray], features: dict[str, np.ndarray], top: int = 3) -> list[Match]:
    """The ``top`` neurons for each feature that varies, best first, over every state in ``states``."""
    names = [neuron_name(state, unit) for state, values in states.items() for unit in range(values.shape[1])]
    values = np.concatenate([v.astype(np.float64) for v in states.values()], axis=1)
    found = []
    for feature, series in features.items():
        if len(series) != len(values):
            raise ValueError(f"feature {feature!r} has {len(series)} values for {len(values)} states")
        if np.ptp(series) == 0:
            continue
        r = correlations(values, series.astype(np.float64))
        for index in np.argsort(-np.abs(r), kind="stable")[:top]:
            found.append(Match(feature, names[index], float(r[index])))
    return found


def format_matches(matches: list[Match], descriptions: dict[str, str]) -> str:
    rows = [f"{'feature':<15} {'neuron':<9} {'r':>6}  meaning"]
    for match in matches:
        rows.append(f"{match.feature:<15} {match.neuron:<9} {match.correlation:+.3f}  "
                    f"{descriptions.get(match.feature, '')}")
    return "\n".join(rows)
