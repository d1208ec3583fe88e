"""Per-bar metric names and run summaries.

Per-bar metrics are recorded by the runner (see `METRIC_NAMES`); the summary
statistics below are pure functions of `metrics_df` and `trades_df`.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from signalflow.core.bar_metrics import METRIC_NAMES
from signalflow.core.errors import ConfigError
from signalflow.core.values import is_finite_real

__all__ = ["METRIC_NAMES", "SUMMARY_NAMES", "bar_returns", "equity_curve_summary", "periods_per_year", "summarize", "format_summary_table"]

# --------------------------------------------------------------------------- run summaries
# Pure functions of `metrics_df` (one row per bar) and `trades_df` (one row per
# position). No state; nothing here touches the broker.

#: Keys of the dict returned by `summarize`, in order.
SUMMARY_NAMES: tuple[str, ...] = (
    "total_return",
    "annual_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "n_trades",
    "n_closed_trades",
    "exposure",
    "avg_exposure",
    "fees",
    "final_equity",
    "n_bars",
    "orders_rejected",
    "orders_reduced",
    "decisions_skipped",
)

_SECONDS_PER_YEAR = 365 * 24 * 3600
_USED_METRICS: tuple[str, ...] = (
    "equity",
    "current_drawdown",
    "exposure",
    "open_positions",
    "fees_paid",
    "orders_rejected",
    "orders_reduced",
    "decisions_skipped",
)


def periods_per_year(timestamps: pl.Series) -> float:
    """Bars per year (365 days) implied by the median spacing of `timestamps`.

    `timestamps` is a Datetime or Date series in increasing order (e.g. the
    `timestamp` column of `metrics_df`). 1-minute bars give 525600.0, daily
    bars 365.0. Raises `ConfigError` for fewer than 2 timestamps or a
    non-positive median spacing.
    """
    if not isinstance(timestamps, pl.Series):
        raise ConfigError(
            f"`timestamps` must be a polars Series, was {type(timestamps).__name__}; "
            f"pass metrics_df['timestamp']"
        )
    if not (isinstance(timestamps.dtype, pl.Datetime) or timestamps.dtype == pl.Date):
        raise ConfigError(
            f"`timestamps` must have a Datetime or Date dtype, was {timestamps.dtype}; "
            f"cast the column with .str.to_datetime() or .cast(pl.Datetime)"
        )
    ts = timestamps.drop_nulls()
    if ts.len() < 2:
        raise ConfigError(
            f"`timestamps` must hold at least 2 non-null values to infer the bar spacing, "
            f"was {ts.len()}; pass `periods_per_year` explicitly"
        )
    if ts.dtype == pl.Date:
        ts = ts.cast(pl.Datetime("us"))
    median_us = ts.diff().drop_nulls().dt.total_microseconds().median()
    if median_us is None or median_us <= 0:
        raise ConfigError(
            f"median spacing of `timestamps` must be positive, was {median_us} µs; "
            f"sort the timestamps and drop duplicates"
        )
    return _SECONDS_PER_YEAR * 1_000_000 / float(median_us)


_infer_periods_per_year = periods_per_year  # `summarize` shadows the name with its argument


def _require_columns(df: pl.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(
            f"`{name}` must have columns {list(columns)}, was missing {missing}; "
            f"pass the frame produced by the runner"
        )


def _final(column: pl.Series) -> float:
    value = column.drop_nulls().tail(1).to_list()
    return float(value[0]) if value else 0.0


def summarize(
    metrics_df: pl.DataFrame,
    trades_df: pl.DataFrame,
    *,
    initial_capital: float,
    periods_per_year: float | None = None,
) -> dict[str, float]:
    """Summary statistics of one run (keys: `SUMMARY_NAMES`; all values floats).

    `metrics_df`: one row per bar, `timestamp` plus the `METRIC_NAMES`
    columns. `trades_df`: one row per position (closed and still open), with
    at least `is_closed` and `net_pnl` (see `TRADES_SCHEMA`).
    `initial_capital` is in quote currency; `periods_per_year` (bars per
    year) is inferred from the timestamps when None (`periods_per_year()`).

    Definitions (fractions are plain floats, 0.05 == 5%; r_t are the per-bar
    simple equity returns ``equity_t / equity_{t-1} - 1`` with
    ``equity_{-1} = initial_capital``; N = number of bars; P = periods per year):

    - total_return: ``final_equity / initial_capital - 1``.
    - annual_return: ``(final_equity / initial_capital) ** (P / N) - 1``
      (geometric; -1.0 when final equity <= 0).
    - sharpe: ``mean(r) / std(r) * sqrt(P)``, sample std (ddof=1), no risk-free
      rate; 0.0 if std == 0 or N < 2.
    - sortino: ``mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(P)``; 0.0 if the
      downside deviation is 0.
    - max_drawdown: maximum of `current_drawdown` (a positive fraction).
    - win_rate: closed trades with ``net_pnl > 0`` / closed trades; 0.0 if none.
    - profit_factor: sum of positive ``net_pnl`` / |sum of negative ``net_pnl``|
      over closed trades; ``inf`` if there are wins and no losses; 0.0 if
      there are no wins (including no trades).
    - n_trades: rows of `trades_df` (closed + still open); n_closed_trades: closed ones.
    - exposure: fraction of bars with ``open_positions > 0``.
    - avg_exposure: mean of the `exposure` column (gross exposure / equity).
    - fees, final_equity, orders_rejected, orders_reduced, decisions_skipped:
      last values of `fees_paid`, `equity`, ... (cumulative columns).
    - n_bars: N.

    With 0 bars every value is 0.0 except ``final_equity = initial_capital``.
    When `periods_per_year` is None and there are fewer than 2 bars,
    annual_return, sharpe and sortino are 0.0 (the bar spacing is unknown).
    """
    if not math.isfinite(initial_capital) or initial_capital <= 0:
        raise ConfigError(
            f"`initial_capital` must be a positive finite number, was {initial_capital}; "
            f"pass the capital the run started with"
        )
    if periods_per_year is not None and (not math.isfinite(periods_per_year) or periods_per_year <= 0):
        raise ConfigError(
            f"`periods_per_year` must be a positive finite number or None, was {periods_per_year}; "
            f"e.g. 525600 for 1-minute bars, or None to infer it"
        )
    out: dict[str, float] = dict.fromkeys(SUMMARY_NAMES, 0.0)
    out["final_equity"] = float(initial_capital)

    # ---- trades
    if trades_df.height > 0:
        _require_columns(trades_df, ("is_closed", "net_pnl"), "trades_df")
        closed = trades_df.filter(pl.col("is_closed")).get_column("net_pnl").drop_nulls()
        n_closed = closed.len()
        wins = closed.filter(closed > 0)
        losses = closed.filter(closed < 0)
        gross_profit = float(wins.sum()) if wins.len() else 0.0
        gross_loss = -float(losses.sum()) if losses.len() else 0.0
        out["n_trades"] = float(trades_df.height)
        out["n_closed_trades"] = float(n_closed)
        out["win_rate"] = wins.len() / n_closed if n_closed else 0.0
        if gross_loss > 0:
            out["profit_factor"] = gross_profit / gross_loss
        else:
            out["profit_factor"] = math.inf if gross_profit > 0 else 0.0

    # ---- bars
    n_bars = metrics_df.height
    if n_bars == 0:
        return out
    _require_columns(metrics_df, ("timestamp", *_USED_METRICS), "metrics_df")
    equity = metrics_df.get_column("equity").cast(pl.Float64)
    if equity.null_count() or not equity.is_finite().all():
        raise ConfigError(
            "column `equity` of `metrics_df` must be finite and non-null, was not "
            f"(first bad row {_first_bad_row(equity)}); check the run's accounting"
        )
    eq = equity.to_numpy()
    ppy = periods_per_year
    if ppy is None and n_bars >= 2:
        ppy = _infer_periods_per_year(metrics_df.get_column("timestamp"))

    out["n_bars"] = float(n_bars)
    out.update(_return_stats(eq, initial_capital, ppy))
    drawdown = metrics_df.get_column("current_drawdown").drop_nulls()
    out["max_drawdown"] = float(drawdown.max()) if drawdown.len() else 0.0
    out["exposure"] = float((metrics_df.get_column("open_positions").fill_null(0) > 0).mean())
    avg_exposure = metrics_df.get_column("exposure").mean()
    out["avg_exposure"] = float(avg_exposure) if avg_exposure is not None else 0.0
    out["fees"] = _final(metrics_df.get_column("fees_paid"))
    out["orders_rejected"] = _final(metrics_df.get_column("orders_rejected"))
    out["orders_reduced"] = _final(metrics_df.get_column("orders_reduced"))
    out["decisions_skipped"] = _final(metrics_df.get_column("decisions_skipped"))
    return out


def bar_returns(equity: np.ndarray | pl.Series, initial_capital: float) -> np.ndarray:
    """Per-bar simple returns of an equity curve (a fraction per bar, one value per bar of
    `equity`): bar t's return is ``equity[t] / equity[t - 1] - 1``, the first bar's against
    `initial_capital`. What `summarize`'s Sharpe and Sortino are computed from.

    After a ruin (equity 0), a bar that stays at 0 returns 0.0: nothing is left to lose, and
    the -100% bar itself keeps the ruined run's Sharpe and Sortino negative (0/0 would make
    them NaN, reported as 0.0, the score of never trading)."""
    if not (is_finite_real(initial_capital) and initial_capital > 0):
        raise ConfigError(f"`initial_capital` must be a positive finite number, was {initial_capital!r}")
    eq = np.asarray(equity, dtype=np.float64)
    previous = np.concatenate(([float(initial_capital)], eq[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):  # zero equity, then more: inf
        returns = eq / previous - 1.0
    returns[(previous == 0.0) & (eq == 0.0)] = 0.0
    return returns


def _return_stats(equity: np.ndarray, initial_capital: float, ppy: float | None) -> dict[str, float]:
    """final_equity, total_return, annual_return, sharpe and sortino of an equity curve (one
    value per bar, after `initial_capital`), as defined in `summarize`; with `ppy` None the
    annualised ones are 0.0."""
    final_equity = float(equity[-1])
    out = {"final_equity": final_equity, "total_return": final_equity / initial_capital - 1.0,
           "annual_return": 0.0, "sharpe": 0.0, "sortino": 0.0}
    n_bars = len(equity)
    returns = pl.Series("r", bar_returns(equity, initial_capital), dtype=pl.Float64)
    mean_r = float(returns.mean())
    if ppy is not None:
        growth = final_equity / initial_capital
        if growth > 0:
            exponent = math.log(growth) * ppy / n_bars
            # A few bars extrapolated to a year can exceed float range: report inf, not a crash.
            out["annual_return"] = math.expm1(exponent) if exponent < 700 else math.inf
        else:
            out["annual_return"] = -1.0
        std = returns.std(ddof=1) if n_bars >= 2 else None
        if std is not None and std > 0 and math.isfinite(std):
            out["sharpe"] = mean_r / std * math.sqrt(ppy)
        downside = math.sqrt(float((returns.clip(upper_bound=0.0) ** 2).mean()))
        if downside > 0:
            out["sortino"] = mean_r / downside * math.sqrt(ppy)
    return out


def equity_curve_summary(
    equity: np.ndarray | pl.Series,
    timestamps: pl.Series,
    *,
    initial_capital: float,
    periods_per_year: float | None = None,
) -> dict[str, float]:
    """total_return, annual_return, sharpe, sortino (as in `summarize`), max_drawdown (from the
    running peak of the curve, starting at `initial_capital`) and n_bars of an equity curve
    alone, e.g. one stitched from walk-forward folds. `periods_per_year` is inferred from
    `timestamps` when None (1.0 for a single bar)."""
    eq = np.asarray(equity, dtype=np.float64)
    if len(eq) == 0:
        return {"total_return": 0.0, "annual_return": 0.0, "sharpe": 0.0, "sortino": 0.0, "max_drawdown": 0.0,
                "n_bars": 0.0}
    ppy = periods_per_year
    if ppy is None:
        ppy = _infer_periods_per_year(timestamps) if len(eq) > 1 else None  # one bar: not annualised
    out = _return_stats(eq, initial_capital, ppy)
    del out["final_equity"]
    peak = np.maximum.accumulate(np.concatenate([[initial_capital], eq]))[1:]
    out["max_drawdown"] = float(np.max(1.0 - eq / peak))
    out["n_bars"] = float(len(eq))
    return out


def _first_bad_row(column: pl.Series) -> int:
    bad = (column.is_null() | ~column.fill_null(0.0).is_finite()).arg_true()
    return int(bad[0]) if bad.len() else -1


#: (summary key, column header, kind) of `format_summary_table`.
_TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "total_return %", "pct"),
    ("sharpe", "sharpe", "ratio"),
    ("sortino", "sortino", "ratio"),
    ("max_drawdown", "max_drawdown %", "pct"),
    ("win_rate", "win_rate %", "pct"),
    ("profit_factor", "profit_factor", "ratio"),
    ("n_trades", "n_trades", "int"),
    ("exposure", "exposure %", "pct"),
    ("fees", "fees", "money"),
)


def _format_cell(value: float, kind: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "pct":
        return f"{100.0 * value:.2f}"
    if kind == "int":
        return f"{int(round(value))}"
    return f"{value:.2f}"


def format_summary_table(summaries: dict[str, dict[str, float]]) -> str:
    """A markdown table of run summaries: one row per named run (dict order).

    Columns: run, total_return %, sharpe, sortino, max_drawdown %, win_rate %,
    profit_factor, n_trades, exposure %, fees (quote currency). Percentages
    are fractions * 100 with 2 decimals; `inf` is written as "inf". Raises
    `ConfigError` if a summary lacks one of these keys.
    """
    header = "| run | " + " | ".join(h for _, h, _ in _TABLE_COLUMNS) + " |"
    rule = "|---|" + "|".join("---:" for _ in _TABLE_COLUMNS) + "|"
    lines = [header, rule]
    for run, summary in summaries.items():
        missing = [k for k, _, _ in _TABLE_COLUMNS if k not in summary]
        if missing:
            raise ConfigError(
                f"summary of run `{run}` must have keys {[k for k, _, _ in _TABLE_COLUMNS]}, "
                f"was missing {missing}; pass dicts returned by `summarize`"
            )
        name = str(run).replace("|", "\\|")
        cells = [_format_cell(float(summary[k]), kind) for k, _, kind in _TABLE_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
