"""Explicit times in an experiment config are UTC: naive = UTC, aware = converted, never local."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from experiment_helpers import REPO
from signalflow_gym.experiment import ExperimentConfig
from signalflow_gym.experiment.config import DataSpec
from signalflow_gym.experiment.data import load_data, split_data

_PROBE = """
import json, time
time.tzset()
from signalflow_gym.experiment import ExperimentConfig
cfg = ExperimentConfig.from_dict({}, [
    "data.split_at=[2024-01-01 10:00:00+00:00, 2024-01-01 12:00:00+00:00]",
])
quoted = ExperimentConfig.from_dict({}, [
    'data.split_at=["2024-01-01T10:00:00+00:00", "2024-01-01T12:00:00Z"]',
])
print(json.dumps([[t.isoformat() for t in cfg.data.split_at], [t.isoformat() for t in quoted.data.split_at]]))
"""


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "America/New_York"])
def test_split_at_with_an_explicit_offset_is_the_same_on_every_machine(tz):
    env = {**os.environ, "TZ": tz}
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    unquoted, quoted = json.loads(proc.stdout.strip().splitlines()[-1])
    assert unquoted == quoted == ["2024-01-01T10:00:00", "2024-01-01T12:00:00"]


def test_aware_split_at_is_converted_to_utc_and_naive_is_utc():
    plus2 = timezone(timedelta(hours=2))
    spec = DataSpec(split_at=[datetime(2024, 1, 1, 10, tzinfo=plus2), "2024-01-01T12:00:00-03:00"])
    assert spec.split_at == (datetime(2024, 1, 1, 8), datetime(2024, 1, 1, 15))
    assert DataSpec(split_at=["2024-01-01T08:00:00", datetime(2024, 1, 1, 15)]).split_at == spec.split_at


def test_quoted_iso_split_at_with_an_offset_splits_the_data():
    """The quoted form was kept aware and polars refused to compare it with the naive bars."""
    spec = DataSpec(synthetic={"n_bars": 1000}, split_at=["2024-01-01T08:00:00+00:00", "2024-01-01T12:00:00+00:00"])
    raw, signals = load_data(spec)
    split = split_data(spec, raw, signals)
    assert split.train.end < datetime(2024, 1, 1, 8) <= split.validation.start
    assert split.validation.end < datetime(2024, 1, 1, 12) <= split.test.start


def test_split_at_round_trips_as_naive_utc(tmp_path):
    cfg = ExperimentConfig.from_dict({"data": {"split_at": ["2024-01-01T10:00:00+09:00", "2024-01-02T00:00:00Z"]}})
    assert cfg.to_dict()["data"]["split_at"] == ["2024-01-01T01:00:00", "2024-01-02T00:00:00"]
    path = cfg.to_yaml(tmp_path / "c.yaml")
    assert ExperimentConfig.from_yaml(path) == cfg


def _us_dates_csv(path, n=40):
    """Hourly bars of one pair with month-first dates (all days <= 12: ambiguous)."""
    rows = ["pair,timestamp,open,high,low,close,volume"]
    for i in range(n):
        day, hour = 1 + i // 24, i % 24
        rows.append(f"X,01/{day:02d}/2024 {hour:02d}:00,100,110,90,{100 + (i % 5)},1")
    path.write_text("\n".join(rows) + "\n")


def test_data_timestamp_format_reads_a_month_first_csv(tmp_path):
    from signalflow.core.errors import DataValidationError

    path = tmp_path / "us.csv"
    _us_dates_csv(path)
    with pytest.raises(DataValidationError, match=r"^`data.source`: `timestamp` must be ISO 8601.*'01/01/2024 00:00'.*"
                                                  r'timestamp_format="%m/%d/%Y" \(month first, US\)'):
        load_data(DataSpec(source=str(path)))
    raw, _ = load_data(DataSpec(source=str(path), timestamp_format="%m/%d/%Y %H:%M"))
    assert raw["timestamp"].to_list()[:2] == [datetime(2024, 1, 1, 0), datetime(2024, 1, 1, 1)]
    assert raw["timestamp"].to_list()[-1] == datetime(2024, 1, 2, 15)


def test_data_timestamp_format_without_a_csv_is_refused():
    from signalflow.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"`data.timestamp_format` must be null unless `data.source` or `data.signals` is a CSV"):
        DataSpec(timestamp_format="%m/%d/%Y")
    with pytest.raises(ConfigError, match=r"`data.timestamp_format` must be a strftime pattern or null, was 5"):
        DataSpec(source="x.csv", timestamp_format=5)
