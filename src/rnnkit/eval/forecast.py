"""Forecast errors and the naive baselines every forecast must beat, in the series' own units.

A forecast origin ``t`` means: everything before index ``t`` is known, and steps
``t .. t+H-1`` are predicted. Every baseline and the model are scored at the same
origins. MASE divides the MAE by the mean absolute one-step change over the
training part (Hyndman and Koehler 2006): below 1 beats "tomorrow equals today"
as measured in sample.
"""

from __future__ import annotations

import numpy as np


def forecast_errors(truth: np.ndarray, predicted: np.ndarray, scale: float) -> dict:
    """``truth``, ``predicted`` (N, H) -> MAE, RMSE, MASE overall and per horizon step."""
    error = predicted - truth
    mae_steps = np.abs(error).mean(axis=0)
    rmse_steps = np.sqrt((error**2).mean(axis=0))
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean())),
            "mase": float(np.abs(error).mean() / scale) if scale > 0 else float("nan"),
            "mae_per_step": mae_steps.tolist(), "rmse_per_step": rmse_steps.tolist()}


def naive_scale(train: np.ndarray) -> float:
    """Mean absolute one-step change in the training part: MASE's denominator."""
    return float(np.abs(np.diff(train)).mean()) if len(train) > 1 else float("nan")


def persistence(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Every future step equals the last known value."""
    return np.repeat(y[origins - 1][:, None], horizon, axis=1)


def seasonal_naive(y: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Step h equals the value one season before it (needs horizon <= season <= each origin)."""
    steps = origins[:, None] + np.arange(horizon)[None, :] - season
    return y[steps]


def moving_average(y: np.ndarray, origins: np.ndarray, horizon: int, window: int) -> np.ndarray:
    """Every future step equals the mean of the last ``window`` values."""
    sums = np.concatenate([[0.0], np.cumsum(y)])
    means = (sums[origins] - sums[origins - window]) / window
    return np.repeat(means[:, None], horizon, axis=1)


def fit_autoregression(train: np.ndarray, order: int) -> np.ndarray:
    """Least-squares AR(p) with an intercept: ``[c, a1, ..., ap]`` for y_t = c + sum a_i y_{t-i}."""
    rows = np.lib.stride_tricks.sliding_window_view(train, order + 1)  # (n - p, p + 1), oldest first
    design = np.column_stack([np.ones(len(rows)), rows[:, -2::-1]])   # [1, y_{t-1}, ..., y_{t-p}]
    coefficients, *_ = np.linalg.lstsq(design, rows[:, -1], rcond=None)
    return coefficients


def autoregression(y: np.ndarray, origins: np.ndarray, horizon: int, coefficients: np.ndarray) -> np.ndarray:
    """AR forecasts, rolled forward on their own predictions beyond the first step."""
    order = len(coefficients) - 1
    history = np.stack([y[o - order:o] for o in origins])  # (N, p), oldest first
    predictions = np.empty((len(origins), horizon))
    for h in range(horizon):
        step = coefficients[0] + history[:, ::-1] @ coefficients[1:]
        predictions[:, h] = step
        history = np.concatenate([history[:, 1:], step[:, None]], axis=1)
    return predictions


def baselines(y: np.ndarray, origins: np.ndarray, horizon: int, train_end: int, season: int,
              window: int, order: int) -> dict[str, np.ndarray]:
    """Each baseline's (N, H) forecasts at ``origins``; AR is fitted on ``y[:train_end]`` only."""
    return {
        "persistence": persistence(y, origins, horizon),
        f"seasonal naive ({season})": seasonal_naive(y, origins, horizon, season),
        f"moving average ({window})": moving_average(y, origins, horizon, window),
        f"linear AR({order})": autoregression(y, origins, horizon, fit_autoregression(y[:train_end], order)),
    }
