"""The forecaster's side of the training loop: shuffled windows, validation MAE in the series' units."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.sequences import ShuffledBatches
from rnnkit.data.timeseries import day_of_year_features
from rnnkit.eval.forecast import forecast_errors
from rnnkit.tasks.forecast.model import ForecastConfig, Forecaster, Scaling, forecast_windows, windows
from rnnkit.train import distributed


class SeriesView:
    """One series as the network sees it: scaled input rows, the raw target, and the times."""

    def __init__(self, inputs: np.ndarray, target: np.ndarray, times: np.ndarray, step: np.timedelta64,
                 scaling: Scaling, calendar: bool) -> None:
        self.inputs, self.target, self.times, self.step = inputs, target, times, step
        self.scaling, self.calendar = scaling, calendar

    def scaled_target(self, index: np.ndarray) -> np.ndarray:
        return (self.target[index] - self.scaling.mean[0]) / self.scaling.std[0]

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * self.scaling.std[0] + self.scaling.mean[0]

    def next_rows(self, positions: np.ndarray, scaled_values: np.ndarray) -> np.ndarray:
        """Input rows for times at ``positions`` holding predicted targets (recursive forecasts)."""
        rows = scaled_values[:, None].astype(np.float32)
        if self.calendar:
            last = len(self.times) - 1  # the series' own times, then whole steps past its end
            moments = self.times[np.minimum(positions, last)] + np.maximum(positions - last, 0) * self.step
            rows = np.concatenate([rows, day_of_year_features(moments).astype(np.float32)], axis=1)
        return rows

    def forecast(self, model: Forecaster, origins: np.ndarray, config: ForecastConfig) -> np.ndarray:
        """(N, horizon) forecasts in the series' own units."""
        return self.unscale(forecast_windows(model, self.inputs, origins, config, self.next_rows))

    def truth(self, origins: np.ndarray, horizon: int) -> np.ndarray:
        return self.target[origins[:, None] + np.arange(horizon)[None, :]]


class ForecastTask:
    """Loss on each window's last prediction, and validation errors, for ``TrainLoop``."""

    def __init__(self, model: Forecaster, view: SeriesView, train_origins: np.ndarray, val_origins: np.ndarray,
                 config: ForecastConfig, scale: float, batch_size: int, seed: int, device: torch.device) -> None:
        self.model, self.view, self.config, self.device = model, view, config, device
        self.train_origins, self.val_origins, self.scale = train_origins, val_origins, scale
        self.batches = ShuffledBatches(np.full(len(train_origins), config.lookback), batch_size, seed)
        self._read = 0

    unit = "values"  # what units_per_step counts, as the log and the progress bar name it

    def units_per_step(self) -> float:
        """Values read in the last batch."""
        return self._read

    def loss(self, step: int) -> torch.Tensor:
        """Mean error over the batch's windows; under torchrun, this rank's windows' part of it."""
        world, everyone = distributed.current(), self.train_origins[self.batches.indices(step)]
        self._read = len(everyone) * self.config.lookback
        origins = world.mine(everyone)
        if len(origins) == 0:
            return distributed.no_rows()
        x = windows(self.view.inputs, origins, self.config.lookback).to(self.device)
        target_index = origins[:, None] + np.arange(self.config.outputs)[None, :]
        targets = torch.from_numpy(self.view.scaled_target(target_index).astype(np.float32)).to(self.device)
        predictions, _ = self.model(x)
        loss = F.l1_loss if self.config.loss == "mae" else F.mse_loss
        return world.share(loss(predictions[:, -1], targets), len(origins), len(everyone))

    def evaluate(self) -> dict:
        world = distributed.current()  # each rank forecasts its part of the validation windows
        mine = world.mine(self.val_origins)
        mine_predicted = self.view.forecast(self.model, mine, self.config) if len(mine) else \
            np.zeros((0, self.config.horizon))
        predicted = world.gather_rows(torch.from_numpy(mine_predicted)).numpy()
        truth = self.view.truth(self.val_origins, self.config.horizon)
        errors = forecast_errors(truth, predicted, self.scale)
        scaled_mse = float(np.mean(((predicted - truth) / self.view.scaling.std[0]) ** 2))
        return {"loss": scaled_mse, "mae": errors["mae"], "rmse": errors["rmse"], "mase": errors["mase"],
                "objective": errors["mae"]}

    def describe(self, scores: dict, short: bool = False) -> str:
        if short:
            return f"MAE {scores['mae']:.3f}"
        return f"MAE {scores['mae']:.4f}  RMSE {scores['rmse']:.4f}  MASE {scores['mase']:.3f}"

    def sample(self, generator: torch.Generator) -> str:
        """The first validation window's forecast beside the truth."""
        origin = self.val_origins[:1]
        predicted = self.view.forecast(self.model, origin, self.config)[0]
        truth = self.view.truth(origin, self.config.horizon)[0]
        when = str(self.view.times[origin[0]])[:10]
        return f"{when}: forecast {np.round(predicted, 2).tolist()}, truth {np.round(truth, 2).tolist()}"

    def carried_state(self) -> dict:
        return {}

    def load_carried_state(self, state: dict) -> None:
        pass
