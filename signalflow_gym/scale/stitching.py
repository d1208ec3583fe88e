"""Equity curves of a scaled-out job: per run (agent and baselines on the same bars), stitched
across walk-forward folds, and the per-bar returns that the sweep statistics take.

Units: equity in quote currency, one value per bar (after the bar's marks and fills);
returns are per-bar simple returns ``equity[t] / equity[t-1] - 1`` with ``equity[-1] =
initial_capital``, the definition of `signalflow.strategy.metrics.summarize`.

`baseline_equity` is the one place where walk-forward runs the baselines itself (today
through `experiment.baselines`); every other function here is a pure function of frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import polars as pl

from signalflow.core.errors import ConfigError

__all__ = ["STITCHED", "agent_equity", "baseline_equity", "run_equity_frame", "stitch_equity"]

#: Policies whose equity is stitched across folds (the random baseline is in the tables only).
STITCHED = ("agent", "hold", "threshold", "buy_and_hold")


def agent_equity(report_dir: str | Path) -> pl.DataFrame:
    """``timestamp, agent``: the agent's equity per bar from an `evaluate` report's ``bars.parquet``
    (one row per bar and pair there; the account's equity is the same on every pair's row)."""
    bars = pl.read_parquet(Path(report_dir) / "bars.parquet")
    return bars.group_by("timestamp", maintain_order=True).agg(pl.col("metric_equity").last().alias("agent"))


def baseline_equity(market: Any, env_cfg: Any, *, threshold: float, baselines: Sequence[str]) -> pl.DataFrame:
    """``timestamp`` and one equity column per stitched baseline in `baselines` ("hold",
    "threshold", "buy_and_hold"), backtested on `market` with the env's wiring (`env_cfg`).

    Each comes from `signalflow_gym.experiment.baselines.baseline_result`, the one entry point
    that `evaluate` and `export` use too, so a baseline means the same everywhere."""
    from signalflow_gym.experiment.baselines import baseline_result

    names = ["buy_and_hold", *(name for name in ("hold", "threshold") if name in baselines)]
    frame: pl.DataFrame | None = None
    for name in names:
        curve = baseline_result(name, env_cfg, market, threshold=threshold).metrics_df
        curve = curve.select("timestamp", pl.col("equity").alias(name))
        frame = curve if frame is None else frame.join(curve, on="timestamp", how="left")
    if "buy_and_hold" not in baselines:
        frame = frame.drop("buy_and_hold")
    return frame


def run_equity_frame(report_dir: str | Path, market: Any, env_cfg: Any, *, threshold: float,
                     baselines: Sequence[str]) -> pl.DataFrame:
    """``timestamp`` + the agent's and the stitched baselines' equity on one run's test bars,
    in `STITCHED` order; a bar a policy has no row for carries its last equity forward
    (the initial capital before its first bar)."""
    capital = env_cfg.broker.initial_capital
    frame = baseline_equity(market, env_cfg, threshold=threshold, baselines=baselines)
    frame = frame.join(agent_equity(report_dir), on="timestamp", how="left")
    cols = [c for c in STITCHED if c in frame.columns]
    return frame.sort("timestamp").select(
        "timestamp", *[pl.col(c).forward_fill().fill_null(capital).cast(pl.Float64) for c in cols])


def stitch_equity(curves: Mapping[int, pl.DataFrame] | Sequence[pl.DataFrame], initial_capital: float) -> pl.DataFrame:
    """Concatenate per-fold equity frames (``timestamp`` + one column per policy, each fold
    starting from `initial_capital`); each fold is rescaled to continue from the previous
    fold's last value. Adds a ``fold`` column: the key of a mapping ``{fold index: frame}``
    (so a failed, missing fold leaves its number out), or the position in a sequence. Test
    windows must be in time order."""
    items = sorted(curves.items()) if isinstance(curves, Mapping) else list(enumerate(curves))
    out = []
    level: dict[str, float] = {}
    last_ts = None
    for k, df in items:
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
