"""Hyperparameter and seed sweeps with Ray Tune: each trial trains on the train split and is
scored on the validation split; the best trial's run package is kept.

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
subset of a grid; N draws for `search: random`). Each trial's overrides are applied to the
experiment config; the trial writes its own run package, so every trial is reproducible
from ``OUT/trials/trial_<i>/run/experiment.yaml``.

Output (`out_dir`)::

    space.json, experiment.yaml     the sweep and the base config
    trials/trial_<i>/run/           the trial's run package (train split only)
    trials/trial_<i>/validation/    evaluate() on the validation split (report.json, report.md)
    trials/trial_<i>/trial.json     overrides, status, error, metrics
    results.parquet, results.md     all trials ranked by the validation metric; failed ones
                                    last with status "error" and their message
    best/                           a copy of the best trial's run package, its validation
                                    report (validation_report/) and trial record (sweep/trial.json)
    tune/                           Ray Tune's own experiment directory
    COMPLETE.json                   the completion marker

The whole folder is built in a temporary sibling and swapped in when the results are
written (`signalflow_gym.outputs.building`): killed at any instant, `out_dir` holds the
previous sweep or the new one. An existing one is replaced only with `overwrite=True`
(``--overwrite``). The base config's splits are checked up front: each must hold at
least ``env.episode.length + env.episode.warmup_bars`` bars.

ASHA (`asha=True`): a trial trains in `rungs` equal steps (resuming from its checkpoint) and
reports the validation metric after each; ASHA stops the weak trials at a rung (status
"stopped", their last score still ranked). A resumed run reseeds at each rung, so an ASHA
trial is reproducible with the same number of rungs, not bit-identical to a one-shot run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from signalflow.core.errors import ConfigError
from signalflow_gym.outputs import building, check_target, mark_complete, recover, write_json_atomic, write_text_atomic
from signalflow_gym.shipped import resolve_config
from signalflow_gym.yaml_io import read_yaml

__all__ = ["SweepSpace", "load_space", "expand_trials", "tune_sweep", "add_sweep_args", "run_sweep", "main"]

MIN_METRICS = ("max_drawdown", "fees", "orders_rejected", "orders_reduced", "decisions_skipped")
#: What a sweep folder holds (an older one without a marker may be replaced).
_SWEEP_FILES = ("space.json", "experiment.yaml", "trials", "results.parquet", "results.md", "best", "tune")
_SPACE_KEYS = ("metric", "mode", "search", "sample_seed", "seeds", "space")


# =========================================================================== the space
def _coerce_value(v: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string: read number-like strings as floats."""
    if isinstance(v, str):
        try:
            return float(v) if v.strip().lower() not in ("nan", "inf", "-inf", "infinity") else v
        except ValueError:
            return v
    return v


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
            seeds = list(range(seeds))
        if not isinstance(seeds, list) or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
            raise ConfigError(f"`seeds` must be a list of integers >= 0 (or a count), was {seeds!r} in {source}; "
                              "write e.g. seeds: [0, 1, 2]")
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
            if key == "train.seed":
                raise ConfigError(f"use `seeds:` rather than `space: {{train.seed: ...}}` in {source}")
            if not isinstance(values, list) or not values:
                raise ConfigError(f"`space.{key}` must be a non-empty list of values, was {values!r} in {source}")
            self.space[key] = [_coerce_value(v) for v in values]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "mode": self.mode, "search": self.search, "sample_seed": self.sample_seed,
                "seeds": self.seeds, "space": self.space}

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
    random: `n_trials` draws (default: the grid size), each value uniform from its list.
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
    return [trial([vals[int(rng.integers(len(vals)))] for vals in space.space.values()],
                  seeds[int(rng.integers(len(seeds)))]) for _ in range(n)]


def override_strings(overrides: Mapping[str, Any]) -> list[str]:
    """``key=value`` strings for `ExperimentConfig.from_dict` (values as JSON, which is YAML)."""
    return [f"{k}={json.dumps(v)}" for k, v in overrides.items()]


# =========================================================================== one trial
def _write_json(path: Path, data: Any) -> None:
    from signalflow_gym.experiment.evaluate import jsonable

    write_json_atomic(path, jsonable(data))


