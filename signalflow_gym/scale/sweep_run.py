"""Hyperparameter and seed sweeps with Ray Tune: each trial trains on the train split and is
scored on the validation split; the trials are ranked, the best one's run package is kept, and
the search is judged for overfitting (Deflated Sharpe Ratio of the best trial, PBO by CSCV).

The trials come from `trials.expand_trials` (a space file, see `trials`); with no `seeds` in
the space and `train.seeds` set in the config, the trials are crossed with those seeds. Each
trial's overrides are applied to the experiment config; the trial writes its own run package,
so every trial is reproducible from ``OUT/trials/trial_<i>/run/experiment.yaml``.

Output (`out_dir`)::

    space.json, experiment.yaml     the sweep and the base config
    trials/trial_<i>/run/           the trial's run package (train split only)
    trials/trial_<i>/validation/    evaluate() on the validation split (report.json, report.md)
    trials/trial_<i>/validation_returns.parquet
                                    the agent's per-bar validation equity and returns (timestamp,
                                    equity, return), rewritten atomically after every rung
    trials/trial_<i>/trial.json     overrides, status, error, metrics
    results.parquet, results.md     all trials ranked by the validation metric (failed ones last,
                                    status "error" and their message); results.md also carries the
                                    DSR of the best trial and the PBO of the search
    selection.json                  those statistics and their inputs (`selection.selection_statistics`)
    best/                           a copy of the best trial's run package, its validation
                                    report (validation_report/), trial record (sweep/trial.json)
                                    and the selection statistics (sweep/selection.json)
    tune/                           Ray Tune's own experiment directory
    COMPLETE.json                   the completion marker

The whole folder is built in a temporary sibling and swapped in when the results are
written (`signalflow_gym.outputs.building`): killed at any instant, `out_dir` holds the
previous sweep or the new one. An existing one is replaced only with `overwrite=True`
(``--overwrite``). Every trial's config is checked before Ray starts (`trial_checks`): a
value the config refuses is an error naming the trial, each split must hold at least
``env.episode.length + env.episode.warmup_bars`` bars, and all trials must share one set of
splits (the winner's test figure is out of sample only then).

ASHA (`asha=True`): a trial trains in `rungs` equal steps (resuming from its checkpoint) and
reports the validation metric after each; ASHA stops the weak trials at a rung (status
"stopped", their last score still ranked, their last validation returns used). A resumed run
reseeds at each rung, so an ASHA trial is reproducible with the same number of rungs, not
bit-identical to a one-shot run.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import traceback
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from signalflow.core.errors import ConfigError
from signalflow.strategy.exporter import write_parquet_atomic
from signalflow_gym.outputs import (building, check_target, jsonable, mark_complete, recover, relocate,
                                    write_json_atomic, write_text_atomic)
from signalflow_gym.scale.driver import error_text
from signalflow.strategy.metrics import bar_returns
from signalflow_gym.scale.stitching import agent_equity
from signalflow_gym.scale.trials import SweepSpace, expand_trials, load_space, rung_budgets

__all__ = ["tune_sweep", "trial_folder"]

#: What a sweep folder holds (an older one without a marker may be replaced).
_SWEEP_FILES = ("space.json", "experiment.yaml", "trials", "results.parquet", "results.md", "selection.json", "best",
                "tune")
RETURNS_FILE = "validation_returns.parquet"


def _write_json(path: Path, data: Any) -> None:
    write_json_atomic(path, jsonable(data))


def trial_folder(root: str | Path, index: int) -> Path:
    """``root/trials/trial_<index, 3 digits>``: where trial `index` of a sweep writes."""
    return Path(root) / "trials" / f"trial_{index:03d}"


def _write_validation_returns(report_dir: Path, path: Path, initial_capital: float) -> None:
    """The agent's per-bar validation equity and simple returns (`stitching.bar_returns`), atomically."""
    equity = agent_equity(report_dir).sort("timestamp")
    returns = bar_returns(equity.get_column("agent").to_numpy(), initial_capital)
    write_parquet_atomic(pl.DataFrame({"timestamp": equity.get_column("timestamp"),
                                       "equity": equity.get_column("agent").cast(pl.Float64),
                                       "return": returns}), path)


