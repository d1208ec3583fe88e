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
from signalflow.strategy.metrics import format_summary_table
from signalflow.strategy.runner import MarketData
from signalflow_gym.experiment.baselines import (
    HoldModel,
    RandomActionModel,
    ThresholdModel,
    backtest_model,
    buy_and_hold,
)
from signalflow_gym.experiment.config import ExperimentConfig
from signalflow_gym.experiment.data import SPLIT_NAMES, check_no_overlap, load_data, period_of, split_data
from signalflow_gym.experiment.plots import plot_equity, plot_trades
from signalflow_gym.outputs import building, write_text_atomic

__all__ = ["evaluate", "load_experiment", "report_table"]

Data = tuple[pl.DataFrame, pl.DataFrame | None]
#: What a report folder holds (one written by an older version, without a marker, may be replaced).
REPORT_FILES = ("report.json", "report.md", "equity.png", "trades.png", "bars.parquet", "trades.parquet")


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


def check_recorded_data(market: MarketData, split: str, manifest: dict[str, Any], *, source: str) -> None:
    """`ConfigError` if a recomputed split is not the data the run recorded for it at training.

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
            "path points elsewhere from this directory, and the split may overlap the training period; restore the "
            "data, evaluate on new data with --data, or pass --allow-overlap to evaluate anyway"
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

    Returns ``{"agent": summary, "baselines": {name: summary | {"mean", "std", "seeds"}},
    "margins": {...}, "period": {...}, "run": {...}}``.
    """
    from signalflow_gym.bridge import RLTradingModel

    run_dir = Path(run_dir)
    config, manifest = load_experiment(run_dir)
    raw, signals, split_name = select_data(config, manifest, data=data, split=split, allow_overlap=allow_overlap)
    out = Path(out_dir) if out_dir is not None else run_dir / "evaluation" / split_name
    n_seeds = config.evaluation.n_random_seeds if n_random_seeds is None else int(n_random_seeds)
    if n_seeds < 1:
        raise ConfigError(f"`n_random_seeds` must be >= 1, was {n_random_seeds}")
    market = MarketData.build(raw, signals)
    if data is None and not allow_overlap:
        check_recorded_data(market, split_name, manifest, source=config.data.source)
    agent = RLTradingModel.load(run_dir)
    with building(out, kind="evaluation", overwrite=overwrite, known=REPORT_FILES) as tmp:
        report = _evaluate_into(tmp, out, run_dir, agent, config, manifest, raw, market, split_name, n_seeds, plot)
    return report


