"""The Probability of Backtest Overfitting (PBO) of a search, by combinatorially symmetric
cross-validation (CSCV; Bailey, Borwein, López de Prado & Zhu 2015, "The Probability of
Backtest Overfitting", Journal of Computational Finance 20(4)).

Input: ``returns[bar, trial]``, the per-bar returns (fractions) of every trial of the search on
the same bars (e.g. every hyperparameter set of a sweep on the validation split; a bar without
a position has return 0.0). CSCV:

1. cut the bars into `partitions` S contiguous blocks (S even; sizes differ by at most one bar
   when S does not divide the number of bars: ``numpy.array_split``);
2. for each of the C(S, S/2) ways to pick S/2 blocks as the in-sample set J (the other half,
   J-bar, is out of sample; every block is in-sample in half the combinations), compute every
   trial's per-bar Sharpe ratio (mean / std, ddof=1; 0.0 when the half's returns are all
   equal; compared at 12 decimals, so values equal in exact arithmetic tie) on J and on J-bar;
3. take the in-sample best trial n* (the first one on ties) and its out-of-sample relative rank
   ``w = rank / (N + 1)`` among the N trials (rank 1 = worst, N = best, ties averaged by
   `scipy.stats.rankdata`), and its logit ``lambda = ln(w / (1 - w))``;
4. PBO is the share of combinations with ``lambda <= 0``: the in-sample best trial ends at or
   below the out-of-sample median.

Reading it: PBO near 0 means the in-sample winner stays a winner out of sample (its edge is
real); near 0.5, in-sample rank says nothing about out-of-sample rank (a sweep of strategies
without edge: the winner is luck); near 1, the in-sample winner tends to be an out-of-sample
loser (what was fitted reverses; e.g. strategies whose sample edge is exactly zero, so a gain
in one half is a loss in the other). Cost: C(S, S/2) x N Sharpe ratios (12,870 x N for S=16),
computed from per-block sums, in chunks of combinations.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.statistics.checks import as_finite_matrix

__all__ = ["BacktestOverfitting", "probability_of_backtest_overfitting"]

MAX_COMBINATIONS = 1_000_000  # C(22, 11) = 705,432; C(24, 12) = 2.7M would take minutes
#: Decimals the per-bar Sharpe ratios are compared at (ties below that are ties).
SHARPE_DECIMALS = 12
_CHUNK_VALUES = 2_000_000  # Sharpe ratios computed per chunk of combinations (memory bound)


@dataclass(frozen=True, slots=True)
class BacktestOverfitting:
    """The result of CSCV over a search.

    `pbo`: share of combinations whose in-sample best trial has logit <= 0 (a probability);
    `logits`: lambda per combination ``[C(S, S/2)]``; `in_sample_sharpe` / `out_of_sample_sharpe`:
    the per-bar Sharpe of the in-sample best trial on J and on J-bar per combination (their
    spread is the "performance degradation"); `partitions`: S; `n_trials`: N; `n_bars`: rows used.
    """

    pbo: float
    logits: np.ndarray
    in_sample_sharpe: np.ndarray
    out_of_sample_sharpe: np.ndarray
    partitions: int
    n_trials: int
    n_bars: int

    @property
    def probability_of_loss(self) -> float:
        """Share of combinations whose in-sample best trial has a negative out-of-sample Sharpe."""
        return float(np.mean(self.out_of_sample_sharpe < 0.0))

    def to_dict(self) -> dict[str, Any]:
        """Summary numbers and the logits as a list (for results.md / JSON)."""
        return {
            "pbo": self.pbo,
            "probability_of_loss": self.probability_of_loss,
            "partitions": self.partitions,
            "n_trials": self.n_trials,
            "n_bars": self.n_bars,
            "combinations": int(self.logits.size),
            "logits": self.logits.tolist(),
        }


def _check_partitions(partitions: int, n_bars: int) -> int:
    if isinstance(partitions, bool) or not isinstance(partitions, (int, np.integer)) or partitions < 2 or partitions % 2:
        raise ConfigError(
            f"`partitions` must be an even int >= 2 (CSCV splits them in halves), was {partitions!r}; 16 is usual"
        )
    if n_bars < 2 * partitions:
        raise ConfigError(
            f"`partitions` {partitions} is too many for {n_bars} bars: each block needs at least 2 bars "
            f"(bars >= 2 * partitions); use partitions <= {max(2, (n_bars // 2) // 2 * 2)} or more bars"
        )
    if math.comb(partitions, partitions // 2) > MAX_COMBINATIONS:
        raise ConfigError(
            f"`partitions` {partitions} gives {math.comb(partitions, partitions // 2):,} combinations, "
            f"more than {MAX_COMBINATIONS:,}; use partitions <= 22 (16 is usual)"
        )
    return int(partitions)


def _sharpe(total: np.ndarray, squares: np.ndarray, count: np.ndarray, shift: np.ndarray,
            flat: np.ndarray) -> np.ndarray:
    """Per-bar Sharpe from sums of centred returns: ``[combos, trials]``; 0.0 at zero variance.

    `flat` marks the halves whose returns are all equal (a trial out of the market for the
    whole half): their variance is exactly zero, where the sums leave rounding noise of about
    1e-20 that would otherwise make a Sharpe of about +-1e-8 and break ties between trials.
    """
    n = count[:, np.newaxis]
    centred_mean = total / n
    variance = np.clip((squares - n * centred_mean**2) / (n - 1.0), 0.0, None)
    std = np.sqrt(variance)
    mean_return = centred_mean + shift[np.newaxis, :]
    varies = (std > 0.0) & ~flat
    sharpe = np.where(varies, mean_return / np.where(varies, std, 1.0), 0.0)
    # Equal in exact arithmetic is equal here: e.g. every trial with one trade in a half has the
    # same Sharpe whatever the trade's size, and the sums differ only in the last bits, which
    # would otherwise pick the in-sample best and the out-of-sample rank at random.
    return np.round(sharpe, SHARPE_DECIMALS)


def _flat(block_min: np.ndarray, block_max: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """``[combos, trials]``: whether a trial's returns are all equal over each half's blocks."""
    return block_max[halves].max(axis=1) == block_min[halves].min(axis=1)


def probability_of_backtest_overfitting(returns: Any, *, partitions: int = 16) -> BacktestOverfitting:
    """PBO of a search by CSCV over ``returns[bar, trial]`` with `partitions` S (even, default 16).

    Needs at least 2 trials and ``2 * partitions`` bars; performance is the per-bar Sharpe ratio.
    See the module docstring for the algorithm and how to read the result.
    """
    r = as_finite_matrix(returns, name="returns", min_rows=4, min_columns=2)
    n_bars, n_trials = r.shape
    s = _check_partitions(partitions, n_bars)
    # Centre each trial on its full-sample mean: sums of squares then lose no precision.
    shift = r.mean(axis=0)
    centred = r - shift
    blocks = np.array_split(np.arange(n_bars), s)
    block_count = np.array([b.size for b in blocks], dtype=np.float64)
    block_sum = np.stack([centred[b].sum(axis=0) for b in blocks])
    block_squares = np.stack([(centred[b] ** 2).sum(axis=0) for b in blocks])
    all_count, all_sum, all_squares = block_count.sum(), block_sum.sum(axis=0), block_squares.sum(axis=0)
    block_min = np.stack([r[b].min(axis=0) for b in blocks])
    block_max = np.stack([r[b].max(axis=0) for b in blocks])

    combos = np.array(list(itertools.combinations(range(s), s // 2)), dtype=np.intp)
    others = np.array([np.setdiff1d(np.arange(s), c) for c in combos], dtype=np.intp)  # each J-bar
    chunk = max(1, _CHUNK_VALUES // n_trials)
    logits, is_best, oos_best = [], [], []
    for start in range(0, len(combos), chunk):
        pick = np.zeros((min(chunk, len(combos) - start), s), dtype=np.float64)
        np.put_along_axis(pick, combos[start : start + chunk], 1.0, axis=1)
        in_count, in_sum, in_squares = pick @ block_count, pick @ block_sum, pick @ block_squares
        in_halves, out_halves = combos[start : start + chunk], others[start : start + chunk]
        in_sharpe = _sharpe(in_sum, in_squares, in_count, shift, _flat(block_min, block_max, in_halves))
        out_sharpe = _sharpe(all_sum - in_sum, all_squares - in_squares, all_count - in_count, shift,
                             _flat(block_min, block_max, out_halves))
        best = np.argmax(in_sharpe, axis=1)
        rows = np.arange(best.size)
        rank = scipy.stats.rankdata(out_sharpe, axis=1)[rows, best]
        omega = rank / (n_trials + 1.0)
        logits.append(np.log(omega / (1.0 - omega)))
        is_best.append(in_sharpe[rows, best])
        oos_best.append(out_sharpe[rows, best])
    lam = np.concatenate(logits)
    return BacktestOverfitting(
        pbo=float(np.mean(lam <= 0.0)),
        logits=lam,
        in_sample_sharpe=np.concatenate(is_best),
        out_of_sample_sharpe=np.concatenate(oos_best),
        partitions=s,
        n_trials=int(n_trials),
        n_bars=int(n_bars),
    )
