"""Per-bar cost of `RLTradingModel.decide()` against the policy's own `predict()`.

Builds a PPO policy on SignalFlow-v0 (untrained: cost does not depend on the
weights), opens bars of a backtest and times, on the same contexts:
`predict(obs)` alone, and `decide(context)` (features + normalisation + mask
+ predict + action mapping). Target (bridge issue): decide < 2x predict.

    python benchmarks/bridge_overhead.py [--bars 500]
"""

from __future__ import annotations

import argparse
import time

import torch
from stable_baselines3 import PPO

from signalflow_gym import EnvConfig, SignalFlowEnv
from signalflow_gym.bridge import RLTradingModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = EnvConfig.from_dict({"actions": {"mapper": "per_signal"}, "data": {"signal_rate": 0.1}})
    env = SignalFlowEnv(config=config)
    policy = PPO("MlpPolicy", env, seed=0, verbose=0)
    bridge = RLTradingModel(policy, config)
    run = bridge.make_runner().start(env.market, start=0, end=args.bars)
    contexts = []
    while (ctx := run.begin_bar()) is not None:
        contexts.append(ctx)
        run.end_bar()
    observations = [bridge.observation(c) for c in contexts]

    def timed(fn, items):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        return (time.perf_counter() - t0) / len(items)

    # Interleaved repeats, best of each: the machine's background load hits both alike.
    predict = decide = float("inf")
    for _ in range(5):
        predict = min(predict, timed(lambda obs: policy.predict(obs, deterministic=True), observations))
        decide = min(decide, timed(bridge.decide, contexts))
    print(f"bars: {len(contexts)} (signal rate 0.1, per_signal mapper)")
    print(f"policy.predict: {predict * 1e6:8.1f} us/bar")
    print(f"bridge.decide : {decide * 1e6:8.1f} us/bar  (overhead {(decide - predict) * 1e6:.1f} us)")
    print(f"ratio decide/predict: {decide / predict:.2f}x (target < 2x: {'met' if decide / predict < 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
