"""Walk-forward evaluation on Ray: K chronological folds (x seeds), train + test per fold, one combined report.

    python agents/walkforward.py --config configs/ppo.yaml --folds 4 [--scheme expanding|rolling]
        [--gap BARS] [--seeds 0 1 2] [--out DIR] [--address auto|ray://HOST:10001] [--sequential]
        [--set train.total_timesteps=20000 ...]

The same as ``signalflow-gym walkforward ...``. Exit status: 0 ok, 1 if a fold failed (the
others are still reported), 2 on a bad config or without Ray
(pip install "signalflow-gym[ray]"). See `signalflow_gym.scale.walkforward_run`.
"""

import sys

from signalflow_gym.cli import main

if __name__ == "__main__":
    sys.exit(main(["walkforward", *sys.argv[1:]]))
