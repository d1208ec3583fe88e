"""Aggregates over training runs with stratified bootstrap confidence intervals, the
probability of improvement, and performance profiles, as in rliable (Agarwal et al., "Deep
Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS 2021).

Vocabulary: a **run** is one trained policy's score (e.g. the total return of one training
seed); a **stratum** is what runs are grouped by and never mixed across (a task, a
walk-forward fold, a market). `scores` is a 1-D array (one stratum), a sequence of 1-D arrays
(one per stratum, lengths may differ) or a 2-D array read as ``scores[stratum, run]``.

Aggregates pool every run of every stratum:

- `mean`: the mean of all runs (with equal runs per stratum, rliable's mean of task means);
- `median`: the median of all runs (rliable's `aggregate_median` is the median of per-task
  means, made for suites of many tasks; with one market or a few folds that would hide the
  spread over seeds, so the pooled median is reported);
- `iqm`: the interquartile mean, ``scipy.stats.trim_mean(x, 0.25)``: the mean of the middle
  50% of runs (``int(0.25 * n)`` runs cut at each end), as rliable's `aggregate_iqm`.

**Stratified bootstrap** (rliable's `StratifiedBootstrap`, runs resampled, strata kept): each
replication draws, independently in every stratum, as many runs as it has, with replacement;
the aggregate of the pooled draw is one bootstrap value. The interval is the percentile one
(rliable's default method): the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles
of the bootstrap values. Draws come from ``numpy.random.default_rng(seed)`` (default seed 0), so
a report is reproducible; they are made as one ``[reps, runs]`` index array per stratum.
A CI needs at least 2 runs in every stratum.

**Probability of improvement** P(X > Y) (rliable's `probability_of_improvement`): in each
stratum the Mann-Whitney U statistic of X's runs against Y's, divided by ``n_x * n_y``, i.e.
the share of (x, y) pairs with x > y, a tie counting 1/2; then the mean over strata. Its CI
resamples X's and Y's runs independently within each stratum (rliable's
`StratifiedIndependentBootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
import scipy.stats

from signalflow.core.errors import ConfigError, DataValidationError
from signalflow_gym.experiment.statistics.checks import (
    as_finite_vector,
    as_strata,
    check_confidence,
    check_reps,
    require_runs_per_stratum,
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

AggregateName = Literal["mean", "median", "iqm"]
AGGREGATE_NAMES: tuple[str, ...] = ("mean", "median", "iqm")
# A vectorised statistic: `f(x, axis=-1)` reduces the run axis of a [reps, runs] array.
Statistic = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class IntervalEstimate:
    """A point estimate with its bootstrap confidence interval ``[low, high]``.

    `value`, `low` and `high` are in the units of the scores (e.g. a fraction for total return,
    a probability for P(X > Y)); `confidence` is the interval's nominal coverage (0.95).
    """

    value: float
    low: float
    high: float
    confidence: float

    def to_dict(self) -> dict[str, float]:
        """``{"value", "low", "high", "confidence"}`` as plain floats (for report.json)."""
        return {"value": self.value, "low": self.low, "high": self.high, "confidence": self.confidence}


@dataclass(frozen=True, slots=True)
class PerformanceProfile:
    """Share of runs whose score exceeds each threshold (rliable's score distribution).

    `share[i]` is the fraction of all runs (pooled over strata) with score > `thresholds[i]`;
    `low[i]`, `high[i]` its stratified bootstrap interval at `confidence` (None when the profile
    was computed with ``reps=0``). Arrays have the length of `thresholds`.
    """

    thresholds: np.ndarray
    share: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """Lists of floats (for report.json); `low`/`high` are None without a band."""
        return {
            "thresholds": self.thresholds.tolist(),
            "share": self.share.tolist(),
            "low": None if self.low is None else self.low.tolist(),
            "high": None if self.high is None else self.high.tolist(),
            "confidence": self.confidence,
        }


def _iqm(x: np.ndarray, axis: int | None = -1) -> Any:
    return scipy.stats.trim_mean(x, 0.25, axis=axis)


_AGGREGATES: dict[str, Statistic] = {"mean": np.mean, "median": np.median, "iqm": _iqm}


def _pooled(scores: Any, name: str = "scores") -> np.ndarray:
    return np.concatenate(as_strata(scores, name=name))


def iqm(scores: Any) -> float:
    """Interquartile mean of all runs: ``scipy.stats.trim_mean(runs, 0.25)``, in score units.

    The mean of the middle half once ``int(0.25 * n)`` runs are cut from each end: below 4
    runs nothing is cut and it is the mean; from 4 runs on it is robust to one lucky or broken
    seed, and less noisy than the median. `scores` as in the module docstring.
    """
    return float(_iqm(_pooled(scores), axis=None))


def mean(scores: Any) -> float:
    """Mean of all runs pooled over strata, in score units."""
    return float(np.mean(_pooled(scores)))


def median(scores: Any) -> float:
    """Median of all runs pooled over strata, in score units."""
    return float(np.median(_pooled(scores)))


def _statistic(statistic: AggregateName | Statistic) -> Statistic:
    if callable(statistic):
        return statistic
    if statistic not in _AGGREGATES:
        raise ConfigError(
            f"`statistic` must be one of {', '.join(AGGREGATE_NAMES)} or a function f(x, axis), was {statistic!r}"
        )
    return _AGGREGATES[statistic]


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[Any, Any]:
    """The percentile interval of bootstrap `values` (axis 0: replications)."""
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    return low, high


def _resample(strata: list[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """``[reps, runs]``: each stratum's runs drawn with replacement, strata side by side."""
    return np.concatenate([s[rng.integers(0, s.size, size=(reps, s.size))] for s in strata], axis=1)


def stratified_bootstrap_interval(
    scores: Any,
    statistic: AggregateName | Statistic = "iqm",
    *,
    confidence: float = 0.95,
    reps: int = 10_000,
    seed: int = 0,
) -> IntervalEstimate:
    """An aggregate of all runs with its stratified bootstrap percentile interval.

    `statistic` is "mean", "median", "iqm" or a vectorised function ``f(x, axis=-1)`` reducing
    the run axis. Runs are resampled within each stratum (at least 2 runs per stratum),
    `reps` times, from ``numpy.random.default_rng(seed)``.
    """
    function = _statistic(statistic)
    confidence = check_confidence(confidence)
    reps = check_reps(reps)
    strata = as_strata(scores, name="scores")
    require_runs_per_stratum(strata, name="scores")
    value = float(function(np.concatenate(strata)[np.newaxis, :], axis=-1)[0])
    boot = function(_resample(strata, reps, np.random.default_rng(seed)), axis=-1)
    low, high = _percentile_interval(np.asarray(boot, dtype=np.float64), confidence)
    return IntervalEstimate(value=value, low=float(low), high=float(high), confidence=confidence)


def aggregate_intervals(
    scores: Any, *, confidence: float = 0.95, reps: int = 10_000, seed: int = 0
) -> dict[str, IntervalEstimate]:
    """``{"mean", "median", "iqm"}`` of all runs, each with its stratified bootstrap interval.

    The three share one set of resampled runs (same `seed`), as a report shows them side by side.
    """
    confidence = check_confidence(confidence)
    reps = check_reps(reps)
    strata = as_strata(scores, name="scores")
    require_runs_per_stratum(strata, name="scores")
    pooled = np.concatenate(strata)[np.newaxis, :]
    draws = _resample(strata, reps, np.random.default_rng(seed))
    out: dict[str, IntervalEstimate] = {}
    for name in AGGREGATE_NAMES:
        function = _AGGREGATES[name]
        low, high = _percentile_interval(np.asarray(function(draws, axis=-1), dtype=np.float64), confidence)
        out[name] = IntervalEstimate(
            value=float(function(pooled, axis=-1)[0]), low=float(low), high=float(high), confidence=confidence
        )
    return out


def _paired_strata(x_scores: Any, y_scores: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    x = as_strata(x_scores, name="x_scores")
    y = as_strata(y_scores, name="y_scores")
    if len(x) != len(y):
        raise DataValidationError(
            f"`x_scores` and `y_scores` must have the same strata, was {len(x)} and {len(y)} strata; "
            f"compare policies on the same tasks, folds or markets"
        )
    return x, y


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 per row of `x` ``[..., n_x]`` and `y` ``[..., n_y]`` (Mann-Whitney U / (n_x n_y))."""
    result = scipy.stats.mannwhitneyu(x, y, axis=-1, alternative="greater", method="asymptotic")
    return np.asarray(result.statistic, dtype=np.float64) / (x.shape[-1] * y.shape[-1])


def probability_of_improvement(x_scores: Any, y_scores: Any) -> float:
    """P(X > Y): the probability that a run of X beats a run of Y on the same stratum.

    Per stratum, the share of (x, y) run pairs with x > y, a tie counting 1/2 (the Mann-Whitney
    U statistic over ``n_x * n_y``); then the unweighted mean over strata. 0.5 means no
    difference; 1.0 means every run of X beats every run of Y. X and Y need the same strata
    but may have different numbers of runs.
    """
    x, y = _paired_strata(x_scores, y_scores)
    return float(np.mean([_improvement(xs, ys) for xs, ys in zip(x, y)]))


def probability_of_improvement_interval(
    x_scores: Any,
    y_scores: Any,
    *,
    confidence: float = 0.95,
    reps: int = 10_000,
    seed: int = 0,
    min_y_runs: int = 2,
) -> IntervalEstimate:
    """`probability_of_improvement` with its stratified bootstrap percentile interval.

    Each replication resamples X's runs and Y's runs independently within every stratum (at
    least 2 runs of X per stratum, and `min_y_runs` of Y) and recomputes the mean over strata
    of P(X > Y). ``min_y_runs=1`` admits a deterministic Y (e.g. a fixed rule backtested once
    on the same bars: one run, no spread over seeds); its single run is then redrawn as itself,
    so the interval reflects the spread of X's runs only.
    """
    confidence = check_confidence(confidence)
    reps = check_reps(reps)
    if isinstance(min_y_runs, bool) or not isinstance(min_y_runs, (int, np.integer)) or min_y_runs < 1:
        raise ConfigError(f"`min_y_runs` must be an int >= 1, was {min_y_runs!r}; use 1 for a deterministic Y, else 2")
    x, y = _paired_strata(x_scores, y_scores)
    require_runs_per_stratum(x, name="x_scores")
    require_runs_per_stratum(y, name="y_scores", minimum=int(min_y_runs))
    rng = np.random.default_rng(seed)
    per_stratum = [
        _improvement(xs[rng.integers(0, xs.size, size=(reps, xs.size))], ys[rng.integers(0, ys.size, size=(reps, ys.size))])
        for xs, ys in zip(x, y)
    ]
    low, high = _percentile_interval(np.mean(per_stratum, axis=0), confidence)
    value = float(np.mean([_improvement(xs, ys) for xs, ys in zip(x, y)]))
    return IntervalEstimate(value=value, low=float(low), high=float(high), confidence=confidence)


def performance_profile(
    scores: Any,
    thresholds: Any = None,
    *,
    confidence: float = 0.95,
    reps: int = 2_000,
    seed: int = 0,
) -> PerformanceProfile:
    """The share of runs (pooled over strata) whose score exceeds each threshold, with a band.

    `thresholds` (score units) default to 101 points from the lowest to the highest run. The
    band is the stratified bootstrap percentile interval of each share (`reps` replications,
    at least 2 runs per stratum); ``reps=0`` skips it (e.g. for a single seed).
    """
    confidence = check_confidence(confidence)
    strata = as_strata(scores, name="scores")
    pooled = np.concatenate(strata)
    if thresholds is None:
        taus = np.linspace(pooled.min(), pooled.max(), 101)
    else:
        taus = as_finite_vector(thresholds, name="thresholds")
    share = (pooled[:, np.newaxis] > taus[np.newaxis, :]).mean(axis=0)
    if reps == 0:
        return PerformanceProfile(thresholds=taus, share=share, low=None, high=None, confidence=confidence)
    reps = check_reps(reps)
    require_runs_per_stratum(strata, name="scores")
    draws = _resample(strata, reps, np.random.default_rng(seed))
    boot = (draws[:, :, np.newaxis] > taus[np.newaxis, np.newaxis, :]).mean(axis=1)
    low, high = _percentile_interval(boot, confidence)
    return PerformanceProfile(thresholds=taus, share=share, low=low, high=high, confidence=confidence)
