"""Enumerations shared across the backtester."""

from __future__ import annotations

from enum import Enum

__all__ = ["PositionType", "OrderSide", "SignalType", "ExitReason", "FillAt"]


class PositionType(str, Enum):
    """Direction of a position. LONG profits when price rises, SHORT when it falls."""

    LONG = "long"
    SHORT = "short"


class OrderSide(str, Enum):
    """Side of an order: BUY adds to cash-out, SELL brings cash in."""

    BUY = "buy"
    SELL = "sell"


class SignalType(str, Enum):
    """Direction a signal predicts: RISE (long), FALL (short), NONE (no view)."""

    RISE = "rise"
    FALL = "fall"
    NONE = "none"


class ExitReason(str, Enum):
    """Why a position was closed."""

    MODEL = "model"
    MODEL_CLOSE_ALL = "model_close_all"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    END_OF_DATA = "end_of_data"
    MANUAL = "manual"
    #: closed by the account: a margin requirement breached, or a spot short's collateral used up
    LIQUIDATION = "liquidation"


class FillAt(str, Enum):
    """When orders decided at bar t are filled.

    CLOSE: at the close of bar t (the reference guide's behaviour).
    NEXT_OPEN: at the open of the pair's next bar (no same-bar execution; the
    honest choice for research).
    """

    CLOSE = "close"
    NEXT_OPEN = "next_open"
