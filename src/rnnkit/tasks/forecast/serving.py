"""What a forecaster answers over HTTP: ``forecast``, the series' continuation for a horizon."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rnnkit.errors import UserError

if TYPE_CHECKING:
    from rnnkit.tasks.bodies import ForecastBody
    from rnnkit.tasks.forecast.run import LoadedForecaster
    from rnnkit.tasks.interface import Served

MAX_HORIZON = 1000


def history(loaded: LoadedForecaster, values: list[float] | None):
    """The run's own series, or ``values`` taken as its latest stretch (same step, same end)."""
    from rnnkit.data.timeseries import Series
    from rnnkit.tasks.forecast import run as forecast_run

    stored = forecast_run.stored_series(loaded.run)
    if values is None:
        return stored
    if stored.values.shape[1] > 1:
        raise UserError(f"values: this forecaster also reads {', '.join(stored.columns[1:])}; send no values to "
                        "forecast from the run's own series")
    if len(values) < loaded.forecast.lookback:
        raise UserError(f"values: send at least {loaded.forecast.lookback} (the model's lookback), not {len(values)}")
    times = stored.times[-1] - np.arange(len(values))[::-1] * stored.step
    return Series(times, np.asarray(values, dtype=np.float64)[:, None], stored.columns[:1], stored.step, [])


def forecast(served: Served, body: ForecastBody) -> dict:
    """What ``rnnkit predict RUN --steps horizon`` prints, as times and values."""
    from rnnkit.tasks.forecast import run as forecast_run
    from rnnkit.tasks.forecast.commands import format_time

    if body.horizon > MAX_HORIZON:
        raise UserError(f"horizon: at most {MAX_HORIZON:,} steps; ask for fewer")
    series = history(served.loaded, body.values)
    times, values = forecast_run.future(served.loaded, series, body.horizon)
    shown = max(0, len(series) - 500)
    return {"column": series.columns[0], "times": [format_time(t) for t in times],
            "values": [round(float(v), 6) for v in values],
            "history": {"times": [format_time(t) for t in series.times[shown:]],
                        "values": [float(v) for v in series.values[shown:, 0]]}}
