"""Classic detectors that turn OHLCV bars into signals (no look-ahead)."""

from signalflow.detector.momentum import MomentumZScoreDetector, MovingAverageCrossDetector

__all__ = ["MomentumZScoreDetector", "MovingAverageCrossDetector"]
