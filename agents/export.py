"""Roll out episodes (a trained run, or a random / threshold policy) into a parquet dataset.

    python agents/export.py --run RUN_DIR --episodes 20
    python agents/export.py --policy random --episodes 20 [--config configs/ppo.yaml]

Same as `signalflow-gym export`; the logic lives in `signalflow_gym.experiment.export`.
"""

import argparse
import sys

from signalflow_gym.cli import add_export_args, run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="agents/export.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_export_args(parser)
    sys.exit(run("export", parser.parse_args()))
