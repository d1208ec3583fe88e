"""How an evaluation report reads: its summary table, its headline lines and its markdown.

`report_table(report)` (the summary table, one row per agent seed and per baseline),
`headline(report)` (the agent's IQM and probability-of-improvement lines),
`uncertainty_markdown(report)` (per-run Sharpe CIs and PSRs, the aggregates over runs),
`report_markdown(report)` (all of it, as `report.md`), `format_interval(entry)`.
The report dict is `signalflow_gym.experiment.evaluate.evaluate`'s.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from signalflow.strategy.metrics import format_summary_table
from signalflow_gym.experiment.uncertainty import DETERMINISTIC_POLICIES

__all__ = ["format_interval", "headline", "report_markdown", "report_table", "uncertainty_markdown"]


def report_table(report: dict[str, Any]) -> str:
    """The markdown summary table of a report (the agent first, one row per seed of a multi-seed
    experiment, then each baseline)."""
    rows: dict[str, dict[str, float]] = {}
    if report.get("kind") == "multi_seed":
        for seed, summary in zip(report["agent"]["seeds"], report["agent"]["summaries"]):
            rows[f"agent seed {seed}"] = summary
    else:
        rows["agent"] = report["agent"]
    for name, value in report["baselines"].items():
        if name == "random":
            rows[f"random (mean of {len(value['seeds'])})"] = value["mean"]
        elif name == "threshold":
            rows[f"threshold {value['threshold']:g}"] = value
        else:
            rows[name] = value
    return format_summary_table(rows)


def _policy_name(report: dict[str, Any], name: str) -> str:
    if name == "threshold" and "threshold" in report["baselines"]:
        return f"threshold {report['baselines']['threshold']['threshold']:g}"
    return name


def format_interval(estimate: dict[str, Any], *, percent: bool = False, digits: int = 2, labelled: bool = False,
                    note: str = "") -> str:
    """``value [low, high]`` of an interval entry of a report (``value (no CI)`` when it has none).

    `labelled`: say what the interval is, ``value [low, high] (95% CI)``; `note` is added inside
    that parenthesis (``(95% CI; note)``, or ``(no CI; note)``)."""
    scale, unit = (100.0, "%") if percent else (1.0, "")

    def num(x: Any) -> str:
        x = float(x)
        return f"{scale * x:.{digits}f}{unit}" if math.isfinite(x) else str(x)

    extra = f"; {note}" if note else ""
    if estimate.get("low") is None:
        return f"{num(estimate['value'])} (no CI{extra})"
    text = f"{num(estimate['value'])} [{num(estimate['low'])}, {num(estimate['high'])}]"
    return f"{text} (95% CI{extra})" if labelled or note else text


def headline(report: dict[str, Any]) -> list[str]:
    """The report's key lines: the agent's IQM total return with its CI, and its probability of
    improvement over each baseline with its CI."""
    agg = report["aggregates"]["agent"]
    lines = [f"agent IQM total return over {agg['n_runs']} run(s): "
             f"{format_interval(agg['total_return']['iqm'], percent=True, labelled=True)}"]
    for name, est in report["improvement"].items():
        pairs = f"{est['n_agent_runs']} x {est['n_baseline_runs']} run pairs"
        lines.append(f"P(agent > {_policy_name(report, name)}): {format_interval(est, note=pairs)}")
    return lines


def uncertainty_markdown(report: dict[str, Any]) -> list[str]:
    """The report's uncertainty tables: aggregates over runs, probability of improvement, per-run Sharpe and PSR."""
    lines = ["## Over runs (95% CIs)", "",
             "Total return in %, annualised Sharpe. Mean, median and IQM (mean of the middle 50% of runs) over each "
             "policy's runs, with 95% stratified bootstrap CIs; a deterministic baseline has one run and no CI.", "",
             "| policy | runs | mean return | median return | IQM return | mean Sharpe | median Sharpe | IQM Sharpe |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, agg in report["aggregates"].items():
        if agg["n_runs"] == 1 and name in DETERMINISTIC_POLICIES:  # one run, no spread: its value
            cells = [f"{100 * agg['total_return'][k]['value']:.2f}%" for k in ("mean", "median", "iqm")]
            cells += [f"{agg['sharpe'][k]['value']:.2f}" for k in ("mean", "median", "iqm")]
        else:
            cells = [format_interval(agg["total_return"][k], percent=True) for k in ("mean", "median", "iqm")]
            cells += [format_interval(agg["sharpe"][k]) for k in ("mean", "median", "iqm")]
        lines.append(f"| {_policy_name(report, name)} | {agg['n_runs']} | " + " | ".join(cells) + " |")
    lines += ["", "Probability of improvement P(agent > baseline): the share of (agent run, baseline run) pairs whose "
              "total return the agent beats (ties count 1/2), with its 95% bootstrap CI. 0.5 = no difference.", "",
              "| baseline | P(agent > baseline) | run pairs |", "|---|---:|---:|"]
    for name, est in report["improvement"].items():
        lines.append(f"| {_policy_name(report, name)} | {format_interval(est)} | "
                     f"{est['n_agent_runs']} x {est['n_baseline_runs']} |")
    lines += ["", "Per run: annualised Sharpe with its 95% stationary-bootstrap CI of per-bar returns; PSR = probability "
              "that the true Sharpe exceeds 0 / buy-and-hold's Sharpe (Bailey & López de Prado 2012).", "",
              "| policy | run | total return | Sharpe [95% CI] | PSR vs 0 | PSR vs buy-and-hold |",
              "|---|---|---:|---:|---:|---:|"]
    for name, items in report["runs"].items():
        for r in items:
            run = f"seed {r['seed']}" if r.get("seed") is not None else "-"
            psr0, psrb = r.get("psr_vs_zero", math.nan), r.get("psr_vs_buy_and_hold", math.nan)
            lines.append(f"| {_policy_name(report, name)} | {run} | {100 * r['total_return']:.2f}% | "
                         f"{format_interval(r['sharpe'])} | {psr0:.3f} | {psrb:.3f} |")
    return lines


def report_markdown(report: dict[str, Any]) -> str:
    p, r = report["period"], report["run"]
    multi = report.get("kind") == "multi_seed"
    if multi:
        seeds = ", ".join(str(s["seed"]) for s in r["seeds"])
        title = f"# Evaluation of `{r['name']}` ({r['algorithm']}, {r['num_timesteps']} steps, seeds {seeds})"
    else:
        title = f"# Evaluation of `{r['name']}` ({r['algorithm']}, {r['num_timesteps']} steps, {r['selected_model']} model)"
    lines = [
        title,
        "",
        f"Split **{p['split']}**: {p['start']} .. {p['end']}, {p['n_bars']} bars, pairs {', '.join(p['pairs'])}.",
        "All runs trade the same bars through the same runner wiring (fees, sizing, TP/SL) as the environment.",
        "",
        *[f"- {line}" for line in headline(report)],
        "",
        report_table(report),
        "",
    ]
    descriptions = report.get("baseline_descriptions") or {}
    if descriptions:
        lines += ["Baselines:", *[f"- **{name}**: {text}" for name, text in descriptions.items()], ""]
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
        lines.append(f"Agent{' (mean over seeds)' if multi else ''} margin (total return): {', '.join(parts)}.")
    lines += ["", *uncertainty_markdown(report), ""]
    images = (("equity_png", "equity of every seed"), ("profile_png", "performance profiles")) if multi else (
        ("equity_png", "equity"), ("trades_png", "trades"))
    files = report.get("files") or {}
    for key, title in images:  # only the plots written (none with plot=False / --no-plot)
        if key in files:
            lines += [f"![{title}]({Path(files[key]).name})", ""]
    return "\n".join(lines)
