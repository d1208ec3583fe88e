"""Walk-forward evaluation: K chronological train/test folds, one Ray task per fold.

Fold planning (`plan_folds`) is a pure function of the number of bars (distinct timestamps
of all pairs, in time order). Test windows are consecutive, do not overlap, and end at the
last bar; each fold's training window ends `gap` bars before its test window starts::

    expanding:  train [0, s_k - gap)            test [s_k, s_k + test_bars)
    rolling:    train [s_k - gap - train_bars, s_k - gap)

with ``s_k = n_bars - (K - k) * test_bars``. By default ``test_bars = n_bars // (K + 1)``
(the first training window is about one test window long, as in scikit-learn's
`TimeSeriesSplit`) and, for rolling windows, ``train_bars`` = the first fold's training
window, so every fold trains on the same number of bars.

`walk_forward()` loads the data once, puts it in the Ray object store, runs one task per
fold (train on the fold's training slice with seed ``train.seed + k``, then `evaluate` the
run package on the fold's test slice) and writes, into `out_dir`::

    plan.json                 the folds (bar indices and timestamps), scheme, gap
    experiment.yaml           the base experiment config (overrides applied)
    fold_<k>/run/             fold k's run package (its experiment.yaml has the fold's seed)
    fold_<k>/fold.json        fold k's boundaries: reproduce it with `run_fold`
    fold_<k>/test/            evaluate()'s report on the test window (report.md, equity.png, the
                              agent's trades on each pair's prices in trades.png, ...)
    fold_<k>/oos_equity.parquet  agent and baseline equity on the test window
    folds.parquet / folds.md  per-fold metrics: one row per (fold, policy)
    oos_equity.parquet        out-of-sample equity stitched across folds (each fold rescaled to
                              continue from the previous fold's end)
    equity.png, report.json, report.md
    COMPLETE.json             the completion marker (also in every fold_<k>/, run/ and test/)

The whole folder is built in a temporary sibling and swapped in when the report is written
(`signalflow_gym.outputs.building`): killed at any instant, `out_dir` holds the previous
walk-forward or the new one. An existing one is replaced only with `overwrite=True`
(``--overwrite``). Every fold's test window must hold at least as many bars as a data split
needs (`env.episode.length` + `env.episode.warmup_bars`), and so must its training window.

Walk-forward trains without a validation period (`train.eval_freq` has no effect): the
package holds the final model, and the only data a fold's model is scored on is its test window.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from signalflow.core.errors import ConfigError
from signalflow.strategy.metrics import equity_curve_summary
from signalflow_gym.outputs import building, check_target, recover, relocate, write_text_atomic

__all__ = [
    "SCHEMES",
    "Fold",
    "plan_folds",
    "fold_times",
    "run_fold",
    "walk_forward",
    "stitch_equity",
    "add_walkforward_args",
    "run_walkforward",
    "main",
]

SCHEMES = ("expanding", "rolling")
#: What a fold folder and a walk-forward folder hold (an older one without a marker may be replaced).
_FOLD_FILES = ("fold.json", "run", "test", "oos_equity.parquet")
_WALKFORWARD_FILES = ("plan.json", "experiment.yaml", "fold_*", "folds.parquet", "folds.md", "oos_equity.parquet",
                      "equity.png", "report.json", "report.md")
#: Policies whose equity is stitched across folds (the random baseline is in the table only).
STITCHED = ("agent", "hold", "threshold", "buy_and_hold")


# =========================================================================== planning (pure)
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
      ignored for "expanding".
    - `min_train_bars` / `min_test_bars`: every training / test window must hold at least
      this many bars.

    Raises `ConfigError` naming the value, the minimum and the fix (with the largest number
    of folds that fits) when the folds do not fit.
    """
    for name, value, lo in (("n_bars", n_bars, 1), ("n_folds", n_folds, 1), ("gap", gap, 0),
                            ("min_train_bars", min_train_bars, 1), ("min_test_bars", min_test_bars, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise ConfigError(f"`{name}` must be an integer >= {lo}, was {value!r}")
    if scheme not in SCHEMES:
        raise ConfigError(f"`scheme` must be one of {list(SCHEMES)}, was {scheme!r}; use expanding or rolling")
    given_test_bars = test_bars
    if test_bars is None:
        test_bars = n_bars // (n_folds + 1)
    elif isinstance(test_bars, bool) or not isinstance(test_bars, (int, np.integer)) or test_bars < 1:
        raise ConfigError(f"`test_bars` must be an integer >= 1, was {test_bars!r}")

    def fix() -> str:
        most = _max_folds(n_bars, gap, given_test_bars, min_train_bars, min_test_bars)
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
        if isinstance(train_bars, bool) or not isinstance(train_bars, (int, np.integer)) or train_bars < 1:
            raise ConfigError(f"`train_bars` must be an integer >= 1, was {train_bars!r}")
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


def _max_folds(n_bars: int, gap: int, test_bars: int | None, min_train: int, min_test: int) -> int:
    """The largest number of folds (0 if none) whose windows all hold the minimum numbers of bars."""
    if test_bars is not None:
        return max((n_bars - gap - min_train) // test_bars, 0) if test_bars >= min_test else 0
    k = max(n_bars // max(min_test, 1) - 1, 0)
    while k > 0 and (n_bars // (k + 1) < min_test or n_bars - k * (n_bars // (k + 1)) - gap < min_train):
        k -= 1
    return k


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


# =========================================================================== one fold
def _iso(x: Any) -> Any:
    return x.isoformat() if isinstance(x, datetime) else x


def _fold_record(fold: Fold, times: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """A fold as JSON: bar indices (``*_bar``, half-open), window sizes, gap, seed and timestamps."""
    bars = {f"{k}_bar": v for k, v in fold.to_dict().items() if k != "index"}
    return {"index": fold.index, **bars, "train_bars": fold.train_bars, "test_bars": fold.test_bars, "gap": fold.gap,
            "seed": seed, **{k: _iso(v) for k, v in times.items()}}


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _equity_frame(run_report: Mapping[str, Any], report_dir: Path, market: Any, env_cfg: Any,
                  threshold: float, baselines: Sequence[str]) -> pl.DataFrame:
    """Per-bar equity of the agent (from the exported bars) and the stitched baselines."""
    from signalflow_gym.experiment.baselines import HoldModel, ThresholdModel, backtest_model, buy_and_hold

    capital = env_cfg.broker.initial_capital
    frame = buy_and_hold(market, env_cfg).metrics_df.select("timestamp", pl.col("equity").alias("buy_and_hold"))
    bars = pl.read_parquet(report_dir / "bars.parquet")
    agent = bars.group_by("timestamp", maintain_order=True).agg(pl.col("metric_equity").last().alias("agent"))
    frame = frame.join(agent, on="timestamp", how="left")
    if "hold" in baselines:
        frame = frame.with_columns(pl.Series("hold", backtest_model(env_cfg, HoldModel(), market, strategy_id="hold")
                                             .metrics_df.get_column("equity").to_numpy()))
    if "threshold" in baselines:
        res = backtest_model(env_cfg, ThresholdModel(threshold), market, strategy_id="threshold")
        frame = frame.join(res.metrics_df.select("timestamp", pl.col("equity").alias("threshold")), on="timestamp",
                           how="left")
    if "buy_and_hold" not in baselines:
        frame = frame.drop("buy_and_hold")
    cols = [c for c in STITCHED if c in frame.columns]
    return frame.sort("timestamp").select(
        "timestamp", *[pl.col(c).forward_fill().fill_null(capital).cast(pl.Float64) for c in cols])


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
    """Train and evaluate one fold; return its record (status, periods, summaries).

    `config`: the base `ExperimentConfig` (or its dict); the fold trains with seed
    ``config.train.seed + fold.index``. `fold`: a `Fold`, or a ``fold.json`` record (bar
    indices are not needed then: its timestamps are used). `raw_data` / `signals`: the whole
    data set the fold was planned on. Writes ``out_dir/{fold.json, run/, test/,
    oos_equity.parquet}`` (built in a temporary sibling and swapped in; an earlier fold there
    is replaced). Calling it again with the same inputs reproduces the fold.
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
        record = _fold_record(fold, fold_times(ts, fold), base.train.seed + fold.index)
    else:
        record = dict(fold)
    k = int(record["index"])
    seed = int(record.get("seed", base.train.seed + k))
    cfg = ExperimentConfig.from_dict(base.to_dict(), [f"train.seed={seed}", f"name={base.name}_fold{k}"])
    train_sl = slice_by_time(raw_data, signals, _parse(record["train_start"]), _parse(record["train_end"]))
    test_sl = slice_by_time(raw_data, signals, _parse(record["test_start"]), _parse(record["test_end"]))
    with building(out, kind="fold", overwrite=True, known=_FOLD_FILES) as work:
        write_text_atomic(work / "fold.json", json.dumps(record, indent=2) + "\n")
        run_dir = train(cfg, work / "run", progress=False, train_data=(train_sl.raw_data, train_sl.signals),
                        validation_data=None, overwrite=True)
        report = evaluate(run_dir, data=(test_sl.raw_data, test_sl.signals), split=None, out_dir=work / "test",
                          n_random_seeds=n_random_seeds, plot=plot, overwrite=True)
        market = MarketData.build(test_sl.raw_data, test_sl.signals)
        equity = _equity_frame(report, work / "test", market, cfg.env, cfg.evaluation.threshold,
                               cfg.evaluation.baselines)
        _write_parquet(equity, work / "oos_equity.parquet")
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


def _run_fold_task(config_dict: dict[str, Any], record: dict[str, Any], data: tuple[pl.DataFrame, pl.DataFrame],
                   out_dir: str, n_random_seeds: int | None, plot: bool) -> dict[str, Any]:
    """The Ray task: `run_fold`, with any exception turned into an error record."""
    try:
        return run_fold(config_dict, record, data[0], data[1], out_dir, n_random_seeds=n_random_seeds, plot=plot)
    except Exception as exc:  # reported in the table; the other folds go on
        return {**record, "status": "error", "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(), "run_dir": str(Path(out_dir) / "run")}


# =========================================================================== combining
def stitch_equity(curves: Sequence[pl.DataFrame], initial_capital: float) -> pl.DataFrame:
    """Concatenate per-fold equity frames (``timestamp`` + one column per policy, each fold
    starting from `initial_capital`); each fold is rescaled to continue from the previous
    fold's last value. Adds a ``fold`` column. Test windows must be in time order."""
    out = []
    level: dict[str, float] = {}
    last_ts = None
    for k, df in enumerate(curves):
        if df.height == 0:
            continue
        first = df.get_column("timestamp").min()
        if last_ts is not None and first <= last_ts:
            raise ConfigError(f"fold {k}'s test window starts at {first}, not after the previous one ends ({last_ts})")
        last_ts = df.get_column("timestamp").max()
        cols = [c for c in df.columns if c != "timestamp"]
        scaled = df.with_columns(
            *[(pl.col(c) * (level.get(c, initial_capital) / initial_capital)).alias(c) for c in cols],
            pl.lit(k, dtype=pl.Int64).alias("fold"),
        )
        for c in cols:
            level[c] = float(scaled.get_column(c)[-1])
        out.append(scaled)
    if not out:
        return pl.DataFrame({"timestamp": [], "fold": []}, schema={"timestamp": pl.Datetime("us"), "fold": pl.Int64})
    return pl.concat(out, how="diagonal").select("timestamp", "fold", *[c for c in out[0].columns
                                                                       if c not in ("timestamp", "fold")])


_TABLE_KEYS = ("total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "n_trades", "exposure", "fees")


def _fold_rows(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    meta = {"fold": int(rec["index"]), "seed": int(rec.get("seed", 0)), "status": rec["status"],
            "error": rec.get("error"), "train_start": rec["train_start"], "train_last": rec["train_last"],
            "test_start": rec["test_start"], "test_last": rec["test_last"], "train_bars": int(rec["train_bars"]),
            "test_bars": int(rec["test_bars"])}
    if rec["status"] != "ok":
        return [{**meta, "policy": "agent"}]
    report = rec["report"]
    rows = [{**meta, "policy": "agent", **report["agent"]}]
    for name, value in report["baselines"].items():
        if name == "random":
            rows.append({**meta, "policy": "random_mean", **value["mean"]})
        else:
            rows.append({**meta, "policy": name, **{k: v for k, v in value.items() if k != "threshold"}})
    return rows


def _to_float(v: Any) -> Any:
    if isinstance(v, str) and v in ("inf", "-inf", "nan"):
        return float(v)
    return v


def folds_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per (fold, policy): fold boundaries, seed, status, error and the summary metrics."""
    rows = [r for rec in records for r in _fold_rows(rec)]
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    data = {k: [_to_float(r.get(k)) for r in rows] for k in keys}
    metric_keys = [k for k in keys if k not in ("fold", "seed", "status", "error", "policy", "train_start", "train_last",
                                               "test_start", "test_last", "train_bars", "test_bars")]
    schema = {k: pl.Float64 for k in metric_keys}
    schema.update({"fold": pl.Int64, "seed": pl.Int64, "train_bars": pl.Int64, "test_bars": pl.Int64,
                   "status": pl.String, "error": pl.String, "policy": pl.String})
    df = pl.DataFrame({k: data[k] for k in keys}, schema={k: schema.get(k, pl.String) for k in keys}, strict=False)
    for c in ("train_start", "train_last", "test_start", "test_last"):
        df = df.with_columns(pl.col(c).str.to_datetime(time_unit="us"))
    first = ["fold", "policy", "status", "seed", "train_start", "train_last", "test_start", "test_last", "train_bars",
             "test_bars"]
    return df.select(*first, *[c for c in df.columns if c not in first])


def _fmt_pct(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}%"


def _fmt_num(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def folds_markdown(df: pl.DataFrame, stitched: Mapping[str, Mapping[str, float]], meta: Mapping[str, Any]) -> str:
    lines = [
        f"# Walk-forward: `{meta['name']}`, {meta['n_folds']} folds ({meta['scheme']}, gap {meta['gap']} bars)",
        "",
        "Each fold trains on its training window only (seed = base seed + fold) and is backtested on the "
        "following test window; test windows are consecutive and never overlap a fold's training window.",
        "",
        "## Per fold: agent",
        "",
        "| fold | seed | train | test | status | total return | Sharpe | max DD | trades | vs hold | vs buy&hold |",
        "|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for fold in sorted(set(df.get_column("fold").to_list())):
        sub = df.filter(pl.col("fold") == fold)
        by = {r["policy"]: r for r in sub.iter_rows(named=True)}
        a = by["agent"]
        period = f"{a['train_start']:%Y-%m-%d %H:%M} .. {a['train_last']:%Y-%m-%d %H:%M} ({a['train_bars']})"
        test = f"{a['test_start']:%Y-%m-%d %H:%M} .. {a['test_last']:%Y-%m-%d %H:%M} ({a['test_bars']})"
        if a["status"] != "ok":
            status = f"error: {' '.join(str(a['error']).split())[:200]}"
            lines.append(f"| {fold} | {a['seed']} | {period} | {test} | {status} | | | | | | |")
            continue

        def vs(name: str) -> str:
            return _fmt_pct(a["total_return"] - by[name]["total_return"]) if name in by else ""

        lines.append(
            f"| {fold} | {a['seed']} | {period} | {test} | ok | {_fmt_pct(a['total_return'])} | {_fmt_num(a['sharpe'])} "
            f"| {_fmt_pct(a['max_drawdown'])} | {int(a['n_trades'])} | {vs('hold')} | {vs('buy_and_hold')} |"
        )
    policies = [p for p in df.get_column("policy").unique(maintain_order=True).to_list()]
    ok = df.filter(pl.col("status") == "ok")
    if ok.height:
        lines += ["", "## Per fold: total return of every policy", "",
                  "| fold | " + " | ".join(policies) + " |", "|---:|" + "---:|" * len(policies)]
        for fold in sorted(set(ok.get_column("fold").to_list())):
            by = {r["policy"]: r for r in ok.filter(pl.col("fold") == fold).iter_rows(named=True)}
            lines.append(f"| {fold} | " + " | ".join(_fmt_pct(by[p]["total_return"]) if p in by else "" for p in policies)
                         + " |")
    if stitched:
        lines += ["", "## Out of sample, stitched across folds", "",
                  "Each fold's equity is rescaled to start where the previous fold's ended.", "",
                  "| policy | total return | Sharpe | max DD | bars |", "|---|---:|---:|---:|---:|"]
        for name, s in stitched.items():
            lines.append(f"| {name} | {_fmt_pct(s['total_return'])} | {_fmt_num(s['sharpe'])} | "
                         f"{_fmt_pct(s['max_drawdown'])} | {int(s['n_bars'])} |")
    lines += ["", "![out-of-sample equity](equity.png)", ""]
    return "\n".join(lines)


def _plot(stitched: pl.DataFrame, path: Path, *, title: str) -> None:
    from signalflow_gym.experiment.plots import new_figure, save_figure

    fig = new_figure(10, 5)
    ax = fig.subplots()
    ts = stitched.get_column("timestamp").to_list()
    for name in [c for c in stitched.columns if c not in ("timestamp", "fold")]:
        ax.plot(ts, stitched.get_column(name).to_numpy(), lw=1.6 if name == "agent" else 0.9, label=name,
                color="k" if name == "agent" else None)
    starts = stitched.group_by("fold", maintain_order=True).agg(pl.col("timestamp").min()).get_column("timestamp")
    for i, t in enumerate(starts.to_list()):
        ax.axvline(t, color="grey", lw=0.6, ls="--")
        ax.text(t, 1.0, f" fold {i}", transform=ax.get_xaxis_transform(), fontsize=7, va="top", color="grey")
    ax.set_ylabel("equity (stitched)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    save_figure(fig, path)


def _write_parquet(df: pl.DataFrame, path: Path) -> None:
    from signalflow.strategy.exporter import write_parquet_atomic

    write_parquet_atomic(df, path)


def jsonable(x: Any) -> Any:
    from signalflow_gym.experiment.evaluate import jsonable as j

    return j(x)


# =========================================================================== driver
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
    n_random_seeds: int | None = None,
    plot: bool = True,
    log: Any = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Plan `folds` folds over the experiment's data, run them as Ray tasks, write the combined report.

    `config`: an `ExperimentConfig` (or dict / YAML path). `data`: ``(raw_data, signals)``
    instead of ``load_data(config.data)``. `address` / `num_cpus`: see `init_ray` (a Ray
    instance that is already initialised is reused). A fold that fails is reported with its
    error (status "error") and the other folds still run. Folds whose test or training
    window would hold fewer than ``env.episode.length + env.episode.warmup_bars`` bars are
    refused before anything runs. `out_dir` must not hold a walk-forward yet, unless
    `overwrite`. Returns the report dict (also in ``out_dir/report.json``).
    """
    from signalflow.data import validate_ohlcv, validate_signals
    from signalflow_gym.experiment.data import load_data
    from signalflow_gym.experiment.train import coerce_config
    from signalflow_gym.scale.ray_utils import init_ray, require_ray, task_cpus

    require_ray()
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
    ep = cfg.env.episode
    need = (ep.length or 1) + ep.warmup_bars
    plan = plan_folds(len(ts), folds, scheme=scheme, gap=gap, test_bars=test_bars, train_bars=train_bars,
                      min_train_bars=need, min_test_bars=max(need, 2))
    records = [_fold_record(f, fold_times(ts, f), cfg.train.seed + f.index) for f in plan]
    meta = {"name": cfg.name, "n_folds": folds, "scheme": scheme, "gap": gap, "n_bars": len(ts),
            "test_bars": plan[0].test_bars, "train_bars": None if scheme == "expanding" else plan[0].train_bars,
            "base_seed": cfg.train.seed}
    with building(out, kind="walkforward", overwrite=overwrite, known=_WALKFORWARD_FILES) as work:
        cfg.to_yaml(work / "experiment.yaml")
        write_text_atomic(work / "plan.json", json.dumps({**meta, "folds": records}, indent=2) + "\n")

        ray = init_ray(address, num_cpus)
        remote = ray.remote(num_cpus=task_cpus(cfg.train.n_envs, cfg.train.vec_env), max_retries=0)(_run_fold_task)
        data_ref = ray.put((raw, signals))
        config_dict = cfg.to_dict()
        pending = {remote.remote(config_dict, rec, data_ref, str(work / f"fold_{rec['index']}"), n_random_seeds,
                                 plot): rec for rec in records}
        log(f"walk-forward: {folds} folds ({scheme}, gap {gap}) over {len(ts)} bars; Ray tasks submitted")
        results: dict[int, dict[str, Any]] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            rec = pending.pop(done[0])
            try:
                res = ray.get(done[0])
            except Exception as exc:  # the worker died, or the task could not run at all
                res = {**rec, "status": "error", "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"}
            results[int(rec["index"])] = res
            log(f"  fold {rec['index']}: {res['status']}" + (f" ({res['error']})" if res["status"] != "ok" else
                                                             f", test total return {res['report']['agent']['total_return']:.4f}"))
        ordered = [relocate(results[k], work, out) for k in sorted(results)]
        report = _combine(ordered, work, out, meta, cfg, plot=plot)
    return report


def _combine(records: list[dict[str, Any]], work: Path, out: Path, meta: dict[str, Any], cfg: Any, *,
             plot: bool) -> dict[str, Any]:
    """Write the combined files into `work` (the folder being built); the report names `out`, where it will be."""
    capital = cfg.env.broker.initial_capital
    df = folds_frame(records)
    _write_parquet(df, work / "folds.parquet")
    curves = [pl.read_parquet(work / f"fold_{r['index']}" / "oos_equity.parquet") for r in records if r["status"] == "ok"]
    stitched_df = stitch_equity(curves, capital)
    stitched: dict[str, dict[str, float]] = {}
    if stitched_df.height:
        _write_parquet(stitched_df, work / "oos_equity.parquet")
        for name in [c for c in stitched_df.columns if c not in ("timestamp", "fold")]:
            stitched[name] = equity_curve_summary(stitched_df.get_column(name).to_numpy(),
                                                  stitched_df.get_column("timestamp"), initial_capital=capital)
        if plot:
            _plot(stitched_df, work / "equity.png",
                  title=f"{cfg.name}: out-of-sample equity over {len(curves)} folds ({meta['scheme']}, gap {meta['gap']})")
    md = folds_markdown(df, stitched, meta)
    write_text_atomic(work / "folds.md", md)
    n_failed = sum(r["status"] != "ok" for r in records)
    report = {
        **meta,
        "out_dir": str(out),
        "n_failed": n_failed,
        "stitched": stitched,
        "folds": [{k: v for k, v in r.items() if k != "traceback"} for r in records],
        "files": {"folds_parquet": str(out / "folds.parquet"), "folds_md": str(out / "folds.md"),
                  "oos_equity": str(out / "oos_equity.parquet"), "plan": str(out / "plan.json"),
                  **({"equity_png": str(out / "equity.png")} if plot and stitched else {})},
    }
    write_text_atomic(work / "report.json", json.dumps(jsonable(report), indent=2) + "\n")
    write_text_atomic(work / "report.md", md)
    return report


# =========================================================================== command line
def add_walkforward_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="experiment YAML, e.g. configs/ppo.yaml")
    p.add_argument("--folds", type=int, required=True, help="number of folds K")
    p.add_argument("--scheme", choices=SCHEMES, default="expanding",
                   help="expanding (train from the first bar) or rolling (a fixed-length window); default expanding")
    p.add_argument("--gap", type=int, default=0, help="bars left out between each training and test window (default 0)")
    p.add_argument("--test-bars", type=int, default=None, help="bars per test window (default bars // (K + 1))")
    p.add_argument("--train-bars", type=int, default=None, help="rolling window length (default: the first fold's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.total_timesteps=2000 (repeatable)")
    p.add_argument("--out", default=None, help="output directory (default runs/walkforward_{name}__{time})")
    p.add_argument("--address", default=None,
                   help='Ray cluster: "auto" (this machine\'s cluster) or "ray://HOST:10001"; default a local Ray')
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default all)")
    p.add_argument("--random-seeds", type=int, default=None, help="random-policy seeds per fold (default from config)")
    p.add_argument("--no-plot", action="store_true", help="no plots")
    p.add_argument("--overwrite", action="store_true", help="replace a walk-forward already in --out")


def run_walkforward(args: argparse.Namespace) -> dict[str, Any]:
    from signalflow_gym.experiment.config import ExperimentConfig
    from signalflow_gym.scale.ray_utils import require_ray

    require_ray()
    config = ExperimentConfig.from_yaml(args.config, args.overrides)
    out = args.out or str(Path("runs") / f"walkforward_{config.name}__{time.strftime('%Y%m%d-%H%M%S')}")
    report = walk_forward(config, out, folds=args.folds, scheme=args.scheme, gap=args.gap, test_bars=args.test_bars,
                          train_bars=args.train_bars, address=args.address, num_cpus=args.num_cpus,
                          n_random_seeds=args.random_seeds, plot=not args.no_plot,
                          log=lambda m: print(m, file=sys.stderr, flush=True), overwrite=args.overwrite)
    print(Path(report["files"]["folds_md"]).read_text())
    print(f"walk-forward report: {report['files']['folds_md']}")
    return report


def main(argv: Sequence[str] | None = None, prog: str = "walkforward") -> int:
    """`agents/walkforward.py`: exit 0, 1 if any fold failed, 2 on a user error (bad config, no Ray)."""
    from signalflow_gym.scale.cli import run_command

    parser = argparse.ArgumentParser(prog=prog, description="Walk-forward evaluation of an experiment on Ray.")
    add_walkforward_args(parser)
    args = parser.parse_args(argv)
    return run_command(prog, run_walkforward, args, code_of=lambda report: 1 if report["n_failed"] else 0)
