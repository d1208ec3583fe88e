"""The uncertainty numbers of an evaluation report, from backtests of the same bars.

A **policy** is the agent or a baseline; a **run** is one backtest of it: the agent has one
run per training seed, the random baseline one per random seed, and the deterministic rules
(hold, threshold, buy-and-hold) a single run (they have no seed to vary). Every function here
takes finished backtests (per-bar equity curves, summaries) and returns plain dicts for
``report.json``; the statistics themselves come from `signalflow_gym.experiment.statistics`.

- `run_statistics`: per run, the annualised Sharpe with its 95% stationary-bootstrap CI of the
  per-bar returns, and the Probabilistic Sharpe Ratio against 0 and against a benchmark's
  per-bar Sharpe (buy-and-hold's in the report);
- `policy_aggregates`: per policy, mean / median / IQM over its runs of total return and of
  Sharpe, each with a 95% stratified bootstrap CI (a deterministic policy's CI is its value;
  an agent with one seed has no CI: null);
- `improvement`: P(agent > baseline) over runs (Mann-Whitney form) with its bootstrap CI;
- `profiles`: performance profiles (share of runs whose total return exceeds each threshold).

Every bootstrap is seeded (seed 0), so a report is reproducible.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from signalflow.strategy.metrics import bar_returns, periods_per_year
from signalflow_gym.experiment.statistics import (
    IntervalEstimate,
    PerformanceProfile,
    aggregate_intervals,
    performance_profile,
    probabilistic_sharpe_ratio_of_returns,
    probability_of_improvement,
    probability_of_improvement_interval,
    sharpe_interval,
    sharpe_ratio,
)

__all__ = [
    "CONFIDENCE",
    "DETERMINISTIC_POLICIES",
    "run_statistics",
    "policy_aggregates",
    "improvement",
    "profiles",
]

#: Nominal coverage of every interval in a report.
CONFIDENCE = 0.95
#: Baselines with a single run (no seed): their "CI" over runs is their value.
DETERMINISTIC_POLICIES = ("hold", "threshold", "buy_and_hold")
#: Bootstrap replications: per-run Sharpe (stationary bootstrap of bars), aggregates and P(X > Y).
SHARPE_REPS = 1_000
AGGREGATE_REPS = 5_000
PROFILE_REPS = 2_000
#: Fewest bars for a Sharpe CI (`sharpe_interval` refuses fewer).
MIN_BARS_FOR_CI = 10


def run_statistics(metrics_df: pl.DataFrame, *, initial_capital: float, benchmark_returns: np.ndarray | None,
                   label: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One run's numbers: total return, Sharpe (annualised) with its CI, PSR vs 0 and vs a benchmark.

    `metrics_df`: the run's per-bar frame (`timestamp`, `equity`). `benchmark_returns`: per-bar
    returns of the benchmark on the same bars (buy-and-hold), or None. The PSRs compare per-bar
    Sharpe ratios (Bailey & López de Prado 2012); they are NaN for a run whose returns have no
    variance (never traded). The Sharpe CI is null below `MIN_BARS_FOR_CI` bars.
    """
    equity = metrics_df.get_column("equity").to_numpy()
    returns = bar_returns(equity, initial_capital)
    ppy = periods_per_year(metrics_df.get_column("timestamp")) if metrics_df.height >= 2 else 1.0
    out: dict[str, Any] = dict(label or {})
    out["total_return"] = float(equity[-1] / initial_capital - 1.0) if equity.size else 0.0
    out["n_bars"] = int(returns.size)
    if returns.size >= MIN_BARS_FOR_CI:
        out["sharpe"] = sharpe_interval(returns, periods_per_year=ppy, confidence=CONFIDENCE, reps=SHARPE_REPS).to_dict()
    else:
        value = sharpe_ratio(returns, periods_per_year=ppy) if returns.size >= 2 else 0.0
        out["sharpe"] = {"value": value, "low": None, "high": None, "confidence": CONFIDENCE,
                         "periods_per_year": ppy, "n_bars": int(returns.size)}
    enough = returns.size >= 2
    out["psr_vs_zero"] = probabilistic_sharpe_ratio_of_returns(returns) if enough else math.nan
    if benchmark_returns is not None and enough and len(benchmark_returns) >= 2:
        benchmark = sharpe_ratio(benchmark_returns)  # per bar
        out["benchmark_sharpe_per_bar"] = benchmark
        out["psr_vs_buy_and_hold"] = probabilistic_sharpe_ratio_of_returns(returns, benchmark=benchmark)
    return out


