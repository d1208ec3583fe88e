"""How much to trust a sweep's winner: the Deflated Sharpe Ratio of the best trial and the
Probability of Backtest Overfitting of the search, from every trial's per-bar validation returns.

`selection_statistics(returns, best_trial)` takes ``{trial: frame}`` (``timestamp``, ``return``:
per-bar simple returns of the agent on the validation split, as written to
``trials/trial_<i>/validation_returns.parquet``) for every trial that was scored (failed trials
have none and are not counted):

- **DSR** (Bailey & López de Prado 2014; `statistics.deflated_sharpe_ratio`): the probability
  that the best trial's true Sharpe exceeds the expected maximum Sharpe of N trials of zero
  true Sharpe, from N (trials), the variance of the trials' per-bar Sharpe ratios, and the
  best trial's per-bar Sharpe, number of bars, skewness and (non-excess) kurtosis
  (`scipy.stats.skew`, `scipy.stats.kurtosis(fisher=False)`, as in the paper). The best trial is
  the sweep's (ranked by its own metric); the deflation is the same. Undefined (None, with a
  reason) when the best trial's returns have zero variance (it never traded).
- **PBO** (CSCV, Bailey, Borwein, López de Prado & Zhu 2015;
  `statistics.probability_of_backtest_overfitting`) over the ``[bar, trial]`` matrix of the
  trials' returns on their common validation bars, with S = the largest even number of blocks
  <= 16 that leaves each block at least 2 bars. Not computed (None, with a reason) with fewer
  than `MIN_PBO_TRIALS` trials, when the trials were validated on different bars, or when
  every trial has the same returns (all tied: nothing was selected, so nothing overfitted).

Units: Sharpe ratios per bar unless named ``*_annualised`` (times ``sqrt(bars per year)``,
`signalflow.strategy.metrics.periods_per_year`); DSR, PSR and PBO are probabilities in [0, 1].
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import polars as pl
import scipy.stats

from signalflow.strategy.metrics import periods_per_year
from signalflow_gym.experiment.statistics import (
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_ratio,
)

__all__ = ["MAX_PARTITIONS", "MIN_PBO_TRIALS", "selection_statistics", "selection_markdown"]

#: CSCV blocks at most (C(16, 8) = 12,870 combinations, the papers' usual choice).
MAX_PARTITIONS = 16
#: CSCV ranks the in-sample best among the others out of sample: it needs at least 2 trials.
MIN_PBO_TRIALS = 2


def _deflated(returns: Mapping[int, np.ndarray], best: int | None, timestamps: pl.Series | None) -> dict[str, Any]:
    n = len(returns)
    out: dict[str, Any] = {"value": None, "reason": None, "best_trial": best, "n_trials": n}
    if best is None or best not in returns:
        out["reason"] = "no trial was scored" if best is None else f"trial {best} has no validation returns"
        return out
    sharpes = np.array([sharpe_ratio(r) for r in returns.values()])
    variance = float(np.var(sharpes, ddof=1)) if n > 1 else 0.0
    r = returns[best]
    sr = sharpe_ratio(r)
    out.update(n_bars=int(r.size), sharpe_per_bar=sr, trials_sharpe_variance=variance,
               expected_max_sharpe=expected_maximum_sharpe(n, variance=variance))
    if timestamps is not None and timestamps.len() > 1:
        out["sharpe_annualised"] = sr * math.sqrt(periods_per_year(timestamps))
    if np.std(r) == 0.0:
        out["reason"] = f"the best trial (trial {best}) never traded: its returns have zero variance"
        return out
    skewness = float(scipy.stats.skew(r))
    kurtosis = float(scipy.stats.kurtosis(r, fisher=False))
    out.update(skewness=skewness, kurtosis=kurtosis,
               psr_vs_zero=probabilistic_sharpe_ratio(sr, n_obs=int(r.size), skewness=skewness, kurtosis=kurtosis),
               value=deflated_sharpe_ratio(sr, n_obs=int(r.size), n_trials=n, trials_variance=variance,
                                           skewness=skewness, kurtosis=kurtosis))
    return out


def _partitions(n_bars: int) -> int:
    return min(MAX_PARTITIONS, (n_bars // 2) // 2 * 2)


def _overfitting(frames: Mapping[int, pl.DataFrame]) -> dict[str, Any]:
    n = len(frames)
    out: dict[str, Any] = {"value": None, "reason": None, "n_trials": n}
    if n < MIN_PBO_TRIALS:
        out["reason"] = f"CSCV needs at least {MIN_PBO_TRIALS} scored trials, the sweep has {n}"
        return out
    lengths = {f.height for f in frames.values()}
    columns = [frame.select("timestamp", pl.col("return").alias(str(trial))) for trial, frame in frames.items()]
    matrix = columns[0]
    for column in columns[1:]:
        matrix = matrix.join(column, on="timestamp", how="inner")
    if len(lengths) != 1 or matrix.height != next(iter(lengths)):
        out["reason"] = "the trials were validated on different bars (the space changes data or episode keys)"
        return out
    values = matrix.drop("timestamp").to_numpy()
    if (values == values[:, :1]).all():
        out["reason"] = ("every trial has the same validation returns (e.g. none of them traded), so no trial was "
                         "selected over another")
        return out
    s = _partitions(matrix.height)
    if s < 2:
        out["reason"] = f"CSCV needs at least 4 validation bars, the trials have {matrix.height}"
        return out
    result = probability_of_backtest_overfitting(values, partitions=s)
    out.update(value=result.pbo, partitions=s, combinations=int(result.logits.size), n_bars=result.n_bars,
               probability_of_loss=result.probability_of_loss,
               median_logit=float(np.median(result.logits)))
    return out


def selection_statistics(returns: Mapping[int, pl.DataFrame], best_trial: int | None) -> dict[str, Any]:
    """``{"n_trials", "deflated_sharpe": {...}, "pbo": {...}}`` of a sweep (see the module docstring).

    Each entry has ``value`` (a probability, or None) and ``reason`` (why it is None, else None)
    and the inputs it was computed from."""
    frames = {int(k): v.sort("timestamp") for k, v in sorted(returns.items())}
    vectors = {k: f.get_column("return").cast(pl.Float64).to_numpy() for k, f in frames.items()}
    usable = {k: v for k, v in vectors.items() if v.size >= 2 and np.isfinite(v).all()}
    best_ts = frames[best_trial].get_column("timestamp") if best_trial in frames else None
    return {"n_trials": len(usable), "deflated_sharpe": _deflated(usable, best_trial, best_ts),
            "pbo": _overfitting({k: frames[k] for k in usable})}


def _num(v: Any, spec: str = ".4g") -> str:
    return "n/a" if v is None else format(v, spec)


def selection_markdown(stats: Mapping[str, Any]) -> str:
    """The "Overfitting of the search" section of ``results.md``."""
    d, p = stats["deflated_sharpe"], stats["pbo"]
    lines = ["## Overfitting of the search", ""]
    if d["value"] is not None:
        annual = f" (annualised {_num(d.get('sharpe_annualised'), '.2f')})" if "sharpe_annualised" in d else ""
        lines.append(
            f"Deflated Sharpe Ratio of the best trial (trial {d['best_trial']}): **DSR = {d['value']:.3f}** from "
            f"N = {d['n_trials']} trials, variance of their per-bar Sharpe ratios {_num(d['trials_sharpe_variance'])}, "
            f"the best trial's per-bar Sharpe {_num(d['sharpe_per_bar'])}{annual} over T = {d['n_bars']} bars, "
            f"skewness {_num(d['skewness'], '.3f')}, kurtosis {_num(d['kurtosis'], '.3f')}; the expected maximum "
            f"per-bar Sharpe of N trials without edge is {_num(d['expected_max_sharpe'])} and the best trial's PSR "
            f"against 0 is {_num(d['psr_vs_zero'], '.3f')}. A DSR below 0.95 means the best trial's Sharpe is "
            "consistent with luck among that many tries.")
    else:
        lines.append(f"Deflated Sharpe Ratio of the best trial: not computed: {d['reason']}.")
    lines.append("")
    if p["value"] is not None:
        lines.append(
            f"Probability of Backtest Overfitting (CSCV over the {p['n_trials']} trials' per-bar validation returns, "
            f"S = {p['partitions']} blocks over {p['n_bars']} bars, {p['combinations']} combinations): "
            f"**PBO = {p['value']:.3f}**; the in-sample best trial lost money out of sample in "
            f"{100 * p['probability_of_loss']:.0f}% of the combinations. PBO near 0: the in-sample winner stays "
            "a winner; near 0.5: the ranking is luck; above 0.5: the winner tends to reverse.")
    else:
        lines.append(f"Probability of Backtest Overfitting: not computed: {p['reason']}.")
    lines.append("")
    return "\n".join(lines)
