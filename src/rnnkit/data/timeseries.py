"""Time series from a CSV: dates parsed, gaps and missing values found, split by time.

The first job of a forecasting tool is to refuse bad data clearly: a value that is
not a number or a date that does not parse is named by row and column. Missing
dates are reported; missing values stop the run unless ``--fill interpolate`` asks
for linear interpolation (which also fills the missing dates). The split is
chronological, and nothing after the training part reaches normalisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from rnnkit.config import option
from rnnkit.data.corpora import read_text_file, table_rows
from rnnkit.errors import UserError

DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d",
                "%d/%m/%Y", "%Y-%m", "%Y")
MISSING = {"", "na", "nan", "null", "none", "?"}


@dataclass
class SeriesConfig:
    """Which columns are time, target and inputs; what to do with holes; where to cut."""

    time_col: str = option("", "forecast: the date/time column, by name or index (default: the first)")
    target: str = option("", "forecast: the column to predict, by name or index (default: the last)")
    features: str = option("", "forecast: comma-separated further input columns (default: none)")
    fill: str = option("none", "forecast: missing values stop the run (none) or are linearly interpolated, "
                       "with missing dates (interpolate)", ("none", "interpolate"))
    train_end: str = option("", "forecast: the last date of the training part (default: by --split)")
    val_end: str = option("", "forecast: the last date of the validation part (default: by --split)")


@dataclass
class Series:
    """A regular series: ``values[:, 0]`` is the target, the rest are input features."""

    times: np.ndarray  # (N,) datetime64[s]
    values: np.ndarray  # (N, F) float64
    columns: list[str]
    step: np.timedelta64
    notes: list[str]

    def __len__(self) -> int:
        return len(self.times)


def parse_time(text: str) -> np.datetime64 | None:
    text = text.strip()
    for fmt in DATE_FORMATS:
        try:
            return np.datetime64(datetime.strptime(text, fmt), "s")
        except ValueError:
            continue
    return None


def _column(spec: str, header: list[str], default: int, path: Path, flag: str) -> int:
    if not spec:
        return default % len(header)
    if spec in header:
        return header.index(spec)
    if spec.lstrip("-").isdigit() and -len(header) <= int(spec) < len(header):
        return int(spec) % len(header)
    raise UserError(f"{path}: no column {spec!r} for {flag}; the header has {', '.join(header)}")


def read_series(path: Path, config: SeriesConfig, encoding: str = "utf-8") -> Series:
    """Read, check and (when asked) fill a CSV series; every problem names its row or column."""
    rows = table_rows(read_text_file(path, encoding), path)
    header = [cell.strip() for cell in rows[0]]
    if len(header) < 2:
        raise UserError(f"{path}: the header has one column; a series needs a time column and a value column")
    time_at = _column(config.time_col, header, 0, path, "--time-col")
    target_at = _column(config.target, header, -1, path, "--target")
    feature_at = [_column(name.strip(), header, 0, path, "--features")
                  for name in config.features.split(",") if name.strip()]
    value_at = [target_at, *feature_at]
    times, values = [], []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserError(f"{path}: row {number} has {len(row)} columns, the header {len(header)}; fix the row")
        moment = parse_time(row[time_at])
        if moment is None:
            raise UserError(f"{path}: row {number}: cannot read {row[time_at]!r} in column {header[time_at]!r} "
                            "as a date; use ISO dates such as 1990-12-31")
        times.append(moment)
        values.append([_number(row[k], number, header[k], path) for k in value_at])
    if not times:
        raise UserError(f"{path}: no data rows under the header")
    series = Series(np.array(times), np.array(values, dtype=np.float64), [header[k] for k in value_at],
                    np.timedelta64(0, "s"), [])
    return _regularise(series, config.fill, path)


def _number(text: str, row: int, column: str, path: Path) -> float:
    cleaned = text.strip()
    if cleaned.lower() in MISSING:
        return math.nan
    try:
        return float(cleaned)
    except ValueError:
        raise UserError(f"{path}: row {row}: {text!r} in column {column!r} is not a number") from None


def _regularise(series: Series, fill: str, path: Path) -> Series:
    """Check order, find the step and the holes; interpolate them when asked."""
    times, values = series.times, series.values
    steps = np.diff(times)
    if len(steps) and (steps <= np.timedelta64(0, "s")).any():
        row = int(np.argmax(steps <= np.timedelta64(0, "s"))) + 3
        raise UserError(f"{path}: row {row}: times must increase (sort the file, drop repeated times)")
    step = np.median(steps.astype(np.int64)).astype(np.int64) if len(steps) else 86400
    series.step = np.timedelta64(int(step), "s")
    full = np.arange(times[0], times[-1] + series.step, series.step)
    missing_times = np.setdiff1d(full, times)
    missing_values = int(np.isnan(values).sum())
    if missing_times.size and (len(full) - len(times)) != missing_times.size:
        raise UserError(f"{path}: the times are not on a regular grid of {series.step}; resample the series")
    if missing_values and fill == "none":
        row = int(np.argmax(np.isnan(values).any(axis=1))) + 2
        raise UserError(f"{path}: {missing_values} missing values (the first in row {row}); fill them in the "
                        "file or pass --fill interpolate")
    if missing_times.size:
        shown = ", ".join(str(t)[:10] for t in missing_times[:5])
        series.notes.append(f"{missing_times.size} missing times ({shown}{', ...' if missing_times.size > 5 else ''})"
                            + (", interpolated" if fill == "interpolate" else ", read as if consecutive"))
    if fill == "interpolate" and (missing_times.size or missing_values):
        position = ((times - times[0]) / series.step).astype(np.float64)
        grid = np.arange(len(full), dtype=np.float64)
        filled = np.empty((len(full), values.shape[1]))
        for column in range(values.shape[1]):
            known = ~np.isnan(values[:, column])
            filled[:, column] = np.interp(grid, position[known], values[known, column])
        if missing_values:
            series.notes.append(f"{missing_values} missing values interpolated")
        series.times, series.values = full, filled
    return series


def split_points(series: Series, config: SeriesConfig, fractions: tuple[float, float, float],
                 source: Path) -> tuple[int, int]:
    """(first validation index, first test index), by date when given, else by fraction."""
    n = len(series)
    if config.train_end or config.val_end:
        if not (config.train_end and config.val_end):
            raise UserError("--train-end and --val-end go together; give both dates, or neither to split by --split")
        cuts = []
        for flag, text in (("--train-end", config.train_end), ("--val-end", config.val_end)):
            moment = parse_time(text)
            if moment is None:
                raise UserError(f"{flag} {text}: not a date; use ISO dates such as 1988-12-31")
            cuts.append(int(np.searchsorted(series.times, moment, side="right")))
        val_start, test_start = cuts
    else:
        val_start = int(round(n * fractions[0]))
        test_start = int(round(n * (fractions[0] + fractions[1])))
    if not 0 < val_start < test_start <= n:
        raise UserError(f"{source}: the split leaves an empty training or validation part "
                        f"({val_start} training, {test_start - val_start} validation rows); move the cut dates")
    return val_start, test_start


def day_of_year_features(times: np.ndarray) -> np.ndarray:
    """(N, 2) sine and cosine of the day of the year: the calendar as a smooth circle."""
    days = (times.astype("datetime64[D]") - times.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.float64)
    angle = 2 * np.pi * days / 365.25
    return np.stack([np.sin(angle), np.cos(angle)], axis=1)
