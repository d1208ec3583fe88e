"""Walk-forward evaluation: K chronological folds (x seeds), each trained and tested as a task.

`walk_forward()` loads the data once, plans the folds (`folds.plan_folds`) and the runs
(`folds.plan_runs`: one per fold, or one per fold and seed with `train.seeds`), runs one task
per run through `driver.run_tasks` (Ray tasks by default; ``backend="sequential"`` in this
process) and writes the combined report (`walkforward_report`). A task (`run_fold`) trains
on the fold's training slice with its seed, then `evaluate`s the run package on the fold's
test slice. Into `out_dir`::

    plan.json                 the folds (bar indices and timestamps), scheme, gap, seeds
    experiment.yaml           the base experiment config (overrides applied)
    fold_<k>/                 one seed (no seed list): fold k's run, seed = train.seed + k
    fold_<k>/seed_<s>/        with train.seeds: fold k trained with seed s
        run/                  the run package (its experiment.yaml has the run's seed)
        fold.json             the run's boundaries and seed: reproduce it with `run_fold`
        test/                 evaluate()'s report on the test window (report.md, equity.png, trades.png, ...)
        oos_equity.parquet    agent and baseline equity on the test window
    fold_<k>/report.json|md   with train.seeds: fold k's scores over its seeds
    folds.parquet / folds.md  per-run metrics: one row per (fold, seed, policy), then the scores
    oos_equity.parquet        out-of-sample equity stitched across folds (each fold rescaled to
                              continue from the previous fold's end; one agent column per seed)
    equity.png                stitched curves (several seeds: each seed, their median and IQR band)
    profile.png               performance profiles of the test total returns over all runs
    report.json, report.md
    COMPLETE.json             the completion marker (also in every run folder, run/ and test/)

``report.json["scores"]`` holds, per policy, mean / median / IQM of total return and Sharpe
over folds x seeds with 95% stratified bootstrap intervals (strata = folds), and the agent's
probability of improvement over each baseline with its interval (`scores.score_summary`).

The whole folder is built in a temporary sibling and swapped in when the report is written
(`signalflow_gym.outputs.building`): killed at any instant, `out_dir` holds the previous
walk-forward or the new one. An existing one is replaced only with `overwrite=True`
(``--overwrite``). Every fold's test window must hold at least as many bars as a data split
needs (`env.episode.length` + `env.episode.warmup_bars`), and so must its training window.

Walk-forward trains without a validation period (`train.eval_freq` has no effect): the
package holds the final model, and the only data a fold's model is scored on is its test window.
"""

from __future__ import annotations

import json
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from signalflow.core.errors import ConfigError
from signalflow.strategy.exporter import write_parquet_atomic
from signalflow_gym.outputs import building, check_target, jsonable, recover, relocate, write_text_atomic
from signalflow_gym.scale.driver import BACKENDS, error_text, run_tasks
from signalflow_gym.scale.folds import Fold, fold_record, fold_times, plan_folds, plan_runs
from signalflow_gym.scale.stitching import run_equity_frame
from signalflow_gym.validation import check_optional_integer

__all__ = ["run_fold", "walk_forward"]

