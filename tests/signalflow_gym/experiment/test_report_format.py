"""`format_interval`: how a report writes an estimate with or without its confidence interval."""

from __future__ import annotations

from signalflow_gym.experiment.report import format_interval


def test_an_estimate_with_a_ci_shows_its_bounds_and_says_what_they_are_when_labelled():
    est = {"value": 0.0823, "low": 0.0406, "high": 0.1315}
    assert format_interval(est, percent=True) == "8.23% [4.06%, 13.15%]"
    assert format_interval(est, percent=True, labelled=True) == "8.23% [4.06%, 13.15%] (95% CI)"
    assert format_interval(est, note="3 x 5 run pairs") == "0.08 [0.04, 0.13] (95% CI; 3 x 5 run pairs)"


def test_an_estimate_without_a_ci_says_so_once():
    est = {"value": 0.0, "low": None, "high": None}
    assert format_interval(est, percent=True, labelled=True) == "0.00% (no CI)"
    assert format_interval(est, note="1 x 1 run pairs") == "0.00 (no CI; 1 x 1 run pairs)"
