"""Forecast runs: ``rnnkit train forecast``, then ``eval`` against the baselines and ``predict``.

A run directory holds config.json (task "forecast": columns, cut dates, scaling),
the weights, and the series itself (``series_times.npy``, ``series_values.npy``),
so a resumed run trains on exactly the same values.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from rnnkit.config import from_dict, to_dict
from rnnkit.data.labelled import LabelledConfig, split_fractions
from rnnkit.data.timeseries import Series, SeriesConfig, parse_time, read_series, split_points
from rnnkit.errors import UserError
from rnnkit.eval.forecast import baselines, forecast_errors, naive_scale
from rnnkit.eval.results import ForecastErrors, ForecastScores
from rnnkit.tasks.forecast.model import (
    ForecastConfig,
    Forecaster,
    Scaling,
    forecast_windows,
    model_inputs,
    window_origins,
)
from rnnkit.tasks.forecast.task import ForecastTask, SeriesView
from rnnkit.tasks.interface import Run, loader
from rnnkit.tasks.runs import new_run_dir, resolve_device, resumed_loop, run_header
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train import checkpoint
from rnnkit.train.loop import TrainConfig, TrainLoop

TIMES, VALUES = "series_times.npy", "series_values.npy"


@dataclasses.dataclass
class LoadedForecaster(Run):
    forecast: ForecastConfig
    scaling: Scaling
    model: Forecaster


def check_config(forecast: ForecastConfig, series: Series, source: Path) -> None:
    needed = forecast.lookback + forecast.horizon
    if forecast.lookback < 1 or forecast.horizon < 1:
        raise UserError("--lookback and --horizon must be at least 1")
    if len(series) < needed + 1:
        raise UserError(f"{source}: {len(series)} rows are too few for --lookback {forecast.lookback} plus "
                        f"--horizon {forecast.horizon}; give a longer series or smaller windows")
    if forecast.strategy == "recursive" and series.values.shape[1] > 1:
        raise UserError("--strategy recursive feeds its forecasts back as inputs, so it cannot use --features "
                        "(their future is unknown); drop --features or use --strategy direct")
    if forecast.horizon > forecast.season:
        raise UserError(f"--horizon {forecast.horizon} exceeds --season {forecast.season}: the seasonal naive "
                        "baseline would need values from the future")


def view_of(series: Series, scaling: Scaling, forecast: ForecastConfig) -> SeriesView:
    inputs = model_inputs(series.values, series.times, scaling, forecast.calendar)
    return SeriesView(inputs, series.values[:, 0], series.times, series.step, scaling, forecast.calendar)


def build(config: dict) -> tuple[ForecastConfig, Forecaster]:
    """The network a run's config describes: inputs are its columns, plus two for the calendar."""
    forecast = from_dict(ForecastConfig, config["forecast"])
    inputs = len(config["columns"]) + 2 * forecast.calendar
    return forecast, Forecaster(inputs, forecast.outputs, from_dict(ModelConfig, config["model"]))


def make_task(model: Forecaster, series: Series, config: dict, device: torch.device) -> ForecastTask:
    forecast = from_dict(ForecastConfig, config["forecast"])
    view = view_of(series, Scaling.from_dict(config["scaling"]), forecast)
    val_start, test_start = config["cuts"]
    train = window_origins(0, val_start, forecast.lookback, forecast.outputs)
    val = window_origins(val_start, test_start, forecast.lookback, forecast.horizon)
    if len(train) == 0 or len(val) == 0:
        raise UserError(f"the split leaves {len(train)} training and {len(val)} validation windows of "
                        f"--lookback {forecast.lookback}; lower --lookback or move the cut dates")
    seed = from_dict(TrainConfig, config["train"]).seed
    return ForecastTask(model, view, train, val, forecast, config["naive_scale"], config["data"]["batch_size"],
                        seed, device)