#: What a run folder and a walk-forward folder hold (an older one without a marker may be replaced).
_FOLD_FILES = ("fold.json", "run", "test", "oos_equity.parquet")
_WALKFORWARD_FILES = ("plan.json", "experiment.yaml", "fold_*", "folds.parquet", "folds.md", "oos_equity.parquet",
                      "equity.png", "profile.png", "report.json", "report.md")


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def run_fold(
    config: Any,
    fold: Fold | Mapping[str, Any],
    raw_data: pl.DataFrame,
    signals: pl.DataFrame,
    out_dir: str | Path,
    *,
    n_random_seeds: int | None = None,
    plot: bool = True,
) -> dict[str, Any]:
    """Train and evaluate one fold run; return its record (status, periods, summaries).

    `config`: the base `ExperimentConfig` (or its dict). `fold`: a `Fold` (trained with seed
    ``config.train.seed + fold.index``), or a ``fold.json`` record (its ``seed`` is used, and
    its timestamps: bar indices are not needed). `raw_data` / `signals`: the whole data set
    the fold was planned on. Writes ``out_dir/{fold.json, run/, test/, oos_equity.parquet}``
    (built in a temporary sibling and swapped in; an earlier run there is replaced). Calling
    it again with the same inputs reproduces the run.
    """
    from signalflow.data import slice_by_time
    from signalflow.strategy.runner import MarketData
    from signalflow_gym.experiment.config import ExperimentConfig
    from signalflow_gym.experiment.data import period_of
    from signalflow_gym.experiment.evaluate import evaluate
    from signalflow_gym.experiment.train import coerce_config, train

    started = time.time()
    base = coerce_config(config)
    out = Path(out_dir).absolute()
    if isinstance(fold, Fold):
        ts = raw_data.get_column("timestamp").unique().sort()
        record = fold_record(fold, fold_times(ts, fold), base.train.seed + fold.index)
    else:
        record = dict(fold)
    k = int(record["index"])
    seed = int(record.get("seed", base.train.seed + k))
    # one run per task: the seed list of a multi-seed config is what the walk-forward iterates over
    cfg = ExperimentConfig.from_dict(base.to_dict(), [f"train.seed={seed}", "train.seeds=[]",
                                                      f"name={base.name}_fold{k}"])
    train_sl = slice_by_time(raw_data, signals, _parse(record["train_start"]), _parse(record["train_end"]))
    test_sl = slice_by_time(raw_data, signals, _parse(record["test_start"]), _parse(record["test_end"]))
    with building(out, kind="fold", overwrite=True, known=_FOLD_FILES) as work:
        write_text_atomic(work / "fold.json", json.dumps(record, indent=2) + "\n")
        run_dir = train(cfg, work / "run", progress=False, train_data=(train_sl.raw_data, train_sl.signals),
                        validation_data=None, overwrite=True)
        report = evaluate(run_dir, data=(test_sl.raw_data, test_sl.signals), split=None, out_dir=work / "test",
                          n_random_seeds=n_random_seeds, plot=plot, overwrite=True)
        market = MarketData.build(test_sl.raw_data, test_sl.signals)
        equity = run_equity_frame(work / "test", market, cfg.env, threshold=cfg.evaluation.threshold,
                                  baselines=cfg.evaluation.baselines)
        write_parquet_atomic(equity, work / "oos_equity.parquet")
    return {
        **record,
        "status": "ok",
        "error": None,
        "seed": seed,
        "run_dir": str(out / "run"),
        "report_dir": str(out / "test"),
        "train_period": period_of(train_sl.raw_data),
        "test_period": period_of(test_sl.raw_data),
        "report": jsonable(relocate(report, work, out)),
        "seconds": time.time() - started,
    }


def _run_fold_task(data: tuple[pl.DataFrame, pl.DataFrame], config_dict: dict[str, Any], record: dict[str, Any],
                   out_dir: str, n_random_seeds: int | None, plot: bool) -> dict[str, Any]:
    """One task: `run_fold`, with any exception turned into an error record (the other runs go on)."""
    try:
        return {**run_fold(config_dict, record, data[0], data[1], out_dir, n_random_seeds=n_random_seeds, plot=plot),
                "folder": record["folder"]}
    except Exception as exc:
        return {**record, "status": "error", "error": error_text(exc, 10_000),
                "traceback": traceback.format_exc(), "run_dir": str(Path(out_dir) / "run")}