def _fixed(value: float) -> dict[str, Any]:
    return IntervalEstimate(value=value, low=value, high=value, confidence=CONFIDENCE).to_dict()


def _no_interval(value: float) -> dict[str, Any]:
    return {"value": value, "low": None, "high": None, "confidence": CONFIDENCE}


def policy_aggregates(total_returns: Sequence[float], sharpes: Sequence[float], *, deterministic: bool) -> dict[str, Any]:
    """``{"n_runs", "ci": how the CI was made, "total_return": {mean, median, iqm}, "sharpe": {...}}``.

    Each aggregate is ``{"value", "low", "high", "confidence"}``: a stratified bootstrap
    percentile CI over the runs (one stratum: the evaluation bars) when there are 2 or more;
    for a `deterministic` policy's single run the value itself (no spread over seeds); for a
    single run of a seeded policy (the agent trained with one seed) no CI (null).
    """
    n = len(total_returns)
    out: dict[str, Any] = {"n_runs": n}
    for key, values in (("total_return", total_returns), ("sharpe", sharpes)):
        values = np.asarray(values, dtype=np.float64)
        if n >= 2:
            out[key] = {name: est.to_dict() for name, est in
                        aggregate_intervals(values, confidence=CONFIDENCE, reps=AGGREGATE_REPS).items()}
            out["ci"] = "stratified bootstrap over runs"
        else:
            make = _fixed if deterministic else _no_interval
            out[key] = {name: make(float(values[0])) for name in ("mean", "median", "iqm")}
            out["ci"] = "deterministic: one run" if deterministic else "one run: no CI (train more seeds)"
    return out


def improvement(agent_returns: Sequence[float], baseline_returns: Sequence[float]) -> dict[str, Any]:
    """P(agent > baseline) over runs (total return), with its bootstrap CI when the agent has >= 2 runs.

    The share of (agent run, baseline run) pairs the agent wins, a tie counting 1/2 (the
    Mann-Whitney U over ``n_agent * n_baseline``). The CI resamples both sides' runs
    independently; a baseline with one run (deterministic) is kept as it is.
    """
    x = np.asarray(agent_returns, dtype=np.float64)
    y = np.asarray(baseline_returns, dtype=np.float64)
    out: dict[str, Any] = {"n_agent_runs": int(x.size), "n_baseline_runs": int(y.size)}
    if x.size >= 2:
        est = probability_of_improvement_interval(x, y, confidence=CONFIDENCE, reps=AGGREGATE_REPS,
                                                  min_y_runs=1 if y.size == 1 else 2)
        out.update(est.to_dict())
    else:
        out.update(_no_interval(probability_of_improvement(x, y)))
    return out


def profiles(returns_by_policy: Mapping[str, Sequence[float]], *, points: int = 101) -> dict[str, PerformanceProfile]:
    """Performance profiles of total return on common thresholds (`points` from the lowest to the
    highest run of any policy); a band for policies with 2 or more runs."""
    pooled = np.concatenate([np.asarray(v, dtype=np.float64) for v in returns_by_policy.values()])
    low, high = float(pooled.min()), float(pooled.max())
    if high <= low:
        low, high = low - 0.01, high + 0.01
    taus = np.linspace(low, high, points)
    return {name: performance_profile(np.asarray(v, dtype=np.float64), taus, confidence=CONFIDENCE,
                                      reps=PROFILE_REPS if len(v) >= 2 else 0)
            for name, v in returns_by_policy.items()}
