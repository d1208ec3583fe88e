"""signalflow: an event-driven backtester for signal-driven strategies and external models.

This package never imports gymnasium, torch or Stable-Baselines3; the Gymnasium
adapter lives in `signalflow_gym`.
"""

__version__ = "0.1.0"
