"""The forecasting commands: train, resume, eval against the baselines, predict ahead or from a stream."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rnnkit.errors import UserError
from rnnkit.tasks.requests import EvalRequest, PredictRequest, TrainRequest


def train(request: TrainRequest) -> int:
    from rnnkit.tasks.forecast import run as forecast_run

    if len(request.data) != 1:
        raise UserError("rnnkit train forecast reads one CSV file; pass exactly one")
    s = request.sections
    run, final = forecast_run.train(request.data[0], s["model"], s["forecast"], s["series"], s["train"], s["data"],
                                    s["labelled"], request.out, request.device, request.progress)
    return summary(run, final, request.device)


def summary(run: Path, final: dict, device: str) -> int:
    print(f"\nstep {final['step']}: validation MAE {final['mae']:.4f}, RMSE {final['rmse']:.4f}; the best MAE, "
          f"{final['best_objective']:.4f}, is in {run / 'model.safetensors'}")
    return evaluate(EvalRequest(run=run, device=device))


def evaluate(args: EvalRequest) -> int:
    from rnnkit.tasks.forecast import run as forecast_run
    from rnnkit.viz.forecast import plot_forecast

    loaded = forecast_run.load(args.run, args.device)
    source = args.data[0] if args.data else None
    series = forecast_run.series_for(loaded, source, args.encoding)
    result, predicted, others, origins = forecast_run.evaluate(loaded, series)
    best = result.best_baseline()
    picture = args.plot or args.run / "forecast-test.png"
    plot_forecast(series.times[origins], series.values[origins, 0], predicted[:, 0], others[best][:, 0], best,
                  picture, f"{loaded.run.name}: one-step forecasts over the test period", series.columns[0])
    if args.json:
        print(json.dumps({**result.to_dict(), "plot": str(picture)}))
        return 0
    horizon = loaded.forecast.horizon
    print(f"test period {result.first} to {result.last}: {result.origins:,} forecasts of {horizon} "
          f"step{'s' if horizon > 1 else ''} of {series.columns[0]!r}")
    rows = [("rnnkit", result.errors), *sorted(result.baselines.items(), key=lambda item: item[1].mae)]
    print(f"{'':<22} {'MAE':>8} {'RMSE':>8} {'MASE':>7}" + ("  MAE per step" if horizon > 1 else ""))
    for name, row in rows:
        steps = "  " + " ".join(f"{v:.2f}" for v in row.mae_per_step) if horizon > 1 else ""
        print(f"{name:<22} {row.mae:8.4f} {row.rmse:8.4f} {row.mase:7.3f}{steps}")
    print(f"plot: {picture}")
    return 0


def predict(args: PredictRequest) -> int:
    from rnnkit.tasks.forecast import run as forecast_run

    loaded = forecast_run.load(args.run, args.device)
    if args.stream:
        print("time,forecast")
        for number, (moment, value) in enumerate(forecast_run.stream(loaded, sys.stdin), start=1):
            print(f"{format_time(moment) if moment is not None else f'+{number}'},{value:.4f}", flush=True)
        return 0
    if args.texts:
        raise UserError("a forecaster predicts from a series: use --data FILE --steps N, or --stream")
    series = forecast_run.series_for(loaded, args.data, "utf-8")
    times, values = forecast_run.future(loaded, series, args.steps)
    print(f"time,{series.columns[0]}")
    for moment, value in zip(times, values, strict=True):
        print(f"{format_time(moment)},{value:.4f}")
    return 0


def format_time(moment: np.datetime64) -> str:
    text = str(moment.astype("datetime64[s]"))
    return text[:10] if text.endswith("T00:00:00") else text
