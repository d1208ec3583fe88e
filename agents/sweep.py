"""Hyperparameter / seed sweep on Ray Tune: train + validation backtest per trial, ranked; best package kept.

    python agents/sweep.py --config configs/ppo.yaml --space configs/sweep.yaml [--trials N] [--asha]
        [--seeds 0 1] [--out DIR] [--address auto|ray://HOST:10001] [--set train.total_timesteps=20000 ...]

The same as ``signalflow-gym sweep ...``. Exit status: 0 when at least one trial was ranked
(failed trials are listed with their error), 1 if every trial failed, 2 on a bad config /
space or without Ray (pip install "signalflow-gym[ray]"). results.md carries the Deflated
Sharpe Ratio of the best trial and the PBO of the search. See `signalflow_gym.scale.sweep_run`.
"""

import sys

from signalflow_gym.cli import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))
