"""Action mappers: a discrete action index -> `list[StrategyDecision]` for the bar.

Both mappers are pure functions of `(action, context)`. The decisions they return
go into the bar's decision cache and through `ModelExitRule` / `ModelEntryRule`
exactly as a model's would.

Validity (what `action_masks(context)` marks True) is exactly "the rules will place an
order for it" (no skipped decision), as the rules see the bar when the agent decides,
including orders of earlier bars still waiting for a next open (`context.pending`,
`fill_at="next_open"`):

- HOLD is always valid.
- ENTER signal k needs: a k-th ranked signal this bar, its pair tradable now
  (in `context.prices`), probability >= `sizing.min_confidence`, a free slot once the
  pending orders fill (`context.projected_open_count` = open - pending closes + pending
  entries < `sizing.max_positions`, the count `ModelEntryRule` uses), and for a "fall"
  signal `sizing.allow_shorts` (a "fall" signal opens a short, never a long; "rise" and
  "none" open a long, as `ModelEntryRule` does).
- CLOSE position m needs an m-th open position (oldest first, as observed) whose pair
  is tradable now and whose exit is not already pending (`context.is_closable`).
- CLOSE_ALL needs an open position whose pair is tradable now and whose exit is not
  already pending; it closes those positions (one CLOSE_ALL decision per such pair).

The mask is of the state when the agent decides, before this bar's exit rules: a slot that
an optional take-profit / stop-loss exit frees later on the same bar is not offered. So a
valid action always places an order, and with no TP/SL rule every action that would place
an order is valid. One exception: with `exit.intrabar=True` the TP/SL rule runs inside the
bar, before the agent's decision is applied at its close, so a CLOSE of a position that rule
closes on the same bar is skipped ("already closed", counted in `decisions_skipped`); the
position was closed at its level either way. Cash is not masked: an entry's quantity is fixed at its fill, where
the broker reduces or rejects (and counts) an order that needs more cash than is free.

An invalid action that is taken anyway (unmasked sampling) is a no-op: the mapper
returns ``[]`` and the bar is a HOLD. It never raises. What is not an index of the
action space raises `InvalidActionError` (a `ValueError` and a
`gymnasium.error.InvalidAction`) naming the space and the value: an index is a Python
`int` or a numpy integer (scalar, 0-d or shape-(1,) array, as SB3's `predict` and
`DummyVecEnv` give), in ``[0, n)``, as `Discrete.contains` has it; floats (even ``1.0``),
strings and bools are refused, never truncated.

ENTER decisions carry ``confidence = signal probability`` and
``meta = {"direction": "long"|"short", "reason": "agent"}``; CLOSE / CLOSE_ALL carry
``confidence = 1.0``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction

from signalflow.core.errors import SignalFlowError
from signalflow.core.position import Position
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.model.decision import StrategyAction, StrategyDecision
from signalflow.core.enums import PositionType, SignalType

if TYPE_CHECKING:  # the configs name these mappers (MAPPERS), so they are only types here
    from signalflow_gym.config import EnvConfig, FeaturesConfig, SizingConfig

__all__ = [
    "ActionMapper",
    "MAPPERS",
    "InvalidActionError",
    "SimpleActionMapper",
    "PerSignalActionMapper",
    "action_index",
    "make_action_mapper",
]

_ENTER = StrategyAction.ENTER
_CLOSE = StrategyAction.CLOSE
_CLOSE_ALL = StrategyAction.CLOSE_ALL


class InvalidActionError(SignalFlowError, InvalidAction, ValueError):
    """An action that is not an index of the action space (wrong type, shape or range)."""


def action_index(action: object, space: spaces.Discrete, names: tuple[str, ...] = ()) -> int:
    """`action` as a Python int index of `space`, or `InvalidActionError` naming the space and the value.

    Accepted: a Python `int` or a numpy integer, as a scalar or a 0-d or shape-(1,) array,
    within the space. Refused: bools, floats (even integer-valued ones), strings, other
    shapes and dtypes, indices out of range.
    """
    value = action
    if isinstance(value, np.ndarray) and value.shape in ((), (1,)):
        value = value.reshape(())[()]  # the numpy scalar it holds
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        index = int(value)
        if int(space.start) <= index < int(space.start) + int(space.n):
            return index
    lo, hi = int(space.start), int(space.start) + int(space.n)
    listed = f": {', '.join(names)}" if names else ""
    raise InvalidActionError(
        f"`action` must be an integer in [{lo}, {hi}) (the action space {space}{listed}), "
        f"was {action!r} ({type(action).__name__}); pass an int or a numpy integer scalar / 0-d or (1,) array, "
        "e.g. env.action_space.sample()"
    )


class ActionMapper(Protocol):
    """What the environment (and the SB3 bridge) need from an action mapper."""

    action_space: spaces.Discrete
    action_names: tuple[str, ...]

    def to_decisions(self, action: int, context: ModelContext) -> list[StrategyDecision]: ...

    def action_masks(self, context: ModelContext) -> np.ndarray: ...


class _Base:
    def __init__(self, sizing: SizingConfig) -> None:
        self.allow_shorts = sizing.allow_shorts
        self.max_positions = sizing.max_positions
        self.min_confidence = sizing.min_confidence

    def _hold_mask(self) -> np.ndarray:
        mask = np.zeros(self.n, dtype=bool)
        mask[0] = True
        return mask

    def _index(self, action: object) -> int:
        if type(action) is int and 0 <= action < self.n:  # (the common case: a plain in-range int)
            return action
        return action_index(action, self.action_space, self.action_names)

    def _can_enter(self, signal: tuple[str, str, float], context: ModelContext) -> bool:
        pair, signal_type, prob = signal
        if pair not in context.prices or prob < self.min_confidence:
            return False
        if signal_type == SignalType.FALL and not self.allow_shorts:
            return False
        return self._has_slot(context)

    def _has_slot(self, context: ModelContext) -> bool:
        """A free slot once the pending orders fill (the count `ModelEntryRule` uses)."""
        return context.projected_open_count < self.max_positions

    @staticmethod
    def _enter(signal: tuple[str, str, float]) -> StrategyDecision:
        pair, signal_type, prob = signal
        direction = (PositionType.SHORT if signal_type == SignalType.FALL else PositionType.LONG).value
        return StrategyDecision(
            action=_ENTER,
            pair=pair,
            confidence=min(max(float(prob), 0.0), 1.0),
            meta={"direction": direction, "reason": "agent"},
        )

    @staticmethod
    def _can_close(position: Position, context: ModelContext) -> bool:
        """Its pair is tradable now and no exit order for it is pending."""
        return position.pair in context.prices and position.id not in context.pending.closing

    @classmethod
    def _close_all(cls, context: ModelContext) -> list[StrategyDecision]:
        pairs: dict[str, None] = {}
        for p in context.positions:
            if cls._can_close(p, context):
                pairs[p.pair] = None
        return [StrategyDecision(action=_CLOSE_ALL, pair=pair, confidence=1.0) for pair in pairs]

    @classmethod
    def _any_closable(cls, context: ModelContext) -> bool:
        return any(cls._can_close(p, context) for p in context.positions)


class SimpleActionMapper(_Base):
    """The guide's RL example: 0 HOLD, 1 ENTER the top signal (by probability), 2 CLOSE_ALL.

    CLOSE_ALL closes every open position of every pair that has a bar now, except
    those whose exit is already pending (one CLOSE_ALL decision per pair).
    """

    HOLD, ENTER, CLOSE_ALL = 0, 1, 2

    def __init__(self, sizing: SizingConfig) -> None:
        super().__init__(sizing)
        self.n = 3
        self.action_space = spaces.Discrete(3)
        self.action_names: tuple[str, ...] = ("hold", "enter_top", "close_all")
        self._hold = self._hold_mask()

    def to_decisions(self, action: int, context: ModelContext) -> list[StrategyDecision]:
        a = self._index(action)
        if a == 0:
            return []
        if a == 1:
            ranked = context.signals.ranked()
            if ranked and self._can_enter(ranked[0], context):
                return [self._enter(ranked[0])]
            return []
        return self._close_all(context)

    def action_masks(self, context: ModelContext) -> np.ndarray:
        ranked = context.signals.ranked()
        if not ranked and not context.positions:
            return self._hold.copy()
        return np.array(
            [True, bool(ranked) and self._can_enter(ranked[0], context), bool(context.positions) and self._any_closable(context)],
            dtype=bool,
        )


class PerSignalActionMapper(_Base):
    """HOLD, ENTER signal k (k < K, ranked by probability), CLOSE position m (m < M, oldest first), CLOSE_ALL.

    Index layout: ``0`` hold; ``1 .. K`` enter_signal{k}; ``K+1 .. K+M`` close_position{m};
    ``K+M+1`` close_all. K = `features.top_k_signals`, M = `features.max_position_features`,
    so every actionable item is also observed.
    """

    def __init__(self, sizing: SizingConfig, features: FeaturesConfig) -> None:
        super().__init__(sizing)
        self.k = features.top_k_signals
        self.m = features.max_position_features
        self.n = 1 + self.k + self.m + 1
        self.action_space = spaces.Discrete(self.n)
        self.action_names = (
            ("hold",)
            + tuple(f"enter_signal{k}" for k in range(self.k))
            + tuple(f"close_position{m}" for m in range(self.m))
            + ("close_all",)
        )
        self._hold = self._hold_mask()

    def to_decisions(self, action: int, context: ModelContext) -> list[StrategyDecision]:
        a = self._index(action)
        if a == 0:
            return []
        if a <= self.k:
            ranked = context.signals.ranked()
            if a - 1 < len(ranked) and self._can_enter(ranked[a - 1], context):
                return [self._enter(ranked[a - 1])]
            return []
        if a <= self.k + self.m:
            positions = context.positions
            i = a - 1 - self.k
            if i < len(positions) and self._can_close(positions[i], context):
                p = positions[i]
                return [StrategyDecision(action=_CLOSE, pair=p.pair, position_id=p.id, confidence=1.0)]
            return []
        return self._close_all(context)

    def action_masks(self, context: ModelContext) -> np.ndarray:
        ranked = context.signals.ranked()
        positions = context.positions
        if not ranked and not positions:
            return self._hold.copy()
        mask = [True]
        if ranked and self._has_slot(context):
            for i in range(self.k):
                mask.append(i < len(ranked) and self._can_enter(ranked[i], context))
        else:
            mask += [False] * self.k
        if positions:
            for i in range(self.m):
                mask.append(i < len(positions) and self._can_close(positions[i], context))
            mask.append(self._any_closable(context))
        else:
            mask += [False] * (self.m + 1)
        return np.array(mask, dtype=bool)


#: The action mappers by the name `actions.mapper` takes (the config's choices come from here).
MAPPERS: dict[str, type] = {"simple": SimpleActionMapper, "per_signal": PerSignalActionMapper}


def make_action_mapper(config: EnvConfig) -> SimpleActionMapper | PerSignalActionMapper:
    """The mapper named by `config.actions.mapper` (`MAPPERS`)."""
    if MAPPERS[config.actions.mapper] is PerSignalActionMapper:
        return PerSignalActionMapper(config.sizing, config.features)
    return SimpleActionMapper(config.sizing)
