"""Sweep planning, pure: the search space file and the trials it expands to, in a fixed order.

A search space file (see `configs/sweep.yaml`)::

    metric: sharpe            # a `summarize` key of the agent's validation backtest (sharpe, total_return, ...)
    mode: max                 # max | min (default: min for max_drawdown, fees; else max)
    search: grid              # grid: every combination; random: `--trials` random draws
    sample_seed: 0            # seeds the random draws (and the subset of a grid cut by --trials)
    seeds: [0, 1]             # values of train.seed (crossed with the grid, or drawn at random)
    space:                    # config overrides (dotted keys) -> list of values
      train.algo_kwargs.learning_rate: [1.0e-4, 3.0e-4]
      train.algo_kwargs.ent_coef: [0.0, 0.01]

Trials are enumerated up front, in a fixed order, by `expand_trials` (so trial i is the
same trial in every run of the same file); `--trials N` keeps N of them (a seeded random
subset of a grid; N draws for `search: random`). `rung_budgets` cuts a trial's training
budget into the equal steps ASHA stops trials between. Nothing here trains or imports Ray.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from signalflow.core.errors import ConfigError
from signalflow_gym.shipped import resolve_config
from signalflow_gym.yaml_io import read_yaml

__all__ = ["MIN_METRICS", "SPLIT_KEYS", "SweepSpace", "load_space", "expand_trials", "override_strings", "rung_budgets"]

MIN_METRICS = ("max_drawdown", "fees", "orders_rejected", "orders_reduced", "decisions_skipped")
#: Config keys that move the train/validation/test boundaries: a sweep space may not vary them.
SPLIT_KEYS = ("data.fractions", "data.split_at")
_SPACE_KEYS = ("metric", "mode", "search", "sample_seed", "seeds", "space")


# =========================================================================== the space
#: What YAML 1.1 reads as a string but means a number: an exponent without a dot (``1e-4``, ``3E5``).
_EXPONENT_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)[eE][+-]?\d+")


def _coerce_value(v: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` and ``1e3`` (an exponent, no dot) as strings: read those as
    numbers, a whole one written without a dot (``1e3``) as an integer, so that it fits integer
    keys such as ``train.total_timesteps`` too. Any other string is kept as written (a quoted
    ``"12"`` stays a string), and so is one beyond a float's range."""
    if not isinstance(v, str) or not _EXPONENT_NUMBER.fullmatch(v):
        return v
    number = float(v)
    if not math.isfinite(number):
        return v
    if "." not in v and number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def _duplicates(values: Sequence[Any]) -> list[Any]:
    """The values of `values` that an earlier one equals (by their JSON text), in order."""
    seen, out = set(), []
    for v in values:
        text = json.dumps(v, sort_keys=True, default=str)
        if text in seen:
            out.append(v)
        seen.add(text)
    return out


class SweepSpace:
    """A validated sweep file: metric, mode, search ("grid" | "random"), seeds, space."""

    def __init__(self, data: Mapping[str, Any] | None = None, *, source: str = "the sweep space") -> None:
        from signalflow.strategy.metrics import SUMMARY_NAMES

        data = dict(data or {})
        for key in data:
            if key not in _SPACE_KEYS:
                raise ConfigError(f"unknown key `{key}` in {source}; valid keys: {', '.join(_SPACE_KEYS)}")
        self.metric: str = data.get("metric", "sharpe")
        if self.metric not in SUMMARY_NAMES:
            raise ConfigError(f"`metric` must be one of {list(SUMMARY_NAMES)}, was {self.metric!r} in {source}; "
                              "use e.g. sharpe or total_return")
        self.mode: str = data.get("mode") or ("min" if self.metric in MIN_METRICS else "max")
        if self.mode not in ("max", "min"):
            raise ConfigError(f"`mode` must be max or min, was {self.mode!r} in {source}")
        self.search: str = data.get("search", "grid")
        if self.search not in ("grid", "random"):
            raise ConfigError(f"`search` must be grid or random, was {self.search!r} in {source}")
        self.sample_seed = data.get("sample_seed", 0)
        if isinstance(self.sample_seed, bool) or not isinstance(self.sample_seed, int):
            raise ConfigError(f"`sample_seed` must be an integer, was {self.sample_seed!r} in {source}")
        seeds = data.get("seeds")
        if seeds is None:
            seeds = []
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise ConfigError(f"`seeds` as a count must be >= 1, was {seeds} in {source}; write e.g. seeds: 3 "
                                  "(seeds 0, 1, 2) or leave it out for the config's seed")
            seeds = list(range(seeds))
        if not isinstance(seeds, list) or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
            raise ConfigError(f"`seeds` must be a list of integers >= 0 (or a count), was {seeds!r} in {source}; "
                              "write e.g. seeds: [0, 1, 2]")
        repeated = _duplicates(seeds)
        if repeated:
            raise ConfigError(f"`seeds` lists seed {repeated[0]} twice in {source}: the two trials would "
                              "be the same run; list each seed once")
        self.seeds: list[int] = list(seeds)
        space = data.get("space") or {}
        if not isinstance(space, Mapping):
            raise ConfigError(f"`space` must map config keys to lists of values, was {space!r} in {source}; "
                              "write e.g. space: {train.algo_kwargs.learning_rate: [1.0e-4, 3.0e-4]}")
        self.space: dict[str, list[Any]] = {}
        for key, values in space.items():
            if not isinstance(key, str) or "." not in key:
                raise ConfigError(f"`space` key {key!r} in {source} must be a dotted config key, "
                                  "e.g. train.algo_kwargs.learning_rate")
            if key in ("train.seed", "train.seeds"):
                raise ConfigError(f"use `seeds:` rather than `space: {{{key}: ...}}` in {source}: each trial is one "
                                  "training run, and `seeds:` crosses the seeds with the other values")
            if key in SPLIT_KEYS:
                raise ConfigError(
                    f"`space.{key}` in {source} would give the trials different splits: a sweep picks its best "
                    "trial on the validation split, so one trial's validation bars would be another's test bars "
                    f"and the winner's test figure would no longer be out of sample; run one sweep per split "
                    f"(e.g. --set {key}=...)"
                )
            if not isinstance(values, list) or not values:
                raise ConfigError(f"`space.{key}` must be a non-empty list of values, was {values!r} in {source}")
            values = [_coerce_value(v) for v in values]
            repeated = _duplicates(values)
            if repeated:
                raise ConfigError(f"`space.{key}` lists {json.dumps(repeated[0], default=str)} twice in "
                                  f"{source}: the trials would repeat the same runs; list each value once")
            self.space[key] = values

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "mode": self.mode, "search": self.search, "sample_seed": self.sample_seed,
                "seeds": self.seeds, "space": self.space}

    def replace(self, *, source: str = "the sweep space", **changes: Any) -> "SweepSpace":
        """A copy with `changes` (keys of the file: metric, mode, seeds, ...) applied and validated
        again; a new `metric` without a `mode` gets that metric's default mode."""
        data = {**self.to_dict(), **changes}
        if "metric" in changes and "mode" not in changes:
            data.pop("mode")
        return SweepSpace(data, source=source)

    @property
    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.space.values()) * max(len(self.seeds), 1)


