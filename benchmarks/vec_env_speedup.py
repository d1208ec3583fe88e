"""Training throughput of PPO on `SignalFlowEnv` with 1 vs 2 environments.

Settings (each timed with `model.learn`, after the envs and the model exist, so process
start-up is reported separately):

- ``dummy x1``: `DummyVecEnv` with one env (the default `train.n_envs: 1`);
- ``dummy x2``: `DummyVecEnv` with two envs in one process (no parallelism; batching only);
- ``subproc x2``: `SubprocVecEnv` with two envs, start method "spawn" (`train.vec_env: subproc`).

PPO uses `configs/ppo.yaml` (`n_steps` per env 1024, batch 128, 10 epochs, MLP 64x64,
`torch_threads: 1`), so one rollout is 1024 x n_envs steps; the budget is a whole number of
rollouts for every setting. Prints env steps per second (end to end, i.e. rollouts plus
gradient updates) and the speed-up over ``dummy x1``; the best of `--repeats` runs.

    python benchmarks/vec_env_speedup.py [--steps 16384] [--repeats 2] [--config configs/ppo.yaml]
"""

from __future__ import annotations

import argparse
import os
import time


def measure(config_path: str, n_envs: int, vec_env: str, steps: int) -> tuple[float, float, float]:
    """`(steps_per_s_learn, rollout_steps_per_s, startup_s)` of one setting."""
    import torch
    from stable_baselines3 import PPO

    from signalflow_gym.experiment import ExperimentConfig, load_data, split_data
    from signalflow_gym.experiment.envs import make_vec_env

    config = ExperimentConfig.from_yaml(config_path)
    tc = config.train
    raw, signals = load_data(config.data)
    split = split_data(config.data, raw, signals, env=config.env)
    torch.set_num_threads(tc.torch_threads)
    t0 = time.perf_counter()
    venv = make_vec_env(split.train.raw_data, split.train.signals, config.env, n_envs=n_envs, vec_env=vec_env)
    venv.reset()
    startup = time.perf_counter() - t0
    try:
        # env stepping alone (random actions), the part that parallel envs speed up
        n_roll = 4096
        t0 = time.perf_counter()
        import numpy as np

        rng = np.random.default_rng(0)
        for _ in range(n_roll // n_envs):
            venv.step(rng.integers(0, venv.action_space.n, size=n_envs))
        rollout = n_roll / (time.perf_counter() - t0)
        venv.reset()
        model = PPO(tc.policy_name, venv, seed=tc.seed, device="cpu", verbose=0, **tc.algo_kwargs)
        t0 = time.perf_counter()
        model.learn(total_timesteps=steps)
        learn = model.num_timesteps / (time.perf_counter() - t0)
    finally:
        venv.close()
    return learn, rollout, startup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ppo.yaml")
    parser.add_argument("--steps", type=int, default=16_384, help="PPO steps per run (a multiple of 2048)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"CPUs: {os.cpu_count()}; PPO {args.steps} steps per run; best of {args.repeats}")
    settings = [("dummy x1", 1, "dummy"), ("dummy x2", 2, "dummy"), ("subproc x2", 2, "subproc")]
    best: dict[str, tuple[float, float, float]] = {}
    for _ in range(args.repeats):
        for name, n, kind in settings:
            r = measure(args.config, n, kind, args.steps)
            old = best.get(name)
            best[name] = r if old is None else (max(old[0], r[0]), max(old[1], r[1]), min(old[2], r[2]))
            print(f"  {name:11s} learn {r[0]:8.0f} steps/s   env-only {r[1]:8.0f} steps/s   start-up {r[2]:5.2f} s", flush=True)
    base = best["dummy x1"]
    print("\n| setting | PPO steps/s (rollout + update) | speed-up | env steps/s (random actions) | speed-up | start-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, _, _ in settings:
        learn, roll, start = best[name]
        print(f"| {name} | {learn:,.0f} | {learn / base[0]:.2f}x | {roll:,.0f} | {roll / base[1]:.2f}x | {start:.2f} s |")


if __name__ == "__main__":
    main()