def _trial(params: dict[str, Any], *, base: dict[str, Any], trials: list[dict[str, Any]], data: Any, out_root: str,
           metric: str, rungs: int, n_random_seeds: int | None) -> None:
    """A Ray Tune function trainable: train on the train split, evaluate on the validation split, report."""
    from ray import tune

    from signalflow_gym.experiment.config import ExperimentConfig
    from signalflow_gym.experiment.data import load_data, split_data
    from signalflow_gym.experiment.evaluate import evaluate
    from signalflow_gym.experiment.train import train
    from signalflow_gym.scale.trial_checks import trial_config

    index = int(params["index"])
    overrides = trials[index]
    trial_dir = trial_folder(out_root, index)
    trial_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"index": index, "overrides": overrides, "status": "running", "error": None,
                            "rungs": []}
    _write_json(trial_dir / "trial.json", info)
    started = time.time()
    try:
        cfg = trial_config(base, overrides)  # (checked before the sweep started: `trial_configs`)
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
            _write_validation_returns(trial_dir / "validation", trial_dir / RETURNS_FILE,
                                      cfg.env.broker.initial_capital)
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
        info.update(status="error", error=error_text(exc, 10_000), traceback=traceback.format_exc(),
                    seconds=time.time() - started)
        _write_json(trial_dir / "trial.json", info)
        raise


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
    from signalflow_gym.experiment.data import load_data
    from signalflow_gym.experiment.train import coerce_config
    from signalflow_gym.scale.ray_utils import init_ray, require_tune, task_cpus
    from signalflow_gym.scale.trial_checks import check_trial_splits, trial_configs

    tune = require_tune()
    from ray.tune.schedulers import ASHAScheduler

    log = log or (lambda msg: None)
    cfg = coerce_config(config)
    if not isinstance(space, SweepSpace):
        space = load_space(space) if isinstance(space, (str, Path)) else SweepSpace(space)
    if not space.seeds and cfg.train.seeds:  # a multi-seed config: every configuration with each seed
        space = space.replace(seeds=list(cfg.train.seeds))
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
    configs = trial_configs(cfg, specs)  # every trial's config, before Ray starts
    touches_data = any(k.startswith("data.") for k in space.space)
    if touches_data:
        shared = None
    elif data is not None:
        raw = validate_ohlcv(data[0])
        shared = (raw, validate_signals(data[1], ohlcv=raw))
    else:
        shared = load_data(cfg.data)
    check_trial_splits(configs, specs, shared)  # episodes fit, one set of splits for all trials
    with building(out, kind="sweep", overwrite=overwrite, known=_SWEEP_FILES, open_dirs=("tune",)) as work:
        cfg.to_yaml(work / "experiment.yaml")
        _write_json(work / "space.json", {**space.to_dict(), "trials": specs, "asha": asha, "rungs": n_rungs})

        # each trial asks for the CPUs of its own config (a space may vary train.n_envs / vec_env)
        trial_cpus = [task_cpus(c.train.n_envs, c.train.vec_env) for c in configs]
        init_ray(address, num_cpus, cpus_per_task=max(trial_cpus))
        trainable = tune.with_parameters(_trial, base=cfg.to_dict(), trials=specs, data=shared, out_root=str(work),
                                         metric=space.metric, rungs=n_rungs, n_random_seeds=n_random_seeds)
        if len(set(trial_cpus)) == 1:
            trainable = tune.with_resources(trainable, {"cpu": trial_cpus[0]})
        else:
            trainable = tune.with_resources(
                trainable, lambda params: tune.PlacementGroupFactory([{"CPU": trial_cpus[int(params["index"])]}]))
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
    info_path = trial_folder(work, index) / "trial.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    metrics = info.get("metrics") or {}
    iters = len(info.get("rungs") or [])
    if res.error is not None or info.get("status") == "error":
        status = "error"
        error = relocate(info.get("error") or " ".join(str(res.error).split())[:500], str(work), str(out))
    elif iters < n_rungs:
        status, error = "stopped", None  # ASHA stopped it after `iters` rungs
    else:
        status, error = "ok", None
    run_dir = str(trial_folder(out, index) / info["run_dir"]) if info.get("run_dir") else None
    return {"trial": index, "status": status, "error": error, "overrides": specs[index], "metrics": metrics,
            "rungs": iters, "seconds": info.get("seconds"), "run_dir": run_dir}


def _validation_returns(rows: list[dict[str, Any]], work: Path) -> dict[int, pl.DataFrame]:
    """``{trial: its validation_returns.parquet}`` of every ranked trial (failed ones have none)."""
    out = {}
    for r in rows:
        path = trial_folder(work, r["trial"]) / RETURNS_FILE
        if r["rank"] is not None and path.is_file():
            out[int(r["trial"])] = pl.read_parquet(path)
    return out


def _finish(rows: list[dict[str, Any]], specs: list[dict[str, Any]], space: SweepSpace, work: Path, out: Path,
            n_rungs: int, asha: bool, log: Any) -> dict[str, Any]:
    """Rank the trials, copy the best one to `work`/best, write the results; the returned paths name `out`."""
    from signalflow_gym.scale.selection import selection_statistics  # scipy and arch: on demand
    from signalflow_gym.scale.sweep_report import results_frame, results_markdown

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
    selection = selection_statistics(_validation_returns(rows, work), best["trial"] if best else None)
    _write_json(work / "selection.json", selection)
    if best is not None:
        from signalflow_gym.experiment.train import OPEN_DIRS
        from signalflow_gym.outputs import MARKER, is_temporary

        src = trial_folder(work, best["trial"])
        shutil.copytree(src / "run", best_dir, ignore=lambda _d, names: [
            n for n in names if n in ("checkpoints", "tb", ".package", MARKER) or is_temporary(n)])
        if (src / "validation").is_dir():
            shutil.copytree(src / "validation", best_dir / "validation_report")
        _write_json(best_dir / "sweep" / "trial.json", {**best, "metric": metric, "mode": space.mode})
        _write_json(best_dir / "sweep" / "selection.json", selection)
        mark_complete(best_dir, kind="train", open_dirs=OPEN_DIRS)
    df = results_frame(rows, specs, metric)
    write_parquet_atomic(df, work / "results.parquet")
    write_text_atomic(work / "results.md", results_markdown(df, space, asha, n_rungs, best, selection))
    n_failed = sum(r["status"] == "error" for r in rows)
    log(f"sweep: {len(rows) - n_failed} trials scored, {n_failed} failed; best: "
        + (f"trial {best['trial']} ({metric} {best['metrics'][metric]:.4f})" if best else "none"))
    return {"results": rows, "best": best, "metric": metric, "mode": space.mode, "n_failed": n_failed,
            "selection": selection,
            "out_dir": str(out), "files": {"results_parquet": str(out / "results.parquet"),
                                           "results_md": str(out / "results.md"),
                                           "selection": str(out / "selection.json"),
                                           **({"best": str(out / "best")} if best else {})}}