def load_space(path: str | Path) -> SweepSpace:
    path = Path(path)
    path = resolve_config(path, what="sweep space file")  # a file, or a shipped one's name ("sweep")
    data = read_yaml(path, what="sweep space file", example="--space configs/sweep.yaml")
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"sweep space file `{path}` must be a mapping (metric, mode, search, seeds, space)")
    return SweepSpace(data, source=str(path))


def expand_trials(space: SweepSpace, n_trials: int | None = None) -> list[dict[str, Any]]:
    """The trials, in a fixed order: a list of ``{dotted key: value}`` overrides (``train.seed`` included
    when `space.seeds` is set).

    grid: every combination of `space.space` x `seeds` (the seed varies fastest); with
    `n_trials` below that, a random subset (seeded by `sample_seed`, kept in grid order).
    random: `n_trials` distinct draws (default: the grid size), each value uniform from its
    list (a repeated draw is drawn again: two equal trials would be the same run, and would
    count twice in the statistics of the search); at most the grid size.
    """
    keys = list(space.space)
    seeds: list[int | None] = list(space.seeds) or [None]
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1):
        raise ConfigError(f"`--trials` must be an integer >= 1, was {n_trials!r}")

    def trial(values: Sequence[Any], seed: int | None) -> dict[str, Any]:
        out = dict(zip(keys, values))
        if seed is not None:
            out["train.seed"] = seed
        return out

    rng = np.random.default_rng(space.sample_seed)
    if space.search == "grid":
        grid = [trial(values, seed) for values in itertools.product(*space.space.values()) for seed in seeds]
        if n_trials is None or n_trials >= len(grid):
            return grid
        keep = sorted(rng.choice(len(grid), size=n_trials, replace=False).tolist())
        return [grid[i] for i in keep]
    n = n_trials if n_trials is not None else space.grid_size
    if n > space.grid_size:
        raise ConfigError(f"`--trials` {n} is more than the {space.grid_size} distinct trials of the space (random "
                          f"search draws each at most once); use --trials {space.grid_size} or add values")
    lists = [*space.space.values(), seeds]
    drawn: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(drawn) < n:
        pick = tuple(int(rng.integers(len(vals))) for vals in lists)
        if pick not in seen:
            seen.add(pick)
            drawn.append(pick)
    return [trial([vals[i] for vals, i in zip(space.space.values(), pick)], seeds[pick[-1]]) for pick in drawn]


def override_strings(overrides: Mapping[str, Any]) -> list[str]:
    """``key=value`` strings for `ExperimentConfig.from_dict` (values as JSON, which is YAML)."""
    return [f"{k}={json.dumps(v)}" for k, v in overrides.items()]


def rung_budgets(total: int, rungs: int) -> list[int]:
    """Cumulative step budgets of `rungs` equal steps up to `total`."""
    return sorted({max(1, round(total * (r + 1) / rungs)) for r in range(rungs)})
