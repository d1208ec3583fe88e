"""Scores of a walk-forward over folds x seeds: per policy, mean / median / IQM of total return
and Sharpe with 95% stratified bootstrap intervals (strata = folds), and the agent's probability
of improvement over each baseline with its interval.

Input: the per-run table of `walkforward_report.folds_frame` (one row per fold, seed and
policy; a failed run has only an "agent" row with status "error" and no metrics, and is left
out). A **run** is one (fold, seed) backtest; runs are resampled within their fold, never
across folds (`signalflow_gym.experiment.statistics.aggregate_intervals`,
`probability_of_improvement_interval`). Units: total return is a fraction (0.05 = 5%), Sharpe
is annualised (as in `summarize`), a probability of improvement is in [0, 1] (0.5: no
difference). The folds are kept fixed (as rliable keeps its tasks): an interval is the
uncertainty over training seeds within the folds, not over which folds were drawn. So a
deterministic baseline (hold, threshold, buy-and-hold, the random policies' mean: the same
score for every seed of a fold) counts as one run per fold, whatever the number of agent
seeds, and has an interval of zero width.

A confidence interval needs at least 2 runs in every fold: with one seed the estimates are
given without intervals (`low` / `high` None) and `note` says why.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from signalflow_gym.experiment.statistics import (
    AGGREGATE_NAMES,
    aggregate_intervals,
    iqm,
    mean,
    median,
    probability_of_improvement,
    probability_of_improvement_interval,
)

__all__ = ["SCORE_METRICS", "policy_strata", "score_summary", "scores_markdown"]

#: The metrics aggregated over runs (keys of `summarize`).
SCORE_METRICS = ("total_return", "sharpe")
_POINT = {"mean": mean, "median": median, "iqm": iqm}


def policy_strata(df: pl.DataFrame, policy: str, metric: str) -> dict[int, np.ndarray]:
    """``{fold: scores of its successful runs}`` of `policy` for `metric` (finite values only), by fold."""
    ok = df.filter((pl.col("status") == "ok") & (pl.col("policy") == policy))
    out: dict[int, np.ndarray] = {}
    if metric not in ok.columns:
        return out
    for fold in sorted(set(ok.get_column("fold").to_list())):
        values = ok.filter(pl.col("fold") == fold).get_column(metric).cast(pl.Float64).to_numpy()
        values = values[np.isfinite(values)]
        if values.size:
            out[int(fold)] = values
    return out


def _no_interval(value: float, confidence: float) -> dict[str, Any]:
    return {"value": value, "low": None, "high": None, "confidence": confidence}


def _one_per_fold(strata: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """A baseline's runs of one fold that all have the same score are one backtest: a baseline
    does not depend on the agent's seed, and counting its copies once per agent seed would make
    its IQM (which trims whole runs) and its run count depend on how many seeds were trained."""
    return {k: v[:1] if v.size > 1 and bool(np.all(v == v[0])) else v for k, v in strata.items()}


def _fixed(strata: list[np.ndarray], confidence: float) -> dict[str, Any]:
    """The aggregates of a deterministic policy (one score per fold), each with an interval of
    zero width: there is no spread over seeds to resample."""
    out = {}
    for name in AGGREGATE_NAMES:
        value = float(_POINT[name](strata))
        out[name] = {"value": value, "low": value, "high": value, "confidence": confidence}
    return out


def _aggregates(strata: list[np.ndarray], *, with_ci: bool, confidence: float, reps: int, seed: int) -> dict[str, Any]:
    if with_ci:
        return {k: v.to_dict() for k, v in aggregate_intervals(strata, confidence=confidence, reps=reps,
                                                                seed=seed).items()}
    return {name: _no_interval(_POINT[name](strata), confidence) for name in AGGREGATE_NAMES}


def _agent_runs_per_fold(df: pl.DataFrame) -> dict[int, int]:
    """``{fold: agent runs}`` counting failed runs too (rows of any status)."""
    if not df.height:
        return {}
    counts = df.filter(pl.col("policy") == "agent").group_by("fold").len()
    return {int(f): int(n) for f, n in counts.iter_rows()}


def score_summary(df: pl.DataFrame, *, confidence: float = 0.95, reps: int = 2_000, seed: int = 0) -> dict[str, Any]:
    """Aggregates of every policy and the agent's probability of improvement (see the module docstring).

    Returns ``{"n_folds", "n_runs", "runs_per_fold", "confidence", "reps", "intervals", "note",
    "policies": {policy: {metric: {"mean" | "median" | "iqm": {"value", "low", "high",
    "confidence"}}, "n_runs"}}, "probability_of_improvement": {baseline: {metric: {...}}}}``.
    `reps` bootstrap replications from ``numpy.random.default_rng(seed)``.
    """
    policies = [p for p in df.get_column("policy").unique(maintain_order=True).to_list()] if df.height else []
    agent = {m: policy_strata(df, "agent", m) for m in SCORE_METRICS}
    runs_per_fold = {int(k): int(v.size) for k, v in agent["total_return"].items()}
    with_ci = bool(runs_per_fold) and min(runs_per_fold.values()) >= 2
    note = None
    if not runs_per_fold:
        note = "no run finished: nothing to aggregate"
    elif not with_ci:
        attempted = _agent_runs_per_fold(df)
        failed = sorted(k for k, v in runs_per_fold.items() if v < 2 and attempted.get(k, 0) > v)
        if failed:  # seeds were set, but runs of these folds failed
            note = (f"no confidence intervals: they need at least 2 runs (seeds) in every fold; fold(s) "
                    f"{', '.join(map(str, failed))} have fewer because their other runs failed (see their errors): "
                    "fix and re-run them")
        else:
            note = ("no confidence intervals: they need at least 2 runs (seeds) in every fold; "
                    "set train.seeds (or --seeds) to train several seeds per fold")
    out: dict[str, Any] = {
        "n_folds": len(runs_per_fold), "n_runs": int(sum(runs_per_fold.values())), "runs_per_fold": runs_per_fold,
        "confidence": confidence, "reps": reps, "intervals": with_ci, "note": note, "policies": {},
        "probability_of_improvement": {},
    }
    for policy in policies:
        entry: dict[str, Any] = {}
        for metric in SCORE_METRICS:
            strata = policy_strata(df, policy, metric)
            if not strata:
                continue
            baseline = policy != "agent"
            if baseline:
                strata = _one_per_fold(strata)
            if baseline and with_ci and all(s.size == 1 for s in strata.values()):
                entry[metric] = _fixed(list(strata.values()), confidence)
            else:
                usable = with_ci and min(s.size for s in strata.values()) >= 2
                entry[metric] = _aggregates(list(strata.values()), with_ci=usable, confidence=confidence, reps=reps,
                                            seed=seed)
            entry["n_runs"] = int(sum(s.size for s in strata.values()))
        if entry:
            out["policies"][policy] = entry
    for baseline in policies:
        if baseline == "agent":
            continue
        entry = {}
        for metric in SCORE_METRICS:
            other = policy_strata(df, baseline, metric)
            folds = [k for k in agent[metric] if k in other]
            if not folds:
                continue
            x, y = [agent[metric][k] for k in folds], [other[k] for k in folds]
            if with_ci and min(min(a.size for a in x), min(b.size for b in y)) >= 2:
                entry[metric] = probability_of_improvement_interval(x, y, confidence=confidence, reps=reps,
                                                                    seed=seed).to_dict()
            else:
                entry[metric] = _no_interval(probability_of_improvement(x, y), confidence)
        if entry:
            out["probability_of_improvement"][baseline] = entry
    return out


def _fmt(value: Any, pct: bool) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{100 * value:.2f}%" if pct else f"{value:.2f}"


def _cell(est: dict[str, Any] | None, pct: bool) -> str:
    if not est:
        return ""
    text = _fmt(est["value"], pct)
    if est.get("low") is not None:
        text += f" [{_fmt(est['low'], pct)}, {_fmt(est['high'], pct)}]"
    return text


def scores_markdown(summary: dict[str, Any], *, heading: str = "##") -> str:
    """Markdown tables of `score_summary`: aggregates per metric, then the probability of improvement."""
    level = int(round(100 * summary["confidence"]))
    lines = [f"{heading} Over folds x seeds: {summary['n_runs']} runs in {summary['n_folds']} folds", "",
             f"Estimates with {level}% stratified bootstrap intervals [low, high] (strata = folds, "
             f"{summary['reps']} replications); IQM = mean of the middle 50% of runs."]
    if summary["note"]:
        lines += ["", f"Note: {summary['note']}."]
    for metric in SCORE_METRICS:
        pct = metric == "total_return"
        lines += ["", f"{heading}# {metric.replace('_', ' ')}", "", "| policy | mean | median | IQM | runs |",
                  "|---|---:|---:|---:|---:|"]
        for policy, entry in summary["policies"].items():
            if metric in entry:
                est = entry[metric]
                lines.append(f"| {policy} | {_cell(est['mean'], pct)} | {_cell(est['median'], pct)} | "
                             f"{_cell(est['iqm'], pct)} | {entry['n_runs']} |")
    if summary["probability_of_improvement"]:
        lines += ["", f"{heading}# Probability of improvement of the agent", "",
                  "P(agent > baseline): the share of (agent run, baseline run) pairs of the same fold that the agent "
                  "wins (ties count 1/2), averaged over folds; 0.5 = no difference. An interval that contains 0.5 "
                  "does not show an improvement.", "",
                  "| baseline | total return | Sharpe |", "|---|---:|---:|"]
        for baseline, entry in summary["probability_of_improvement"].items():
            lines.append(f"| {baseline} | {_cell(entry.get('total_return'), False)} | "
                         f"{_cell(entry.get('sharpe'), False)} |")
    lines.append("")
    return "\n".join(lines)
