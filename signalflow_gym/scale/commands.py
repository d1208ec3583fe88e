"""The ``walkforward`` and ``sweep`` commands: their options and what each runs.

`signalflow_gym.cli` (``signalflow-gym walkforward|sweep``, and `agents/walkforward.py` /
`agents/sweep.py`, which call it) adds these options to its sub-commands and runs
`run_walkforward` / `run_sweep` under its one error handling (a user error exits 2 with one
line). Nothing here parses the command line itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from signalflow_gym.scale.folds import SCHEMES

__all__ = ["add_walkforward_args", "run_walkforward", "add_sweep_args", "run_sweep"]


def _common_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.total_timesteps=2000 (repeatable)")
    p.add_argument("--out", default=None, help=f"output directory (default runs/{what}_{{name}}__{{time}})")
    p.add_argument("--address", default=None,
                   help='Ray cluster: "auto" (this machine\'s cluster) or "ray://HOST:10001"; default a local Ray')
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default all)")


def _config_file(given: str) -> str:
    """`--config` as a file: a shipped name or a YAML path as given, or the `experiment.yaml` of a
    trained experiment directory (`train --seeds`, or a single run), so that walk-forward and
    sweeps take the config, seeds included, that trained it."""
    from signalflow.core.errors import ConfigError
    from signalflow_gym.experiment.seeds import EXPERIMENT_FILE

    folder = Path(given)
    if folder.is_dir():
        if not (folder / EXPERIMENT_FILE).is_file():
            raise ConfigError(f"--config {given} is a directory without {EXPERIMENT_FILE}; give an experiment YAML, "
                              "a shipped config name, or a directory that `signalflow-gym train` wrote")
        return str(folder / EXPERIMENT_FILE)
    return given


def _seeds(args: argparse.Namespace) -> list[int] | None:
    """``--seeds`` as a list of seeds (``0 1 2`` or ``0,1,2``, as `train --seeds` takes them), or None."""
    from signalflow_gym.experiment.seeds import parse_seeds

    given = getattr(args, "seeds", None)
    return None if given is None else list(parse_seeds(",".join(given)))


def _seed_overrides(args: argparse.Namespace) -> list[str]:
    """``--seeds 0 1 2`` as the override ``train.seeds=[0, 1, 2]`` (after the --set ones)."""
    seeds = _seeds(args)
    return [*args.overrides, *([f"train.seeds=[{', '.join(str(s) for s in seeds)}]"] if seeds else [])]


def add_walkforward_args(p: argparse.ArgumentParser) -> None:
    """The options of ``walkforward``."""
    p.add_argument("--config", required=True, help="experiment YAML (e.g. configs/ppo.yaml) or a directory `train` wrote (its experiment.yaml, seeds included)")
    p.add_argument("--folds", type=int, required=True, help="number of folds K")
    p.add_argument("--scheme", choices=SCHEMES, default="expanding",
                   help="expanding (train from the first bar) or rolling (a fixed-length window); default expanding")
    p.add_argument("--gap", type=int, default=0, help="bars left out between each training and test window (default 0)")
    p.add_argument("--test-bars", type=int, default=None, help="bars per test window (default bars // (K + 1))")
    p.add_argument("--train-bars", type=int, default=None, help="rolling window length (default: the first fold's)")
    p.add_argument("--seeds", nargs="+", default=None, metavar="SEED",
                   help="train every fold once per seed (sets train.seeds); reports give CIs over folds x seeds")
    _common_args(p, "walkforward")
    p.add_argument("--sequential", action="store_true", help="run the folds one after another in this process, "
                   "without Ray")
    p.add_argument("--random-seeds", type=int, default=None, help="random-policy seeds per fold (default from config)")
    p.add_argument("--no-plot", action="store_true", help="no plots")
    p.add_argument("--overwrite", action="store_true", help="replace a walk-forward already in --out")


def run_walkforward(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``walkforward`` with parsed `args`; print the folds table; return the report."""
    from signalflow.core.errors import ConfigError
    from signalflow_gym.experiment.config import ExperimentConfig
    from signalflow_gym.scale.ray_utils import require_ray
    from signalflow_gym.scale.walkforward_run import walk_forward

    if getattr(args, "sequential", False):
        if args.num_cpus is not None or args.address is not None:
            raise ConfigError("--num-cpus and --address set up Ray, which --sequential does not use; drop them, "
                              "or drop --sequential to run the folds as Ray tasks")
    else:
        require_ray()
    config = ExperimentConfig.from_yaml(_config_file(args.config), _seed_overrides(args))
    out = args.out or str(Path("runs") / f"walkforward_{config.name}__{time.strftime('%Y%m%d-%H%M%S')}")
    report = walk_forward(config, out, folds=args.folds, scheme=args.scheme, gap=args.gap, test_bars=args.test_bars,
                          train_bars=args.train_bars, address=args.address, num_cpus=args.num_cpus,
                          backend="sequential" if getattr(args, "sequential", False) else "ray",
                          n_random_seeds=args.random_seeds, plot=not args.no_plot,
                          log=lambda m: print(m, file=sys.stderr, flush=True), overwrite=args.overwrite,
                          progress=True)
    print(Path(report["files"]["folds_md"]).read_text())
    print(f"walk-forward report: {report['files']['folds_md']}")
    return report


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    """The options of ``sweep``."""
    p.add_argument("--config", required=True, help="experiment YAML (e.g. configs/ppo.yaml) or a directory `train` wrote (its experiment.yaml, seeds included)")
    p.add_argument("--space", required=True, help="search space YAML, e.g. configs/sweep.yaml")
    p.add_argument("--trials", type=int, default=None,
                   help="number of trials (grid: a random subset if fewer than the grid; random: draws)")
    p.add_argument("--asha", action="store_true", help="ASHA early stopping (trials train in --rungs steps)")
    p.add_argument("--rungs", type=int, default=None, help="training steps per trial with --asha (default 3)")
    p.add_argument("--metric", default=None, help="validation metric to rank by (overrides the space file's)")
    p.add_argument("--mode", default=None, choices=["max", "min"], help="max or min (overrides the space file's)")
    p.add_argument("--seeds", nargs="+", default=None, metavar="SEED",
                   help="seeds crossed with the space (overrides the space file's `seeds`)")
    _common_args(p, "sweep")
    p.add_argument("--random-seeds", type=int, default=None, help="random-policy seeds per validation report")
    p.add_argument("--overwrite", action="store_true", help="replace a sweep already in --out")


