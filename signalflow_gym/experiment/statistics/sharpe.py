"""The Sharpe ratio of one run and how far to trust it: a stationary-bootstrap confidence
interval, the Probabilistic Sharpe Ratio and the Deflated Sharpe Ratio.

Units. `returns` are per-bar simple returns (``equity[t] / equity[t-1] - 1``, a fraction).
The **per-bar** Sharpe ratio is ``mean(r) / std(r)`` (sample std, ddof=1, no risk-free rate),
as in `signalflow.strategy.metrics.summarize`; the **annualised** one multiplies it by
``sqrt(periods_per_year)`` (bars per year: 8,760 for hourly bars traded around the clock, 252
for daily stock bars). A series with zero variance (a run that never traded) has Sharpe 0.0,
the convention of `summarize`. PSR and DSR take and compare **per-bar** Sharpe ratios: divide an
annualised benchmark by ``sqrt(periods_per_year)`` first.

- `sharpe_interval`: annualised Sharpe with a percentile CI from `arch`'s `StationaryBootstrap`
  (Politis & Romano 1994) of the per-bar returns, which keeps their autocorrelation and
  volatility clustering within blocks of random (geometric) length. The mean block length is
  `arch.bootstrap.optimal_block_length` (Politis & White 2004, corrected by Patton, Politis &
  White 2009) unless given; at least 1 bar.
- `probabilistic_sharpe_ratio` (Bailey & López de Prado 2012, "The Sharpe Ratio Efficient
  Frontier", Journal of Risk 15(2)): the probability that the true Sharpe exceeds a benchmark
  SR*, given the observed one, the track length T and the returns' skewness g3 and (non-excess)
  kurtosis g4: ``PSR = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))``.
- `expected_maximum_sharpe` and `deflated_sharpe_ratio` (Bailey & López de Prado 2014, "The
  Deflated Sharpe Ratio", Journal of Portfolio Management 40(5)): the best of N trials is
  compared with what N trials of zero true Sharpe would give at best,
  ``SR0 = sqrt(V[SR_n]) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))`` with gamma the
  Euler-Mascheroni constant and V[SR_n] the variance of the trials' Sharpe ratios;
  ``DSR = PSR(SR0)``. A DSR below 0.95 means the best trial is not a discovery at 95% once the
  number of trials is accounted for.

Skewness and kurtosis of returns are the moment estimates of `scipy.stats.skew` and
`scipy.stats.kurtosis(fisher=False)` (biased, as in the papers' code; kurtosis 3 for a normal).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats
from arch.bootstrap import StationaryBootstrap, optimal_block_length

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.statistics.checks import as_finite_vector, check_confidence, check_reps

__all__ = [
    "SharpeEstimate",
    "deflated_sharpe_ratio",
    "deflated_sharpe_ratio_of_returns",
    "expected_maximum_sharpe",
    "probabilistic_sharpe_ratio",
    "probabilistic_sharpe_ratio_of_returns",
    "sharpe_interval",
    "sharpe_ratio",
]


@dataclass(frozen=True, slots=True)
class SharpeEstimate:
    """An annualised Sharpe ratio with its stationary-bootstrap interval ``[low, high]``.

    `value`, `low`, `high`: annualised (per-bar Sharpe times ``sqrt(periods_per_year)``);
    `confidence`: nominal coverage; `block_length`: mean block length of the bootstrap, in bars;
    `n_bars`: number of returns; `periods_per_year`: the annualisation used.
    """

    value: float
    low: float
    high: float
    confidence: float
    block_length: float
    n_bars: int
    periods_per_year: float

    def to_dict(self) -> dict[str, float]:
        """Every field as a plain number (for report.json)."""
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "block_length": self.block_length,
            "n_bars": self.n_bars,
            "periods_per_year": self.periods_per_year,
        }


def _check_periods_per_year(periods_per_year: float) -> float:
    if not (isinstance(periods_per_year, numbers.Real) and math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ConfigError(
            f"`periods_per_year` must be a positive finite number (bars per year), was {periods_per_year!r}; "
            f"e.g. signalflow.strategy.metrics.periods_per_year(timestamps)"
        )
    return float(periods_per_year)


def _per_bar_sharpe(r: np.ndarray) -> float:
    """mean / std (ddof=1) of a finite vector of >= 2 returns; 0.0 when the std is 0.

    Written as a dot product: it runs once per bootstrap replication."""
    mean_return = float(r.mean())
    deviation = r - mean_return
    std = math.sqrt(float(deviation @ deviation) / (r.size - 1))
    return mean_return / std if std > 0.0 else 0.0


def sharpe_ratio(returns: Any, *, periods_per_year: float = 1.0) -> float:
    """``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)`` of per-bar returns (>= 2 bars).

    With the default ``periods_per_year=1`` it is the per-bar Sharpe ratio that
    `probabilistic_sharpe_ratio` and `deflated_sharpe_ratio` take. 0.0 for zero variance.
    """
    ppy = _check_periods_per_year(periods_per_year)
    r = as_finite_vector(returns, name="returns", min_size=2)
    return _per_bar_sharpe(r) * math.sqrt(ppy)


def _block_length(r: np.ndarray, block_length: float | None) -> float:
    if block_length is not None:
        if not (isinstance(block_length, numbers.Real) and math.isfinite(block_length) and 1 <= block_length <= r.size):
            raise ConfigError(
                f"`block_length` must be a number of bars in [1, {r.size}] or None (automatic), was {block_length!r}"
            )
        return float(block_length)
    if np.std(r) == 0.0:
        return 1.0
    with np.errstate(all="ignore"):
        optimal = float(optimal_block_length(r)["stationary"].iloc[0])
    return min(max(optimal, 1.0), float(r.size)) if math.isfinite(optimal) else 1.0


def sharpe_interval(
    returns: Any,
    *,
    periods_per_year: float,
    confidence: float = 0.95,
    reps: int = 1_000,
    block_length: float | None = None,
    seed: int = 0,
) -> SharpeEstimate:
    """The annualised Sharpe ratio of per-bar `returns` with a stationary-bootstrap percentile CI.

    `arch.bootstrap.StationaryBootstrap` resamples blocks of mean length `block_length` bars
    (default: `arch.bootstrap.optimal_block_length`, "stationary" column, at least 1), `reps`
    times from ``numpy.random.default_rng(seed)``; the interval is the percentile one. Needs at
    least 10 bars (a Sharpe CI over fewer is noise).
    """
    ppy = _check_periods_per_year(periods_per_year)
    confidence = check_confidence(confidence)
    reps = check_reps(reps)
    r = as_finite_vector(returns, name="returns", min_size=10)
    length = _block_length(r, block_length)
    scale = math.sqrt(ppy)
    value = _per_bar_sharpe(r) * scale
    bootstrap = StationaryBootstrap(length, r, seed=np.random.default_rng(seed))
    interval = bootstrap.conf_int(
        lambda x: np.array([_per_bar_sharpe(x)]), reps=reps, method="percentile", size=confidence
    )
    low, high = (float(v) * scale for v in interval[:, 0])
    return SharpeEstimate(
        value=value, low=low, high=high, confidence=confidence, block_length=length, n_bars=int(r.size), periods_per_year=ppy
    )


def probabilistic_sharpe_ratio(
    sharpe: float, *, n_obs: int, skewness: float = 0.0, kurtosis: float = 3.0, benchmark: float = 0.0
) -> float:
    """PSR(SR*): the probability that the true per-bar Sharpe exceeds `benchmark` (SR*).

    `sharpe` and `benchmark` are per-bar (not annualised); `n_obs` is the number of returns T
    (>= 2); `skewness` g3 and `kurtosis` g4 (non-excess, 3 for normal returns) are those of the
    returns. ``Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))``
    (Bailey & López de Prado 2012, eq. for PSR). Negative skew and fat tails widen the Sharpe's
    standard error and pull the PSR towards 0.5.
    """
    for name, value in (("sharpe", sharpe), ("skewness", skewness), ("kurtosis", kurtosis), ("benchmark", benchmark)):
        if not (isinstance(value, numbers.Real) and math.isfinite(value)):
            raise ConfigError(f"`{name}` must be a finite number, was {value!r}")
    if isinstance(n_obs, bool) or not isinstance(n_obs, (int, np.integer)) or n_obs < 2:
        raise ConfigError(f"`n_obs` must be an int >= 2 (the number of returns), was {n_obs!r}")
    variance_factor = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if variance_factor <= 0.0:
        raise ConfigError(
            f"`skewness` {skewness} and `kurtosis` {kurtosis} give a non-positive Sharpe variance "
            f"(1 - g3 SR + (g4 - 1)/4 SR^2 = {variance_factor}) at SR {sharpe}; sample moments satisfy "
            f"kurtosis >= skewness^2 + 1: pass the non-excess kurtosis of the same returns"
        )
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(variance_factor)
    return float(scipy.stats.norm.cdf(z))


def _moments(r: np.ndarray) -> tuple[float, float, float] | None:
    """(per-bar Sharpe, skewness, non-excess kurtosis), or None for zero variance."""
    if np.std(r) == 0.0:
        return None
    return (
        _per_bar_sharpe(r),
        float(scipy.stats.skew(r)),
        float(scipy.stats.kurtosis(r, fisher=False)),
    )


def probabilistic_sharpe_ratio_of_returns(returns: Any, *, benchmark: float = 0.0) -> float:
    """`probabilistic_sharpe_ratio` of per-bar `returns` (>= 2 bars) against a per-bar `benchmark`.

    The Sharpe, skewness and kurtosis are those of `returns`. NaN when `returns` have zero
    variance (a run that never traded): the PSR is undefined there, not 0 or 1.
    For PSR against buy-and-hold, pass ``benchmark=sharpe_ratio(buy_and_hold_returns)``.
    """
    r = as_finite_vector(returns, name="returns", min_size=2)
    moments = _moments(r)
    if moments is None:
        return math.nan
    sharpe, skewness, kurtosis = moments
    return probabilistic_sharpe_ratio(sharpe, n_obs=int(r.size), skewness=skewness, kurtosis=kurtosis, benchmark=benchmark)


def _check_n_trials(n_trials: int) -> int:
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ConfigError(f"`n_trials` must be an int >= 1 (every configuration tried), was {n_trials!r}")
    return int(n_trials)


def expected_maximum_sharpe(n_trials: int, *, variance: float, mean: float = 0.0) -> float:
    """E[max SR] over `n_trials` independent trials whose Sharpe ratios have `mean` and `variance`.

    ``mean + sqrt(variance) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, gamma
    the Euler-Mascheroni constant (Bailey & López de Prado 2014, eq. for SR0; an approximation
    for N >> 1). One trial is not a selection: the result is `mean`. Units: those of the Sharpe
    ratios whose `variance` is given (per bar for DSR).
    """
    n = _check_n_trials(n_trials)
    if not (isinstance(variance, numbers.Real) and math.isfinite(variance) and variance >= 0.0):
        raise ConfigError(f"`variance` must be a finite number >= 0 (of the trials' Sharpe ratios), was {variance!r}")
    if n == 1:
        return float(mean)
    gamma = float(np.euler_gamma)
    z = (1.0 - gamma) * scipy.stats.norm.ppf(1.0 - 1.0 / n) + gamma * scipy.stats.norm.ppf(1.0 - 1.0 / (n * math.e))
    return float(mean + math.sqrt(variance) * z)


def deflated_sharpe_ratio(
    sharpe: float,
    *,
    n_obs: int,
    n_trials: int,
    trials_variance: float,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """DSR: the PSR of the selected trial against the expected maximum Sharpe of `n_trials` nulls.

    `sharpe`: per-bar Sharpe of the best trial over `n_obs` returns with `skewness` and
    (non-excess) `kurtosis`; `trials_variance`: variance of the per-bar Sharpe ratios of all
    `n_trials` trials. ``DSR = PSR(SR0)``, ``SR0 = expected_maximum_sharpe(N, variance=V)``
    (true Sharpe 0 under the null). Read as a probability: below 0.95, the best trial is
    consistent with luck among that many tries.
    """
    benchmark = expected_maximum_sharpe(n_trials, variance=trials_variance)
    return probabilistic_sharpe_ratio(sharpe, n_obs=n_obs, skewness=skewness, kurtosis=kurtosis, benchmark=benchmark)


def deflated_sharpe_ratio_of_returns(returns: Any, *, trial_sharpes: Any) -> float:
    """`deflated_sharpe_ratio` of the selected trial's per-bar `returns` among `trial_sharpes`.

    `trial_sharpes` holds the per-bar Sharpe ratio of every trial of the search (the selected one
    included; its length is N, and their sample variance, ddof=1, is V[SR_n]; one trial gives
    V = 0). Sharpe, skewness and kurtosis come from `returns`. NaN for zero-variance `returns`.
    The papers select the trial with the highest Sharpe; a trial selected by another metric
    (e.g. validation total return) is deflated by the same SR0.
    """
    r = as_finite_vector(returns, name="returns", min_size=2)
    trials = as_finite_vector(trial_sharpes, name="trial_sharpes")
    variance = float(np.var(trials, ddof=1)) if trials.size > 1 else 0.0
    moments = _moments(r)
    if moments is None:
        return math.nan
    sharpe, skewness, kurtosis = moments
    return deflated_sharpe_ratio(
        sharpe, n_obs=int(r.size), n_trials=int(trials.size), trials_variance=variance, skewness=skewness, kurtosis=kurtosis
    )