def rung_budgets(total: int, rungs: int) -> list[int]:
    """Cumulative step budgets of `rungs` equal steps up to `total`."""
    return sorted({max(1, round(total * (r + 1) / rungs)) for r in range(rungs)})


def _trial(params: dict[str, Any], *, base: dict[str, Any], trials: list[dict[str, Any]], data: Any, out_root: str,
           metric: str, rungs: int, n_random_seeds: int | None) -> None:
    """A Ray Tune function trainable: train on the train split, evaluate on the validation split, report."""
    from ray import tune

    from signalflow_gym.experiment.config import ExperimentConfig
    from signalflow_gym.experiment.data import load_data, split_data
    from signalflow_gym.experiment.evaluate import evaluate
    from signalflow_gym.experiment.train import train

    index = int(params["index"])
    overrides = trials[index]
    trial_dir = Path(out_root) / "trials" / f"trial_{index:03d}"
    trial_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"index": index, "overrides": overrides, "status": "running", "error": None,
                            "rungs": []}
    _write_json(trial_dir / "trial.json", info)
    started = time.time()
    try:
        cfg = ExperimentConfig.from_dict(base, override_strings(overrides))
        raw, signals = data if data is not None else load_data(cfg.data)
        split = split_data(cfg.data, raw, signals, env=cfg.env)
        train_data = (split.train.raw_data, split.train.signals)
        validation = (split.validation.raw_data, split.validation.signals)
        budgets = rung_budgets(cfg.train.total_timesteps, rungs)
        if len(budgets) > 1 and cfg.train.checkpoint_freq == 0:  # resuming between rungs needs a checkpoint
            cfg = ExperimentConfig.from_dict(cfg.to_dict(), [f"train.checkpoint_freq={cfg.train.total_timesteps}"])
        for r, steps in enumerate(budgets):
            step_cfg = ExperimentConfig.from_dict(cfg.to_dict(), [f"train.total_timesteps={steps}"])
            run_dir = train(step_cfg, trial_dir / "run", resume=r > 0, progress=False, train_data=train_data,
                            validation_data=validation, overwrite=r == 0)
            report = evaluate(run_dir, data=validation, split=None, out_dir=trial_dir / "validation",
                              n_random_seeds=n_random_seeds, plot=False, overwrite=True)
            agent = report["agent"]
            result = {metric: float(agent[metric]), "timesteps": steps, "rung": r + 1,
                      **{f"validation_{k}": float(agent[k]) for k in ("total_return", "sharpe", "sortino",
                                                                      "max_drawdown", "n_trades")}}
            info["rungs"].append(result)
            info.update(status="ok" if r == len(budgets) - 1 else "running", metrics=result,
                        seconds=time.time() - started, run_dir="run")  # relative to the trial folder
            _write_json(trial_dir / "trial.json", info)
            tune.report(result)  # ASHA may stop the trial here
    except Exception as exc:
        info.update(status="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                    seconds=time.time() - started)
        _write_json(trial_dir / "trial.json", info)
        raise


# =========================================================================== the sweep
def tune_sweep(
    config: Any,
    space: SweepSpace | Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    trials: int | None = None,
    asha: bool = False,
    rungs: int = 3,
    data: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    n_random_seeds: int | None = None,
    verbose: int = 0,
    log: Any = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the sweep on Ray Tune; rank the trials; copy the best package to ``out_dir/best``.

    `config`: the base `ExperimentConfig` (or dict / YAML path). `space`: a `SweepSpace`,
    its dict, or a YAML path. `trials`: how many trials (see `expand_trials`). `asha`: ASHA
    early stopping over `rungs` equal training steps. `data`: ``(raw_data, signals)``
    instead of ``load_data(config.data)`` (loaded once, shared through the object store;
    trials that override ``data.*`` keys load their own). A trial that raises is reported
    with status "error" and its message; the others are unaffected. `out_dir` must not hold
    a sweep yet, unless `overwrite`. Returns
    ``{"results": [row, ...] ranked, "best": row | None, "files": {...}, ...}``.
    """
    from signalflow.data import validate_ohlcv, validate_signals
    from signalflow_gym.experiment.data import load_data, split_data
    from signalflow_gym.experiment.train import coerce_config
    from signalflow_gym.scale.ray_utils import init_ray, require_tune, task_cpus

    tune = require_tune()
    from ray.tune.schedulers import ASHAScheduler

    log = log or (lambda msg: None)
    cfg = coerce_config(config)
    if not isinstance(space, SweepSpace):
        space = load_space(space) if isinstance(space, (str, Path)) else SweepSpace(space)
    specs = expand_trials(space, trials)
    if asha and rungs < 2:
        raise ConfigError(f"`rungs` must be >= 2 with ASHA (it stops trials between rungs), was {rungs}")
    n_rungs = rungs if asha else 1
    if n_rungs > cfg.train.total_timesteps:
        raise ConfigError(f"`rungs` must be at most `train.total_timesteps` ({cfg.train.total_timesteps}) so that "
                          f"every rung trains at least one step, was {rungs}; use fewer rungs or more steps")
    out = Path(out_dir).absolute()
    recover(out)
    check_target(out, kind="sweep", overwrite=overwrite, known=_SWEEP_FILES)  # before any work
    touches_data = any(k.startswith("data.") for k in space.space)
    if touches_data:
        shared = None
    elif data is not None:
        raw = validate_ohlcv(data[0])
        shared = (raw, validate_signals(data[1], ohlcv=raw))
    else:
        shared = load_data(cfg.data)
    if shared is not None and not any(k.startswith("env.") for k in space.space):
        split_data(cfg.data, *shared, env=cfg.env)  # every split long enough for the episodes, before Ray starts
    with building(out, kind="sweep", overwrite=overwrite, known=_SWEEP_FILES, open_dirs=("tune",)) as work:
        cfg.to_yaml(work / "experiment.yaml")
        _write_json(work / "space.json", {**space.to_dict(), "trials": specs, "asha": asha, "rungs": n_rungs})

        init_ray(address, num_cpus)
        trainable = tune.with_parameters(_trial, base=cfg.to_dict(), trials=specs, data=shared, out_root=str(work),
                                         metric=space.metric, rungs=n_rungs, n_random_seeds=n_random_seeds)
        trainable = tune.with_resources(trainable, {"cpu": task_cpus(cfg.train.n_envs, cfg.train.vec_env)})
        scheduler = None
        if asha:
            scheduler = ASHAScheduler(time_attr="training_iteration", max_t=n_rungs, grace_period=1, reduction_factor=2)
        tuner = tune.Tuner(
            trainable,
            param_space={"index": tune.grid_search(list(range(len(specs))))},
            tune_config=tune.TuneConfig(metric=space.metric, mode=space.mode, scheduler=scheduler,
                                        trial_dirname_creator=lambda t: f"trial_{t.config['index']:03d}"),
            run_config=tune.RunConfig(name="tune", storage_path=str(work), verbose=verbose,
                                      failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)),
        )
        log(f"sweep: {len(specs)} trials ({space.search}{', ASHA over ' + str(n_rungs) + ' rungs' if asha else ''}), "
            f"metric validation {space.metric} ({space.mode})")
        grid = tuner.fit()
        rows = [_result_row(res, specs, work, out, n_rungs) for res in grid]
        report = _finish(rows, specs, space, work, out, n_rungs, asha, log)
    return report


def _result_row(res: Any, specs: list[dict[str, Any]], work: Path, out: Path, n_rungs: int) -> dict[str, Any]:
    """A trial's row; its files are read from `work` (the folder being built), its paths name `out`."""
    index = int(res.config["index"])
    info_path = work / "trials" / f"trial_{index:03d}" / "trial.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    metrics = info.get("metrics") or {}
    iters = len(info.get("rungs") or [])
    if res.error is not None or info.get("status") == "error":
        status = "error"
        error = info.get("error") or " ".join(str(res.error).split())[:500]
    elif iters < n_rungs:
        status, error = "stopped", None  # ASHA stopped it after `iters` rungs
    else:
        status, error = "ok", None
    run_dir = str(out / "trials" / f"trial_{index:03d}" / info["run_dir"]) if info.get("run_dir") else None
    return {"trial": index, "status": status, "error": error, "overrides": specs[index], "metrics": metrics,
            "rungs": iters, "seconds": info.get("seconds"), "run_dir": run_dir}


def _finish(rows: list[dict[str, Any]], specs: list[dict[str, Any]], space: SweepSpace, work: Path, out: Path,
            n_rungs: int, asha: bool, log: Any) -> dict[str, Any]:
    """Rank the trials, copy the best one to `work`/best, write the results; the returned paths name `out`."""
    metric = space.metric
    sign = -1.0 if space.mode == "max" else 1.0

    def key(r: dict[str, Any]) -> tuple[int, float, int]:
        value = r["metrics"].get(metric)
        scored = r["status"] != "error" and value is not None and not math.isnan(value)
        return (0 if scored else 1, sign * value if scored else 0.0, r["trial"])

    rows.sort(key=key)
    rank = 0
    for r in rows:
        scored = key(r)[0] == 0
        rank += scored
        r["rank"] = rank if scored else None
    best = rows[0] if rows and rows[0]["rank"] == 1 else None
    best_dir = work / "best"
    if best is not None:
        from signalflow_gym.experiment.train import OPEN_DIRS
        from signalflow_gym.outputs import MARKER, is_temporary

        src = work / "trials" / f"trial_{best['trial']:03d}"
        shutil.copytree(src / "run", best_dir, ignore=lambda _d, names: [
            n for n in names if n in ("checkpoints", "tb", ".package", MARKER) or is_temporary(n)])
        if (src / "validation").is_dir():
            shutil.copytree(src / "validation", best_dir / "validation_report")
        _write_json(best_dir / "sweep" / "trial.json", {**best, "metric": metric, "mode": space.mode})
        mark_complete(best_dir, kind="train", open_dirs=OPEN_DIRS)
    df = results_frame(rows, specs, metric)
    from signalflow.strategy.exporter import write_parquet_atomic

    write_parquet_atomic(df, work / "results.parquet")
    write_text_atomic(work / "results.md", results_markdown(df, space, asha, n_rungs, best))
    n_failed = sum(r["status"] == "error" for r in rows)
    log(f"sweep: {len(rows) - n_failed} trials scored, {n_failed} failed; best: "
        + (f"trial {best['trial']} ({metric} {best['metrics'][metric]:.4f})" if best else "none"))
    return {"results": rows, "best": best, "metric": metric, "mode": space.mode, "n_failed": n_failed,
            "out_dir": str(out), "files": {"results_parquet": str(out / "results.parquet"),
                                           "results_md": str(out / "results.md"),
                                           **({"best": str(out / "best")} if best else {})}}


def results_frame(rows: list[dict[str, Any]], specs: list[dict[str, Any]], metric: str) -> pl.DataFrame:
    """One row per trial, ranked: rank, trial, status, the metric, each override, validation metrics, error."""
    keys = list(dict.fromkeys(k for s in specs for k in s))
    cols: dict[str, pl.Series] = {
        "rank": pl.Series("rank", [r["rank"] for r in rows], dtype=pl.Int64),
        "trial": pl.Series("trial", [r["trial"] for r in rows], dtype=pl.Int64),
        "status": pl.Series("status", [r["status"] for r in rows], dtype=pl.String),
        f"validation_{metric}": pl.Series(f"validation_{metric}", [r["metrics"].get(metric) for r in rows],
                                          dtype=pl.Float64),
    }
    for k in keys:
        values = [r["overrides"].get(k) for r in rows]
        try:
            cols[k] = pl.Series(k, values, strict=True)
        except Exception:
            cols[k] = pl.Series(k, [None if v is None else json.dumps(v) for v in values], dtype=pl.String)
    for k in ("validation_total_return", "validation_sharpe", "validation_max_drawdown", "validation_n_trades"):
        if k not in cols:
            cols[k] = pl.Series(k, [r["metrics"].get(k) for r in rows], dtype=pl.Float64)
    cols["timesteps"] = pl.Series("timesteps", [r["metrics"].get("timesteps") for r in rows], dtype=pl.Int64)
    cols["rungs"] = pl.Series("rungs", [r["rungs"] for r in rows], dtype=pl.Int64)
    cols["seconds"] = pl.Series("seconds", [r["seconds"] for r in rows], dtype=pl.Float64)
    cols["run_dir"] = pl.Series("run_dir", [r["run_dir"] for r in rows], dtype=pl.String)
    cols["error"] = pl.Series("error", [r["error"] for r in rows], dtype=pl.String)
    return pl.DataFrame(list(cols.values()))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return " ".join(str(v).split()).replace("|", "\\|")


def results_markdown(df: pl.DataFrame, space: SweepSpace, asha: bool, n_rungs: int, best: Any) -> str:
    metric_col = f"validation_{space.metric}"
    skip = {"run_dir", "seconds"}
    cols = [c for c in df.columns if c not in skip]
    lines = [
        f"# Sweep: {df.height} trials, ranked by validation {space.metric} ({space.mode})",
        "",
        f"Search: {space.search}" + (f", ASHA early stopping over {n_rungs} rungs" if asha else "")
        + ". Every trial trains on the train split and is backtested on the validation split; "
          "the test split is untouched (evaluate `best/` on it).",
        "",
        f"Best: trial {best['trial']} ({metric_col} = {_cell(best['metrics'][space.metric])}), copied to `best/`."
        if best else "No trial finished; nothing was saved to `best/`.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---:" if df.schema[c].is_numeric() else "---" for c in cols) + "|",
    ]
    for row in df.iter_rows(named=True):
        lines.append("| " + " | ".join(_cell(row[c])[:300] for c in cols) + " |")
    lines.append("")
    return "\n".join(lines)


# =========================================================================== command line
def add_sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="experiment YAML, e.g. configs/ppo.yaml")
    p.add_argument("--space", required=True, help="search space YAML, e.g. configs/sweep.yaml")
    p.add_argument("--trials", type=int, default=None,
                   help="number of trials (grid: a random subset if fewer than the grid; random: draws)")
    p.add_argument("--asha", action="store_true", help="ASHA early stopping (trials train in --rungs steps)")
    p.add_argument("--rungs", type=int, default=3, help="training steps per trial with --asha (default 3)")
    p.add_argument("--metric", default=None, help="validation metric to rank by (overrides the space file's)")
    p.add_argument("--mode", default=None, choices=["max", "min"], help="max or min (overrides the space file's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base config value, e.g. --set train.total_timesteps=2000 (repeatable)")
    p.add_argument("--out", default=None, help="output directory (default runs/sweep_{name}__{time})")
    p.add_argument("--address", default=None,
                   help='Ray cluster: "auto" (this machine\'s cluster) or "ray://HOST:10001"; default a local Ray')
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default all)")
    p.add_argument("--random-seeds", type=int, default=None, help="random-policy seeds per validation report")
    p.add_argument("--overwrite", action="store_true", help="replace a sweep already in --out")


