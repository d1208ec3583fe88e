"""Does the shipped agent learn the signal's edge? PPO vs the threshold rule over markets x seeds.

For every synthetic market seed in `--markets` (default 101, 202, 303: seeds no shipped
config or test uses) and every training seed in `--seeds` (default 0..4), one run:
`train()` of `--config` (default the shipped ``ppo``) with ``data.synthetic.seed`` and
``train.seed`` set (checkpoints off), then `evaluate()` on `--split` (default ``test``; pick
designs on ``validation``, report ``test`` once). Runs are Ray tasks (one CPU each) when Ray
is installed and ``--num-cpus`` > 1, else sequential; a tqdm bar counts finished runs.

Printed, per policy (agent, threshold rule, always-HOLD, random valid actions over the
evaluation's random seeds, buy-and-hold): the IQM of the total return over all runs with its
95% stratified bootstrap CI (strata = markets); then the probability of improvement
P(agent > threshold rule) with its CI (`signalflow_gym.experiment.statistics`), the
per-market means, and the agent's long/short entries (a direction bias shows there). The
threshold rule, HOLD and buy-and-hold are deterministic: their score on a market is the same
for every training seed (each run's report repeats it; bootstrapping a constant is exact).
Target (issue 15): P(agent > threshold) >= 0.75 with the CI's lower end above 0.5.

`--set key=value` overrides the config (e.g. ``--set env.actions.mapper=per_signal``) to measure a
design lever. `--out` receives ``runs/market<M>/seed<S>/`` (run packages with their
evaluation reports) and ``results.json`` (every run's figures and the aggregates), built in a
temporary sibling and swapped in when complete (`signalflow_gym.outputs.building`).

    python benchmarks/learning.py [--config ppo] [--markets 101,202,303] [--seeds 0,1,2,3,4]
        [--timesteps N] [--split test|validation] [--set key=value ...] [--num-cpus 2]
        [--out runs/learning_benchmark] [--overwrite]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from signalflow.core.errors import ConfigError

DEFAULT_MARKETS = (101, 202, 303)
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
#: Policies in the printed table: report key -> label.
POLICIES = {"agent": "agent (PPO)", "threshold": "threshold rule", "hold": "always HOLD", "random": "random valid",
            "buy_and_hold": "buy and hold"}
TARGET_POI = 0.75


def int_list(text: str) -> tuple[int, ...]:
    """argparse type: "101,202,303" -> (101, 202, 303); distinct non-negative integers
    (market or training seeds), else `argparse.ArgumentTypeError` saying so."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 101,202,303, was {text!r}") from None
    if not values or len(set(values)) != len(values) or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected distinct non-negative integers, was {text!r}")
    return values


def run_config(config: str, market: int, seed: int, timesteps: int | None, overrides: Sequence[str]) -> Any:
    """The `ExperimentConfig` of one run: `config` on synthetic market `market`, training seed `seed`."""
    from signalflow_gym.experiment.config import ExperimentConfig

    sets = [*overrides, f"data.synthetic.seed={market}", f"train.seed={seed}", "train.checkpoint_freq=0"]
    if timesteps is not None:
        sets.append(f"train.total_timesteps={timesteps}")
    cfg = ExperimentConfig.from_yaml(config, overrides=sets)
    if cfg.data.source != "synthetic":
        raise ConfigError(f"benchmarks/learning.py needs a config on the synthetic market, `data.source` was {cfg.data.source!r}")
    return cfg


def _entries(trades_path: Path) -> dict[str, int]:
    import polars as pl

    trades = pl.read_parquet(trades_path)
    return {side: int((trades["position_type"] == side).sum()) for side in ("long", "short")}


