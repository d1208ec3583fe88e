"""Reference import path of `Trade` (see `signalflow.core.containers`)."""

from signalflow.core.trade import Trade

__all__ = ["Trade"]
