"""Walk-forward planning, pure: chronological folds over bar indices, and the (fold, seed) runs.

Fold planning (`plan_folds`) is a pure function of the number of bars (distinct timestamps
of all pairs, in time order). Test windows are consecutive, do not overlap, and end at the
last bar; each fold's training window ends `gap` bars before its test window starts::

    expanding:  train [0, s_k - gap)            test [s_k, s_k + test_bars)
    rolling:    train [s_k - gap - train_bars, s_k - gap)

with ``s_k = n_bars - (K - k) * test_bars``. By default ``test_bars = n_bars // (K + 1)``
(the first training window is about one test window long, as in scikit-learn's
`TimeSeriesSplit`) and, for rolling windows, ``train_bars`` = the first fold's training
window, so every fold trains on the same number of bars.

`plan_runs` lists what is trained: one run per fold with seed ``base_seed + k`` (no seed
list: today's single-seed walk-forward, folder ``fold_<k>``), or, with a seed list
(`train.seeds`, ``--seeds``), one run per fold and seed with that seed as given (folder
``fold_<k>/seed_<s>``), so that every fold is a stratum of the same seeds.

Nothing here trains, reads data or imports Ray.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from signalflow.core.errors import ConfigError

__all__ = ["SCHEMES", "Fold", "FoldRun", "plan_folds", "fold_times", "fold_record", "plan_runs"]

SCHEMES = ("expanding", "rolling")


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold as half-open bar-index ranges ``[start, end)`` over the sorted distinct timestamps."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int

    @property
    def train_bars(self) -> int:
        return self.train_end - self.train_start

    @property
    def test_bars(self) -> int:
        return self.test_end - self.test_start

    @property
    def gap(self) -> int:
        return self.test_start - self.train_end

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _check_int(name: str, value: Any, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ConfigError(f"`{name}` must be an integer >= {lo}, was {value!r}")


def plan_folds(
    n_bars: int,
    n_folds: int,
    *,
    scheme: str = "expanding",
    gap: int = 0,
    test_bars: int | None = None,
    train_bars: int | None = None,
    min_train_bars: int = 1,
    min_test_bars: int = 1,
) -> list[Fold]:
    """K chronological folds over `n_bars` bars (see the module docstring for the layout).

    - `scheme`: "expanding" (training starts at bar 0 and grows) or "rolling" (a fixed
      window of `train_bars` bars that slides with the test window).
    - `gap`: bars left out between a training window's end and its test window's start
      (at least the label / holding horizon, so that no training episode sees test prices).
    - `test_bars`: bars per test window (default ``n_bars // (n_folds + 1)``).
    - `train_bars`: rolling window length (default: as many as the first fold can have);
      refused for "expanding", whose windows start at bar 0.
    - `min_train_bars` / `min_test_bars`: every training / test window must hold at least
      this many bars.

    Raises `ConfigError` naming the value, the minimum and the fix (with the largest number
    of folds that fits) when the folds do not fit.
    """
    for name, value, lo in (("n_bars", n_bars, 1), ("n_folds", n_folds, 1), ("gap", gap, 0),
                            ("min_train_bars", min_train_bars, 1), ("min_test_bars", min_test_bars, 1)):
        _check_int(name, value, lo)
    if scheme not in SCHEMES:
        raise ConfigError(f"`scheme` must be one of {list(SCHEMES)}, was {scheme!r}; use expanding or rolling")
    given_test_bars = test_bars
    if test_bars is None:
        test_bars = n_bars // (n_folds + 1)
    else:
        _check_int("test_bars", test_bars, 1)

    if train_bars is not None and scheme == "expanding":
        raise ConfigError(f"`train_bars` ({train_bars}) is the rolling window's length; the expanding scheme "
                          "trains from the first bar; drop --train-bars or use --scheme rolling")

    def fix() -> str:
        most = _max_folds(n_bars, gap, given_test_bars, min_train_bars, min_test_bars, below=n_folds)
        return f"use fewer folds (at most {most})" if most else "use fewer folds, a smaller gap or test window"

    if test_bars < min_test_bars:
        raise ConfigError(
            f"{n_folds} folds over {n_bars} bars leave test windows of {test_bars} bars, fewer than the "
            f"{min_test_bars} each needs; {fix()}, or more data"
        )
    first_test = n_bars - n_folds * test_bars
    room = first_test - gap  # bars available to the first training window
    if room < min_train_bars:
        raise ConfigError(
            f"{n_folds} folds of {test_bars} test bars with a gap of {gap} leave the first fold {max(room, 0)} "
            f"training bars of {n_bars}, fewer than the {min_train_bars} needed; {fix()}, or more data"
        )
    if scheme == "rolling":
        if train_bars is None:
            train_bars = room
        _check_int("train_bars", train_bars, 1)
        if train_bars > room:
            raise ConfigError(
                f"`train_bars` {train_bars} does not fit before the first test window: only {room} bars are "
                f"there (first test bar {first_test}, gap {gap}); use at most {room} or fewer folds"
            )
        if train_bars < min_train_bars:
            raise ConfigError(f"`train_bars` must be >= {min_train_bars} (the episode length), was {train_bars}")
    folds = []
    for k in range(n_folds):
        test_start = first_test + k * test_bars
        train_end = test_start - gap
        train_start = 0 if scheme == "expanding" else train_end - int(train_bars)  # type: ignore[arg-type]
        folds.append(Fold(index=k, train_start=int(train_start), train_end=int(train_end),
                          test_start=int(test_start), test_end=int(test_start + test_bars)))
    return folds


def _max_folds(n_bars: int, gap: int, test_bars: int | None, min_train: int, min_test: int, *, below: int) -> int:
    """The largest number of folds below `below` (0 if none) whose windows all hold the minimum
    numbers of bars. (With the default test window, ``n_bars // (K + 1)``, whether K folds fit
    does not fall steadily with K, so this is a search down from ``below - 1``.)"""
    if test_bars is not None:
        most = (n_bars - gap - min_train) // test_bars if test_bars >= min_test else 0
        return max(min(most, below - 1), 0)
    for k in range(min(below - 1, n_bars), 0, -1):
        window = n_bars // (k + 1)
        if window >= min_test and n_bars - k * window - gap >= min_train:
            return k
    return 0


def fold_times(timestamps: Sequence[datetime] | pl.Series, fold: Fold) -> dict[str, Any]:
    """Fold boundaries as timestamps: first / last bar of each window (inclusive) and the
    exclusive end used to slice (`None` = to the end of the data)."""
    ts = list(timestamps)
    n = len(ts)

    def excl(i: int) -> datetime | None:
        return ts[i] if i < n else None

    return {
        "train_start": ts[fold.train_start], "train_last": ts[fold.train_end - 1], "train_end": excl(fold.train_end),
        "test_start": ts[fold.test_start], "test_last": ts[fold.test_end - 1], "test_end": excl(fold.test_end),
    }


def _iso(x: Any) -> Any:
    return x.isoformat() if isinstance(x, datetime) else x


def fold_record(fold: Fold, times: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """A fold run as JSON (``fold.json``): bar indices (``*_bar``, half-open), window sizes, gap,
    the training seed and the boundary timestamps (ISO strings, `fold_times`)."""
    bars = {f"{k}_bar": v for k, v in fold.to_dict().items() if k != "index"}
    return {"index": fold.index, **bars, "train_bars": fold.train_bars, "test_bars": fold.test_bars, "gap": fold.gap,
            "seed": int(seed), **{k: _iso(v) for k, v in times.items()}}


@dataclass(frozen=True, slots=True)
class FoldRun:
    """One training run of a walk-forward: fold `fold` trained with `seed`, written to `folder`
    (relative to the walk-forward folder: ``fold_<k>`` or ``fold_<k>/seed_<s>``)."""

    fold: int
    seed: int
    folder: str


def plan_runs(n_folds: int, *, base_seed: int, seeds: Sequence[int] = ()) -> list[FoldRun]:
    """The runs of a walk-forward, fold-major: without `seeds` one per fold with seed
    ``base_seed + k`` in ``fold_<k>``; with `seeds` (distinct, >= 0) one per fold and seed,
    the seed as given, in ``fold_<k>/seed_<s>``."""
    _check_int("n_folds", n_folds, 1)
    _check_int("base_seed", base_seed, 0)
    for i, s in enumerate(seeds):
        _check_int(f"seeds[{i}]", s, 0)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"`seeds` must be distinct, was {list(seeds)}; list each seed once")
    if not seeds:
        return [FoldRun(fold=k, seed=int(base_seed) + k, folder=f"fold_{k}") for k in range(n_folds)]
    return [FoldRun(fold=k, seed=int(s), folder=f"fold_{k}/seed_{s}") for k in range(n_folds) for s in seeds]
