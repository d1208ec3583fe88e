"""Walk-forward evaluation on Ray: K chronological folds, train + test per fold, one combined report.

    python agents/walkforward.py --config configs/ppo.yaml --folds 4 [--scheme expanding|rolling]
        [--gap BARS] [--out DIR] [--address auto|ray://HOST:10001] [--set train.total_timesteps=20000 ...]

Exit status: 0 ok, 1 if a fold failed (the others are still reported), 2 on a bad config or
without Ray (pip install "signalflow-gym[ray]"). See `signalflow_gym.scale.walkforward`.
"""

import sys

from signalflow_gym.scale.walkforward import main

if __name__ == "__main__":
    sys.exit(main(prog="agents/walkforward.py"))
