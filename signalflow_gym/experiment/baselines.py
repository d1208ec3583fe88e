"""Baselines run on the same bars as the agent, through the same runner wiring (`build_runner`).

- `HoldModel`: never decides anything (always HOLD).
- `RandomActionModel`: a seeded uniformly random *valid* action of the env's action mapper
  each bar (what an untrained agent with action masking would do).
- `ThresholdModel`: the guide's model: ENTER every signal with probability > `threshold`;
  exits come from the config's TP/SL fallback only.
- `buy_and_hold`: equal capital per pair at the first bar, minus one entry fee, held to the end.

Action-space policies for episode export: `RandomActionPolicy`, `ThresholdActionPolicy`
(observation + mask -> action index).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import polars as pl

from signalflow.core.bar_metrics import METRIC_NAMES
from signalflow.strategy.metrics import summarize
from signalflow.strategy.model import StrategyAction, StrategyDecision
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.runner import MarketData
from signalflow.strategy.runner.result import BacktestResult
from signalflow_gym.actions import make_action_mapper
from signalflow_gym.config import EnvConfig, build_runner

__all__ = [
    "HoldModel",
    "RandomActionModel",
    "ThresholdModel",
    "RandomActionPolicy",
    "ThresholdActionPolicy",
    "backtest_model",
    "buy_and_hold",
]


class HoldModel:
    """Always HOLD: no decisions."""

    def decide(self, context: ModelContext) -> list[StrategyDecision]:
        return []


class RandomActionModel:
    """A uniformly random valid action of `config`'s action mapper each bar (seeded)."""

    def __init__(self, config: EnvConfig, seed: int) -> None:
        self.mapper = make_action_mapper(config)
        self.rng = np.random.default_rng(seed)

    def decide(self, context: ModelContext) -> list[StrategyDecision]:
        mask = self.mapper.action_masks(context)
        return self.mapper.to_decisions(int(self.rng.choice(np.flatnonzero(mask))), context)


class ThresholdModel:
    """The guide's `MyModel`: ENTER each signal whose probability exceeds `threshold`."""

    def __init__(self, threshold: float = 0.7) -> None:
        self.threshold = threshold

    def decide(self, context: ModelContext) -> list[StrategyDecision]:
        return [
            StrategyDecision(action=StrategyAction.ENTER, pair=row["pair"], confidence=row["probability"])
            for row in context.signals.value.iter_rows(named=True)
            if row["probability"] > self.threshold
        ]


def backtest_model(config: EnvConfig, model: Any, market: MarketData, *, strategy_id: str = "baseline",
                   exporter: Any = None) -> BacktestResult:
    """Backtest `model` on all bars of `market`, wired like the environment (`build_runner`)."""
    runner = build_runner(config, model, strategy_id=strategy_id, exporter=exporter)
    runner.run(market)
    return runner.result


def buy_and_hold(market: MarketData, *, initial_capital: float, fee_rate: float) -> tuple[pl.DataFrame, dict[str, float]]:
    """Equal-weight buy-and-hold: `(metrics_df, summary)`.

    Each pair gets ``initial_capital / n_pairs``; at its first bar it buys
    ``notional = share / (1 + fee_rate)`` at the close (one entry fee, no exit fee)
    and is marked to its last close afterwards; cash before a pair's first bar stays cash.
    """
    mark = market.mark  # [T, P], NaN before a pair's first bar
    n_t, n_p = mark.shape
    share = initial_capital / n_p
    first = np.argmax(np.isfinite(mark), axis=0)
    price0 = mark[first, np.arange(n_p)]
    qty = share / (1.0 + fee_rate) / price0
    fee = share - share / (1.0 + fee_rate)
    held = np.isfinite(mark)
    value = np.where(held, qty[None, :] * np.nan_to_num(mark), share)
    equity = value.sum(axis=1)
    positions_value = np.where(held, qty[None, :] * np.nan_to_num(mark), 0.0).sum(axis=1)
    peak = np.maximum.accumulate(np.concatenate([[initial_capital], equity]))[1:]
    dd = 1.0 - equity / peak
    open_pos = held.sum(axis=1).astype(float)
    fees = np.cumsum(np.where(np.arange(n_t)[:, None] == first[None, :], fee, 0.0).sum(axis=1))
    cols: dict[str, Any] = {
        "timestamp": pl.Series("timestamp", market.timestamps, dtype=pl.Int64).cast(pl.Datetime("us")),
    }
    derived = {
        "equity": equity,
        "cash": equity - positions_value,
        "positions_value": positions_value,
        "gross_exposure": positions_value,
        "exposure": positions_value / equity,
        "total_return": equity / initial_capital - 1.0,
        "peak_equity": peak,
        "orders_filled": np.cumsum((np.arange(n_t)[:, None] == first[None, :]).sum(axis=1)).astype(float),
        "current_drawdown": dd,
        "max_drawdown": np.maximum.accumulate(dd),
        "open_positions": open_pos,
        "fees_paid": fees,
        "unrealized_pnl": positions_value - (qty[None, :] * price0[None, :] * held).sum(axis=1),
    }
    for name in METRIC_NAMES:
        cols[name] = derived.get(name, np.zeros(n_t))
    metrics_df = pl.DataFrame(cols)
    last = mark[-1]
    trades = pl.DataFrame({"is_closed": [False] * n_p, "net_pnl": (qty * (last - price0) - fee).tolist()})
    summary = summarize(metrics_df, trades, initial_capital=initial_capital, periods_per_year=None if n_t > 1 else 1.0)
    return metrics_df, summary


# --------------------------------------------------------------------------- action-space policies (export)
class RandomActionPolicy:
    """Uniformly random valid action given the mask (seeded)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        return int(self.rng.choice(np.flatnonzero(mask)))


class ThresholdActionPolicy:
    """The threshold rule in action terms: enter the best valid ranked signal with probability
    > `threshold` (``enter_top`` / ``enter_signal{k}``), else HOLD; never closes (TP/SL does)."""

    def __init__(self, feature_names: Sequence[str], action_names: Sequence[str], threshold: float = 0.7) -> None:
        names = list(feature_names)
        self.threshold = threshold
        self.entries: list[tuple[int, int]] = []  # (action index, probability feature index)
        actions = list(action_names)
        if "enter_top" in actions and "signal0.probability" in names:
            self.entries.append((actions.index("enter_top"), names.index("signal0.probability")))
        k = 0
        while f"enter_signal{k}" in actions and f"signal{k}.probability" in names:
            self.entries.append((actions.index(f"enter_signal{k}"), names.index(f"signal{k}.probability")))
            k += 1

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        for action, feat in self.entries:
            if mask[action] and obs[feat] > self.threshold:
                return action
        return 0