def train(source: str, model_config: ModelConfig, forecast: ForecastConfig, series_config: SeriesConfig,
          train_config: TrainConfig, data: DataConfig, fractions: LabelledConfig, out: str | None, device_name: str,
          show_progress: bool | None = None, stop_at: int | None = None) -> tuple[Path, dict]:
    device = resolve_device(device_name)
    path = Path(source)
    series = read_series(path, series_config, data.encoding)
    check_config(forecast, series, path)
    val_start, test_start = split_points(series, series_config, split_fractions(fractions.split), path)
    scaling = Scaling.fit(series.values[:val_start])  # the training part only
    run = new_run_dir(out, [source])
    for name, array in ((TIMES, series.times.astype(np.int64)), (VALUES, series.values)):
        checkpoint.save_ids(run / name, array)
    cut_times = [str(series.times[i]) for i in (0, val_start, test_start - 1)]  # first, validation start, val end
    config = run_header("forecast", [source], columns=series.columns,
                        step_seconds=int(series.step / np.timedelta64(1, "s")), cuts=[val_start, test_start],
                        times=cut_times,
                        scaling=scaling.to_dict(), naive_scale=naive_scale(series.values[:val_start, 0]),
                        model=to_dict(model_config), forecast=to_dict(forecast), series=to_dict(series_config),
                        train=to_dict(train_config), data=to_dict(data))
    checkpoint.write_json(run / checkpoint.CONFIG, config)
    torch.manual_seed(train_config.seed)
    model = build(config)[1].to(device)
    for note in series.notes:
        print(f"{source}: {note}", file=sys.stderr)
    print(f"run {run}: {val_start:,} training, {test_start - val_start:,} validation and {len(series) - test_start:,} "
          f"test steps of {series.columns[0]!r} every {_duration(series.step)}; {forecast.lookback}-step windows, "
          f"{forecast.strategy} {forecast.horizon}-step forecasts; {model_config.num_layers}x"
          f"{model_config.hidden_size} {model_config.cell} on {device}", file=sys.stderr)
    task = make_task(model, series, config, device)
    final = TrainLoop(model, task, train_config, run, show_progress).fit(stop_at=stop_at)
    return run, final


def stored_series(run: Path) -> Series:
    times = checkpoint.load_ids(run / TIMES).astype("datetime64[s]")
    values = np.asarray(checkpoint.load_ids(run / VALUES), dtype=np.float64)
    config = checkpoint.read_config(run)
    return Series(times, values, config["columns"], np.timedelta64(config["step_seconds"], "s"), [])


def resume(run: Path, overrides: dict, device_name: str, show_progress: bool | None = None,
           stop_at: int | None = None) -> tuple[Path, dict]:
    config = checkpoint.read_config(run)
    device = resolve_device(device_name)
    train_config = dataclasses.replace(from_dict(TrainConfig, config["train"]), **overrides)
    config["train"] = to_dict(train_config)
    series = stored_series(run)
    model = build(config)[1].to(device)
    task = make_task(model, series, config, device)
    return run, resumed_loop(run, model, task, train_config, config, device, show_progress).fit(stop_at=stop_at)


@loader("forecast", "a forecaster")
def load(run: Path, device_name: str = "cpu") -> LoadedForecaster:
    config = checkpoint.read_config(run)
    forecast, model = build(config)
    device = resolve_device(device_name)
    checkpoint.load_weights(run / checkpoint.BEST, model, device)
    return LoadedForecaster(run, config, forecast, Scaling.from_dict(config["scaling"]), model.to(device).eval())


def series_for(loaded: LoadedForecaster, source: str | None, encoding: str = "utf-8") -> Series:
    """The run's own series, or a file read with the run's columns (its checks and filling)."""
    if source is None:
        return stored_series(loaded.run)
    series = read_series(Path(source), from_dict(SeriesConfig, loaded.config["series"]), encoding)
    if series.columns != loaded.config["columns"]:
        raise UserError(f"{source}: columns {series.columns} differ from the run's {loaded.config['columns']}")
    return series


