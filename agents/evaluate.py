"""Backtest a trained run on unseen bars against always-HOLD, random, threshold and buy-and-hold.

    python agents/evaluate.py --run RUN_DIR [--data bars.parquet [--signals signals.parquet]] [--split test]

Same as `signalflow-gym evaluate`; the logic lives in `signalflow_gym.experiment.evaluate`.
"""

import argparse
import sys

from signalflow_gym.cli import add_evaluate_args, run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="agents/evaluate.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_evaluate_args(parser)
    sys.exit(run("evaluate", parser.parse_args()))