def one_run(config: str, market: int, seed: int, timesteps: int | None, overrides: Sequence[str], split: str,
            run_dir: str) -> dict[str, Any]:
    """Train and evaluate one (market, seed) run; its total returns per policy (fractions)."""
    import torch

    from signalflow_gym.experiment.evaluate import evaluate
    from signalflow_gym.experiment.train import train

    torch.set_num_threads(1)
    cfg = run_config(config, market, seed, timesteps, overrides)
    started = time.perf_counter()
    train(cfg, run_dir, progress=False, overwrite=True)
    report = evaluate(run_dir, split=split, plot=False, overwrite=True)
    base = report["baselines"]
    return {
        "market": market,
        "seed": seed,
        "agent": report["agent"]["total_return"],
        "agent_trades": int(report["agent"]["n_trades"]),
        "agent_entries": _entries(Path(report["files"]["trades"])),
        "threshold": base["threshold"]["total_return"],
        "threshold_trades": int(base["threshold"]["n_trades"]),
        "hold": base["hold"]["total_return"],
        "random": list(base["random"]["total_returns"]),
        "buy_and_hold": base["buy_and_hold"]["total_return"],
        "selected_model": report["run"]["selected_model"],
        "seconds": time.perf_counter() - started,
    }


def _run_all(jobs: list[tuple[int, int, str]], args: argparse.Namespace, overrides: Sequence[str]) -> list[dict[str, Any]]:
    from tqdm import tqdm

    ray_ok = importlib.util.find_spec("ray") is not None and args.num_cpus > 1
    results: list[dict[str, Any]] = []
    bar = tqdm(total=len(jobs), desc="train+evaluate", unit="run", file=sys.stderr)
    if ray_ok:
        from signalflow_gym.scale.ray_utils import init_ray

        ray = init_ray(num_cpus=args.num_cpus)  # local workers inherit this process's environment (PYTHONPATH)
        task = ray.remote(num_cpus=1)(one_run)
        pending = [task.remote(args.config, m, s, args.timesteps, overrides, args.split, d) for m, s, d in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            results.extend(ray.get(done))
            bar.update(len(done))
    else:
        for m, s, d in jobs:
            results.append(one_run(args.config, m, s, args.timesteps, overrides, args.split, d))
            bar.update(1)
    bar.close()
    return sorted(results, key=lambda r: (r["market"], r["seed"]))


def scores_by_market(results: list[dict[str, Any]], policy: str, markets: Sequence[int]) -> list[np.ndarray]:
    """One array of runs per market (a stratum): the policy's total returns (random: its seeds)."""
    out = []
    for m in markets:
        runs = [r for r in results if r["market"] == m]
        if policy == "random":  # the same random seeds in every run of a market: take them once
            out.append(np.asarray(runs[0]["random"], dtype=float))
        else:
            out.append(np.asarray([r[policy] for r in runs], dtype=float))
    return out


def aggregate(results: list[dict[str, Any]], markets: Sequence[int]) -> dict[str, Any]:
    """IQM (+ CI) per policy and P(agent > threshold) (+ CI), strata = markets."""
    from signalflow_gym.experiment.statistics import (
        probability_of_improvement_interval,
        stratified_bootstrap_interval,
    )

    out: dict[str, Any] = {"iqm": {}, "mean_by_market": {}}
    for policy in POLICIES:
        strata = scores_by_market(results, policy, markets)
        out["iqm"][policy] = stratified_bootstrap_interval(strata, "iqm").to_dict()
        out["mean_by_market"][policy] = {str(m): float(np.mean(s)) for m, s in zip(markets, strata)}
    agent = scores_by_market(results, "agent", markets)
    threshold = scores_by_market(results, "threshold", markets)
    poi = probability_of_improvement_interval(agent, threshold)
    out["poi_agent_vs_threshold"] = poi.to_dict()
    out["poi_by_market"] = {
        str(m): float(np.mean(a[:, None] > t[None, :]) + 0.5 * np.mean(a[:, None] == t[None, :]))
        for m, a, t in zip(markets, agent, threshold)
    }
    out["target_met"] = bool(poi.value >= TARGET_POI and poi.low > 0.5)
    out["agent_entries"] = {side: int(sum(r["agent_entries"][side] for r in results)) for side in ("long", "short")}
    return out


def print_summary(results: list[dict[str, Any]], summary: dict[str, Any], args: argparse.Namespace,
                  overrides: Sequence[str]) -> None:
    print(f"\nbenchmarks/learning.py: config {args.config}, markets {list(args.markets)}, seeds {list(args.seeds)}, "
          f"split {args.split}, timesteps {args.timesteps or 'as configured'}, overrides {list(overrides) or 'none'}")
    print("\nper run: total return (%) of the agent | threshold rule; agent entries long/short")
    for r in results:
        e = r["agent_entries"]
        print(f"  market {r['market']:>4} seed {r['seed']:>2}: agent {100 * r['agent']:+7.2f}  threshold "
              f"{100 * r['threshold']:+7.2f}  entries {e['long']:>3}/{e['short']:<3} ({r['selected_model']}, "
              f"{r['seconds']:.0f}s)")
    print("\nIQM total return over runs, 95% stratified bootstrap CI (strata = markets):")
    for policy, label in POLICIES.items():
        est = summary["iqm"][policy]
        by_market = "  ".join(f"{m}: {100 * v:+.2f}" for m, v in summary["mean_by_market"][policy].items())
        print(f"  {label:<16} {100 * est['value']:+7.2f}%  [{100 * est['low']:+7.2f}, {100 * est['high']:+7.2f}]"
              f"   mean by market {by_market}")
    poi = summary["poi_agent_vs_threshold"]
    per_market = "  ".join(f"{m}: {v:.2f}" for m, v in summary["poi_by_market"].items())
    print(f"\nP(agent > threshold rule) = {poi['value']:.3f}  95% CI [{poi['low']:.3f}, {poi['high']:.3f}]"
          f"   by market {per_market}")
    e = summary["agent_entries"]
    print(f"agent entries over all runs: {e['long']} long, {e['short']} short")
    print(f"target (P >= {TARGET_POI} and CI low > 0.5): {'MET' if summary['target_met'] else 'not met'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="ppo", help="experiment YAML or shipped config name (default: ppo)")
    parser.add_argument("--markets", type=int_list, default=DEFAULT_MARKETS, help="synthetic market seeds")
    parser.add_argument("--seeds", type=int_list, default=DEFAULT_SEEDS, help="training seeds (at least 2)")
    parser.add_argument("--timesteps", type=int, default=None, help="training budget (default: the config's)")
    parser.add_argument("--split", choices=("validation", "test"), default="test",
                        help="where to score (choose designs on validation; test for the final figures)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, repeatable (e.g. env.actions.mapper=per_signal)")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1,
                        help="Ray workers (1: sequential, in this process)")
    parser.add_argument("--out", type=Path, default=Path("runs/learning_benchmark"), help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier result in --out")
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error("--seeds needs at least 2 training seeds (the CIs resample runs within each market)")
    if args.timesteps is not None and args.timesteps < 1:
        parser.error("--timesteps must be a positive number of environment steps")

    from signalflow_gym.outputs import building, write_json_atomic

    run_config(args.config, args.markets[0], args.seeds[0], args.timesteps, args.overrides)  # fail fast on a bad config
    with building(args.out, kind="learning_benchmark", overwrite=args.overwrite) as tmp:
        jobs = [(m, s, str(tmp / "runs" / f"market{m}" / f"seed{s}")) for m in args.markets for s in args.seeds]
        results = _run_all(jobs, args, args.overrides)
        summary = aggregate(results, args.markets)
        record = {
            "config": args.config, "markets": list(args.markets), "seeds": list(args.seeds), "split": args.split,
            "timesteps": args.timesteps, "overrides": list(args.overrides), "runs": results, "summary": summary,
        }
        write_json_atomic(tmp / "results.json", record)
    print_summary(results, summary, args, args.overrides)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
