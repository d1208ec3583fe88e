"""Train an SB3 agent on SignalFlow-v0 and write a run package.

    python agents/train.py --config configs/ppo.yaml [--set train.total_timesteps=20000 ...] [--out runs/NAME] [--resume]

Same as `signalflow-gym train`; the logic lives in `signalflow_gym.experiment.train`.
"""

import argparse
import sys

from signalflow_gym.cli import add_train_args, run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="agents/train.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_args(parser)
    sys.exit(run("train", parser.parse_args()))
