"""Tests of `chronological_split` and `slice_by_time`."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from signalflow.core.errors import ConfigError
from signalflow.data import SIGNALS_SCHEMA, chronological_split, make_synthetic_market, slice_by_time


@pytest.fixture(scope="module")
def market():
    return make_synthetic_market(seed=5, n_pairs=3, n_bars=1000, signal_rate=0.05)


def test_chronological_split_slices_do_not_overlap(market):
    split = chronological_split(market.raw_data, market.signals)
    assert split.train.end < split.validation.start
    assert split.validation.end < split.test.start


def test_chronological_split_slices_cover_all_bars_and_signals(market):
    split = chronological_split(market.raw_data, market.signals)
    parts = (split.train, split.validation, split.test)
    assert pl.concat([p.raw_data for p in parts]).equals(market.raw_data)
    assert pl.concat([p.signals for p in parts]).equals(market.signals)


def test_chronological_split_sizes_follow_fractions(market):
    split = chronological_split(market.raw_data, fractions=(0.5, 0.3, 0.2))
    assert [p.raw_data.height for p in (split.train, split.validation, split.test)] == [1500, 900, 600]


def test_chronological_split_signals_stay_with_their_bar(market):
    split = chronological_split(market.raw_data, market.signals)
    for part in (split.train, split.validation, split.test):
        assert part.signals.join(part.raw_data, on=["pair", "timestamp"], how="anti").height == 0


def test_chronological_split_without_signals_returns_empty_signals(market):
    split = chronological_split(market.raw_data)
    assert split.test.signals.height == 0 and split.test.signals.schema == pl.Schema(SIGNALS_SCHEMA)


def test_chronological_split_fractions_not_summing_to_one_raises(market):
    with pytest.raises(ConfigError, match=r"^`fractions` must sum to 1, was \(0.6, 0.2, 0.3\)"):
        chronological_split(market.raw_data, fractions=(0.6, 0.2, 0.3))


def test_chronological_split_zero_fraction_raises(market):
    with pytest.raises(ConfigError, match=r"^`fractions` must all be > 0, was \(0.8, 0.0, 0.2\)"):
        chronological_split(market.raw_data, fractions=(0.8, 0.0, 0.2))


def test_chronological_split_too_few_timestamps_raises(market):
    with pytest.raises(ConfigError, match=r"^`fractions` must leave at least one timestamp per slice"):
        chronological_split(market.raw_data.head(6), fractions=(0.6, 0.2, 0.2))


def test_slice_by_time_start_inclusive_end_exclusive(market):
    s = slice_by_time(market.raw_data, market.signals, datetime(2024, 1, 1, 0, 10), datetime(2024, 1, 1, 0, 20))
    assert s.start == datetime(2024, 1, 1, 0, 10)
    assert s.end == datetime(2024, 1, 1, 0, 19)


def test_slice_by_time_start_after_end_raises(market):
    with pytest.raises(ConfigError, match=r"^`start` must be < `end`"):
        slice_by_time(market.raw_data, None, datetime(2024, 1, 2), datetime(2024, 1, 1))
