"""Reference import path of `Position` (see `signalflow.core.containers`)."""

from signalflow.core.position import Position

__all__ = ["Position"]
