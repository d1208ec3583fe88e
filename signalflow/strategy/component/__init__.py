"""Rule bases and the rules that need no model."""

from signalflow.strategy.component.base import EntryRule, ExitRule
from signalflow.strategy.component.entry import SignalEntryRule
from signalflow.strategy.component.exit import TakeProfitStopLossExit

__all__ = ["EntryRule", "ExitRule", "SignalEntryRule", "TakeProfitStopLossExit"]
