"""Forecasting: sliding windows of a series -> recurrent layers -> the next steps.

``Forecaster`` predicts after every step it reads, so one module serves three uses:
a window's last prediction (training and evaluation), a whole history read once
(batch), and one value at a time with the state carried (streaming, O(1) per
value). ``direct`` predicts the ``--horizon`` next steps at once; ``recursive``
predicts one and feeds it back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.config import option
from rnnkit.data.timeseries import day_of_year_features
from rnnkit.nn import State
from rnnkit.nn.config import recurrent_layers
from rnnkit.tasks.sections import ModelConfig

STRATEGIES = ("direct", "recursive")


@dataclass
class ForecastConfig:
    """Windows, what is predicted, and the baselines it is compared with."""

    lookback: int = option(30, "forecast: steps of history in each training window")
    horizon: int = option(1, "forecast: steps predicted from each window")
    strategy: str = option("direct", "forecast: predict --horizon steps at once, or one step fed back",
                           STRATEGIES)
    calendar: bool = option(True, "forecast: add the day of the year (sine and cosine) to the inputs")
    loss: str = option("mse", "forecast: training loss: mse, or mae (the median: robust to outliers, and the "
                       "error that is reported)", ("mse", "mae"))
    season: int = option(365, "forecast: the seasonal naive baseline's period, in steps")
    ma_window: int = option(7, "forecast: the moving-average baseline's window, in steps")
    ar_order: int = option(30, "forecast: the linear autoregression baseline's order")

    @property
    def outputs(self) -> int:
        return self.horizon if self.strategy == "direct" else 1


class Forecaster(nn.Module):
    """``forward(x (B, T, F), state=None) -> (predictions (B, T, outputs), state)``, normalised units."""

    def __init__(self, inputs: int, outputs: int, config: ModelConfig) -> None:
        super().__init__()
        self.recurrent = recurrent_layers(config, inputs)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, outputs)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        out, state = self.recurrent(x, state)     # (B, T, H)
        return self.head(self.dropout(out)), state  # (B, T, outputs)


@dataclass
class Scaling:
    """Per-column mean and standard deviation, fitted on the training part only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaling:
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 0, std, 1.0))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Scaling:
        return cls(np.array(data["mean"]), np.array(data["std"]))


def model_inputs(values: np.ndarray, times: np.ndarray, scaling: Scaling, calendar: bool) -> np.ndarray:
    """(N, F) float32 rows the network reads: scaled values, then the calendar."""
    scaled = (values - scaling.mean) / scaling.std
    if calendar:
        scaled = np.concatenate([scaled, day_of_year_features(times)], axis=1)
    return scaled.astype(np.float32)


def window_origins(start: int, end: int, lookback: int, horizon: int) -> np.ndarray:
    """Origins t with a full window ``[t - lookback, t)`` and targets ``[t, t + horizon)`` inside ``[start, end)``."""
    return np.arange(max(start, lookback), end - horizon + 1)


def windows(inputs: np.ndarray, origins: np.ndarray, lookback: int) -> Tensor:
    """(N, lookback, F) windows ending just before each origin."""
    index = origins[:, None] + np.arange(-lookback, 0)[None, :]
    return torch.from_numpy(inputs[index])


@torch.no_grad()
def forecast_windows(model: Forecaster, inputs: np.ndarray, origins: np.ndarray, config: ForecastConfig,
                     next_rows, batch_size: int = 512) -> np.ndarray:
    """(N, horizon) scaled target forecasts from each origin's window.

    ``next_rows(position, values)`` builds the input rows for forecast position(s) from
    predicted scaled targets; the recursive strategy feeds them back one step at a time.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results = []
    try:
        for start in range(0, len(origins), batch_size):
            chosen = origins[start:start + batch_size]
            x = windows(inputs, chosen, config.lookback).to(device)
            predictions, state = model(x)
            step = predictions[:, -1]  # (B, outputs)
            if config.strategy == "direct":
                results.append(step.cpu().numpy())
                continue
            rolled = [step[:, 0]]
            for h in range(1, config.horizon):
                row = torch.from_numpy(next_rows(chosen + h - 1, rolled[-1].cpu().numpy())).to(device)
                step, state = model(row[:, None, :], state)
                rolled.append(step[:, -1, 0])
            results.append(torch.stack(rolled, dim=1).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(results) if results else np.zeros((0, config.horizon))
