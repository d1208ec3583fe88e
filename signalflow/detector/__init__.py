"""Classic detectors that turn OHLCV bars into signals (no look-ahead)."""

from signalflow.detector.momentum import MomentumZScoreDetector, MovingAverageCrossDetector

__all__ = ["DETECTORS", "MomentumZScoreDetector", "MovingAverageCrossDetector"]

#: The built-in detectors by the name configs use (`data.detector`).
DETECTORS: dict[str, type] = {"momentum": MomentumZScoreDetector, "ma_cross": MovingAverageCrossDetector}
