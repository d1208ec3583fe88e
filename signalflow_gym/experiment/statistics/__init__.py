"""Statistics a report needs to be trusted: pure functions of scores and per-bar returns.

- `aggregates`: over training runs (seeds) grouped in strata (tasks, folds, markets), as in
  rliable: `mean`, `median`, `iqm`; `aggregate_intervals` / `stratified_bootstrap_interval`
  (stratified bootstrap percentile CIs); `probability_of_improvement` (+ `_interval`);
  `performance_profile`.

Libraries: `scipy.stats` (trim_mean, mannwhitneyu); resampling of runs uses
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

__all__ = [
    "AGGREGATE_NAMES",
    "IntervalEstimate",
    "PerformanceProfile",
    "aggregate_intervals",
    "iqm",
    "mean",
    "median",
    "performance_profile",
    "probability_of_improvement",
    "probability_of_improvement_interval",
    "stratified_bootstrap_interval",
]
