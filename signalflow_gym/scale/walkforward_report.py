"""The walk-forward report: per-run table, stitched out-of-sample curves, scores over folds x seeds.

`write_walkforward_report(records, work, out, meta, initial_capital=..., plot=...)` writes, into
the folder being built (`work`, which becomes `out`): ``folds.parquet`` / ``folds.md`` (one row
per fold, seed and policy), ``oos_equity.parquet`` (each seed's agent and the baselines stitched
across folds, `stitching.stitch_equity`), ``equity.png`` (with several seeds: every seed's
curve, their median and interquartile band), ``profile.png`` (performance profiles: the share
of runs whose total return exceeds each threshold), ``report.json`` and ``report.md``; with
several seeds, also ``fold_<k>/report.json`` / ``report.md`` (that fold's scores over its seeds).
Curve statistics are `signalflow.strategy.metrics.equity_curve_summary`'s; aggregates and the
probability of improvement are `scores.score_summary`'s.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from signalflow.strategy.exporter import write_parquet_atomic
from signalflow.strategy.metrics import equity_curve_summary
from signalflow_gym.outputs import jsonable, write_text_atomic
from signalflow_gym.scale.scores import policy_strata, score_summary, scores_markdown
from signalflow_gym.scale.stitching import stitch_equity

__all__ = ["folds_frame", "folds_markdown", "stitched_curves", "write_walkforward_report"]

_TEXT_COLUMNS = ("fold", "seed", "status", "error", "policy", "train_start", "train_last", "test_start", "test_last",
                 "train_bars", "test_bars")


def _run_rows(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
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
    """One row per (fold, seed, policy): fold boundaries, seed, status, error and the summary metrics."""
    rows = [r for rec in records for r in _run_rows(rec)]
    keys: list[str] = list(dict.fromkeys(k for r in rows for k in r))
    data = {k: [_to_float(r.get(k)) for r in rows] for k in keys}
    schema = {k: pl.Float64 for k in keys if k not in _TEXT_COLUMNS}
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


def _runs(df: pl.DataFrame) -> list[tuple[int, int]]:
    """The (fold, seed) pairs of the table, in order."""
    return sorted(set(zip(df.get_column("fold").to_list(), df.get_column("seed").to_list())))


def folds_markdown(df: pl.DataFrame, stitched: Mapping[str, Mapping[str, float]], meta: Mapping[str, Any], *,
                   plotted: bool = True) -> str:
    """``folds.md``: each run's agent metrics, every policy's total return per run, the stitched curves."""
    seeds = meta.get("seeds") or []
    seeding = (f"each fold trains seeds {', '.join(map(str, seeds))}" if seeds else "seed = base seed + fold")
    lines = [
        f"# Walk-forward: `{meta['name']}`, {meta['n_folds']} folds ({meta['scheme']}, gap {meta['gap']} bars)",
        "",
        f"Each fold trains on its training window only ({seeding}) and is backtested on the "
        "following test window; test windows are consecutive and never overlap a fold's training window.",
        "",
        "## Per fold: agent",
        "",
        "| fold | seed | train | test | status | total return | Sharpe | max DD | trades | vs hold | vs buy&hold |",
        "|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for fold, seed in _runs(df):
        by = {r["policy"]: r for r in df.filter((pl.col("fold") == fold) & (pl.col("seed") == seed))
              .iter_rows(named=True)}
        a = by["agent"]
        period = f"{a['train_start']:%Y-%m-%d %H:%M} .. {a['train_last']:%Y-%m-%d %H:%M} ({a['train_bars']})"
        test = f"{a['test_start']:%Y-%m-%d %H:%M} .. {a['test_last']:%Y-%m-%d %H:%M} ({a['test_bars']})"
        if a["status"] != "ok":
            status = f"error: {' '.join(str(a['error']).split())[:200]}"
            lines.append(f"| {fold} | {seed} | {period} | {test} | {status} | | | | | | |")
            continue

        def vs(name: str) -> str:
            return _fmt_pct(a["total_return"] - by[name]["total_return"]) if name in by else ""

        lines.append(
            f"| {fold} | {seed} | {period} | {test} | ok | {_fmt_pct(a['total_return'])} | {_fmt_num(a['sharpe'])} "
            f"| {_fmt_pct(a['max_drawdown'])} | {int(a['n_trades'])} | {vs('hold')} | {vs('buy_and_hold')} |"
        )
    policies = df.get_column("policy").unique(maintain_order=True).to_list()
    ok = df.filter(pl.col("status") == "ok")
    if ok.height:
        head = "| fold | seed | " if seeds else "| fold | "
        lines += ["", "## Per fold: total return of every policy", "",
                  head + " | ".join(policies) + " |", "|---:|" + ("---:|" if seeds else "") + "---:|" * len(policies)]
        for fold, seed in _runs(ok):
            by = {r["policy"]: r for r in ok.filter((pl.col("fold") == fold) & (pl.col("seed") == seed))
                  .iter_rows(named=True)}
            label = f"| {fold} | {seed} | " if seeds else f"| {fold} | "
            lines.append(label + " | ".join(_fmt_pct(by[p]["total_return"]) if p in by else "" for p in policies)
                         + " |")
    if stitched:
        lines += ["", "## Out of sample, stitched across folds", "",
                  "Each fold's equity is rescaled to start where the previous fold's ended"
                  + (" (one agent curve per seed)." if seeds else "."), "",
                  "| policy | total return | Sharpe | max DD | bars |", "|---|---:|---:|---:|---:|"]
        for name, s in stitched.items():
            lines.append(f"| {name} | {_fmt_pct(s['total_return'])} | {_fmt_num(s['sharpe'])} | "
                         f"{_fmt_pct(s['max_drawdown'])} | {int(s['n_bars'])} |")
    if plotted and stitched:  # (equity.png is drawn only then)
        lines += ["", "![out-of-sample equity](equity.png)", ""]
    return "\n".join(lines)


def stitched_curves(curves: Mapping[tuple[int, int], pl.DataFrame], initial_capital: float, *,
                    multi_seed: bool) -> pl.DataFrame:
    """``timestamp, fold`` and the stitched equity of each policy from the runs' test-window curves
    (`curves[(fold, seed)]`: ``timestamp`` + policy columns; a failed run has no entry). ``fold``
    is the fold's own index. With `multi_seed`, one agent column per seed (``agent_seed<s>``,
    that seed's finished folds stitched, null on the bars of its failed folds) and the baselines
    over every fold that any seed finished: a fold's baselines do not depend on the agent's seed,
    so each fold's come from its first finished run."""
    if not multi_seed:
        return stitch_equity({fold: curve for (fold, _), curve in curves.items()}, initial_capital)
    first_run = {}
    for fold, seed in sorted(curves):
        first_run.setdefault(fold, (fold, seed))
    baselines = stitch_equity({fold: curves[key].drop("agent", strict=False) for fold, key in first_run.items()},
                              initial_capital)
    out = baselines
    for seed in sorted({seed for _, seed in curves}):
        agent = {fold: curves[(fold, s)].select("timestamp", "agent") for fold, s in curves if s == seed}
        column = stitch_equity(agent, initial_capital).select("timestamp", pl.col("agent").alias(f"agent_seed{seed}"))
        out = out.join(column, on="timestamp", how="left")
    agents = [c for c in out.columns if c.startswith("agent_seed")]
    return out.sort("timestamp").select("timestamp", "fold", *agents,
                                        *[c for c in baselines.columns if c not in ("timestamp", "fold")])


