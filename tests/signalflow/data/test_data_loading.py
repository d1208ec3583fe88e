"""Tests of `load_ohlcv` / `load_signals`: CSV and parquet round trips and path errors."""

from __future__ import annotations

import re

import polars as pl
import pytest

from signalflow.core.errors import ConfigError, DataValidationError
from signalflow.data import load_ohlcv, load_signals, make_synthetic_market


@pytest.fixture(scope="module")
def market():
    return make_synthetic_market(seed=1, n_pairs=2, n_bars=300, signal_rate=0.05)


def test_load_ohlcv_csv_round_trip_returns_same_frame(market, tmp_path):
    path = tmp_path / "bars.csv"
    market.raw_data.write_csv(path)
    assert load_ohlcv(path).equals(market.raw_data)


def test_load_ohlcv_parquet_round_trip_returns_same_frame(market, tmp_path):
    path = tmp_path / "bars.parquet"
    market.raw_data.write_parquet(path)
    assert load_ohlcv(str(path)).equals(market.raw_data)


def test_load_ohlcv_dataframe_returns_validated_frame(market):
    assert load_ohlcv(market.raw_data).equals(market.raw_data)


def test_load_signals_csv_round_trip_returns_same_frame(market, tmp_path):
    path = tmp_path / "signals.csv"
    market.signals.write_csv(path)
    assert load_signals(path, ohlcv=market.raw_data).equals(market.signals)


def test_load_signals_parquet_round_trip_returns_same_frame(market, tmp_path):
    path = tmp_path / "signals.parquet"
    market.signals.write_parquet(path)
    assert load_signals(path, ohlcv=market.raw_data).equals(market.signals)


def test_load_signals_none_returns_empty_frame(market):
    assert load_signals(None, ohlcv=market.raw_data).height == 0


def test_load_ohlcv_missing_file_raises_naming_path(tmp_path):
    path = tmp_path / "nope.csv"
    msg = f"`source` must be an existing file, was '{path}' (not found); check the path"
    with pytest.raises(DataValidationError, match=f"^{re.escape(msg)}$"):
        load_ohlcv(path)


def test_load_ohlcv_unknown_extension_raises_naming_path(tmp_path):
    path = tmp_path / "bars.txt"
    path.write_text("x")
    msg = (f"`source` must be a path ending in .csv or .parquet, was '{path}'; "
           'convert the file, e.g. `df.write_parquet("bars.parquet")`')
    with pytest.raises(ConfigError, match=f"^{re.escape(msg)}$"):
        load_ohlcv(path)


def test_load_ohlcv_wrong_source_type_raises():
    with pytest.raises(ConfigError, match=r"^`source` must be a polars DataFrame or a path .* was int; "):
        load_ohlcv(3)  # type: ignore[arg-type]


def test_load_ohlcv_csv_with_epoch_timestamps_raises_conversion_hint(market, tmp_path):
    path = tmp_path / "bars.csv"
    market.raw_data.with_columns(pl.col("timestamp").dt.epoch("ms")).write_csv(path)
    with pytest.raises(DataValidationError, match=r"^`timestamp` must be a Datetime or Date column, was Int64"):
        load_ohlcv(path)


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_load_ohlcv_file_with_epoch_timestamps_names_the_conversion_for_a_file(market, tmp_path, unit, suffix):
    path = tmp_path / f"bars.{suffix}"
    frame = market.raw_data.with_columns(pl.col("timestamp").dt.epoch(unit))
    frame.write_csv(path) if suffix == "csv" else frame.write_parquet(path)
    reader = "read_csv" if suffix == "csv" else "read_parquet"
    fix = f'pl.{reader}("{path}").with_columns(pl.from_epoch("timestamp", time_unit="{unit}"))'
    with pytest.raises(DataValidationError, match=rf"which looks like {unit}\); read and convert the file, then pass "
                                                  rf"the frame: {re.escape(fix)}$"):
        load_ohlcv(path)
    # the advice, applied, loads
    converted = (pl.read_csv(path) if suffix == "csv" else pl.read_parquet(path)).with_columns(
        pl.from_epoch("timestamp", time_unit=unit))
    assert load_ohlcv(converted).height == market.raw_data.height


@pytest.mark.parametrize("bad", ["2024-02-30", "2024-01-02 25:00:00", "2024-13-01"])
def test_load_ohlcv_csv_with_a_date_that_does_not_exist_names_it(tmp_path, bad):
    path = tmp_path / "bars.csv"
    path.write_text("pair,timestamp,open,high,low,close,volume\n"
                    f"A,2024-01-01 00:00:00,1,1,1,1,1\nA,{bad},1,1,1,1,1\n")
    with pytest.raises(DataValidationError, match=rf"^`timestamp` must be a date or time that exists, was '{re.escape(bad)}' "
                                                  r"\(row 1, pair A\) \(ISO 8601 in form, but no such day or time"):
        load_ohlcv(path)
