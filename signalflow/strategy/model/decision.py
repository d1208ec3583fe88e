"""`StrategyAction` and `StrategyDecision`: what a model asks the strategy to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from signalflow.core.errors import DecisionError
from signalflow.core.values import is_real

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


def _validated_action(
    action: Any, pair: Any, position_id: Any, size_multiplier: Any, confidence: Any, meta: Any
) -> StrategyAction:
    """Check one decision's fields; return its action as a `StrategyAction` (raises `DecisionError`).

    Messages for the guide's constraints start with the reference implementation's wording
    ("CLOSE action requires position_id", "size_multiplier must be positive").
    """
    if action.__class__ is not StrategyAction:
        try:
            action = StrategyAction(action)
        except ValueError:
            names = ", ".join(a.name for a in StrategyAction)
            raise DecisionError(f"`action` must be a StrategyAction ({names}), was {action!r}") from None
    if action in _NEEDS_PAIR and not (isinstance(pair, str) and pair):
        raise DecisionError(f"`pair` is required for {action.name} decisions, was {pair!r}")
    if action is StrategyAction.CLOSE and not (isinstance(position_id, str) and position_id):
        raise DecisionError(
            f"CLOSE action requires position_id, was {position_id!r}; "
            "use CLOSE_ALL to close every position of a pair"
        )
    # (the range checks also reject NaN and infinities)
    if not (is_real(confidence) and 0.0 <= confidence <= 1.0):
        raise DecisionError(f"`confidence` must be a finite number in [0, 1], was {confidence!r}")
    if not (is_real(size_multiplier) and size_multiplier > 0.0):
        raise DecisionError(
            f"size_multiplier must be positive (a finite number in (0, {MAX_SIZE_MULTIPLIER:g}]), was "
            f"{size_multiplier!r}; it scales the entry rule's base_position_size"
        )
    if not size_multiplier <= MAX_SIZE_MULTIPLIER:
        raise DecisionError(
            f"`size_multiplier` must be a finite number in (0, {MAX_SIZE_MULTIPLIER:g}], was {size_multiplier!r}"
        )
    if not isinstance(meta, dict):
        raise DecisionError(f"`meta` must be a dict, was {type(meta).__name__}")
    return action


@dataclass(frozen=True, slots=True)
class StrategyDecision:
    """One decision of a model for the current bar; validated on construction.

    - `action`: a `StrategyAction` (its string value is accepted too).
    - `pair`: required for ENTER, SKIP, CLOSE and CLOSE_ALL.
    - `position_id`: required for CLOSE.
    - `size_multiplier`: scales `base_position_size` of the entry rule; in (0, 10].
    - `confidence`: in [0, 1]; rules ignore (and count) decisions below their `min_confidence`.
      Numpy scalars (e.g. `np.float32` from a torch or numpy model) are accepted; bools are not.
    - `meta`: free-form dict (default: a new empty one); `meta["reason"]` becomes the exit
      reason of a CLOSE, and `meta["direction"]` ("long"/"short") overrides the side an
      ENTER takes from the pair's strongest signal.

    A malformed decision raises `DecisionError` here, naming the field.
    """

    action: StrategyAction
    pair: str | None = None
    position_id: str | None = None
    size_multiplier: float = 1.0
    confidence: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        action = _validated_action(
            self.action, self.pair, self.position_id, self.size_multiplier, self.confidence, self.meta
        )
        if action is not self.action:
            object.__setattr__(self, "action", action)  # the string form, stored as the enum
