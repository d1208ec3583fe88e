"""Run summaries of the runner: edge cases that must not crash a finished run."""

from __future__ import annotations

import math

from signalflow.strategy.model import ModelEntryRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner


def test_summary_short_profitable_minute_run_annual_return_inf_not_overflow(bars, scripted):
    # 3 one-minute bars, equity +~50%: growth ** (525600 / 3) exceeds the float range.
    model = scripted({0: [StrategyDecision(action=StrategyAction.ENTER, pair="A")]})
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model, base_position_size=1.0)], initial_capital=10_000.0)
    runner.run(bars({"A": [100.0, 120.0, 150.0]}), None)
    summary = runner.summary
    assert summary["total_return"] > 0.4
    assert summary["annual_return"] == math.inf


def test_summary_single_bar_run_has_finite_values(bars, scripted):
    model = scripted({0: [StrategyDecision(action=StrategyAction.ENTER, pair="A")]})
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model)], initial_capital=10_000.0)
    runner.run(bars({"A": [100.0]}), None)
    summary = runner.summary
    assert summary["n_bars"] == 1 and summary["n_trades"] == 1
    assert all(math.isfinite(v) for k, v in summary.items() if k != "profit_factor")



def test_summary_single_bar_run_is_not_annualised(bars, scripted):
    """One bar has no spacing to annualise by (`summarize`'s rule); the runner used to pass one
    period a year, so annual_return equalled total_return and Sortino read -1."""
    from datetime import datetime

    import polars as pl

    from signalflow.strategy.metrics import equity_curve_summary

    model = scripted({0: [StrategyDecision(action=StrategyAction.ENTER, pair="A")]})
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model)], initial_capital=10_000.0)
    runner.run(bars({"A": [100.0]}), None)
    summary = runner.summary
    assert summary["total_return"] < 0  # the entry fee
    assert (summary["annual_return"], summary["sharpe"], summary["sortino"]) == (0.0, 0.0, 0.0)
    curve = equity_curve_summary([9_990.0], pl.Series([datetime(2024, 1, 1)]), initial_capital=10_000.0)
    assert (curve["annual_return"], curve["sharpe"], curve["sortino"]) == (0.0, 0.0, 0.0)

def test_summary_counts_match_run_log(bars, scripted):
    enter = StrategyDecision(action=StrategyAction.ENTER, pair="A", size_multiplier=5.0)
    bogus = StrategyDecision(action=StrategyAction.CLOSE, pair="A", position_id="nope")
    model = scripted({0: [enter, enter], 1: [bogus]})
    runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model, base_position_size=0.5)], initial_capital=10_000.0)
    from signalflow.strategy.model import ModelExitRule

    runner.exit_rules.append(ModelExitRule(model=model))
    state = runner.run(bars({"A": [100.0, 101.0]}), None)
    log = state.log
    s = runner.summary
    assert (s["orders_reduced"], s["orders_rejected"], s["decisions_skipped"]) == (
        log.orders_reduced, log.orders_rejected, log.decisions_skipped)
    assert s["decisions_skipped"] == 1 and s["orders_reduced"] + s["orders_rejected"] >= 1
    assert s["model_calls"] == 2


def test_periods_per_year_sets_the_annualisation_of_the_summary(scripted):
    """Daily stock bars (weekdays only): the median spacing says 365 bars a year; a user who
    knows the market trades 252 passes it, and Sharpe scales by sqrt(252) instead."""
    from datetime import datetime, timedelta

    import numpy as np
    import polars as pl
    import pytest

    from signalflow.core.errors import ConfigError
    from signalflow.strategy.metrics import bar_returns

    days = [d for d in (datetime(2024, 1, 1) + timedelta(days=i) for i in range(60)) if d.weekday() < 5]
    closes = (100.0 * np.exp(np.cumsum(np.random.default_rng(4).normal(0.001, 0.01, len(days))))).tolist()
    bars = pl.DataFrame({"pair": ["A"] * len(days), "timestamp": days, "open": closes, "high": closes, "low": closes,
                         "close": closes, "volume": [1e6] * len(days)})
    model = scripted({0: [StrategyDecision(action=StrategyAction.ENTER, pair="A")]})

    def summary(**kwargs):
        runner = BacktestRunner(entry_rules=[ModelEntryRule(model=model, base_position_size=1.0)], **kwargs)
        runner.run(bars, None)
        return runner.summary, runner.metrics_df

    inferred, metrics = summary()
    given, _ = summary(periods_per_year=252)
    r = bar_returns(metrics["equity"].to_numpy(), 10_000.0)
    per_bar = float(np.mean(r) / np.std(r, ddof=1))
    assert inferred["sharpe"] == pytest.approx(per_bar * math.sqrt(365.0), rel=1e-9)
    assert given["sharpe"] == pytest.approx(per_bar * math.sqrt(252.0), rel=1e-9)
    assert given["total_return"] == inferred["total_return"]  # only the annualised figures change
    with pytest.raises(ConfigError, match=r"`periods_per_year` must be a positive number of bars per year or None"):
        BacktestRunner(periods_per_year=0)
