"""Error types raised by signalflow.

Every error a user can reach is one of these. Messages follow one form:
"`what` must be <rule>, was <value>; <how to fix>", and name the column, row,
pair or position involved.
"""

from __future__ import annotations

__all__ = [
    "SignalFlowError",
    "DataValidationError",
    "ConfigError",
    "DecisionError",
    "AccountingError",
    "RunStateError",
    "ExportError",
    "PositionReadOnlyError",
]


class SignalFlowError(Exception):
    """Base class of every error raised by signalflow."""


class DataValidationError(SignalFlowError, ValueError):
    """OHLCV bars or signals are malformed (missing column, bad price, unsorted, ...)."""


class ConfigError(SignalFlowError, ValueError):
    """A constructor argument or configuration value is out of range or inconsistent."""


class DecisionError(SignalFlowError, ValueError):
    """A `StrategyDecision` is malformed (bad confidence, size, or missing field)."""


class AccountingError(SignalFlowError, RuntimeError):
    """An accounting invariant would be broken (e.g. closing a position twice)."""


class RunStateError(SignalFlowError, RuntimeError):
    """The step-wise run API was called out of order (e.g. stepping a finished run)."""


class ExportError(SignalFlowError, RuntimeError):
    """Writing an export failed; no partial file was left behind."""


class PositionReadOnlyError(SignalFlowError, AttributeError):
    """An attribute of a `Position` was written: positions change only through decisions and fills."""