def _evaluate_into(tmp: Path, out: Path, run_dir: Path, agent: Any, config: ExperimentConfig, manifest: dict[str, Any],
                   raw: pl.DataFrame, market: MarketData, split_name: str, n_seeds: int, plot: bool) -> dict[str, Any]:
    """Run the backtests and write the report files into `tmp` (which becomes `out`)."""
    env_cfg = agent.config
    exporter = BacktestExporter()
    result = agent.backtest(market, exporter=exporter)
    exporter.finalize(tmp)
    curves: dict[str, pl.DataFrame] = {"agent": result.metrics_df}
    baselines: dict[str, Any] = {}
    names = config.evaluation.baselines
    if "hold" in names:
        res = backtest_model(env_cfg, HoldModel(), market, strategy_id="hold")
        baselines["hold"] = res.summary
        curves["hold"] = res.metrics_df
    if "random" in names:
        runs = [backtest_model(env_cfg, RandomActionModel(env_cfg, seed), market, strategy_id=f"random{seed}")
                for seed in range(n_seeds)]
        mean, std = _stats([r.summary for r in runs])
        baselines["random"] = {"mean": mean, "std": std, "seeds": list(range(n_seeds)),
                               "total_returns": [r.summary["total_return"] for r in runs]}
        eq = np.mean([r.metrics_df.get_column("equity").to_numpy() for r in runs], axis=0)
        curves[f"random (mean of {n_seeds})"] = runs[0].metrics_df.with_columns(pl.Series("equity", eq))
    if "threshold" in names:
        thr = config.evaluation.threshold
        res = backtest_model(env_cfg, ThresholdModel(thr), market, strategy_id="threshold")
        baselines["threshold"] = {**res.summary, "threshold": thr}
        curves[f"threshold {thr:g}"] = res.metrics_df
    if "buy_and_hold" in names:
        res = buy_and_hold(market, env_cfg)
        baselines["buy_and_hold"] = res.summary
        curves["buy_and_hold"] = res.metrics_df

    agent_ret = result.summary["total_return"]
    margins = {}
    if "hold" in baselines:
        margins["vs_hold"] = agent_ret - baselines["hold"]["total_return"]
    if "random" in baselines:
        margins["vs_random_mean"] = agent_ret - baselines["random"]["mean"]["total_return"]
        sd = baselines["random"]["std"]["total_return"]
        margins["vs_random_mean_in_std"] = margins["vs_random_mean"] / sd if sd > 0 else math.inf
    report = {
        "agent": result.summary,
        "baselines": baselines,
        "margins": margins,
        "period": {"split": split_name, **period_of(raw), "fingerprint": market.fingerprint()},
        "run": {
            "run_dir": str(run_dir),
            "name": config.name,
            "algorithm": manifest["algorithm"],
            "num_timesteps": (manifest.get("extra") or {}).get("num_timesteps"),
            "selected_model": (manifest.get("extra") or {}).get("selected_model"),
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
    on_disk = {**report, "run": {**report["run"], "run_dir": os.path.relpath(run_dir.absolute(), out.absolute())}}
    write_text_atomic(tmp / "report.json", json.dumps(jsonable(on_disk), indent=2) + "\n")
    write_text_atomic(tmp / "report.md", report_markdown(report))
    report["files"] = {k: str(out / v) for k, v in report["files"].items()}
    return report


def report_table(report: dict[str, Any]) -> str:
    """The markdown summary table of a report (agent first, then each baseline)."""
    rows: dict[str, dict[str, float]] = {"agent": report["agent"]}
    for name, value in report["baselines"].items():
        if name == "random":
            rows[f"random (mean of {len(value['seeds'])})"] = value["mean"]
        elif name == "threshold":
            rows[f"threshold {value['threshold']:g}"] = value
        else:
            rows[name] = value
    return format_summary_table(rows)


def report_markdown(report: dict[str, Any]) -> str:
    p, r = report["period"], report["run"]
    lines = [
        f"# Evaluation of `{r['name']}` ({r['algorithm']}, {r['num_timesteps']} steps, {r['selected_model']} model)",
        "",
        f"Split **{p['split']}**: {p['start']} .. {p['end']}, {p['n_bars']} bars, pairs {', '.join(p['pairs'])}.",
        "All runs trade the same bars through the same runner wiring (fees, sizing, TP/SL) as the environment.",
        "",
        report_table(report),
        "",
    ]
    rnd = report["baselines"].get("random")
    if rnd is not None:
        lines.append(
            f"Random valid actions over seeds {rnd['seeds'][0]}..{rnd['seeds'][-1]}: total return "
            f"{100 * rnd['mean']['total_return']:.2f}% +/- {100 * rnd['std']['total_return']:.2f}% (mean +/- std)."
        )
    m = report["margins"]
    if m:
        parts = []
        if "vs_hold" in m:
            parts.append(f"{100 * m['vs_hold']:+.2f} pp vs always-HOLD")
        if "vs_random_mean" in m:
            parts.append(f"{100 * m['vs_random_mean']:+.2f} pp vs the random mean")
        lines.append(f"Agent margin (total return): {', '.join(parts)}.")
    lines += ["", "![equity](equity.png)", "", "![trades](trades.png)", ""]
    return "\n".join(lines)


def jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    if isinstance(x, np.integer):
        return int(x)
    return x


