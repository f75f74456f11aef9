"""Forecasting: honest splits, baselines by hand, a sine learned, streaming equal to batch, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.timeseries import SeriesConfig, read_series
from rnnkit.errors import UserError
from rnnkit.eval.forecast import (
    autoregression,
    fit_autoregression,
    forecast_errors,
    moving_average,
    naive_scale,
    persistence,
    seasonal_naive,
)
from rnnkit.tasks.forecast import run as forecast_run
from rnnkit.tasks.forecast.model import window_origins, windows

TINY = ["--hidden-size", "16", "--batch-size", "32", "--eval-every", "50", "--warmup-steps", "5", "--progress"]


def write_csv(path, values, start="2000-01-01", extra=None):
    days = np.arange(np.datetime64(start), np.datetime64(start) + len(values))
    lines = ["date,value" + (",other" if extra is not None else "")]
    for k, (day, value) in enumerate(zip(days, values, strict=True)):
        lines.append(f"{day},{value}" + (f",{extra[k]}" if extra is not None else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def rnnkit(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=300,
                          input=stdin)


def test_baselines_by_hand():
    y = np.array([1.0, 2.0, 4.0, 7.0, 11.0, 16.0, 22.0])
    origins = np.array([4, 5])
    assert persistence(y, origins, 2).tolist() == [[7, 7], [11, 11]]
    assert seasonal_naive(y, origins, 2, season=3).tolist() == [[2, 4], [4, 7]]
    assert moving_average(y, origins, 2, window=3).tolist() == [[13 / 3, 13 / 3], [22 / 3, 22 / 3]]
    assert naive_scale(y[:4]) == pytest.approx((1 + 2 + 3) / 3)
    errors = forecast_errors(np.array([[1.0, 2.0]]), np.array([[2.0, 0.0]]), scale=2.0)
    assert (errors["mae"], errors["rmse"], errors["mase"]) == pytest.approx((1.5, np.sqrt(2.5), 0.75))
    assert errors["mae_per_step"] == [1.0, 2.0]


def test_autoregression_recovers_a_known_process_and_rolls_forward():
    rng = np.random.default_rng(0)
    y = np.zeros(20_000)
    for t in range(2, len(y)):
        y[t] = 0.5 + 0.6 * y[t - 1] - 0.3 * y[t - 2] + rng.normal(scale=0.1)
    coefficients = fit_autoregression(y, 2)
    assert coefficients == pytest.approx([0.5, 0.6, -0.3], abs=0.02)
    exact = np.array([1.0, 0.5, -0.2])
    series = np.array([3.0, 2.0])
    two_steps = autoregression(series, np.array([2]), 2, exact)[0]
    first = 1.0 + 0.5 * 2.0 - 0.2 * 3.0
    assert two_steps.tolist() == pytest.approx([first, 1.0 + 0.5 * first - 0.2 * 2.0])


def test_training_windows_and_scaling_never_see_later_values(tmp_path):
    values = np.sin(np.arange(400) / 5.0)
    spiked = values.copy()
    spiked[320:] = 1e6  # validation and test values no training window or statistic may touch
    for name, data in (("plain", values), ("spiked", spiked)):
        write_csv(tmp_path / f"{name}.csv", data)
        assert main(["train", "forecast", str(tmp_path / f"{name}.csv"), *TINY, "--steps", "1",
                     "--no-calendar", "--lookback", "10", "--out", str(tmp_path / name)]) == 0
    configs = [json.loads((tmp_path / name / "config.json").read_text()) for name in ("plain", "spiked")]
    assert configs[0]["scaling"] == configs[1]["scaling"] and configs[0]["naive_scale"] == configs[1]["naive_scale"]
    val_start = configs[0]["cuts"][0]
    assert val_start == 320
    origins = window_origins(0, val_start, 10, 1)
    assert origins.max() + 1 <= val_start  # the last training target is the last training value
    index_used = origins[:, None] + np.arange(-10, 1)[None, :]
    assert index_used.max() < val_start and index_used.min() >= 0


def test_a_noiseless_sine_is_learned_and_streaming_equals_batch(tmp_path):
    data = write_csv(tmp_path / "sine.csv", np.round(np.sin(np.arange(600) * 2 * np.pi / 25), 6))
    run = tmp_path / "run"
    assert main(["train", "forecast", str(data), *TINY, "--hidden-size", "32", "--steps", "400",
                 "--lr", "1e-2", "--no-calendar", "--lookback", "25", "--horizon", "3", "--season", "25",
                 "--ar-order", "5", "--out", str(run)]) == 0
    result = json.loads(rnnkit("eval", str(run), "--json").stdout)
    assert result["errors"]["mae"] < 0.03  # amplitude 1
    assert result["baselines"]["persistence"]["mae"] > 0.2
    assert len(result["errors"]["mae_per_step"]) == 3
    loaded = forecast_run.load(run)
    series = forecast_run.stored_series(run)
    history = series.values[:200, 0]
    streamed = [value for _, value in forecast_run.stream(loaded, (f"{v}\n" for v in history))]
    inputs = forecast_run.view_of(series, loaded.scaling, loaded.forecast).inputs[:200]
    with torch.no_grad():
        batch, _ = loaded.model(torch.from_numpy(inputs)[None])
    batch_values = batch[0, :, 0].numpy() * loaded.scaling.std[0] + loaded.scaling.mean[0]
    np.testing.assert_allclose(streamed, batch_values, rtol=0, atol=1e-5)


def test_predict_writes_dated_forecasts_and_streams_from_stdin(tmp_path):
    data = write_csv(tmp_path / "temps.csv", np.round(10 + 5 * np.sin(np.arange(500) / 9.0), 3))
    run = tmp_path / "run"
    assert main(["train", "forecast", str(data), *TINY, "--steps", "30", "--lookback", "14",
                 "--horizon", "2", "--season", "30", "--ar-order", "5", "--out", str(run)]) == 0
    ahead = rnnkit("predict", str(run), "--steps", "5")
    assert ahead.returncode == 0, ahead.stderr
    lines = ahead.stdout.splitlines()
    assert lines[0] == "time,value" and len(lines) == 6
    assert [line.split(",")[0] for line in lines[1:]] == [str(np.datetime64("2001-05-15") + k) for k in range(5)]
    streamed = rnnkit("predict", str(run), "--stream", stdin="2001-01-01,10.5\n2001-01-02,11.0\n")
    assert streamed.returncode == 0, streamed.stderr
    assert [line.split(",")[0] for line in streamed.stdout.splitlines()] == ["time", "2001-01-02", "2001-01-03"]
    missing_date = rnnkit("predict", str(run), "--stream", stdin="10.5\n")
    assert missing_date.returncode == 2 and "DATE,VALUE" in missing_date.stderr


def test_gaps_are_reported_and_missing_values_refused_unless_interpolated(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("date,value\n2000-01-01,1\n2000-01-02,\n2000-01-03,3\n2000-01-05,5\n")
    with pytest.raises(UserError, match=r"row 3.*--fill interpolate"):
        read_series(path, SeriesConfig())
    filled = read_series(path, SeriesConfig(fill="interpolate"))
    assert filled.values[:, 0].tolist() == [1, 2, 3, 4, 5]
    assert any("1 missing times (2000-01-04)" in note for note in filled.notes)


def test_bad_series_give_one_line_naming_the_row_or_column(tmp_path, capsys):
    bad_value = tmp_path / "bad_value.csv"
    bad_value.write_text("date,value\n2000-01-01,1\n2000-01-02,warm\n")
    bad_date = tmp_path / "bad_date.csv"
    bad_date.write_text("date,value\n2000-01-01,1\nyesterday,2\n")
    short = write_csv(tmp_path / "short.csv", np.arange(20.0))
    good = write_csv(tmp_path / "good.csv", np.arange(100.0))
    cases = [
        ([str(bad_value)], "row 3: 'warm' in column 'value' is not a number"),
        ([str(bad_date)], "row 3: cannot read 'yesterday'"),
        ([str(short), "--lookback", "30"], "too few for --lookback 30"),
        ([str(good), "--target", "temp"], "no column 'temp' for --target"),
    ]
    first = rnnkit("train", "forecast", *cases[0][0], "--steps", "1")  # the entry point once; the rest in process
    assert first.returncode == 2 and cases[0][1] in first.stderr, first.stderr
    assert len(first.stderr.strip().splitlines()) == 1, first.stderr
    for args, expected in cases[1:]:
        capsys.readouterr()
        assert main(["train", "forecast", *args, "--steps", "1"]) == 2, args
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, (args, err)


def test_windows_slice_the_rows_before_each_origin():
    inputs = np.arange(20, dtype=np.float32).reshape(10, 2)
    got = windows(inputs, np.array([3, 7]), 2)
    assert got[:, :, 0].tolist() == [[2, 4], [10, 12]]


def test_recursive_forecasts_feed_each_prediction_back_as_the_next_input():
    from rnnkit.tasks.forecast.model import ForecastConfig, Forecaster, forecast_windows
    from rnnkit.tasks.sections import ModelConfig

    torch.manual_seed(0)
    model = Forecaster(1, 1, ModelConfig(cell="gru", hidden_size=8, num_layers=2)).eval()
    inputs = np.random.default_rng(0).normal(size=(30, 1)).astype(np.float32)
    config = ForecastConfig(lookback=5, horizon=3, strategy="recursive", calendar=False)
    got = forecast_windows(model, inputs, np.array([10, 17]), config, lambda positions, values: values[:, None])
    for row, origin in enumerate((10, 17)):
        sequence = list(inputs[origin - 5:origin, 0])
        for h in range(3):  # read the whole extended sequence again from a zero state
            with torch.no_grad():
                out, _ = model(torch.tensor(sequence, dtype=torch.float32)[None, :, None])
            assert float(out[0, -1, 0]) == pytest.approx(got[row, h], abs=1e-5)
            sequence.append(float(out[0, -1, 0]))


def test_extra_feature_columns_are_inputs_and_resume_is_exact(tmp_path):
    from safetensors.torch import load_file

    t = np.arange(300)
    data = write_csv(tmp_path / "two.csv", np.round(np.sin(t / 6.0), 4), extra=np.round(np.cos(t / 6.0), 4))
    common = ["forecast", str(data), "--features", "other", *TINY, "--lookback", "12", "--season", "30",
              "--ar-order", "4", "--schedule", "constant", "--dropout", "0.1", "--num-layers", "2"]
    assert main(["train", *common, "--steps", "40", "--out", str(tmp_path / "whole")]) == 0
    assert main(["train", *common, "--steps", "20", "--out", str(tmp_path / "split")]) == 0
    assert main(["resume", str(tmp_path / "split"), "--steps", "40"]) == 0
    whole, split = (load_file(tmp_path / name / "last.safetensors") for name in ("whole", "split"))
    assert whole["recurrent.weight_ih_l0"].shape[1] == 4  # value, other, and the calendar's sine and cosine
    for key in whole:
        assert torch.equal(whole[key], split[key]), key
    refused = rnnkit("train", *common, "--strategy", "recursive", "--steps", "1")
    assert refused.returncode == 2 and "cannot use --features" in refused.stderr

