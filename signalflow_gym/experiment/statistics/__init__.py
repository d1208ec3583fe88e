"""Statistics a report needs to be trusted: pure functions of scores and per-bar returns.

- `aggregates`: over training runs (seeds) grouped in strata (tasks, folds, markets), as in
  rliable: `mean`, `median`, `iqm`; `aggregate_intervals` / `stratified_bootstrap_interval`
  (stratified bootstrap percentile CIs); `probability_of_improvement` (+ `_interval`);
  `performance_profile`.
- `sharpe`: per run: `sharpe_ratio`, `sharpe_interval` (stationary bootstrap, `arch`),
  `probabilistic_sharpe_ratio` (Bailey & López de Prado 2012), `expected_maximum_sharpe` and
  `deflated_sharpe_ratio` (2014), each also `*_of_returns`.
- `overfitting`: per search: `probability_of_backtest_overfitting` (CSCV; Bailey, Borwein,
  López de Prado & Zhu 2015).

Libraries: `scipy.stats` (trim_mean, mannwhitneyu, rankdata, norm, skew, kurtosis) and
`arch.bootstrap` (StationaryBootstrap, optimal_block_length); resampling of runs uses
``numpy.random.default_rng(seed)``. Every function is deterministic for a given `seed`.
"""

from signalflow_gym.experiment.statistics.aggregates import (
    AGGREGATE_NAMES,
    IntervalEstimate,
    PerformanceProfile,
    aggregate_intervals,
    iqm,
    mean,
    median,
    performance_profile,
    probability_of_improvement,
    probability_of_improvement_interval,
    stratified_bootstrap_interval,
)
from signalflow_gym.experiment.statistics.overfitting import BacktestOverfitting, probability_of_backtest_overfitting
from signalflow_gym.experiment.statistics.sharpe import (
    SharpeEstimate,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_of_returns,
    expected_maximum_sharpe,
    probabilistic_sharpe_ratio,
    probabilistic_sharpe_ratio_of_returns,
    sharpe_interval,
    sharpe_ratio,
)

__all__ = [
    "AGGREGATE_NAMES",
    "BacktestOverfitting",
    "IntervalEstimate",
    "PerformanceProfile",
    "SharpeEstimate",
    "aggregate_intervals",
    "deflated_sharpe_ratio",
    "deflated_sharpe_ratio_of_returns",
    "expected_maximum_sharpe",
    "iqm",
    "mean",
    "median",
    "performance_profile",
    "probabilistic_sharpe_ratio",
    "probabilistic_sharpe_ratio_of_returns",
    "probability_of_backtest_overfitting",
    "probability_of_improvement",
    "probability_of_improvement_interval",
    "sharpe_interval",
    "sharpe_ratio",
    "stratified_bootstrap_interval",
]
