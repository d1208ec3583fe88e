"""`evaluate()`: backtest a trained policy on unseen bars and compare it with baselines on the same bars.

Writes into `out_dir` (default ``RUN_DIR/evaluation/<split>``):

- `report.json`: ``{"agent": summary, "baselines": {...}, "margins": {...}, "period": {...}, "run": {...}}``
  (non-finite numbers written as the strings "inf", "-inf", "nan"; the paths in its
  `files` and `run.run_dir` are relative to the report folder, so the folder can be moved);
- `report.md`: the summary table (`format_summary_table`) and the random policies' spread;
- `equity.png`: equity curves of the agent and the baselines, and their drawdowns;
- `trades.png`: each pair's prices with the agent's entries (long / short) and exits (by reason);
- `bars.parquet`, `trades.parquet`: the agent's backtest (`BacktestExporter`);
- `COMPLETE.json`: the completion marker.

The folder is built in a temporary sibling and swapped in when every file is written
(`signalflow_gym.outputs.building`): killed at any instant, `out_dir` holds the previous
report or the new one, never files of both. An existing report is replaced only with
`overwrite=True` (CLI ``--overwrite``).

Without `data`, the split is recomputed from the experiment's data; it must not overlap
the training period recorded in the run's manifest, and its data fingerprint must be the
one recorded at training (else the data changed since: the "test" split could lie inside
the training period). `allow_overlap=True` (``--allow-overlap``) evaluates anyway.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from signalflow.core.errors import ConfigError
from signalflow.data import validate_ohlcv, validate_signals
from signalflow.strategy.exporter import BacktestExporter
from signalflow.strategy.metrics import bar_returns
from signalflow.strategy.runner import MarketData
from signalflow_gym.experiment.baselines import baseline_result, describe
from signalflow_gym.experiment.config import ExperimentConfig
from signalflow_gym.experiment.data import SPLIT_NAMES, check_no_overlap, load_data, period_of, split_data
from signalflow_gym.experiment.plots import plot_equity, plot_performance_profiles, plot_seed_equity, plot_trades
from signalflow_gym.experiment.seeds import (
    EVALUATION_DIR,
    experiment_config,
    is_multi_seed,
    seed_config,
    seed_runs,
)
from signalflow_gym.experiment.uncertainty import (
    DETERMINISTIC_POLICIES,
    improvement,
    policy_aggregates,
    profiles,
    run_statistics,
)
from signalflow_gym.experiment.report import format_interval, headline, report_markdown, report_table
from signalflow_gym.outputs import building, jsonable, write_text_atomic
from signalflow_gym.validation import check_optional_integer

__all__ = ["evaluate", "format_interval", "headline", "jsonable", "load_experiment", "report_markdown", "report_table"]

Data = tuple[pl.DataFrame, pl.DataFrame | None]
#: What a report folder holds (one written by an older version, without a marker, may be replaced).
REPORT_FILES = ("report.json", "report.md", "equity.png", "trades.png", "profile.png", "bars.parquet", "trades.parquet",
                "seeds")
#: The per-seed backtests of a multi-seed report: ``seeds/seed_<s>/{bars,trades}.parquet``.
SEEDS_DIR = "seeds"


def load_experiment(run_dir: str | Path) -> tuple[ExperimentConfig, dict[str, Any]]:
    """The `ExperimentConfig` and manifest of a run package (no pickle is loaded).

    A package written by `save_run_package` without an experiment (no `extra.experiment`)
    gets a default experiment around its env config.
    """
    from signalflow_gym.config import EnvConfig
    from signalflow_gym.run_package import CONFIG_FILE, read_manifest

    manifest = read_manifest(run_dir)
    exp = (manifest.get("extra") or {}).get("experiment")
    if exp is not None:
        return ExperimentConfig.from_dict(exp), manifest
    env = EnvConfig.from_yaml(Path(run_dir) / CONFIG_FILE).to_dict()
    env.pop("data", None)
    return ExperimentConfig(env=env), manifest


def select_data(
    config: ExperimentConfig,
    manifest: dict[str, Any],
    *,
    data: Data | None,
    split: str | None,
    allow_overlap: bool,
) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """The bars to evaluate on: `data` as given (or its `split`), or a split of the experiment's data.

    Unless `allow_overlap`, both are checked against the training period recorded in the
    manifest (`evaluate` also checks a recomputed split's fingerprint: `check_recorded_data`).
    """
    extra = manifest.get("extra") or {}
    periods = extra.get("periods") or {}
    if data is not None:
        raw = validate_ohlcv(data[0])
        signals = validate_signals(data[1], ohlcv=raw)
        if split not in (None, "all"):
            raw, signals = _pick(split_data(config.data, raw, signals), split)
        if not allow_overlap:
            check_no_overlap(raw, periods.get("train"))
        return raw, signals, split or "all"
    split = split or config.evaluation.split
    if split == "all":
        raise ConfigError("`split` 'all' needs `data`; pick one of 'train', 'validation', 'test'")
    raw, signals = load_data(config.data)
    raw, signals = _pick(split_data(config.data, raw, signals), split)
    if not allow_overlap:
        check_no_overlap(raw, periods.get("train"), what=f"{split} split of `data.source` {config.data.source!r}")
    return raw, signals, split


#: What `check_recorded_data` advises by default (evaluate's options).
RECORDED_DATA_FIX = "restore the data, evaluate on new data with --data, or pass --allow-overlap to evaluate anyway"


def check_recorded_data(market: MarketData, split: str, manifest: dict[str, Any], *, source: str,
                        fix: str = RECORDED_DATA_FIX) -> None:
    """`ConfigError` (ending with `fix`) if a recomputed split is not the data the run recorded
    for it at training.

    Runs trained on data given as frames (walk-forward folds, sweep trials) record no split
    of their config's data; neither do runs written before splits were fingerprinted.
    """
    extra = manifest.get("extra") or {}
    recorded = ((extra.get("periods") or {}).get(split) or {}).get("fingerprint")
    if extra.get("data_origin") != "config" or not recorded:
        return
    actual = market.fingerprint()
    if actual != recorded:
        raise ConfigError(
            f"the {split} split of `data.source` {source!r} is not the data the run recorded at training "
            f"(fingerprint {actual[:12]}..., recorded {recorded[:12]}...): the data changed since, or a relative "
            f"path points elsewhere from this directory, and the split may overlap the training period; {fix}"
        )


def _pick(split: Any, name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    if name not in SPLIT_NAMES:
        raise ConfigError(f"`split` must be one of 'train', 'validation', 'test' (or 'all' with data), was {name!r}")
    sl = getattr(split, name)
    return sl.raw_data, sl.signals


def _stats(summaries: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    mean, std = {}, {}
    for key in summaries[0]:
        values = np.array([s[key] for s in summaries], dtype=float)
        with np.errstate(invalid="ignore"):
            mean[key] = float(np.mean(values))
            std[key] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return mean, std


#: The remedy for a bad `n_random_seeds` argument (random-policy seeds ``0 .. n - 1``).
RANDOM_SEEDS_FIX = "pass e.g. n_random_seeds=5, or None for the config's `evaluation.n_random_seeds`"


def evaluate(
    run_dir: str | Path,
    *,
    data: Data | None = None,
    split: str | None = None,
    out_dir: str | Path | None = None,
    n_random_seeds: int | None = None,
    plot: bool = True,
    allow_overlap: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Backtest the run's policy and the baselines on the same bars; write and return the report.

    - `data`: ``(raw_data, signals)`` to evaluate on as given (or `split` of it when
      `split` is set); it must not overlap the training period unless `allow_overlap`.
      Without `data`: the `split` ("test" by default) of the experiment's data, which must
      not overlap the training period nor differ from the data recorded at training,
      unless `allow_overlap`.
    - `out_dir` must not hold a report yet, unless `overwrite` (it is then replaced whole).
    - The agent runs through `RLTradingModel.backtest` (deterministic), wired like the env.
    - Baselines (`config.evaluation.baselines`): "hold"; "random": uniformly random valid
      actions of the same action mapper with seeds 0..n-1, reported as mean and std over
      the seeds; "threshold": the guide's model (enter when probability > threshold) with
      the env's sizing and TP/SL; "buy_and_hold": equal weight from the first bar.

    `run_dir` may also be a multi-seed experiment directory (`signalflow_gym.experiment.seeds`):
    every seed's agent is backtested on the same bars, the baselines once; the report goes to
    ``RUN_DIR/evaluation/<split>`` and its "agent" entry is ``{"mean", "std", "seeds",
    "total_returns", "summaries"}`` over the seeds. An unfinished experiment is refused, naming
    the missing seeds.

    Both kinds carry the uncertainty numbers (`signalflow_gym.experiment.uncertainty`):
    "runs" (per run: Sharpe with its stationary-bootstrap CI, PSR vs 0 and vs buy-and-hold),
    "aggregates" (per policy: mean / median / IQM of total return and Sharpe with stratified
    bootstrap CIs) and "improvement" (P(agent > baseline) with its CI).

    Returns ``{"kind", "agent": summary, "baselines": {name: summary | {"mean", "std", "seeds"}},
    "margins": {...}, "runs", "aggregates", "improvement", "period": {...}, "run": {...}}``.
    """
    from signalflow_gym.bridge import RLTradingModel

    n_random_seeds = check_optional_integer("n_random_seeds", n_random_seeds, lo=1, fix=RANDOM_SEEDS_FIX)
    run_dir = Path(run_dir)
    if is_multi_seed(run_dir):
        return _evaluate_experiment(run_dir, data=data, split=split, out_dir=out_dir, n_random_seeds=n_random_seeds,
                                    plot=plot, allow_overlap=allow_overlap, overwrite=overwrite)
    config, manifest = load_experiment(run_dir)
    raw, signals, split_name = select_data(config, manifest, data=data, split=split, allow_overlap=allow_overlap)
    out = Path(out_dir) if out_dir is not None else run_dir / "evaluation" / split_name
    n_seeds = config.evaluation.n_random_seeds if n_random_seeds is None else n_random_seeds
    market = MarketData.build(raw, signals)
    if data is None and not allow_overlap:
        check_recorded_data(market, split_name, manifest, source=config.data.source)
    agent = RLTradingModel.load(run_dir)
    with building(out, kind="evaluation", overwrite=overwrite, known=REPORT_FILES) as tmp:
        report = _evaluate_into(tmp, out, run_dir, agent, config, manifest, raw, market, split_name, n_seeds, plot)
    return report


class _Baselines:
    """The baselines' backtests on one market: report entries, curves to draw, and every run."""

    def __init__(self, env_cfg: Any, config: ExperimentConfig, market: MarketData, n_seeds: int) -> None:
        self.summaries: dict[str, Any] = {}
        self.curves: dict[str, pl.DataFrame] = {}
        #: policy -> [(label, metrics_df)], one per run
        self.runs: dict[str, list[tuple[dict[str, Any], pl.DataFrame]]] = {}
        names = config.evaluation.baselines
        #: name -> one line saying exactly what the baseline does (`baselines.describe`)
        self.descriptions = {name: describe(name, threshold=config.evaluation.threshold) for name in names}
        if "hold" in names:
            res = baseline_result("hold", env_cfg, market)
            self.summaries["hold"] = res.summary
            self.curves["hold"] = res.metrics_df
            self.runs["hold"] = [({"policy": "hold"}, res.metrics_df)]
        if "random" in names:
            runs = [baseline_result("random", env_cfg, market, seed=seed) for seed in range(n_seeds)]
            mean, std = _stats([r.summary for r in runs])
            self.summaries["random"] = {"mean": mean, "std": std, "seeds": list(range(n_seeds)),
                                        "total_returns": [r.summary["total_return"] for r in runs]}
            eq = np.mean([r.metrics_df.get_column("equity").to_numpy() for r in runs], axis=0)
            self.curves[f"random (mean of {n_seeds})"] = runs[0].metrics_df.with_columns(pl.Series("equity", eq))
            self.runs["random"] = [({"policy": "random", "seed": seed}, r.metrics_df) for seed, r in enumerate(runs)]
        if "threshold" in names:
            thr = config.evaluation.threshold
            res = baseline_result("threshold", env_cfg, market, threshold=thr)
            self.summaries["threshold"] = {**res.summary, "threshold": thr}
            self.curves[f"threshold {thr:g}"] = res.metrics_df
            self.runs["threshold"] = [({"policy": "threshold"}, res.metrics_df)]
        bh = baseline_result("buy_and_hold", env_cfg, market)
        #: buy-and-hold's per-bar returns: the PSR benchmark of every run (also when not a listed baseline)
        self.benchmark_returns = bar_returns(bh.metrics_df.get_column("equity").to_numpy(),
                                                 env_cfg.broker.initial_capital)
        if "buy_and_hold" in names:
            self.summaries["buy_and_hold"] = bh.summary
            self.curves["buy_and_hold"] = bh.metrics_df
            self.runs["buy_and_hold"] = [({"policy": "buy_and_hold"}, bh.metrics_df)]


def _uncertainty(agent_runs: list[tuple[dict[str, Any], pl.DataFrame]], baselines: _Baselines,
                 initial_capital: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report's "runs", "aggregates" and "improvement" entries, and the performance profiles."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for policy, items in {"agent": agent_runs, **baselines.runs}.items():
        runs[policy] = [run_statistics(df, initial_capital=initial_capital, benchmark_returns=baselines.benchmark_returns,
                                       label=label) for label, df in items]
    returns = {policy: [r["total_return"] for r in items] for policy, items in runs.items()}
    aggregates = {policy: policy_aggregates(returns[policy], [r["sharpe"]["value"] for r in items],
                                            deterministic=policy in DETERMINISTIC_POLICIES)
                  for policy, items in runs.items()}
    gains = {name: improvement(returns["agent"], returns[name]) for name in runs if name != "agent"}
    shown = profiles(returns)
    entries = {"runs": runs, "aggregates": aggregates, "improvement": gains,
               "profile": {name: p.to_dict() for name, p in shown.items()}}
    return entries, shown


def _margins(agent_return: float, baselines: dict[str, Any]) -> dict[str, float]:
    margins = {}
    if "hold" in baselines:
        margins["vs_hold"] = agent_return - baselines["hold"]["total_return"]
    if "random" in baselines:
        margins["vs_random_mean"] = agent_return - baselines["random"]["mean"]["total_return"]
        sd = baselines["random"]["std"]["total_return"]
        # in units of the random policies' spread; undefined (NaN) when they all scored the same
        margins["vs_random_mean_in_std"] = margins["vs_random_mean"] / sd if sd > 0 else math.nan
    return margins


def _write_report(tmp: Path, out: Path, report: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """report.json (paths relative to the report folder) and report.md into `tmp`; `files` then name `out`."""
    on_disk = {**report, "run": {**report["run"], "run_dir": os.path.relpath(run_dir.absolute(), out.absolute())}}
    if "seeds" in report["run"]:
        on_disk["run"]["seeds"] = [{**s, "run_dir": os.path.relpath(Path(s["run_dir"]).absolute(), out.absolute())}
                                   for s in report["run"]["seeds"]]
    write_text_atomic(tmp / "report.json", json.dumps(jsonable(on_disk), indent=2) + "\n")
    write_text_atomic(tmp / "report.md", report_markdown(report))
    report["files"] = {k: str(out / v) for k, v in report["files"].items()}
    return report


def _evaluate_into(tmp: Path, out: Path, run_dir: Path, agent: Any, config: ExperimentConfig, manifest: dict[str, Any],
                   raw: pl.DataFrame, market: MarketData, split_name: str, n_seeds: int, plot: bool) -> dict[str, Any]:
    """Run the backtests and write the report files into `tmp` (which becomes `out`)."""
    env_cfg = agent.config
    exporter = BacktestExporter()
    result = agent.backtest(market, exporter=exporter)
    exporter.finalize(tmp)
    baselines = _Baselines(env_cfg, config, market, n_seeds)
    curves: dict[str, pl.DataFrame] = {"agent": result.metrics_df, **baselines.curves}
    extra = manifest.get("extra") or {}
    seed = (extra.get("experiment") or {}).get("train", {}).get("seed")
    entries, _ = _uncertainty([({"policy": "agent", "seed": seed}, result.metrics_df)], baselines,
                              env_cfg.broker.initial_capital)
    report = {
        "kind": "single_run",
        "agent": result.summary,
        "baselines": baselines.summaries,
        "baseline_descriptions": baselines.descriptions,
        "margins": _margins(result.summary["total_return"], baselines.summaries),
        **entries,
        "period": {"split": split_name, **period_of(raw), "fingerprint": market.fingerprint()},
        "run": {
            "run_dir": str(run_dir),
            "name": config.name,
            "algorithm": manifest["algorithm"],
            "num_timesteps": extra.get("num_timesteps"),
            "selected_model": extra.get("selected_model"),
        },
        "files": {"report_json": "report.json", "report_md": "report.md", "bars": "bars.parquet",
                  "trades": "trades.parquet"},
    }
    if plot:
        title = f"{config.name}: {split_name} split ({report['period']['start']} .. {report['period']['end']})"
        plot_equity(curves, tmp / "equity.png", title=title)
        plot_trades(market, result.trades_df, tmp / "trades.png", title=f"{title}: the agent's trades")
        report["files"]["equity_png"] = "equity.png"
        report["files"]["trades_png"] = "trades.png"
    # on disk, paths relative to the report folder (it is built elsewhere and swapped in, and may be moved)
    return _write_report(tmp, out, report, run_dir)


def _evaluate_experiment(exp_dir: Path, *, data: Data | None, split: str | None, out_dir: str | Path | None,
                         n_random_seeds: int | None, plot: bool, allow_overlap: bool, overwrite: bool) -> dict[str, Any]:
    """`evaluate` for a multi-seed experiment directory: every seed's agent, the baselines once."""
    from signalflow_gym.bridge import RLTradingModel

    run_dirs = seed_runs(exp_dir)  # refuses an unfinished experiment, naming the missing seeds
    config = experiment_config(exp_dir)
    seeds = list(config.train.seeds)
    loaded = [load_experiment(d) for d in run_dirs]
    for seed, d, (cfg, _) in zip(seeds, run_dirs, loaded):
        if cfg.to_dict() != seed_config(config, seed).to_dict():
            raise ConfigError(f"{d} was not trained with the experiment's config for seed {seed} "
                              f"({exp_dir / 'experiment.yaml'}); retrain it: signalflow-gym train --config "
                              f"{exp_dir / 'experiment.yaml'} --out {exp_dir} --overwrite")
    first_cfg, first_manifest = loaded[0]
    raw, signals, split_name = select_data(first_cfg, first_manifest, data=data, split=split, allow_overlap=allow_overlap)
    market = MarketData.build(raw, signals)
    for d, (_, manifest) in zip(run_dirs, loaded):
        if not allow_overlap:
            check_no_overlap(raw, ((manifest.get("extra") or {}).get("periods") or {}).get("train"),
                             what=f"{split_name} data of {d.name}")
            if data is None:
                check_recorded_data(market, split_name, manifest, source=config.data.source)
    out = Path(out_dir) if out_dir is not None else exp_dir / EVALUATION_DIR / split_name
    n_seeds = config.evaluation.n_random_seeds if n_random_seeds is None else n_random_seeds
    agents = [RLTradingModel.load(d) for d in run_dirs]
    with building(out, kind="evaluation", overwrite=overwrite, known=REPORT_FILES) as tmp:
        report = _experiment_into(tmp, out, exp_dir, run_dirs, agents, config, loaded, raw, market, split_name,
                                  n_seeds, plot)
    return report


def _experiment_into(tmp: Path, out: Path, exp_dir: Path, run_dirs: list[Path], agents: list[Any],
                     config: ExperimentConfig, loaded: list[tuple[ExperimentConfig, dict[str, Any]]], raw: pl.DataFrame,
                     market: MarketData, split_name: str, n_seeds: int, plot: bool) -> dict[str, Any]:
    """The multi-seed report's backtests and files, written into `tmp` (which becomes `out`)."""
    seeds = list(config.train.seeds)
    env_cfg = agents[0].config
    results = []
    for seed, agent in zip(seeds, agents):
        exporter = BacktestExporter()
        results.append(agent.backtest(market, exporter=exporter))
        exporter.finalize(tmp / SEEDS_DIR / f"seed_{seed}")
    baselines = _Baselines(env_cfg, config, market, n_seeds)
    summaries = [r.summary for r in results]
    mean, std = _stats(summaries)
    entries, shown = _uncertainty([({"policy": "agent", "seed": s}, r.metrics_df) for s, r in zip(seeds, results)],
                                  baselines, env_cfg.broker.initial_capital)
    per_seed = [{"seed": s, "run_dir": str(d), "num_timesteps": (m.get("extra") or {}).get("num_timesteps"),
                 "selected_model": (m.get("extra") or {}).get("selected_model")}
                for s, d, (_, m) in zip(seeds, run_dirs, loaded)]
    report = {
        "kind": "multi_seed",
        "agent": {"mean": mean, "std": std, "seeds": seeds, "total_returns": [s["total_return"] for s in summaries],
                  "summaries": summaries},
        "baselines": baselines.summaries,
        "baseline_descriptions": baselines.descriptions,
        "margins": _margins(mean["total_return"], baselines.summaries),
        **entries,
        "period": {"split": split_name, **period_of(raw), "fingerprint": market.fingerprint()},
        "run": {
            "run_dir": str(exp_dir),
            "name": config.name,
            "algorithm": loaded[0][1]["algorithm"],
            "num_timesteps": per_seed[0]["num_timesteps"],
            "selected_model": ", ".join(f"seed {p['seed']}: {p['selected_model']}" for p in per_seed),
            "seeds": per_seed,
        },
        "files": {"report_json": "report.json", "report_md": "report.md",
                  **{f"bars_seed_{s}": f"{SEEDS_DIR}/seed_{s}/bars.parquet" for s in seeds},
                  **{f"trades_seed_{s}": f"{SEEDS_DIR}/seed_{s}/trades.parquet" for s in seeds}},
    }
    if plot:
        title = f"{config.name}: {split_name} split ({report['period']['start']} .. {report['period']['end']})"
        plot_seed_equity({s: r.metrics_df for s, r in zip(seeds, results)},
                         {k: v for k, v in baselines.curves.items() if k != "hold"}, tmp / "equity.png",
                         title=f"{title}: {len(seeds)} seeds")
        plot_performance_profiles(shown, tmp / "profile.png", title=f"{title}: performance profiles")
        report["files"]["equity_png"] = "equity.png"
        report["files"]["profile_png"] = "profile.png"
    return _write_report(tmp, out, report, exp_dir)
