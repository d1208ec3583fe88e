"""Entry rules that need no model."""

from signalflow.strategy.component.entry.signal_entry import SignalEntryRule

__all__ = ["SignalEntryRule"]
