"""The runner: `BacktestRunner.run()` and the step-wise `BacktestRun`."""

from signalflow.strategy.runner.backtest_runner import BacktestRunner
from signalflow.strategy.runner.market_data import MarketData
from signalflow.strategy.runner.result import BacktestResult, BarReport
from signalflow.strategy.runner.run import BacktestRun

__all__ = ["BacktestRunner", "BacktestRun", "BacktestResult", "BarReport", "MarketData"]
