"""CPU instructions per bar of the backtester's bar loop, counted by callgrind (deterministic).

Wall-clock figures on a shared machine move by 10% or more from minute to minute; an
instruction count moves much less (within about ±2.5% here), so this is the figure to compare two versions
of the loop with. It runs `backtest_speed.py`'s strategy (the guide's model + TP/SL fallback)
under `valgrind --tool=callgrind` twice, once building the market and warming the caches and
once doing that plus one more full run, and divides the difference by the number of bars:

    python benchmarks/backtest_instructions.py [--pairs 5] [--bars 20000] [--env]

With `--env` it counts instructions per `SignalFlowEnv.step` instead: `env_speed.py`'s
setting (a synthetic market of `--pairs` pairs, default config over the whole data, seeded
random actions drawn beforehand), one episode per run.

Needs valgrind (Debian: `apt-get install valgrind`). Runs with PYTHONHASHSEED=0, one polars
thread (its idle workers' spinning would be counted too) and, where `setarch` exists,
without address-space randomisation (dicts keyed by `id()` otherwise differ from run to
run). One count takes about a minute per 20,000 bars.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _workload(pairs: int, bars: int, runs: int) -> None:
    """Build the market, run once to warm its caches, then `runs` more full runs."""
    sys.path.insert(0, str(HERE))
    from backtest_speed import make_runner

    from signalflow.data.synthetic import make_synthetic_market
    from signalflow.strategy.runner import MarketData

    market = make_synthetic_market(seed=7, n_pairs=pairs, n_bars=bars, signal_rate=0.05)
    prebuilt = MarketData.build(market.raw_data, market.signals)
    runner = make_runner()
    for _ in range(1 + runs):
        runner.start(prebuilt).run_to_end()


def _env_workload(pairs: int, bars: int, runs: int) -> None:
    """Build the env, step one episode to warm its caches, then `runs` more episodes."""
    import numpy as np

    from signalflow.data.synthetic import make_synthetic_market
    from signalflow.strategy.runner import MarketData
    from signalflow_gym import EnvConfig, SignalFlowEnv

    market = make_synthetic_market(seed=0, n_pairs=pairs, n_bars=bars)
    prebuilt = MarketData.build(market.raw_data, market.signals)
    env = SignalFlowEnv(market=prebuilt, config=EnvConfig.from_dict({"episode": {"length": None, "random_start": False}}))
    actions = np.random.default_rng(0).integers(0, env.action_space.n, size=bars).tolist()
    for _ in range(1 + runs):
        env.reset(seed=0)
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                break


def _count(pairs: int, bars: int, runs: int, env: bool) -> int:
    """Instructions callgrind counts for `_workload(pairs, bars, runs)` (or `_env_workload`)
    in a fresh interpreter."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--workload", str(runs), "--pairs", str(pairs), "--bars", str(bars),
        *(["--env"] if env else []),
    ]
    if shutil.which("setarch"):
        command = ["setarch", platform.machine(), "-R", *command]
    # polars' worker threads spin for a while after each call; one thread keeps that out
    environment = {**os.environ, "PYTHONHASHSEED": "0", "POLARS_MAX_THREADS": "1"}
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--env", action="store_true", help="count SignalFlowEnv steps instead of backtest bars")
    parser.add_argument("--workload", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pairs < 1 or args.bars < 100:
        parser.error("--pairs must be >= 1 and --bars >= 100")
    if args.workload is not None:  # (inside valgrind)
        (_env_workload if args.env else _workload)(args.pairs, args.bars, args.workload)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: `apt-get install valgrind` (Debian), then run this again")
    base = _count(args.pairs, args.bars, 0, args.env)
    with_run = _count(args.pairs, args.bars, 1, args.env)
    per_bar = (with_run - base) / args.bars
    if args.env:
        print(f"SignalFlowEnv, {args.pairs} pair(s) x {args.bars:,} bars: {per_bar:,.0f} instructions per step")
    else:
        print(f"{args.pairs} pairs x {args.bars:,} bars: {per_bar:,.0f} instructions per bar ({per_bar / args.pairs:,.0f} per pair-bar)")


if __name__ == "__main__":
    main()
