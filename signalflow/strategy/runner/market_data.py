"""Former home of `MarketData` (now `signalflow.data.market`); kept so existing imports work."""

from signalflow.data.market import MarketData, as_frame

__all__ = ["MarketData", "as_frame"]
