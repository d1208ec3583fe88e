"""Hyperparameter / seed sweep on Ray Tune: train + validation backtest per trial, ranked; best package kept.

    python agents/sweep.py --config configs/ppo.yaml --space configs/sweep.yaml [--trials N] [--asha]
        [--out DIR] [--address auto|ray://HOST:10001] [--set train.total_timesteps=20000 ...]

Exit status: 0 when at least one trial was ranked (failed trials are listed with their error),
1 if every trial failed, 2 on a bad config / space or without Ray
(pip install "signalflow-gym[ray]"). See `signalflow_gym.scale.sweep`.
"""

import sys

from signalflow_gym.scale.sweep import main

if __name__ == "__main__":
    sys.exit(main(prog="agents/sweep.py"))
