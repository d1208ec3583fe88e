"""Tests of signalflow.strategy.metrics: METRIC_NAMES and pure run summaries."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from signalflow.core import ConfigError, Trade
from signalflow.strategy.exporter import TRADES_SCHEMA, trades_frame
from signalflow.strategy.metrics import (
    METRIC_NAMES,
    SUMMARY_NAMES,
    format_summary_table,
    periods_per_year,
    summarize,
)

T0 = datetime(2024, 1, 1)
DAILY = 365.0


def _metrics_df(equity: list[float], *, open_positions: list[int] | None = None, step: timedelta = timedelta(days=1)) -> pl.DataFrame:
    """One row per bar with every METRIC_NAMES column; drawdown derived from equity."""
    n = len(equity)
    peak: list[float] = []
    for e in equity:
        peak.append(max(e, peak[-1]) if peak else e)
    dd = [1 - e / p for e, p in zip(equity, peak)]
    cols: dict[str, list[float]] = {name: [0.0] * n for name in METRIC_NAMES}
    cols["equity"] = equity
    cols["peak_equity"] = peak
    cols["current_drawdown"] = dd
    cols["max_drawdown"] = [max(dd[: i + 1]) for i in range(n)]
    cols["open_positions"] = [float(x) for x in (open_positions or [0] * n)]
    cols["exposure"] = [0.5 if x else 0.0 for x in (open_positions or [0] * n)]
    cols["fees_paid"] = [0.1 * (i + 1) for i in range(n)]
    cols["orders_rejected"] = [float(i) for i in range(n)]
    return pl.DataFrame({"timestamp": [T0 + i * step for i in range(n)], **cols})


def _trades(net_pnls: list[float], *, open_pnls: list[float] = ()) -> pl.DataFrame:  # type: ignore[assignment]
    def trade(i: int, net: float, closed: bool) -> Trade:
        return Trade(
            position_id=f"p{i}", pair="BTCUSDT", position_type="long", entry_time=T0,
            exit_time=T0 if closed else None, entry_price=100.0, exit_price=100.0 if closed else None,
            qty=1.0, realized_pnl=net if closed else 0.0, unrealized_pnl=0.0 if closed else net, fees=0.0,
            net_pnl=net, return_pct=net / 100.0, exit_reason="model" if closed else None,
            is_closed=closed, bars_held=1, last_price=100.0,
        )

    trades = [trade(i, p, True) for i, p in enumerate(net_pnls)]
    trades += [trade(100 + i, p, False) for i, p in enumerate(open_pnls)]
    return trades_frame(trades)


NO_TRADES = pl.DataFrame(schema=TRADES_SCHEMA)


# ---------------------------------------------------------------- METRIC_NAMES
def test_metric_names_unchanged() -> None:
    assert METRIC_NAMES[:3] == ("equity", "cash", "positions_value")
    # the 18 original names keep their order; margin accounts appended `borrow_paid`
    assert len(METRIC_NAMES) == 19 and len(set(METRIC_NAMES)) == 19
    assert METRIC_NAMES[17:] == ("decisions_skipped", "borrow_paid")


# ---------------------------------------------------------------- periods_per_year
def test_periods_per_year_one_minute_bars_525600() -> None:
    ts = pl.Series([T0 + timedelta(minutes=i) for i in range(10)])
    assert periods_per_year(ts) == pytest.approx(525600.0)


def test_periods_per_year_gap_uses_median_spacing() -> None:
    ts = pl.Series([T0, T0 + timedelta(days=1), T0 + timedelta(days=2), T0 + timedelta(days=30)])
    assert periods_per_year(ts) == pytest.approx(365.0)


def test_periods_per_year_date_dtype_daily_365() -> None:
    ts = pl.Series([T0.date(), (T0 + timedelta(days=1)).date()])
    assert periods_per_year(ts) == pytest.approx(365.0)


def test_periods_per_year_one_timestamp_raises_config_error() -> None:
    msg = (
        "`timestamps` must hold at least 2 non-null values to infer the bar spacing, was 1; "
        "pass `periods_per_year` explicitly"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(msg)}$"):
        periods_per_year(pl.Series([T0]))


def test_periods_per_year_duplicate_timestamps_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="^median spacing of `timestamps` must be positive, was 0"):
        periods_per_year(pl.Series([T0, T0, T0]))


def test_periods_per_year_integer_series_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="^`timestamps` must have a Datetime or Date dtype, was Int64"):
        periods_per_year(pl.Series([1, 2, 3]))


# ---------------------------------------------------------------- summarize: equity curve
def test_summarize_keys_are_summary_names() -> None:
    out = summarize(_metrics_df([100.0, 110.0]), NO_TRADES, initial_capital=100.0)
    assert tuple(out) == SUMMARY_NAMES


def test_summarize_up_then_down_returns_and_drawdown() -> None:
    out = summarize(_metrics_df([100.0, 110.0, 99.0]), NO_TRADES, initial_capital=100.0)
    # returns: 0, +0.1, -0.1 -> mean 0
    assert out["total_return"] == pytest.approx(-0.01)
    assert out["max_drawdown"] == pytest.approx(0.1)
    assert out["sharpe"] == pytest.approx(0.0)
    assert out["sortino"] == pytest.approx(0.0)
    assert out["final_equity"] == 99.0
    assert out["n_bars"] == 3.0


def test_summarize_sharpe_sortino_annual_hand_computed() -> None:
    out = summarize(_metrics_df([110.0, 121.0, 108.9]), NO_TRADES, initial_capital=100.0, periods_per_year=DAILY)
    # returns 0.1, 0.1, -0.1 (first from initial capital)
    mean = 0.1 / 3
    std = math.sqrt(((0.2 / 3) ** 2 * 2 + (0.4 / 3) ** 2) / 2)
    downside = math.sqrt(0.01 / 3)
    assert out["sharpe"] == pytest.approx(mean / std * math.sqrt(365))
    assert out["sortino"] == pytest.approx(mean / downside * math.sqrt(365))
    assert out["annual_return"] == pytest.approx(1.089 ** (365 / 3) - 1)
    assert out["total_return"] == pytest.approx(0.089)


def test_summarize_periods_per_year_none_inferred_from_timestamps() -> None:
    df = _metrics_df([110.0, 121.0, 108.9])
    assert summarize(df, NO_TRADES, initial_capital=100.0) == summarize(
        df, NO_TRADES, initial_capital=100.0, periods_per_year=DAILY
    )


def test_summarize_flat_equity_sharpe_zero() -> None:
    out = summarize(_metrics_df([100.0] * 4), NO_TRADES, initial_capital=100.0)
    assert (out["sharpe"], out["sortino"], out["annual_return"]) == (0.0, 0.0, 0.0)


def test_summarize_only_gains_sortino_zero_sharpe_positive() -> None:
    out = summarize(_metrics_df([101.0, 103.0, 104.0]), NO_TRADES, initial_capital=100.0)
    assert out["sortino"] == 0.0
    assert out["sharpe"] > 0.0


def test_summarize_a_ruined_run_scores_negative_not_zero() -> None:
    # equity hits 0 and stays there: the bars after the ruin return 0, not 0/0
    out = summarize(_metrics_df([100.0, 50.0, 0.0, 0.0, 0.0]), NO_TRADES, initial_capital=100.0)
    assert out["total_return"] == -1.0 and out["annual_return"] == -1.0
    returns = np.array([0.0, -0.5, -1.0, 0.0, 0.0])
    assert out["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(DAILY), rel=1e-12)
    assert out["sharpe"] < 0.0 and out["sortino"] < 0.0


def test_summarize_exposure_fraction_of_bars_with_positions() -> None:
    out = summarize(_metrics_df([100.0] * 4, open_positions=[0, 1, 2, 0]), NO_TRADES, initial_capital=100.0)
    assert out["exposure"] == 0.5
    assert out["avg_exposure"] == pytest.approx(0.25)


def test_summarize_cumulative_columns_take_final_values() -> None:
    out = summarize(_metrics_df([100.0] * 3), NO_TRADES, initial_capital=100.0)
    assert out["fees"] == pytest.approx(0.3)
    assert out["orders_rejected"] == 2.0
    assert out["orders_reduced"] == 0.0


def test_summarize_no_bars_zeros_and_initial_equity() -> None:
    out = summarize(_metrics_df([]), NO_TRADES, initial_capital=100.0)
    assert out["n_bars"] == 0.0
    assert out["final_equity"] == 100.0
    assert all(v == 0.0 for k, v in out.items() if k != "final_equity")


def test_summarize_one_bar_without_periods_ratios_zero() -> None:
    out = summarize(_metrics_df([120.0]), NO_TRADES, initial_capital=100.0)
    assert out["total_return"] == pytest.approx(0.2)
    assert (out["sharpe"], out["annual_return"]) == (0.0, 0.0)


def test_summarize_ruin_annual_return_minus_one() -> None:
    out = summarize(_metrics_df([50.0, 0.0]), NO_TRADES, initial_capital=100.0)
    assert out["annual_return"] == -1.0


def test_summarize_bad_initial_capital_raises_config_error() -> None:
    msg = "`initial_capital` must be a positive finite number, was 0.0; pass the capital the run started with"
    with pytest.raises(ConfigError, match=f"^{re.escape(msg)}$"):
        summarize(_metrics_df([1.0]), NO_TRADES, initial_capital=0.0)


def test_summarize_missing_column_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^`metrics_df` must have columns .*was missing \['equity'\]"):
        summarize(_metrics_df([1.0]).drop("equity"), NO_TRADES, initial_capital=1.0)


def test_summarize_null_equity_raises_config_error() -> None:
    df = _metrics_df([100.0, 101.0]).with_columns(pl.Series("equity", [100.0, None]))
    with pytest.raises(ConfigError, match=r"first bad row 1"):
        summarize(df, NO_TRADES, initial_capital=100.0)


# ---------------------------------------------------------------- summarize: trades
def test_summarize_trades_win_rate_and_profit_factor() -> None:
    out = summarize(_metrics_df([100.0]), _trades([10.0, -5.0, 20.0, -10.0]), initial_capital=100.0)
    assert out["win_rate"] == 0.5
    assert out["profit_factor"] == pytest.approx(2.0)


def test_summarize_only_wins_profit_factor_inf() -> None:
    out = summarize(_metrics_df([100.0]), _trades([1.0, 2.0]), initial_capital=100.0)
    assert out["profit_factor"] == math.inf
    assert out["win_rate"] == 1.0


def test_summarize_only_losses_profit_factor_zero() -> None:
    out = summarize(_metrics_df([100.0]), _trades([-1.0]), initial_capital=100.0)
    assert (out["profit_factor"], out["win_rate"]) == (0.0, 0.0)


def test_summarize_no_trades_profit_factor_and_win_rate_zero() -> None:
    out = summarize(_metrics_df([100.0]), NO_TRADES, initial_capital=100.0)
    assert (out["profit_factor"], out["win_rate"], out["n_trades"]) == (0.0, 0.0, 0.0)


def test_summarize_breakeven_trade_is_not_a_win() -> None:
    out = summarize(_metrics_df([100.0]), _trades([0.0, 5.0]), initial_capital=100.0)
    assert out["win_rate"] == 0.5


def test_summarize_open_positions_count_in_n_trades_only() -> None:
    out = summarize(_metrics_df([100.0]), _trades([5.0], open_pnls=[-50.0]), initial_capital=100.0)
    assert (out["n_trades"], out["n_closed_trades"]) == (2.0, 1.0)
    assert out["profit_factor"] == math.inf


def test_summarize_empty_frame_without_columns_no_trades() -> None:
    out = summarize(_metrics_df([100.0]), pl.DataFrame(), initial_capital=100.0)
    assert out["n_trades"] == 0.0


# ---------------------------------------------------------------- format_summary_table
def test_format_summary_table_markdown_rows_per_run() -> None:
    a = summarize(_metrics_df([100.0, 110.0, 99.0]), _trades([1.0]), initial_capital=100.0)
    table = format_summary_table({"ppo": a, "buy|hold": a})
    lines = table.splitlines()
    assert lines[0] == (
        "| run | total_return % | sharpe | sortino | max_drawdown % | win_rate % "
        "| profit_factor | n_trades | exposure % | fees |"
    )
    assert lines[1].startswith("|---|")
    assert lines[2] == "| ppo | -1.00 | 0.00 | 0.00 | 10.00 | 100.00 | inf | 1 | 0.00 | 0.30 |"
    assert lines[3].startswith("| buy\\|hold |")


def test_format_summary_table_missing_key_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^summary of run `x` must have keys"):
        format_summary_table({"x": {"sharpe": 1.0}})


def test_equity_curve_summary_agrees_with_summarize_on_a_run():
    """The statistics of a bare equity curve are those `summarize` reports for the run it came from."""
    from datetime import datetime, timedelta

    from signalflow.strategy.metrics import equity_curve_summary

    n = 50
    ts = pl.Series("timestamp", [datetime(2024, 1, 1) + timedelta(hours=i) for i in range(n)])
    equity = 10_000.0 * (1.0 + 0.01 * np.sin(np.arange(n) / 3.0)) * (1.0005 ** np.arange(n))
    peak = np.maximum.accumulate(np.concatenate([[10_000.0], equity]))[1:]
    metrics_df = pl.DataFrame({"timestamp": ts, **{name: np.zeros(n) for name in METRIC_NAMES}}).with_columns(
        pl.Series("equity", equity), pl.Series("current_drawdown", 1.0 - equity / peak))
    trades_df = pl.DataFrame({"is_closed": [True], "net_pnl": [1.0]})
    full = summarize(metrics_df, trades_df, initial_capital=10_000.0)
    curve = equity_curve_summary(equity, ts, initial_capital=10_000.0)
    for key in ("total_return", "annual_return", "sharpe", "sortino", "max_drawdown", "n_bars"):
        assert curve[key] == full[key], key
    assert equity_curve_summary(np.array([]), ts.head(0), initial_capital=1.0)["n_bars"] == 0.0