def run_sweep(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``sweep`` with parsed `args`; print the results table; return the report."""
    from signalflow.core.errors import ConfigError
    from signalflow_gym.experiment.config import ExperimentConfig
    from signalflow_gym.scale.ray_utils import require_tune
    from signalflow_gym.scale.sweep_run import tune_sweep
    from signalflow_gym.scale.trials import load_space

    require_tune()
    if args.rungs is not None and not args.asha:
        raise ConfigError(f"--rungs {args.rungs} is the number of ASHA steps per trial; add --asha, or drop --rungs "
                          "(without ASHA every trial trains its whole budget at once)")
    config = ExperimentConfig.from_yaml(_config_file(args.config), args.overrides)
    space = load_space(args.space)
    changes = {k: v for k, v in (("metric", args.metric), ("mode", args.mode),
                                 ("seeds", _seeds(args))) if v is not None}
    if changes:
        space = space.replace(source=args.space, **changes)
    out = args.out or str(Path("runs") / f"sweep_{config.name}__{time.strftime('%Y%m%d-%H%M%S')}")
    report = tune_sweep(config, space, out, trials=args.trials, asha=args.asha,
                        rungs=3 if args.rungs is None else args.rungs, address=args.address,
                        num_cpus=args.num_cpus, n_random_seeds=args.random_seeds, verbose=1,
                        log=lambda m: print(m, file=sys.stderr, flush=True), overwrite=args.overwrite)
    print(Path(report["files"]["results_md"]).read_text())
    print(f"results: {report['files']['results_md']}" + (f"; best run package: {report['files']['best']}"
                                                         if report["best"] else ""))
    return report
