"""The report pictures: equity curves with drawdowns, and each pair's prices with the agent's trades.

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

__all__ = ["new_figure", "save_figure", "plot_equity", "plot_trades"]

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
