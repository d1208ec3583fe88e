"""Reference import path of `Portfolio` (see `signalflow.core.containers`)."""

from signalflow.core.portfolio import Portfolio

__all__ = ["Portfolio"]
