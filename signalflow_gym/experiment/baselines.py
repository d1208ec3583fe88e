"""Baselines run on the same bars as the agent, through the same runner wiring (`build_runner`).

- `HoldModel`: never decides anything (always HOLD).
- `RandomActionModel`: a seeded uniformly random *valid* action of the env's action mapper
  each bar (what an untrained agent with action masking would do).
- `ThresholdModel`: the guide's model: ENTER every signal with probability > `threshold`;
  exits come from the config's TP/SL fallback only.
- `buy_and_hold` (`BuyAndHoldModel`): equal capital per pair at its first bar, less one entry
  fee, held to the end, through the backtester like every other result.

Action-space policies for episode export: `RandomActionPolicy`, `ThresholdActionPolicy`
(observation + mask -> action index).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.model import ModelEntryRule, StrategyAction, StrategyDecision
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.runner import BacktestRunner, MarketData
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
    "BuyAndHoldModel",
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


class BuyAndHoldModel:
    """ENTER each pair once, at its first bar in the run, with an equal share of the capital
    (`size_multiplier` 1 on an entry rule whose `base_position_size` is that share)."""

    def __init__(self) -> None:
        self.entered: set[str] = set()

    def on_run_start(self) -> None:
        self.entered = set()

    def decide(self, context: ModelContext) -> list[StrategyDecision]:
        new = [pair for pair in context.prices if pair not in self.entered]
        self.entered.update(new)
        return [StrategyDecision(action=StrategyAction.ENTER, pair=pair, meta={"direction": "long"}) for pair in new]


def buy_and_hold(market: MarketData, config: EnvConfig) -> BacktestResult:
    """Equal-weight buy-and-hold through the backtester: each pair gets ``1 / n_pairs`` of the
    equity at its first bar, less its entry fee (notional ``share / (1 + fee_rate)``, so the
    entry costs exactly the share; a later pair's share is reduced to the free cash if need
    be), filled by `config`'s broker (fees, slippage, `fill_at`) and held to the end, with no
    exit rule. Cash before a pair's first bar stays cash."""
    config = EnvConfig.coerce(config)
    broker, n_pairs = config.broker, market.n_pairs
    executor = broker.build_executor()
    # a proportional fee is taken out of the share; with any other fee model the broker
    # reduces an entry that does not fit the free cash
    rate = executor.fee_rate if executor.fee_rate is not None else 0.0
    runner = BacktestRunner(
        strategy_id="buy_and_hold",
        broker=BacktestBroker(executor=executor),
        entry_rules=[ModelEntryRule(BuyAndHoldModel(), base_position_size=1.0 / n_pairs / (1.0 + rate), max_positions=n_pairs)],
        initial_capital=broker.initial_capital,
        fill_at=broker.fill_at,
    )
    runner.run(market)
    return runner.result


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
