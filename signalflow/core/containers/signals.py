"""Reference import path of `Signals` (see `signalflow.core.containers`)."""

from signalflow.core.signals import Signals

__all__ = ["Signals"]
