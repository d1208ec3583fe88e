"""Bad inputs to `BacktestRunner.run` raise `DataValidationError` naming the column/row and the fix."""

from __future__ import annotations

import re
from datetime import timedelta

import polars as pl
import pytest

from signalflow.core import DataValidationError
from signalflow.strategy.component.entry import SignalEntryRule
from signalflow.strategy.runner import BacktestRunner


def _run(raw, signals=None):
    BacktestRunner(entry_rules=[SignalEntryRule()], initial_capital=10_000.0).run(raw, signals)


@pytest.fixture()
def raw(bars):
    return bars({"A": [100.0, 101.0, 102.0], "B": [50.0, 51.0, 52.0]})  # rows: A0 B0 A1 B1 A2 B2


def _set(df: pl.DataFrame, row: int, **values) -> pl.DataFrame:
    idx = pl.int_range(pl.len()) == row
    return df.with_columns([pl.when(idx).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in values.items()])


def test_runner_missing_close_column_names_column_and_fix(raw):
    with pytest.raises(DataValidationError, match=r"OHLCV data must have columns .*was missing `close` .*rename or add them"):
        _run(raw.drop("close"))


def test_runner_nan_close_names_row_pair_and_fix(raw):
    with pytest.raises(DataValidationError, match=re.escape("`close` must be finite, was nan (row 3, pair B); drop or fill those rows")):
        _run(_set(raw, 3, close=float("nan")))


def test_runner_inf_open_names_row_pair_and_fix(raw):
    bad = _set(raw, 2, open=float("inf"), high=float("inf"))
    with pytest.raises(DataValidationError, match=re.escape("`open` must be finite, was inf (row 2, pair A); drop or fill")):
        _run(bad)


@pytest.mark.parametrize("value", [0.0, -5.0])
def test_runner_non_positive_close_names_row_and_fix(raw, value):
    msg = f"`close` must be > 0, was {value} (row 4, pair A); prices must be strictly positive: fix or drop that bar"
    with pytest.raises(DataValidationError, match=f"^{re.escape(msg)}$"):
        _run(_set(raw, 4, close=value))


def test_runner_null_price_names_row_and_fix(raw):
    bad = raw.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("low")).alias("low"))
    with pytest.raises(DataValidationError, match=re.escape("`low` must not be null, was null (row 1, pair B); drop or fill")):
        _run(bad)


def test_runner_unsorted_timestamps_name_row_and_sort_fix(raw):
    unsorted = pl.concat([raw.slice(2, 1), raw.slice(0, 2), raw.slice(3)])  # A1 before A0
    with pytest.raises(DataValidationError, match=r"`timestamp` must be strictly increasing within each pair, .*\(row 1, pair A\); sort the input"):
        _run(unsorted)


def test_runner_duplicate_pair_timestamp_names_row_and_dedup_fix(raw):
    dup = pl.concat([raw, raw.slice(1, 1)])
    with pytest.raises(DataValidationError, match=r"`timestamp` must be unique per pair, .*repeated \(row 6, pair B\); drop duplicates"):
        _run(dup)


def test_runner_empty_data_says_what_is_needed(raw):
    with pytest.raises(DataValidationError, match=r"must have at least one bar, was empty \(0 rows.*pass OHLCV bars with columns"):
        _run(raw.clear())


def test_runner_signal_for_unknown_pair_names_pair_and_fix(raw, sigs):
    with pytest.raises(DataValidationError, match=r"`pair` must be a pair of the OHLCV data, was 'ZZZ' \(row 1\); known pairs: \['A', 'B'\]; drop signals"):
        _run(raw, sigs([("A", 0, "rise", 0.9), ("ZZZ", 1, "rise", 0.9)]))


def test_runner_signal_after_data_names_range_and_fix(raw, sigs):
    with pytest.raises(DataValidationError, match=r"`timestamp` must be within the data range of its pair \[.*\], was .* \(row 0, pair A\); drop signals outside the data"):
        _run(raw, sigs([("A", 9, "rise", 0.9)]))


def test_runner_signal_between_bars_asks_to_align(raw, sigs):
    off_bar = sigs([("A", 1, "rise", 0.9)]).with_columns(pl.col("timestamp") + timedelta(seconds=30))
    with pytest.raises(DataValidationError, match=r"`timestamp` must be a bar timestamp of its pair, .*align signals to bar timestamps"):
        _run(raw, off_bar)


def test_runner_signal_missing_probability_column_names_it(raw, sigs):
    with pytest.raises(DataValidationError, match=r"signals must have columns .*was missing `probability`"):
        _run(raw, sigs([("A", 0, "rise", 0.9)]).drop("probability"))


def test_runner_signal_bad_type_names_value_and_mapping_fix(raw, sigs):
    with pytest.raises(DataValidationError, match=r"`signal_type` must be one of \['rise', 'fall', 'none'\], was 'buy' \(row 0, pair A\); map your labels"):
        _run(raw, sigs([("A", 0, "buy", 0.9)]))


def test_runner_raw_data_not_a_frame_names_argument(raw):
    with pytest.raises(DataValidationError, match=r"^`raw_data` must be a polars DataFrame"):
        _run({"pair": ["A"]})


def test_runner_container_with_signals_but_none_passed_is_refused_not_run_signal_free():
    """A `SyntheticMarket` passed alone used to run on its bars with no signals at all (no
    trades, no error); its signals must be passed or the bars passed alone."""
    from signalflow.data.synthetic import make_synthetic_market

    market = make_synthetic_market(seed=3, n_pairs=2, n_bars=300, signal_rate=0.05)
    with pytest.raises(DataValidationError, match=r"^`raw_data` is a SyntheticMarket that holds \d+ signals at `.signals`, but `signals` was not passed"):
        _run(market)
    runner = BacktestRunner(entry_rules=[SignalEntryRule()], initial_capital=10_000.0)
    runner.run(market, market.signals)  # the container with its signals
    with_container = runner.result.summary["n_trades"]
    runner.run(market.raw_data, market.signals)
    assert with_container == runner.result.summary["n_trades"] > 0
    runner.run(market.raw_data)  # the bars alone: a deliberate signal-free run
    assert runner.result.summary["n_trades"] == 0
