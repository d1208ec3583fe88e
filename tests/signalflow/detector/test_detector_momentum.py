"""Tests of the momentum detectors: schema, direction, probabilities, no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from signalflow.core.errors import ConfigError
from signalflow.data import SIGNALS_SCHEMA, make_synthetic_market, validate_signals
from signalflow.detector import MomentumZScoreDetector, MovingAverageCrossDetector

DETECTORS = [MomentumZScoreDetector(window=10, threshold=1.5), MovingAverageCrossDetector(fast=5, slow=20)]


@pytest.fixture(scope="module")
def market():
    return make_synthetic_market(seed=21, n_pairs=3, n_bars=2000)


def scramble_after(raw: pl.DataFrame, cut: int) -> pl.DataFrame:
    """Replace every bar after the `cut`-th timestamp with a different random walk."""
    times = raw["timestamp"].unique().sort()
    t_cut = times[cut]
    other = make_synthetic_market(seed=99, n_pairs=3, n_bars=times.len()).raw_data
    return pl.concat([raw.filter(pl.col("timestamp") <= t_cut), other.filter(pl.col("timestamp") > t_cut)])


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_detector_output_passes_signal_validation(detector, market):
    out = detector.detect(market.raw_data)
    assert out.height > 0
    assert out.schema == pl.Schema(SIGNALS_SCHEMA)
    assert validate_signals(out, ohlcv=market.raw_data).equals(out)


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_detector_changed_future_bars_leave_past_signals_unchanged(detector, market):
    cut = 1000
    t_cut = market.raw_data["timestamp"].unique().sort()[cut]
    before = detector.detect(market.raw_data).filter(pl.col("timestamp") <= t_cut)
    after = detector.detect(scramble_after(market.raw_data, cut)).filter(pl.col("timestamp") <= t_cut)
    assert before.height > 0 and before.equals(after)


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_detector_probabilities_are_in_half_open_range(detector, market):
    p = detector.detect(market.raw_data)["probability"]
    assert p.min() >= 0.5 and p.max() < 1.0


def test_momentum_detector_steady_uptrend_emits_rise():
    n = 60
    close = 100 * np.exp(np.cumsum(0.01 + 0.001 * np.sin(np.arange(n))))
    raw = pl.DataFrame({"pair": ["X"] * n, "timestamp": pl.datetime_range(
        pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 1, 0, n - 1), "1m", eager=True),
        "open": close, "high": close, "low": close, "close": close})
    out = MomentumZScoreDetector(window=10, threshold=2.0).detect(raw)
    assert set(out["signal_type"]) == {"rise"}
    assert out["timestamp"].min() == raw["timestamp"][10]


def test_momentum_detector_probability_matches_documented_map_of_z(market):
    window, threshold = 10, 1.5
    raw = market.raw_data.filter(pl.col("pair") == "PAIR0USDT")
    r = np.diff(np.log(raw["close"].to_numpy()))
    sums = np.convolve(r, np.ones(window), "valid")
    stds = np.array([r[i - window:i].std(ddof=1) for i in range(window, r.size + 1)])
    z = sums / (stds * math.sqrt(window))
    hit = np.abs(z) > threshold
    expected = np.minimum(1 - 0.5 * np.exp(-(np.abs(z[hit]) - threshold)), 0.999)
    out = MomentumZScoreDetector(window=window, threshold=threshold).detect(raw)
    assert out["timestamp"].to_list() == raw["timestamp"][window:].filter(pl.Series(hit)).to_list()
    np.testing.assert_allclose(out["probability"].to_numpy(), expected, rtol=1e-9)
    assert out["signal_type"].to_list() == ["rise" if v > 0 else "fall" for v in z[hit]]


def test_ma_cross_detector_cross_up_emits_rise_at_cross_bar():
    close = np.array([10.0] * 10 + [9.0] * 5 + [12.0] * 5)
    raw = pl.DataFrame({"pair": ["X"] * 20, "timestamp": pl.datetime_range(
        pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 1, 0, 19), "1m", eager=True),
        "open": close, "high": close, "low": close, "close": close})
    out = MovingAverageCrossDetector(fast=2, slow=5).detect(raw)
    rises = out.filter(pl.col("signal_type") == "rise")
    assert rises["timestamp"].to_list() == [raw["timestamp"][15]]


def test_momentum_detector_bad_window_raises():
    with pytest.raises(ConfigError, match=r"^`window` must be an integer >= 2, was 1; pass e.g. `window=20`$"):
        MomentumZScoreDetector(window=1)


def test_momentum_detector_bad_threshold_raises():
    with pytest.raises(ConfigError, match=r"^`threshold` must be finite and > 0, was -1.0"):
        MomentumZScoreDetector(threshold=-1.0)


def test_ma_cross_detector_fast_not_below_slow_raises():
    with pytest.raises(ConfigError, match=r"^`fast` must be < `slow`, was fast=30, slow=10"):
        MovingAverageCrossDetector(fast=30, slow=10)
