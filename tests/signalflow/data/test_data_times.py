"""Times in data: explicit bounds are UTC; CSV timestamps are ISO 8601 or follow `timestamp_format`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from signalflow.core.errors import DataValidationError
from signalflow.core.times import as_utc_naive
from signalflow.data import load_ohlcv, load_signals, make_synthetic_market, read_frame, slice_by_time


@pytest.fixture(scope="module")
def market():
    return make_synthetic_market(seed=5, n_pairs=2, n_bars=600)


def test_as_utc_naive_keeps_naive_and_converts_aware():
    assert as_utc_naive(datetime(2024, 1, 1, 10)) == datetime(2024, 1, 1, 10)
    assert as_utc_naive(datetime(2024, 1, 1, 10, tzinfo=timezone(timedelta(hours=9)))) == datetime(2024, 1, 1, 1)
    assert as_utc_naive(datetime(2024, 1, 1, 10, tzinfo=timezone.utc)).tzinfo is None


def test_slice_by_time_takes_aware_bounds_as_their_utc_instant(market):
    start, end = datetime(2024, 1, 1, 2), datetime(2024, 1, 1, 4)
    naive = slice_by_time(market.raw_data, market.signals, start, end)
    tokyo = timezone(timedelta(hours=9))
    aware = slice_by_time(market.raw_data, market.signals, start.replace(tzinfo=timezone.utc).astimezone(tokyo),
                          end.replace(tzinfo=timezone.utc))
    assert naive.raw_data.height > 0
    assert aware.raw_data.equals(naive.raw_data) and aware.signals.equals(naive.signals)


def _bars_csv(path, stamps) -> None:
    rows = ["pair,timestamp,open,high,low,close,volume"]
    rows += [f"X,{t},100,101,99,100,1" for t in stamps]
    path.write_text("\n".join(rows) + "\n")


def test_csv_iso_timestamps_are_read_as_before(tmp_path):
    path = tmp_path / "bars.csv"
    _bars_csv(path, ["2024-01-02T10:00:00+01:00", "2024-01-02T11:00:00+01:00"])
    assert load_ohlcv(path)["timestamp"].to_list() == [datetime(2024, 1, 2, 9), datetime(2024, 1, 2, 10)]
    _bars_csv(path, ["2024-01-02", "2024-01-03"])
    assert load_ohlcv(path)["timestamp"].to_list() == [datetime(2024, 1, 2), datetime(2024, 1, 3)]
    _bars_csv(path, ["2024-01-02 10:00:00", "2024-01-02 10:01:00.500"])
    assert load_ohlcv(path)["timestamp"].to_list() == [datetime(2024, 1, 2, 10), datetime(2024, 1, 2, 10, 1, 0, 500000)]


def test_csv_ambiguous_day_month_dates_are_refused_with_the_way_to_give_the_format(tmp_path):
    """`01/02/2024` was read day-first (1 February) without a word."""
    path = tmp_path / "us.csv"
    _bars_csv(path, [f"01/{d:02d}/2024" for d in range(1, 13)])
    with pytest.raises(DataValidationError) as caught:
        load_ohlcv(path)
    msg = str(caught.value)
    assert "`timestamp`" in msg and "'01/01/2024'" in msg and "row 0" in msg
    assert 'timestamp_format="%m/%d/%Y"' in msg and "ISO 8601" in msg


def test_csv_timestamp_format_reads_month_first_and_day_first(tmp_path):
    path = tmp_path / "us.csv"
    _bars_csv(path, ["01/02/2024", "01/03/2024"])
    us = load_ohlcv(path, timestamp_format="%m/%d/%Y")["timestamp"].to_list()
    assert us == [datetime(2024, 1, 2), datetime(2024, 1, 3)]
    eu = load_ohlcv(path, timestamp_format="%d/%m/%Y")["timestamp"].to_list()
    assert eu == [datetime(2024, 2, 1), datetime(2024, 3, 1)]


def test_csv_value_not_matching_timestamp_format_names_row_and_format(tmp_path):
    path = tmp_path / "us.csv"
    _bars_csv(path, ["01/02/2024", "2024-01-03"])
    with pytest.raises(DataValidationError, match=r"%m/%d/%Y.*'2024-01-03' \(row 1"):
        load_ohlcv(path, timestamp_format="%m/%d/%Y")


def test_csv_other_non_iso_text_is_refused_with_the_same_advice(tmp_path):
    path = tmp_path / "words.csv"
    _bars_csv(path, ["Jan 2 2024", "Jan 3 2024"])
    with pytest.raises(DataValidationError, match=r"'Jan 2 2024'.*timestamp_format=.*ISO 8601"):
        load_ohlcv(path)


def test_signals_csv_takes_timestamp_format_too(tmp_path, market):
    bars = tmp_path / "bars.csv"
    _bars_csv(bars, ["01/02/2024", "01/03/2024"])
    ohlcv = load_ohlcv(bars, timestamp_format="%m/%d/%Y")
    sig = tmp_path / "sig.csv"
    sig.write_text("pair,timestamp,signal_type,probability\nX,01/03/2024,rise,0.8\n")
    with pytest.raises(DataValidationError, match="timestamp_format"):
        load_signals(sig, ohlcv=ohlcv)
    got = load_signals(sig, ohlcv=ohlcv, timestamp_format="%m/%d/%Y")
    assert got["timestamp"].to_list() == [datetime(2024, 1, 3)]


def test_timestamp_format_is_refused_for_a_dataframe_or_parquet(tmp_path, market):
    from signalflow.core.errors import ConfigError

    with pytest.raises(ConfigError, match="`timestamp_format` applies to CSV files"):
        read_frame(market.raw_data, timestamp_format="%m/%d/%Y")
    path = tmp_path / "b.parquet"
    market.raw_data.write_parquet(path)
    with pytest.raises(ConfigError, match="`timestamp_format` applies to CSV files"):
        read_frame(path, timestamp_format="%m/%d/%Y")
    assert isinstance(read_frame(path), pl.DataFrame)