def walk_forward(
    config: Any,
    out_dir: str | Path,
    *,
    folds: int,
    scheme: str = "expanding",
    gap: int = 0,
    test_bars: int | None = None,
    train_bars: int | None = None,
    data: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    backend: str = "ray",
    n_random_seeds: int | None = None,
    plot: bool = True,
    log: Any = None,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Plan `folds` folds (x `train.seeds`) over the experiment's data, run them, write the combined report.

    `config`: an `ExperimentConfig` (or dict / YAML path); with `train.seeds` set, every fold
    trains one run per seed (see the module docstring). `data`: ``(raw_data, signals)``
    instead of ``load_data(config.data)``. `backend`: "ray" (`address` / `num_cpus`: see
    `init_ray`; a Ray instance that is already initialised is reused) or "sequential" (in this
    process, no Ray needed). A run that fails is reported with its error (status "error") and
    the other runs still go on. Folds whose test or training window would hold fewer than
    ``env.episode.length + env.episode.warmup_bars`` bars are refused before anything runs.
    `out_dir` must not hold a walk-forward yet, unless `overwrite`. `progress`: a progress bar
    (tqdm, on stderr) that advances as each fold run finishes, with its count and an ETA.
    Returns the report dict (also in ``out_dir/report.json``).
    """
    from signalflow.data import validate_ohlcv, validate_signals
    from signalflow_gym.experiment.data import load_data
    from signalflow_gym.experiment.train import coerce_config
    from signalflow_gym.scale.ray_utils import require_ray, task_cpus
    from signalflow_gym.scale.walkforward_report import write_walkforward_report  # scipy and arch: on demand
    from tqdm.auto import tqdm

    if backend == "ray":
        require_ray()
    elif backend not in BACKENDS:
        raise ConfigError(f"`backend` must be one of {list(BACKENDS)}, was {backend!r}; use ray or sequential")
    n_random_seeds = check_optional_integer("n_random_seeds", n_random_seeds, lo=1,
                                            fix="checked before any fold trains; pass e.g. n_random_seeds=5, or None for "
                                                "the config's `evaluation.n_random_seeds`")
    log = log or (lambda msg: None)
    cfg = coerce_config(config)
    out = Path(out_dir).absolute()
    recover(out)
    check_target(out, kind="walkforward", overwrite=overwrite, known=_WALKFORWARD_FILES)  # before any work
    if data is None:
        raw, signals = load_data(cfg.data)
    else:
        raw = validate_ohlcv(data[0])
        signals = validate_signals(data[1], ohlcv=raw)
    ts = raw.get_column("timestamp").unique().sort()
    need = cfg.env.episode.bars_needed
    plan = plan_folds(len(ts), folds, scheme=scheme, gap=gap, test_bars=test_bars, train_bars=train_bars,
                      min_train_bars=need, min_test_bars=max(need, 2))
    seeds = list(cfg.train.seeds)
    runs = plan_runs(folds, base_seed=cfg.train.seed, seeds=seeds)
    records = [{**fold_record(plan[r.fold], fold_times(ts, plan[r.fold]), r.seed), "folder": r.folder} for r in runs]
    meta = {"name": cfg.name, "n_folds": folds, "scheme": scheme, "gap": gap, "n_bars": len(ts),
            "test_bars": plan[0].test_bars, "train_bars": None if scheme == "expanding" else plan[0].train_bars,
            "base_seed": cfg.train.seed, "seeds": seeds, "n_runs": len(runs)}
    with building(out, kind="walkforward", overwrite=overwrite, known=_WALKFORWARD_FILES) as work:
        cfg.to_yaml(work / "experiment.yaml")
        plan_records = [fold_record(f, fold_times(ts, f), cfg.train.seed + f.index) for f in plan]
        if seeds:  # every fold trains every seed of the list
            plan_records = [{**{k: v for k, v in rec.items() if k != "seed"}, "seeds": seeds} for rec in plan_records]
        write_text_atomic(work / "plan.json", json.dumps({**meta, "folds": plan_records}, indent=2) + "\n")
        config_dict = cfg.to_dict()
        calls = [(config_dict, rec, str(work / rec["folder"]), n_random_seeds, plot) for rec in records]
        log(f"walk-forward: {folds} folds ({scheme}, gap {gap}) x {max(len(seeds), 1)} seed(s) over {len(ts)} bars; "
            f"{len(calls)} {backend} tasks")

        def on_error(call: tuple[Any, ...], exc: BaseException) -> dict[str, Any]:
            return {**call[1], "status": "error", "error": error_text(exc)}

        def on_result(call: tuple[Any, ...], res: dict[str, Any]) -> None:
            rec = call[1]
            bar.update(1)
            with bar.external_write_mode():  # (the line is printed above the bar, not glued to it)
                log(f"  fold {rec['index']} seed {rec['seed']}: {res['status']}"
                    + (f" ({res['error']})" if res["status"] != "ok"
                       else f", test total return {res['report']['agent']['total_return']:.4f}"))

        with tqdm(total=len(calls), desc=f"{cfg.name}: fold runs", unit="run", disable=not progress) as bar:
            results = run_tasks(_run_fold_task, calls, shared=(raw, signals), backend=backend, address=address,
                                num_cpus=num_cpus, cpus_per_task=task_cpus(cfg.train.n_envs, cfg.train.vec_env),
                                on_error=on_error, on_result=on_result)
        ordered = [relocate(res, str(work), str(out)) for res in results]
        report = write_walkforward_report(ordered, work, out, meta, initial_capital=cfg.env.broker.initial_capital,
                                          plot=plot)
    return report