def evaluate(loaded: LoadedForecaster, series: Series,
             ) -> tuple[ForecastScores, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The model and every baseline on the test origins: errors, and the forecasts for plotting."""
    forecast = loaded.forecast
    test_start = int(np.searchsorted(series.times, np.datetime64(loaded.config["times"][2]), side="right"))
    origins = window_origins(test_start, len(series), max(forecast.lookback, forecast.season, forecast.ar_order,
                                                          forecast.ma_window), forecast.horizon)
    if len(origins) == 0:
        raise UserError("no test windows: the series has no full window after the run's validation part; give "
                        "data that continues past " + loaded.config["times"][2][:10])
    view = view_of(series, loaded.scaling, forecast)
    y = series.values[:, 0]
    truth = view.truth(origins, forecast.horizon)
    predicted = view.forecast(loaded.model, origins, forecast)
    scale = loaded.config["naive_scale"]
    val_start = loaded.config["cuts"][0]
    others = baselines(y, origins, forecast.horizon, val_start, forecast.season, forecast.ma_window, forecast.ar_order)
    result = ForecastScores(ForecastErrors.of(forecast_errors(truth, predicted, scale)),
                            {name: ForecastErrors.of(forecast_errors(truth, p, scale)) for name, p in others.items()},
                            len(origins), str(series.times[origins[0]])[:10], str(series.times[origins[-1]])[:10])
    return result, predicted, others, origins


def future(loaded: LoadedForecaster, series: Series, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) of ``steps`` forecasts beyond the end of ``series``, rolled forward block by block."""
    forecast = loaded.forecast
    if series.values.shape[1] > 1 and steps > forecast.horizon:
        raise UserError(f"--steps {steps} beyond --horizon {forecast.horizon} would need future values of the "
                        "--features columns; ask for at most the horizon")
    view = view_of(series, loaded.scaling, forecast)
    inputs, values = view.inputs, []
    while len(values) < steps:
        block = forecast_windows(loaded.model, inputs, np.array([len(inputs)]), forecast, view.next_rows)[0]
        for scaled in block[: steps - len(values)]:
            values.append(float(view.unscale(scaled)))
            inputs = np.concatenate([inputs, view.next_rows(np.array([len(inputs)]), np.array([scaled]))])
    times = series.times[-1] + np.arange(1, steps + 1) * series.step
    return times, np.array(values)


def stream(loaded: LoadedForecaster, lines: Iterable[str]) -> Iterator[tuple[np.datetime64 | None, float]]:
    """One next-step forecast per value read, the state carried: O(1) work per value.

    Lines are ``value`` or ``time,value`` (a model with calendar inputs needs the time).
    """
    state, step = None, np.timedelta64(loaded.config["step_seconds"], "s")
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        *time_part, value_text = line.split(",")
        try:
            value = float(value_text)
        except ValueError:
            raise UserError(f"stdin line {number}: {value_text!r} is not a number") from None
        moment = parse_time(time_part[0]) if time_part else None
        if loaded.forecast.calendar and moment is None:
            raise UserError(f"stdin line {number}: this model reads the calendar; give lines as DATE,VALUE")
        when = moment if moment is not None else np.datetime64(0, "s")  # unused without calendar inputs
        row = model_inputs(np.array([[value]]), np.array([when]), loaded.scaling, loaded.forecast.calendar)
        with torch.no_grad():
            prediction, state = loaded.model(torch.from_numpy(row)[None].to(next(loaded.model.parameters()).device),
                                             state)
        forecast = float(prediction[0, -1, 0]) * loaded.scaling.std[0] + loaded.scaling.mean[0]
        yield (moment + step if moment is not None else None), forecast


def _duration(step: np.timedelta64) -> str:
    seconds = int(step / np.timedelta64(1, "s"))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}" if count > 1 else unit
    return f"{seconds} s"
