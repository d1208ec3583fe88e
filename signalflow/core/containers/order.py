"""Reference import path of `Order` (see `signalflow.core.containers`)."""

from signalflow.core.order import Order

__all__ = ["Order"]
