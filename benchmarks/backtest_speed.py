"""Backtester throughput: the guide's threshold model + TP/SL fallback on a synthetic market.

Runs `BacktestRunner` on 5 pairs x 100,000 one-minute bars with 5% signal
density (the acceptance setting of the backtester issue) and prints pair-bars
per second for the bar loop alone and end to end (validation + array
building + loop + results), plus peak memory (RSS); the loop again with the
square-root impact slippage model (`SquareRootImpact`) instead of none.

    python benchmarks/backtest_speed.py [--pairs 5] [--bars 100000] [--repeats 5]

The loop figure is the best of `--repeats` runs on one prebuilt `MarketData`
(timings on shared machines are noisy; the minimum is the least disturbed run).
"""

from __future__ import annotations

import argparse
import resource
import time

from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.broker.slippage import SquareRootImpact
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.model import ModelEntryRule, ModelExitRule, StrategyAction, StrategyDecision
from signalflow.strategy.runner import BacktestRunner, MarketData

#: Figure quoted in the backtester issue for the reference implementation (cache bug fixed), same setting.
REFERENCE_PAIR_BARS_PER_S = 50_000
TARGET_PAIR_BARS_PER_S = 500_000


class MyModel:
    """The guide's Quick Start model, verbatim."""

    def decide(self, context):
        decisions = []
        for row in context.signals.value.iter_rows(named=True):
            prob = row.get("probability", 0.5)
            if prob > 0.7:
                decisions.append(StrategyDecision(action=StrategyAction.ENTER, pair=row["pair"], confidence=prob))
        return decisions


def make_runner(executor: VirtualSpotExecutor | None = None) -> BacktestRunner:
    """The guide's hybrid strategy: model exits first, TP/SL fallback (default costs: the
    guide's `VirtualSpotExecutor(fee_rate=0.001)`)."""
    model = MyModel()
    return BacktestRunner(
        strategy_id="bench",
        broker=BacktestBroker(executor=executor if executor is not None else VirtualSpotExecutor(fee_rate=0.001)),
        entry_rules=[ModelEntryRule(model=model, base_position_size=0.02, max_positions=5, min_confidence=0.6)],
        exit_rules=[ModelExitRule(model=model, min_confidence=0.7), TakeProfitStopLossExit(take_profit_pct=0.05, stop_loss_pct=0.03)],
        initial_capital=10_000.0,
    )


def best_loop(runner: BacktestRunner, market: MarketData, repeats: int):
    """`(fastest bar-loop time in seconds over `repeats` runs, the last run's result)`."""
    times = []
    for _ in range(repeats):
        run = runner.start(market)
        t0 = time.perf_counter()
        run.run_to_end()
        times.append(time.perf_counter() - t0)
        result = run.finish()
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--signal-rate", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    market = make_synthetic_market(seed=7, n_pairs=args.pairs, n_bars=args.bars, signal_rate=args.signal_rate)
    pair_bars = args.pairs * args.bars
    print(f"data: {args.pairs} pairs x {args.bars:,} bars = {pair_bars:,} pair-bars, {market.signals.height:,} signals")

    runner = make_runner()
    t0 = time.perf_counter()
    runner.run(market.raw_data, market.signals)
    end_to_end = time.perf_counter() - t0

    t0 = time.perf_counter()
    prebuilt = MarketData.build(market.raw_data, market.signals)
    build = time.perf_counter() - t0

    loop, result = best_loop(runner, prebuilt, args.repeats)
    impact_runner = make_runner(VirtualSpotExecutor(fee_rate=0.001, slippage=SquareRootImpact(0.5, window=20)))
    impact_loop, _ = best_loop(impact_runner, prebuilt, args.repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    s = result.summary
    print(f"trades: {s['n_trades']:.0f}, model calls: {s['model_calls']:.0f}, total return: {s['total_return']:+.2%}")
    print(f"validate + build arrays: {build:.3f} s")
    print(f"bar loop (best of {args.repeats}): {loop:.3f} s  ->  {pair_bars / loop:,.0f} pair-bars/s")
    print(f"bar loop with square-root impact (SquareRootImpact(0.5), best of {args.repeats}): {impact_loop:.3f} s  ->  "
          f"{pair_bars / impact_loop:,.0f} pair-bars/s ({impact_loop / loop:.2f}x the default costs' time)")
    print(f"end to end (first run, incl. validation and results): {end_to_end:.3f} s  ->  {pair_bars / end_to_end:,.0f} pair-bars/s")
    print(f"ratio vs reference ({REFERENCE_PAIR_BARS_PER_S:,} pair-bars/s): loop {pair_bars / loop / REFERENCE_PAIR_BARS_PER_S:.1f}x, "
          f"end to end {pair_bars / end_to_end / REFERENCE_PAIR_BARS_PER_S:.1f}x")
    print(f"target {TARGET_PAIR_BARS_PER_S:,} pair-bars/s (loop): {'met' if pair_bars / loop >= TARGET_PAIR_BARS_PER_S else 'NOT met'}")
    print(f"peak memory (RSS): {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
