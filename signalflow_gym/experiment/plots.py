"""The report pictures: equity curves with drawdowns, each pair's prices with the agent's trades,
and for a multi-seed experiment the equity of every seed (median and interquartile band) and the
performance profiles of every policy.

Both are drawn off-screen (matplotlib's Agg canvas, no display needed) and written atomically
as PNG files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from signalflow.core.enums import ExitReason
from signalflow.data.market import MarketData
from signalflow_gym.outputs import atomic_file

__all__ = ["new_figure", "save_figure", "plot_equity", "plot_trades", "plot_seed_equity", "plot_performance_profiles"]

#: Marker of each exit reason in `plot_trades` (other reasons: "x").
EXIT_MARKERS = {
    ExitReason.TAKE_PROFIT.value: "*",
    ExitReason.STOP_LOSS.value: "X",
    ExitReason.LIQUIDATION.value: "D",
}


def new_figure(width: float, height: float, *, dpi: int = 100) -> Any:
    """A matplotlib `Figure` on an off-screen Agg canvas."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: Path) -> None:
    """Write `fig` as a PNG to `path` atomically."""
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")


def plot_equity(curves: dict[str, pl.DataFrame], path: Path, *, title: str) -> None:
    """Equity of each run (`timestamp`, `equity` frames; "agent" in black) above its drawdown in %."""
    fig = new_figure(10, 6)
    ax_e, ax_d = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for name, df in curves.items():
        ts = df.get_column("timestamp").to_list()
        eq = df.get_column("equity").to_numpy()
        lw = 1.6 if name == "agent" else 0.9
        ax_e.plot(ts, eq, lw=lw, label=name, color="k" if name == "agent" else None)
        peak = np.maximum.accumulate(np.maximum(eq, eq[0] if len(eq) else 0.0))
        ax_d.plot(ts, -100.0 * (1.0 - eq / peak), lw=lw, color="k" if name == "agent" else None)
    ax_e.set_ylabel("equity")
    ax_e.set_title(title, fontsize=10)
    ax_e.legend(loc="upper left", fontsize=8)
    ax_d.set_ylabel("drawdown %")
    ax_d.set_xlabel("time")
    fig.autofmt_xdate()
    save_figure(fig, path)


def plot_trades(market: MarketData, trades: pl.DataFrame, path: Path, *, title: str) -> Any:
    """One panel per pair: its closes, each entry (green up-triangle long, red down-triangle short)
    at its time and price, and each exit at its time and price, marked by exit reason (take
    profit "*", stop loss "X", liquidation "D", others "x") and joined to its entry."""
    pairs = list(market.pairs)
    fig = new_figure(10, 2.4 * len(pairs) + 0.6)
    axes = fig.subplots(len(pairs), 1, sharex=True, squeeze=False)[:, 0]
    times = pl.Series("t", market.timestamps, dtype=pl.Int64).cast(pl.Datetime("us")).to_list()
    for ax, pair in zip(axes, pairs):
        ax.plot(times, market.close_column(pair), lw=0.7, color="0.4")
        mine = trades.filter(pl.col("pair") == pair)
        for row in mine.iter_rows(named=True):
            long = row["position_type"] == "long"
            color = "tab:green" if long else "tab:red"
            ax.scatter([row["entry_time"]], [row["entry_price"]], marker="^" if long else "v", color=color, s=24, zorder=3)
            if row["exit_time"] is not None:
                marker = EXIT_MARKERS.get(row["exit_reason"], "x")
                ax.scatter([row["exit_time"]], [row["exit_price"]], marker=marker, color=color, s=24, zorder=3)
                ax.plot([row["entry_time"], row["exit_time"]], [row["entry_price"], row["exit_price"]],
                        lw=0.6, color=color, alpha=0.6)
        ax.set_ylabel(pair, fontsize=8)
        ax.set_title(f"{pair}: {mine.height} trades", fontsize=8, loc="left")
    axes[0].figure.suptitle(title, fontsize=10)
    axes[-1].set_xlabel("time")
    fig.autofmt_xdate()
    save_figure(fig, path)
    return fig


def plot_seed_equity(seeds: dict[int, pl.DataFrame], baselines: dict[str, pl.DataFrame], path: Path, *,
                     title: str) -> None:
    """The agent's equity for every seed (thin grey lines), their median (black) and interquartile
    band (25th-75th percentile at each bar, shaded) above each baseline's equity (coloured), on the
    same bars. `seeds`: seed -> frame with `timestamp`, `equity` (all on the same bars)."""
    fig = new_figure(10, 5)
    ax = fig.subplots(1, 1)
    frames = list(seeds.values())
    ts = frames[0].get_column("timestamp").to_list()
    equity = np.stack([df.get_column("equity").to_numpy() for df in frames])
    for seed, row in zip(seeds, equity):
        ax.plot(ts, row, lw=0.6, color="0.6")
    q25, q50, q75 = np.percentile(equity, [25, 50, 75], axis=0)
    ax.fill_between(ts, q25, q75, color="0.3", alpha=0.25, lw=0, label=f"agent: interquartile range of {len(frames)} seeds")
    ax.plot(ts, q50, lw=1.8, color="k", label="agent: median over seeds")
    for name, df in baselines.items():
        ax.plot(df.get_column("timestamp").to_list(), df.get_column("equity").to_numpy(), lw=0.9, label=name)
    ax.set_ylabel("equity")
    ax.set_xlabel("time")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    save_figure(fig, path)


def plot_performance_profiles(profiles: dict[str, Any], path: Path, *, title: str) -> Any:
    """One step line per policy: the share of its runs whose total return (in %) exceeds each
    threshold, with its 95% bootstrap band where it has one (`PerformanceProfile` values, the
    agent in black). Returns the figure."""
    fig = new_figure(8, 5)
    ax = fig.subplots(1, 1)
    for name, profile in profiles.items():
        x = 100.0 * np.asarray(profile.thresholds)
        color = "k" if name == "agent" else None
        (line,) = ax.step(x, profile.share, where="post", lw=1.8 if name == "agent" else 1.0, color=color, label=name)
        if profile.low is not None:
            ax.fill_between(x, profile.low, profile.high, step="post", alpha=0.2, color=line.get_color(), lw=0)
    ax.set_xlabel("total return threshold tau (%)")
    ax.set_ylabel("share of runs with total return > tau")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    save_figure(fig, path)
    return fig
