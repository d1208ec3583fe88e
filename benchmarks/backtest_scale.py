"""How the backtester scales: peak memory and per-bar loop time as the market grows.

Runs `backtest_speed.py`'s strategy (the guide's threshold model + TP/SL fallback) once
per case on a synthetic market (1-minute bars, 5% signal rate, seed 7). Each case runs
in a fresh interpreter so its peak RSS (`ru_maxrss`) is its own. A case generates the
market with `make_synthetic_market`, builds `MarketData` (timed together as "build"),
then times one `make_runner().run(market)` ("loop"). Default cases: 5 pairs x 50,000
bars, 5 x 400,000 and 50 x 1,000,000.

    python benchmarks/backtest_scale.py [--cases 5x50000,5x400000] [--skip-large]
                                        [--timeout 3600] [--json results.json]

Targets (printed next to the measured figures, never asserted):
- peak RSS grows by <= 200 bytes per extra pair-bar between the two 5-pair cases;
- loop time per bar at 400,000 bars <= 1.25 x that at 50,000 bars;
- the 50 x 1,000,000 case completes on a 2-core / 24 GB machine.

The script exits non-zero only when a case crashed, was killed (e.g. by the OOM killer)
or timed out. Peak RSS includes market generation and `MarketData`, not just the loop;
"RSS after build" (current RSS before the run) shows how much of the peak they take.
Wall-clock figures on a shared machine are noisy; to compare two versions of the loop,
count instructions with benchmarks/backtest_instructions.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_CASES = "5x50000,5x400000,50x1000000"
LARGE_CASE = (50, 1_000_000)
SMALL_CASE, MID_CASE = (5, 50_000), (5, 400_000)
TARGET_BYTES_PER_PAIR_BAR = 200
TARGET_PER_BAR_RATIO = 1.25
SEED, SIGNAL_RATE = 7, 0.05  # as in backtest_speed.py


def parse_cases(text: str) -> list[tuple[int, int]]:
    """"5x50000,50x1000000" -> [(5, 50000), (50, 1000000)]."""
    cases = []
    for item in text.split(","):
        pairs, bars = item.strip().lower().split("x")
        cases.append((int(pairs), int(bars.replace("_", ""))))
    return cases


def current_rss_bytes() -> int:
    """Resident set size now (Linux `/proc/self/statm`, second field in pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(pairs: int, bars: int) -> None:
    """Measure one case in this (fresh) process and print one JSON line."""
    try:  # if memory runs out, let the OOM killer pick this process, not a neighbour
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    from backtest_speed import make_runner

    from signalflow.data.synthetic import make_synthetic_market
    from signalflow.strategy.runner import MarketData

    t0 = time.perf_counter()
    synthetic = make_synthetic_market(seed=SEED, n_pairs=pairs, n_bars=bars, signal_rate=SIGNAL_RATE)
    generate = time.perf_counter() - t0
    market = MarketData.build(synthetic.raw_data, synthetic.signals)
    build = time.perf_counter() - t0
    rss_after_build = current_rss_bytes()

    runner = make_runner()
    t0 = time.perf_counter()
    runner.run(market)
    loop = time.perf_counter() - t0

    result = {
        "pairs": pairs, "bars": bars, "pair_bars": pairs * bars,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # KiB on Linux
        "rss_after_build_bytes": rss_after_build,
        "generate_seconds": generate, "build_seconds": build,
        "loop_seconds": loop, "loop_us_per_bar": loop / bars * 1e6,
        "n_trades": runner.trades_df.height, "final_equity": float(runner.summary["final_equity"]),
    }
    print(json.dumps(result), flush=True)


def run_case(pairs: int, bars: int, timeout: float) -> dict[str, Any]:
    """Run one case in a subprocess; a failed case returns {"pairs", "bars", "error"}."""
    command = [sys.executable, __file__, "--child", f"{pairs}x{bars}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"pairs": pairs, "bars": bars, "error": f"timed out after {timeout:.0f} s (killed)"}
    if done.returncode != 0:
        if done.returncode < 0:
            reason = f"killed by signal {-done.returncode}" + (" (likely the OOM killer)" if done.returncode == -9 else "")
        else:
            reason = f"exit code {done.returncode}"
        tail = done.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        return {"pairs": pairs, "bars": bars, "error": f"{reason}: {tail[0]}"}
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


def find(results: list[dict[str, Any]], case: tuple[int, int]) -> dict[str, Any] | None:
    """The successful result for (pairs, bars), if any."""
    for r in results:
        if (r["pairs"], r["bars"]) == case and "error" not in r:
            return r
    return None


def report(results: list[dict[str, Any]]) -> None:
    header = f"{'pairs':>5} {'bars':>10} {'pair-bars':>11} {'peak RSS MB':>11} {'after build MB':>14} " \
             f"{'gen s':>7} {'build s':>8} {'loop s':>8} {'loop us/bar':>11} {'trades':>7}"
    print("\n" + header + "\n" + "-" * len(header))
    for r in results:
        if "error" in r:
            print(f"{r['pairs']:>5} {r['bars']:>10,} {r['pairs'] * r['bars']:>11,}  FAILED: {r['error']}")
            continue
        print(f"{r['pairs']:>5} {r['bars']:>10,} {r['pair_bars']:>11,} {r['peak_rss_bytes'] / 2**20:>11,.0f} "
              f"{r['rss_after_build_bytes'] / 2**20:>14,.0f} {r['generate_seconds']:>7.2f} {r['build_seconds']:>8.2f} "
              f"{r['loop_seconds']:>8.2f} {r['loop_us_per_bar']:>11.2f} {r['n_trades']:>7,}")
    print("(build s includes gen s: market generation + MarketData.build; loop s is one runner.run)\n")

    small, mid = find(results, SMALL_CASE), find(results, MID_CASE)
    if small and mid:
        marginal = (mid["peak_rss_bytes"] - small["peak_rss_bytes"]) / (mid["pair_bars"] - small["pair_bars"])
        ratio = mid["loop_us_per_bar"] / small["loop_us_per_bar"]
        print(f"peak RSS per extra pair-bar (5x400k vs 5x50k): {marginal:,.0f} bytes   "
              f"target <= {TARGET_BYTES_PER_PAIR_BAR}: {'met' if marginal <= TARGET_BYTES_PER_PAIR_BAR else 'NOT met'}")
        print(f"loop us/bar ratio (5x400k / 5x50k): {ratio:.2f}   "
              f"target <= {TARGET_PER_BAR_RATIO}: {'met' if ratio <= TARGET_PER_BAR_RATIO else 'NOT met'}")
    else:
        print("peak RSS per extra pair-bar and per-bar ratio: n/a (need successful 5x50000 and 5x400000 cases)")
    large = [r for r in results if (r["pairs"], r["bars"]) == LARGE_CASE]
    status = "not run" if not large else ("FAILED: " + large[0]["error"] if "error" in large[0] else "completed")
    print(f"50 x 1,000,000 case: {status}   target: completes on a 2-core / 24 GB machine")


def write_json(path: Path, results: list[dict[str, Any]]) -> None:
    """Write atomically: a temp file in the same folder, then os.replace."""
    path = path.resolve()
    payload = {"cpus": os.cpu_count(), "results": results}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated PAIRSxBARS, e.g. 5x50000,5x400000")
    parser.add_argument("--skip-large", action="store_true", help="skip the 50x1000000 case")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per case (default 3600)")
    parser.add_argument("--json", type=Path, help="also write all results to this JSON file")
    parser.add_argument("--child", metavar="PAIRSxBARS", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        child(*parse_cases(args.child)[0])
        return

    cases = [c for c in parse_cases(args.cases) if not (args.skip_large and c == LARGE_CASE)]
    results = []
    for pairs, bars in cases:
        print(f"running {pairs} pairs x {bars:,} bars ...", flush=True)
        started = time.perf_counter()
        result = run_case(pairs, bars, args.timeout)
        outcome = f"FAILED: {result['error']}" if "error" in result else "ok"
        print(f"  {outcome} ({time.perf_counter() - started:.0f} s wall)", flush=True)
        results.append(result)

    report(results)
    if args.json:
        write_json(args.json, results)
        print(f"\nresults written to {args.json}")
    if any("error" in r for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