def _plot(stitched: pl.DataFrame, path: Path, *, title: str) -> None:
    from signalflow_gym.experiment.plots import new_figure, save_figure

    fig = new_figure(10, 5)
    ax = fig.subplots()
    ts = stitched.get_column("timestamp").to_list()
    per_seed = [c for c in stitched.columns if c.startswith("agent_seed")]
    for name in [c for c in stitched.columns if c not in ("timestamp", "fold")]:
        if name in per_seed:
            ax.plot(ts, stitched.get_column(name).to_numpy(), lw=0.6, color="k", alpha=0.35)
        else:
            ax.plot(ts, stitched.get_column(name).to_numpy(), lw=1.6 if name == "agent" else 0.9, label=name,
                    color="k" if name == "agent" else None)
    if len(per_seed) >= 2:  # the seeds' median and interquartile band, bar by bar
        curves = stitched.select(per_seed).to_numpy().astype(np.float64)
        low, mid, high = np.nanpercentile(curves, [25, 50, 75], axis=1)
        ax.fill_between(ts, low, high, color="k", alpha=0.15, lw=0, label=f"agent IQR over {len(per_seed)} seeds")
        ax.plot(ts, mid, color="k", lw=1.6, label="agent median over seeds")
    starts = stitched.group_by("fold", maintain_order=True).agg(pl.col("timestamp").min()).get_column("timestamp")
    for i, t in enumerate(starts.to_list()):
        ax.axvline(t, color="grey", lw=0.6, ls="--")
        ax.text(t, 1.0, f" fold {i}", transform=ax.get_xaxis_transform(), fontsize=7, va="top", color="grey")
    ax.set_ylabel("equity (stitched)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    save_figure(fig, path)


def _plot_profiles(df: pl.DataFrame, path: Path, *, title: str) -> None:
    """Performance profiles: per policy, the share of runs whose test total return exceeds each
    threshold, with its stratified bootstrap band (strata = folds) when every fold has 2 runs."""
    from signalflow_gym.experiment.plots import new_figure, save_figure
    from signalflow_gym.experiment.statistics import performance_profile

    strata = {p: list(policy_strata(df, p, "total_return").values())
              for p in df.get_column("policy").unique(maintain_order=True).to_list()}
    strata = {p: s for p, s in strata.items() if s}
    if not strata:
        return
    pooled = np.concatenate([np.concatenate(s) for s in strata.values()])
    taus = np.linspace(pooled.min(), pooled.max(), 101) if pooled.max() > pooled.min() else np.array([pooled[0] - 0.01, pooled[0] + 0.01])
    fig = new_figure(8, 4.5)
    ax = fig.subplots()
    for policy, s in strata.items():
        band = min(x.size for x in s) >= 2
        prof = performance_profile(s, taus, reps=1_000 if band else 0)
        line = ax.plot(100 * taus, prof.share, lw=1.6 if policy == "agent" else 0.9, label=policy,
                       color="k" if policy == "agent" else None)[0]
        if prof.low is not None:
            ax.fill_between(100 * taus, prof.low, prof.high, color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel("test total return threshold (%)")
    ax.set_ylabel("share of runs above it")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    save_figure(fig, path)


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(jsonable(data), indent=2) + "\n")


def write_walkforward_report(records: list[dict[str, Any]], work: Path, out: Path, meta: dict[str, Any], *,
                             initial_capital: float, plot: bool) -> dict[str, Any]:
    """Write the combined files into `work` (the folder being built; see the module docstring); the
    returned report (also ``report.json``) names `out`, where the folder will be."""
    seeds = meta.get("seeds") or []
    df = folds_frame(records)
    write_parquet_atomic(df, work / "folds.parquet")
    curves = {(int(r["index"]), int(r["seed"])): pl.read_parquet(work / r["folder"] / "oos_equity.parquet")
              for r in records if r["status"] == "ok"}
    stitched_df = stitched_curves(curves, initial_capital, multi_seed=bool(seeds))
    stitched: dict[str, dict[str, float]] = {}
    if stitched_df.height:
        write_parquet_atomic(stitched_df, work / "oos_equity.parquet")
        for name in [c for c in stitched_df.columns if c not in ("timestamp", "fold")]:
            column = stitched_df.select("timestamp", name).drop_nulls()
            stitched[name] = equity_curve_summary(column.get_column(name).to_numpy(), column.get_column("timestamp"),
                                                  initial_capital=initial_capital)
    equity_drawn = plot and bool(stitched)  # what folds.md links and report.json lists
    if equity_drawn:
        _plot(stitched_df, work / "equity.png",
              title=f"{meta['name']}: out-of-sample equity over {meta['n_folds']} folds ({meta['scheme']}, "
                    f"gap {meta['gap']})")
    scores = score_summary(df)
    profile_drawn = plot and scores["n_runs"] > 0
    if profile_drawn:
        _plot_profiles(df, work / "profile.png", title=f"{meta['name']}: performance profiles over "
                                                        f"{scores['n_runs']} runs in {scores['n_folds']} folds")
    md = folds_markdown(df, stitched, meta, plotted=equity_drawn) + "\n" + scores_markdown(scores)
    write_text_atomic(work / "folds.md", md)
    fold_reports: dict[str, str] = {}
    if seeds:
        for fold in sorted(set(df.get_column("fold").to_list())):
            fold_scores = score_summary(df.filter(pl.col("fold") == fold))
            _write_json(work / f"fold_{fold}" / "report.json", {"fold": fold, "seeds": seeds, "scores": fold_scores})
            write_text_atomic(work / f"fold_{fold}" / "report.md",
                              f"# Walk-forward `{meta['name']}`: fold {fold} over seeds {', '.join(map(str, seeds))}"
                              "\n\n" + scores_markdown(fold_scores))
            fold_reports[str(fold)] = str(out / f"fold_{fold}" / "report.json")
    report = {
        **meta,
        "out_dir": str(out),
        "n_failed": sum(r["status"] != "ok" for r in records),
        "stitched": stitched,
        "scores": scores,
        "folds": [{k: v for k, v in r.items() if k != "traceback"} for r in records],
        "files": {"folds_parquet": str(out / "folds.parquet"), "folds_md": str(out / "folds.md"),
                  **({"oos_equity": str(out / "oos_equity.parquet")} if stitched else {}),
                  "plan": str(out / "plan.json"),
                  **({"equity_png": str(out / "equity.png")} if equity_drawn else {}),
                  **({"profile_png": str(out / "profile.png")} if profile_drawn else {})},
        **({"fold_reports": fold_reports} if fold_reports else {}),
    }
    _write_json(work / "report.json", report)
    write_text_atomic(work / "report.md", md)
    return report
