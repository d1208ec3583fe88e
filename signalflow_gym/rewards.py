"""Reward functions: pure functions of the previous and current portfolio metrics.

The environment calls ``reward(prev_metrics, metrics)`` once per step, where
`prev_metrics` are the (pre-trade, marked) metrics of the bar the agent acted on
and `metrics` those of the next observation (or, on the last step, the post-trade
metrics of the last bar). Equity is net of fees, so every reward is too.

- `log_return`: ``log(equity / prev_equity)``; summed over an episode it equals
  ``log(final equity / initial capital)``.
- `pnl`: ``(equity - prev_equity) / initial_capital``.
- `DifferentialSharpe`: Moody & Saffell's differential Sharpe ratio of the simple
  returns, with adaptation rate `eta` (stateful; reset every episode).
- `drawdown_penalty`: ``-weight * max(0, drawdown - prev_drawdown)`` (only increases
  of the current drawdown are penalised).

`make_reward(config.reward, initial_capital=...)` combines them:
``scale * base + drawdown_penalty``. A user callable ``(prev_metrics, metrics) -> float``
may replace it (``SignalFlowEnv(reward_fn=...)``); if it has a ``reset()`` method it is
called on every `env.reset`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # the config names these rewards (REWARD_NAMES), so it is only a type here
    from signalflow_gym.config import RewardConfig

__all__ = [
    "REWARD_NAMES",
    "RewardFn",
    "Reward",
    "DifferentialSharpe",
    "drawdown_penalty",
    "log_return",
    "make_reward",
    "pnl",
]

RewardFn = Callable[[Mapping[str, float], Mapping[str, float]], float]

#: The rewards `reward.name` may take (the config's choices come from here).
REWARD_NAMES: tuple[str, ...] = ("log_return", "pnl", "differential_sharpe")

#: Floor for equity inside `log_return` (equity can reach 0 or below only through shorts).
_TINY = 1e-12


def log_return(prev_equity: float, equity: float) -> float:
    """``log(equity / prev_equity)``; non-positive equity is floored at 1e-12 (a very negative reward)."""
    return math.log(max(equity, _TINY) / max(prev_equity, _TINY))


def pnl(prev_equity: float, equity: float, *, initial: float) -> float:
    """Change of equity as a fraction of the initial capital."""
    return (equity - prev_equity) / initial


def drawdown_penalty(prev_drawdown: float, drawdown: float, *, weight: float) -> float:
    """``-weight * max(0, drawdown - prev_drawdown)``: a penalty (<= 0) for deepening the drawdown."""
    increase = drawdown - prev_drawdown
    return -weight * increase if increase > 0.0 else 0.0


class DifferentialSharpe:
    """Moody & Saffell (1998) differential Sharpe ratio, updated once per step.

    With exponential moving estimates ``A`` (first moment) and ``B`` (second moment)
    of the return ``R``::

        D = (B * dA - 0.5 * A * dB) / (B - A**2) ** 1.5,   dA = R - A,  dB = R**2 - B
        A += eta * dA;  B += eta * dB

    `D` is 0 while the variance estimate ``B - A**2`` is not positive (the first step).
    """

    __slots__ = ("eta", "A", "B")

    def __init__(self, eta: float = 0.01) -> None:
        self.eta = float(eta)
        self.A = 0.0
        self.B = 0.0

    def reset(self) -> None:
        self.A = 0.0
        self.B = 0.0

    def __call__(self, ret: float) -> float:
        A, B = self.A, self.B
        dA = ret - A
        dB = ret * ret - B
        var = B - A * A
        d = (B * dA - 0.5 * A * dB) / var**1.5 if var > 1e-18 else 0.0
        self.A = A + self.eta * dA
        self.B = B + self.eta * dB
        return d


class Reward:
    """The configured reward: ``scale * base(prev, cur) + drawdown_penalty``; call `reset()` per episode.

    `fn` is the same reward as a plain closure specialised for the configuration
    (what the environment calls every step: no dispatch on the name per call).
    """

    def __init__(self, config: RewardConfig, *, initial_capital: float) -> None:
        self.config = config
        self.name = config.name
        self.scale = config.scale
        self.penalty = config.drawdown_penalty
        self.initial = float(initial_capital)
        self.dsr = DifferentialSharpe(config.dsr_eta) if config.name == "differential_sharpe" else None
        self.fn: RewardFn = self._compile()

    def reset(self) -> None:
        if self.dsr is not None:
            self.dsr.reset()

    def __call__(self, prev: Mapping[str, float], cur: Mapping[str, float]) -> float:
        return self.fn(prev, cur)

    def _compile(self) -> RewardFn:
        name, scale, weight, initial, dsr = self.name, self.scale, self.penalty, self.initial, self.dsr
        if name == "log_return":
            def base(prev: Mapping[str, float], cur: Mapping[str, float]) -> float:
                if cur is prev:  # the same metrics object (nothing open or filled since): log(1)
                    return 0.0
                e, pe = cur["equity"], prev["equity"]
                if e > 0.0 and pe > 0.0:
                    return math.log(e / pe)
                return log_return(pe, e)
        elif name == "pnl":
            def base(prev: Mapping[str, float], cur: Mapping[str, float]) -> float:
                if cur is prev:  # the same metrics object: no change
                    return 0.0
                return (cur["equity"] - prev["equity"]) / initial
        else:
            def base(prev: Mapping[str, float], cur: Mapping[str, float]) -> float:
                pe = prev["equity"]
                return dsr(cur["equity"] / pe - 1.0 if pe > 0 else 0.0)  # type: ignore[misc]
        if scale == 1.0 and not weight:
            return base

        def full(prev: Mapping[str, float], cur: Mapping[str, float]) -> float:
            r = base(prev, cur) * scale
            if weight:
                r += drawdown_penalty(prev["current_drawdown"], cur["current_drawdown"], weight=weight)
            return r

        return full


def make_reward(config: RewardConfig, *, initial_capital: float, reward_fn: Any = None) -> Any:
    """`reward_fn` if given (checked to be callable), else the configured `Reward`."""
    if reward_fn is not None:
        if not callable(reward_fn):
            from signalflow.core.errors import ConfigError

            raise ConfigError(
                f"`reward_fn` must be a callable (prev_metrics, metrics) -> float, was {type(reward_fn).__name__}"
            )
        return reward_fn
    return Reward(config, initial_capital=initial_capital)
