"""`StrategyAction` and `StrategyDecision`: what a model asks the strategy to do."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from signalflow.core.errors import DecisionError

__all__ = ["StrategyAction", "StrategyDecision", "MAX_SIZE_MULTIPLIER"]

#: Upper bound of `StrategyDecision.size_multiplier`.
MAX_SIZE_MULTIPLIER = 10.0


class StrategyAction(str, Enum):
    """What a decision asks for (see the table in the integration guide)."""

    ENTER = "enter"
    SKIP = "skip"
    CLOSE = "close"
    CLOSE_ALL = "close_all"
    HOLD = "hold"


_NEEDS_PAIR = frozenset({StrategyAction.ENTER, StrategyAction.SKIP, StrategyAction.CLOSE, StrategyAction.CLOSE_ALL})


@dataclass(frozen=True, slots=True)
class StrategyDecision:
    """One decision of a model for the current bar; validated on construction.

    - `action`: a `StrategyAction` (its string value is accepted too).
    - `pair`: required for ENTER, SKIP, CLOSE and CLOSE_ALL.
    - `position_id`: required for CLOSE.
    - `size_multiplier`: scales `base_position_size` of the entry rule; in (0, 10].
    - `confidence`: in [0, 1]; rules ignore (and count) decisions below their `min_confidence`.
    - `meta`: free-form; `meta["reason"]` becomes the exit reason of a CLOSE, and
      `meta["direction"]` ("long"/"short") overrides the side an ENTER takes from the
      pair's strongest signal.

    A malformed decision raises `DecisionError` here, naming the field.
    """

    action: StrategyAction
    pair: str | None = None
    position_id: str | None = None
    size_multiplier: float = 1.0
    confidence: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        action = self.action
        if not isinstance(action, StrategyAction):
            try:
                action = StrategyAction(action)
            except ValueError:
                names = ", ".join(a.name for a in StrategyAction)
                raise DecisionError(f"`action` must be a StrategyAction ({names}), was {self.action!r}") from None
            object.__setattr__(self, "action", action)
        if action in _NEEDS_PAIR and not (isinstance(self.pair, str) and self.pair):
            raise DecisionError(f"`pair` is required for {action.name} decisions, was {self.pair!r}")
        if action is StrategyAction.CLOSE and not (isinstance(self.position_id, str) and self.position_id):
            raise DecisionError(
                f"`position_id` is required for CLOSE decisions, was {self.position_id!r}; "
                "use CLOSE_ALL to close every position of a pair"
            )
        c = self.confidence
        if not isinstance(c, (int, float)) or not math.isfinite(c) or not 0.0 <= c <= 1.0:
            raise DecisionError(f"`confidence` must be a finite number in [0, 1], was {c!r}")
        m = self.size_multiplier
        if not isinstance(m, (int, float)) or not math.isfinite(m) or not 0.0 < m <= MAX_SIZE_MULTIPLIER:
            raise DecisionError(f"`size_multiplier` must be a finite number in (0, {MAX_SIZE_MULTIPLIER:g}], was {m!r}")
        if not isinstance(self.meta, dict):
            raise DecisionError(f"`meta` must be a dict, was {type(self.meta).__name__}")
