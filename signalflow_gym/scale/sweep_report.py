"""The sweep's results: the ranked table (``results.parquet`` / ``results.md``).

`results_frame` is one row per trial, ranked (rank, trial, status, the metric, each override,
the validation metrics, timesteps, rungs, seconds, run folder, error); `results_markdown`
renders it with the best trial and the overfitting section of `selection.selection_markdown`
(Deflated Sharpe Ratio of the best trial, PBO of the search).
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

import polars as pl

from signalflow_gym.scale.selection import selection_markdown
from signalflow_gym.scale.trials import SweepSpace

__all__ = ["results_frame", "results_markdown"]


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


def results_markdown(df: pl.DataFrame, space: SweepSpace, asha: bool, n_rungs: int, best: Any,
                     selection: Mapping[str, Any] | None = None) -> str:
    """``results.md``: how the trials were run and ranked, the best one, the overfitting statistics, the table."""
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
        *([selection_markdown(selection)] if selection is not None else []),
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---:" if df.schema[c].is_numeric() else "---" for c in cols) + "|",
    ]
    for row in df.iter_rows(named=True):
        lines.append("| " + " | ".join(_cell(row[c])[:300] for c in cols) + " |")
    lines.append("")
    return "\n".join(lines)
