"""Tests of the synthetic market: determinism, validity, planted edge, argument checks."""

from __future__ import annotations

import pytest

from signalflow.core.errors import ConfigError
from signalflow.data import (
    make_synthetic_market,
    pair_names,
    planted_edge_report,
    validate_ohlcv,
    validate_signals,
)


def test_make_synthetic_market_same_seed_returns_identical_frames():
    a = make_synthetic_market(seed=7, n_bars=500)
    b = make_synthetic_market(seed=7, n_bars=500)
    assert a.raw_data.equals(b.raw_data) and a.signals.equals(b.signals)


def test_make_synthetic_market_different_seed_returns_different_frames():
    a = make_synthetic_market(seed=7, n_bars=500)
    b = make_synthetic_market(seed=8, n_bars=500)
    assert not a.raw_data.equals(b.raw_data)
    assert not a.signals.equals(b.signals)


def test_make_synthetic_market_output_passes_validators_unchanged():
    m = make_synthetic_market(seed=3, n_pairs=4, n_bars=2000)
    raw = validate_ohlcv(m.raw_data)
    assert raw.equals(m.raw_data)
    assert validate_signals(m.signals, ohlcv=raw).equals(m.signals)


def test_make_synthetic_market_shape_matches_arguments():
    m = make_synthetic_market(n_pairs=3, n_bars=100, horizon=10)
    assert m.raw_data.height == 300
    assert m.raw_data["pair"].unique().sort().to_list() == ["PAIR0USDT", "PAIR1USDT", "PAIR2USDT"]
    assert m.signals["timestamp"].max() < m.raw_data["timestamp"].unique().sort()[90]


def test_pair_names_many_pairs_are_zero_padded_in_lexical_order():
    names = pair_names(12)
    assert names[0] == "PAIR00USDT" and names == sorted(names)


def test_make_synthetic_market_open_equals_previous_close():
    m = make_synthetic_market(n_pairs=2, n_bars=50)
    for _, g in m.raw_data.group_by("pair"):
        assert g["open"][1:].to_list() == g["close"][:-1].to_list()


def test_planted_edge_report_large_sample_matches_edge():
    m = make_synthetic_market(seed=11, n_pairs=5, n_bars=100_000, edge=0.65)
    report = planted_edge_report(m)
    assert report["n_signals"] > 5000
    assert report["fraction_correct"] == pytest.approx(0.65, abs=0.02)
    assert report["mean_signed_return"] > 0


def test_planted_edge_report_no_edge_is_near_half():
    m = make_synthetic_market(seed=12, n_pairs=5, n_bars=100_000, edge=0.5)
    assert planted_edge_report(m)["fraction_correct"] == pytest.approx(0.5, abs=0.02)


def test_planted_edge_report_high_probability_signals_are_more_often_right():
    m = make_synthetic_market(seed=13, n_pairs=5, n_bars=50_000, edge=0.75, signal_rate=0.05)
    hi = planted_edge_report(m.__class__(m.raw_data, m.signals.filter(m.signals["probability"] > 0.9), m.params))
    lo = planted_edge_report(m.__class__(m.raw_data, m.signals.filter(m.signals["probability"] < 0.6), m.params))
    assert hi["fraction_correct"] > 0.9 > 0.6 > lo["fraction_correct"]


def test_make_synthetic_market_edge_above_range_raises():
    with pytest.raises(ConfigError, match=r"^`edge` must be in \[0.5, 0.75\] \(mean fraction of correct signals\), "
                       r"was 0.8; 0.5 means no edge"):
        make_synthetic_market(edge=0.8)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_pairs": 0}, "n_pairs"),
        ({"n_bars": 1}, "n_bars"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": 100, "n_bars": 100}, "horizon"),
        ({"volatility": 0.0}, "volatility"),
        ({"signal_rate": 1.5}, "signal_rate"),
        ({"base_price": -1.0}, "base_price"),
        ({"seed": -1}, "seed"),
        ({"n_bars": 10.0}, "n_bars"),
        ({"drift": float("nan")}, "drift"),
    ],
)
def test_make_synthetic_market_bad_argument_raises_naming_it(kwargs, name):
    with pytest.raises(ConfigError, match=rf"^`{name}` must be "):
        make_synthetic_market(**kwargs)