def run_sweep(args: argparse.Namespace) -> dict[str, Any]:
    from signalflow_gym.experiment.config import ExperimentConfig
    from signalflow_gym.scale.ray_utils import require_tune

    require_tune()
    config = ExperimentConfig.from_yaml(args.config, args.overrides)
    space = load_space(args.space)
    if args.metric is not None or args.mode is not None:
        d = space.to_dict()
        if args.metric is not None:
            d["metric"] = args.metric
            if args.mode is None:
                d.pop("mode")
        if args.mode is not None:
            d["mode"] = args.mode
        space = SweepSpace(d, source=args.space)
    out = args.out or str(Path("runs") / f"sweep_{config.name}__{time.strftime('%Y%m%d-%H%M%S')}")
    report = tune_sweep(config, space, out, trials=args.trials, asha=args.asha, rungs=args.rungs, address=args.address,
                   num_cpus=args.num_cpus, n_random_seeds=args.random_seeds, verbose=1,
                   log=lambda m: print(m, file=sys.stderr, flush=True), overwrite=args.overwrite)
    print(Path(report["files"]["results_md"]).read_text())
    print(f"results: {report['files']['results_md']}" + (f"; best run package: {report['files']['best']}"
                                                         if report["best"] else ""))
    return report


def main(argv: Sequence[str] | None = None, prog: str = "sweep") -> int:
    """`agents/sweep.py`: exit 0 if a trial was ranked, 1 if every trial failed, 2 on a user error."""
    from signalflow_gym.scale.cli import run_command

    parser = argparse.ArgumentParser(prog=prog, description="Hyperparameter / seed sweep of an experiment on Ray Tune.")
    add_sweep_args(parser)
    args = parser.parse_args(argv)
    return run_command(prog, run_sweep, args, code_of=lambda report: 0 if report["best"] else 1)
