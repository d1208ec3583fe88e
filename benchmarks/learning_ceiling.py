"""Reference rules vs the threshold rule on the synthetic markets: hand-written policies, market
by market, with no training.

`benchmarks/learning.py` asks whether PPO beats the threshold rule (enter the top signal when
its probability exceeds 0.7, exit by TP/SL) in at least 75% of runs. This script gives a reference
point for that: it backtests rules that know more than the agent is told, through the same env
wiring and bridge as the evaluation's baselines (`configs/ppo.yaml` with the per-signal action
mapper, so a rule can close one position; the threshold rule trades identically under both
mappers), on the validation and test splits of `--markets` synthetic markets:

- ``threshold@p``: the threshold rule at another cut-off `p` (does 0.7 leave money on the table?);
- ``horizon exit``: the threshold rule that also closes each position once it has been held
  for the market's planted horizon (`data.synthetic.horizon`, 20 bars): it knows when the
  signal's edge has run out, which the agent must discover.

Printed: each rule's total return next to the threshold rule's on every market and split,
then per rule the share of (market, split) cases where it beats the threshold rule with its
95% Clopper-Pearson interval (`scipy.stats.binomtest`). A rule's share is a lower bound on what a
policy can reach, not an upper one, and it counts (market, split) cases, where `learning.py`
averages per-market shares of seeds. The horizon-exit rule makes one decision per bar, so a due
close pre-empts that bar's entry.

    python benchmarks/learning_ceiling.py [--markets 101,202,303,...] [--splits validation,test]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.stats

from learning import int_list  # this folder's learning.py (the script's folder is on sys.path)
from signalflow.strategy.runner import MarketData
from signalflow_gym.actions import make_action_mapper
from signalflow_gym.bridge import RLTradingModel
from signalflow_gym.experiment import ExperimentConfig
from signalflow_gym.experiment.baselines import ThresholdActionPolicy, backtest_model, baseline_result
from signalflow_gym.experiment.data import load_data, split_data
from signalflow_gym.features import FeatureBuilder

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "ppo.yaml"
DEFAULT_MARKETS = (101, 202, 303, 404, 505, 606, 707, 808, 909, 1001, 1102, 1203)
OTHER_THRESHOLDS = (0.6, 0.65, 0.75, 0.8)


class HorizonExitPolicy:
    """The threshold rule (`ThresholdActionPolicy`) that first closes any position held for
    `horizon` bars or more (``close_position{m}`` when ``position{m}.bars_held`` says so)."""

    def __init__(self, feature_names: Sequence[str], action_names: Sequence[str], *, threshold: float,
                 horizon: int, bars_held_scale: float) -> None:
        self.entry = ThresholdActionPolicy(feature_names, action_names, threshold)
        self.limit = (horizon - 0.5) / bars_held_scale  # the feature is bars held / scale
        m, self.closes = 0, []
        while f"close_position{m}" in action_names and f"position{m}.bars_held" in feature_names:
            self.closes.append((list(action_names).index(f"close_position{m}"), list(feature_names).index(f"position{m}.bars_held")))
            m += 1

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        for action, feature in self.closes:
            if mask[action] and obs[feature] >= self.limit:
                return action
        return self.entry(obs, mask)


def cases(markets: Sequence[int], splits: Sequence[str]) -> list[dict[str, Any]]:
    """Every rule's total return on every (market, split)."""
    max_positions = ExperimentConfig.from_yaml(CONFIG).env.sizing.max_positions  # every position gets features
    rows = []
    for market in markets:
        config = ExperimentConfig.from_yaml(CONFIG, [
            f"data.synthetic.seed={market}", "env.actions.mapper=per_signal",
            f"env.features.max_position_features={max_positions}",
        ])
        env, threshold = config.env, config.evaluation.threshold
        feature_names = FeatureBuilder(env.features, env.sizing).feature_names
        action_names = make_action_mapper(env).action_names
        horizon = int(config.data.synthetic.to_dict()["horizon"])
        if horizon >= env.features.bars_held_scale:  # the feature is capped at 1: the rule could never see it
            raise SystemExit(f"the planted horizon ({horizon} bars) must be below env.features.bars_held_scale "
                             f"({env.features.bars_held_scale}) for the horizon-exit rule to see it")
        raw, signals = load_data(config.data)
        split = split_data(config.data, raw, signals, env=env)
        for name in splits:
            part = getattr(split, name)
            market_data = MarketData.build(part.raw_data, part.signals)
            returns = {"threshold": baseline_result("threshold", env, market_data, threshold=threshold).summary["total_return"]}
            for cut in OTHER_THRESHOLDS:
                returns[f"threshold@{cut}"] = baseline_result("threshold", env, market_data, threshold=cut).summary["total_return"]
            policy = HorizonExitPolicy(feature_names, action_names, threshold=threshold, horizon=horizon,
                                       bars_held_scale=env.features.bars_held_scale)
            returns["horizon exit"] = backtest_model(env, RLTradingModel(policy, env), market_data).summary["total_return"]
            rows.append({"market": market, "split": name, "returns": returns})
            print(f"market {market:>5} {name:<10} " + "  ".join(f"{k} {v:+.3f}" for k, v in returns.items()), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int_list, default=DEFAULT_MARKETS)
    parser.add_argument("--splits", type=lambda s: tuple(v for v in s.split(",") if v), default=("validation", "test"))
    args = parser.parse_args()
    if not args.splits:
        parser.error("--splits needs at least one of train, validation, test")
    for name in args.splits:
        if name not in ("train", "validation", "test"):
            parser.error(f"--splits: unknown split {name!r}; use train, validation, test")
    rows = cases(args.markets, args.splits)
    print(f"\nshare of {len(rows)} (market, split) cases beating the threshold rule [95% Clopper-Pearson]:")
    for rule in rows[0]["returns"]:
        if rule == "threshold":
            continue
        wins = sum(r["returns"][rule] > r["returns"]["threshold"] for r in rows)
        ci = scipy.stats.binomtest(wins, len(rows)).proportion_ci(0.95)
        mean_gap = np.mean([r["returns"][rule] - r["returns"]["threshold"] for r in rows])
        print(f"  {rule:<16} {wins:>2}/{len(rows)} = {wins / len(rows):.2f} [{ci.low:.2f}, {ci.high:.2f}]"
              f"   mean gap {mean_gap:+.2%}")


if __name__ == "__main__":
    main()
