"""The baselines: each written once, with one meaning, wherever it runs.

Four baselines are known (`BASELINES`; `describe(name)` is the one-line text reports use):

- "hold": never acts (always action 0, HOLD).
- "random": each bar a uniformly random *valid* action (the env's action mask), seeded
  (what an untrained agent with action masking would do).
- "threshold": each bar, ENTER the best-ranked enterable signal whose observed probability
  exceeds `threshold` (with the "simple" mapper only the top signal can be entered); at
  most one entry a bar; it never closes (the config's TP/SL fallback does).
- "buy_and_hold": equal capital per pair at its first bar, less one entry fee, held to the
  end (`buy_and_hold`).

"hold", "random" and "threshold" are *action-space policies* (observation + mask -> action
index, `baseline_policy`): export rolls them out in the env, and a backtest runs the very
same policy through the bridge (`RLTradingModel` with the callable form of `PolicyAdapter`),
so `evaluate`, `export`, walk-forward and sweeps produce the same trades on the same bars.
"buy_and_hold" enters every pair, which no action mapper can say: it is a `StrategyModel`
run through the backtester (`BuyAndHoldModel`), so its fees and marks come from the same code.

Entry points: `baseline_result(name, env_config, market, ...)` (a `BacktestResult`),
`baseline_policy(name, env, ...)` (for export), `describe(name)`.
The older names (`HoldModel`, `RandomActionModel`, `ThresholdModel`, `backtest_model`,
`RandomActionPolicy`, `ThresholdActionPolicy`) remain as thin aliases of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from signalflow.core.errors import ConfigError
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.model import ModelEntryRule, StrategyAction, StrategyDecision
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.runner import BacktestRunner, MarketData
from signalflow.strategy.runner.result import BacktestResult
from signalflow_gym.actions import make_action_mapper
from signalflow_gym.config import EnvConfig, build_runner
from signalflow_gym.features import FeatureBuilder

__all__ = [
    "BASELINES",
    "POLICY_BASELINES",
    "describe",
    "baseline_policy",
    "baseline_model",
    "baseline_result",
    "HoldActionPolicy",
    "RandomActionPolicy",
    "ThresholdActionPolicy",
    "BuyAndHoldModel",
    "buy_and_hold",
    "Baseline",
    "HoldModel",
    "RandomActionModel",
    "ThresholdModel",
    "backtest_model",
]

#: name -> what it does (the text reports print; see the module docstring).
BASELINES: dict[str, str] = {
    "hold": "never acts (always HOLD)",
    "random": "a seeded uniformly random valid action each bar (the env's action mask)",
    "threshold": "each bar, enters the best-ranked enterable signal with probability > {threshold:g} "
                 "(at most one entry a bar); never closes, exits come from the TP/SL fallback",
    "buy_and_hold": "equal capital per pair at its first bar, less one entry fee, held to the end",
}
#: The baselines that are action-space policies (run in the env by export, through the bridge in backtests).
POLICY_BASELINES = ("hold", "random", "threshold")


def _known(name: Any, choices: Sequence[str]) -> str:
    if name not in choices:
        raise ConfigError(f"unknown baseline {name!r}; pick one of {', '.join(choices)}")
    return name


def describe(name: str, *, threshold: float = 0.7) -> str:
    """One line saying exactly what baseline `name` does (`threshold`: the threshold baseline's)."""
    return BASELINES[_known(name, tuple(BASELINES))].format(threshold=threshold)


# --------------------------------------------------------------------------- action-space policies
class HoldActionPolicy:
    """Always action 0 (HOLD, in every mapper): never acts."""

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        return 0


class RandomActionPolicy:
    """A uniformly random valid action given the mask, from a generator seeded with `seed`
    (one draw per call; the generator is not reset between runs or episodes)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        return int(self.rng.choice(np.flatnonzero(mask)))


class ThresholdActionPolicy:
    """Enter the best-ranked valid signal whose observed probability (the float32
    ``signal{k}.probability`` feature) exceeds `threshold` (``enter_top`` /
    ``enter_signal{k}``), else HOLD; it never closes (the TP/SL fallback does).

    `feature_names` / `action_names`: the env's (raw, unnormalised observations)."""

    def __init__(self, feature_names: Sequence[str], action_names: Sequence[str], threshold: float = 0.7) -> None:
        names = list(feature_names)
        self.threshold = threshold
        self.entries: list[tuple[int, int]] = []  # (action index, probability feature index), best rank first
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


def baseline_policy(name: str, env: Any, *, seed: int = 0, threshold: float = 0.7) -> Any:
    """The action-space policy ``(obs, mask) -> action`` of baseline `name` ("hold", "random",
    "threshold") for `env`: a `SignalFlowEnv` (anything with `feature_names` and
    `action_names`), or an `EnvConfig` (dict, path) whose observation and actions it builds.
    Observations are the raw (unnormalised) ones. "buy_and_hold" is not an action-space
    policy (it enters every pair): use `baseline_result`."""
    _known(name, POLICY_BASELINES)
    if name == "hold":
        return HoldActionPolicy()
    if name == "random":
        return RandomActionPolicy(seed)
    if hasattr(env, "feature_names") and hasattr(env, "action_names"):
        feature_names, action_names = env.feature_names, env.action_names
    else:
        config = EnvConfig.coerce(env)
        feature_names = FeatureBuilder(config.features, config.sizing).feature_names
        action_names = make_action_mapper(config).action_names
    return ThresholdActionPolicy(feature_names, action_names, threshold)


# --------------------------------------------------------------------------- buy-and-hold
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


# --------------------------------------------------------------------------- backtests
def baseline_model(name: str, env_config: Any, *, seed: int = 0, threshold: float = 0.7) -> Any:
    """The `StrategyModel` of action-space baseline `name`: its policy through the bridge
    (`RLTradingModel`, no normalisation), wired like the env by `env_config`."""
    from signalflow_gym.bridge import RLTradingModel

    config = EnvConfig.coerce(env_config)
    return RLTradingModel(baseline_policy(name, config, seed=seed, threshold=threshold), config)


def baseline_result(name: str, env_config: Any, market: MarketData, *, seed: int = 0, threshold: float = 0.7,
                    exporter: Any = None) -> BacktestResult:
    """Backtest baseline `name` (`BASELINES`) on all bars of `market`.

    "hold", "random" (`seed`) and "threshold" (`threshold`) run their action-space policy
    (`baseline_policy`) through the bridge in a runner wired like the env (`build_runner`,
    strategy id = `name`); "buy_and_hold" runs `buy_and_hold`. `exporter`: a
    `BacktestExporter` for the action-space baselines' bars and trades."""
    _known(name, tuple(BASELINES))
    config = EnvConfig.coerce(env_config)
    if name == "buy_and_hold":
        return buy_and_hold(market, config)
    return backtest_model(config, baseline_model(name, config, seed=seed, threshold=threshold), market,
                          strategy_id=name, exporter=exporter)


# --------------------------------------------------------------------------- the older names
@dataclass(frozen=True)
class Baseline:
    """A baseline not bound to an env config yet (what the older `HoldModel()` and
    `ThresholdModel(threshold)` return); `backtest_model` binds it with `baseline_model`."""

    name: str
    seed: int = 0
    threshold: float = 0.7


def HoldModel() -> Baseline:  # noqa: N802 - the older class name, kept for callers
    """The "hold" baseline (alias of ``Baseline("hold")``)."""
    return Baseline("hold")


def ThresholdModel(threshold: float = 0.7) -> Baseline:  # noqa: N802
    """The "threshold" baseline (alias of ``Baseline("threshold", threshold=threshold)``)."""
    return Baseline("threshold", threshold=threshold)


def RandomActionModel(config: Any, seed: int) -> Any:  # noqa: N802
    """The "random" baseline's model for `config` (alias of ``baseline_model("random", config, seed=seed)``)."""
    return baseline_model("random", config, seed=seed)


def backtest_model(config: EnvConfig, model: Any, market: MarketData, *, strategy_id: str = "baseline",
                   exporter: Any = None) -> BacktestResult:
    """Backtest `model` (a `StrategyModel`, or a `Baseline`, bound to `config` first) on all
    bars of `market`, wired like the environment (`build_runner`)."""
    if isinstance(model, Baseline):
        model = baseline_model(model.name, config, seed=model.seed, threshold=model.threshold)
    runner = build_runner(config, model, strategy_id=strategy_id, exporter=exporter)
    runner.run(market)
    return runner.result
