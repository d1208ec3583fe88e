"""`signalflow-gym`: train, evaluate, export and demo from the command line.

    signalflow-gym train --config configs/ppo.yaml [--set key=value ...] [--out runs/NAME] [--resume]
                         [--seeds 0 1 2 [--num-cpus N | --address auto]]
    signalflow-gym evaluate --run RUN_OR_EXPERIMENT_DIR [--data PATH] [--signals PATH] [--split test]
    signalflow-gym export (--run RUN_DIR | --policy hold|random|threshold) --episodes N [--out DIR]
                          [--format parquet|minari --dataset-id NAMESPACE/NAME-v0]
    signalflow-gym demo [--out runs/demo] [--quick]
    signalflow-gym configs [--copy NAME [--to PATH]]

`--config` takes a YAML path or a shipped config's name (`--config ppo`); `configs` lists them.

Bad configs or data (unknown key, wrong type or range, missing, empty, non-UTF-8 or malformed
file, data too short for the episode length, overlapping splits, a model SB3 or torch cannot
build from the config, an `--out` that is a file) exit with status 2 and one line
``signalflow-gym: error: <reason>``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

PROG = "signalflow-gym"

__all__ = ["main", "build_parser", "default_run_name"]


def default_run_name(name: str, algo: str, seed: int | Sequence[int]) -> str:
    """Run directory name: ``{name}__{algo}__{seed}__{YYYYmmdd-HHMMSS}``; for a multi-seed
    experiment (a sequence of seeds) ``{name}__{algo}__seeds{s0-s1-...}__{YYYYmmdd-HHMMSS}``."""
    label = f"seeds{'-'.join(map(str, seed))}" if isinstance(seed, (list, tuple)) else str(seed)
    return f"{name}__{algo}__{label}__{time.strftime('%Y%m%d-%H%M%S')}"


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="experiment YAML, e.g. configs/ppo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.total_timesteps=2000 (repeatable)")
    p.add_argument("--out", default=None, help="run directory (default runs/{name}__{algo}__{seed}__{time})")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--seeds", nargs="+", default=None, metavar="SEED",
                   help="train one run per seed into --out/seed_<s>: 0 1 2 or 0,1,2 (a multi-seed experiment; "
                   "sets train.seeds)")
    p.add_argument("--num-cpus", type=int, default=None,
                   help="with --seeds: CPUs of a local Ray instance; > 1 runs the seeds as Ray tasks (default: one "
                        "after the other)")
    p.add_argument("--address", default=None,
                   help='with --seeds: Ray cluster to run the seeds on: "auto" or "ray://HOST:10001"')


def add_evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run package or multi-seed experiment directory (from train)")
    p.add_argument("--data", default=None, help="OHLCV CSV/parquet to evaluate on instead of the run's data")
    p.add_argument("--signals", default=None, help="signals CSV/parquet for --data (default: the run's detector)")
    p.add_argument("--timestamp-format", default=None, metavar="STRFTIME",
                   help='how a --data / --signals CSV writes its timestamps, e.g. "%%m/%%d/%%Y %%H:%%M" '
                        "(default: the run's data.timestamp_format; ISO 8601 when that is null)")
    p.add_argument("--split", default=None, choices=["train", "validation", "test", "all"],
                   help="split to evaluate on (default test; with --data default all of it)")
    p.add_argument("--out", default=None, help="report directory (default RUN/evaluation/SPLIT)")
    p.add_argument("--random-seeds", type=int, default=None, help="number of random-policy seeds (default from config)")
    p.add_argument("--allow-overlap", action="store_true", help="evaluate even on data that overlaps the training period or is not the data recorded at training")
    p.add_argument("--no-plot", action="store_true", help="do not write equity.png")
    p.add_argument("--overwrite", action="store_true", help="replace the report already in --out")


def add_export_args(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--run", default=None, help="run package directory: export its policy's episodes")
    who.add_argument("--policy", default=None, metavar="BASELINE",
                     help="a baseline policy instead: hold, random or threshold (`experiment.baselines.POLICY_BASELINES`)")
    p.add_argument("--episodes", type=int, required=True, help="number of episodes")
    p.add_argument("--config", default=None, help="experiment YAML for --policy (default: built-in defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of --config (repeatable)")
    p.add_argument("--split", default="train", choices=["train", "validation", "test"], help="data split (default train)")
    p.add_argument("--seed", type=int, default=0, help="seed of the episode windows and the random policy")
    p.add_argument("--out", default=None, help="dataset directory (default RUN/episodes or runs/episodes_POLICY); "
                   "with --format minari the Minari datasets folder (default $MINARI_DATASETS_PATH or ~/.minari/datasets)")
    p.add_argument("--overwrite", action="store_true", help="replace the dataset already in --out")
    p.add_argument("--format", default="parquet", choices=["parquet", "minari"],
                   help="parquet (our layout, default) or minari (a Minari dataset; needs the minari extra)")
    p.add_argument("--dataset-id", default=None, help="Minari dataset id for --format minari, e.g. signalflow/ppo-v0")


def add_demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="demo directory (default runs/demo)")
    p.add_argument("--quick", action="store_true", help="5,000 training steps: a smoke run, no learning expected")
    p.add_argument("--config", default=None, help="experiment YAML or shipped config name (default: demo)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--num-cpus", type=int, default=None,
                   help="> 1: train the seeds as Ray tasks on a local Ray instance of that many CPUs")


def add_configs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--copy", default=None, metavar="NAME", help="copy the shipped config NAME out, to edit it")
    p.add_argument("--to", default=".", metavar="PATH", help="with --copy: a file or folder (default: the current folder)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Train, evaluate and export SB3 agents on SignalFlow-v0.")
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{train,evaluate,export,demo,configs,walkforward,sweep}")
    add_train_args(sub.add_parser("train", help="train an agent; writes a run package"))
    add_evaluate_args(sub.add_parser("evaluate", help="backtest a run against baselines; writes a report"))
    add_export_args(sub.add_parser("export", help="roll out episodes; writes a parquet (or Minari) dataset"))
    add_demo_args(sub.add_parser("demo", help="train 3 seeds -> evaluate -> export on the synthetic market"))
    add_configs_args(sub.add_parser("configs", help="list the shipped configs, or copy one out to edit"))
    from signalflow_gym.scale.sweep import add_sweep_args
    from signalflow_gym.scale.walkforward import add_walkforward_args

    add_walkforward_args(sub.add_parser("walkforward", help="walk-forward folds trained and evaluated as Ray tasks"))
    add_sweep_args(sub.add_parser("sweep", help="Ray Tune sweep over config overrides and seeds"))
    return parser


def run_train(args: argparse.Namespace) -> Path:
    from signalflow_gym.experiment import ExperimentConfig, train
    from signalflow_gym.experiment.preflight import check_model_builds

    from signalflow.core.errors import ConfigError
    from signalflow_gym.experiment.seeds import parse_seeds

    config = ExperimentConfig.from_yaml(args.config, args.overrides)
    if args.seeds is not None:
        config = config.replace(train={"seeds": list(parse_seeds(",".join(args.seeds)))})
    multi = bool(config.train.seeds)
    if not multi and (args.num_cpus is not None or args.address is not None):
        raise ConfigError("--num-cpus and --address are for a multi-seed experiment; add --seeds 0,1,2 "
                          "(or set `train.seeds`)")
    check_model_builds(config)  # SB3 / torch refusals named by config key, before any folder is made
    label = config.train.seeds if multi else config.train.seed
    out = args.out or str(Path("runs") / default_run_name(config.name, config.train.algo, label))
    run_dir = train(config, out, resume=args.resume, progress=not args.no_progress, overwrite=args.overwrite,
                    num_cpus=args.num_cpus, address=args.address)
    print(f"{'multi-seed experiment' if multi else 'run package'}: {run_dir}")
    return run_dir


def run_evaluate(args: argparse.Namespace) -> dict:
    from signalflow.core.errors import ConfigError
    from signalflow_gym.experiment import evaluate, report_table
    from signalflow_gym.experiment.config import DataSpec
    from signalflow_gym.experiment.data import load_data
    from signalflow_gym.experiment.evaluate import load_experiment

    from signalflow_gym.experiment.seeds import experiment_config, is_multi_seed

    data = None
    if args.data is not None:
        config = experiment_config(args.run) if is_multi_seed(args.run) else load_experiment(args.run)[0]
        csv = any(str(p).lower().endswith(".csv") for p in (args.data, args.signals) if p)
        if args.timestamp_format is not None and not csv:
            raise ConfigError("--timestamp-format says how a CSV writes its timestamps; --data and --signals are "
                              "not CSV files, drop it")
        given = args.timestamp_format if args.timestamp_format is not None else config.data.timestamp_format
        spec = DataSpec(source=args.data, signals=args.signals, detector=config.data.detector,
                        detector_kwargs=config.data.detector_kwargs, fractions=config.data.fractions,
                        timestamp_format=given if csv else None)
        data = load_data(spec)
    elif args.signals is not None or args.timestamp_format is not None:
        raise ConfigError("--signals and --timestamp-format need --data (the bars they belong to)")
    report = evaluate(args.run, data=data, split=args.split, out_dir=args.out, n_random_seeds=args.random_seeds,
                      plot=not args.no_plot, allow_overlap=args.allow_overlap, overwrite=args.overwrite)
    from signalflow_gym.experiment.evaluate import headline

    print(report_table(report))
    print("")
    for line in headline(report):
        print(line)
    print(f"report: {report['files']['report_md']}")
    return report


def run_export(args: argparse.Namespace) -> Path:
    from signalflow.core.errors import ConfigError
    from signalflow_gym.experiment import ExperimentConfig, export_episodes
    from signalflow_gym.experiment.seeds import is_multi_seed, seed_dir_name

    if args.run is not None and is_multi_seed(args.run):
        seeds = ExperimentConfig.from_yaml(Path(args.run) / "experiment.yaml").train.seeds
        raise ConfigError(f"--run {args.run} is a multi-seed experiment; export the episodes of one seed's run, "
                          f"e.g. --run {Path(args.run) / seed_dir_name(seeds[0])}")
    config = None
    if args.config is not None:
        config = ExperimentConfig.from_yaml(args.config, args.overrides)
    elif args.overrides:
        config = ExperimentConfig.from_dict({}, args.overrides)
    if args.format == "minari":
        from signalflow_gym.experiment.minari_export import export_minari

        if not args.dataset_id:
            raise ConfigError("--format minari needs --dataset-id (a Minari id like signalflow/name-v0)")
        path = export_minari(args.dataset_id, run_dir=args.run, policy=args.policy, episodes=args.episodes,
                             config=config, seed=args.seed, split=args.split, overwrite=args.overwrite,
                             datasets_path=args.out)
        print(f"minari dataset: {args.dataset_id} in {path}")
        return path
    if args.dataset_id is not None:
        raise ConfigError("--dataset-id is for --format minari")
    if args.run is not None:
        out = args.out or str(Path(args.run) / "episodes")
    else:
        out = args.out or str(Path("runs") / f"episodes_{args.policy}")
    path = export_episodes(out, run_dir=args.run, policy=args.policy, episodes=args.episodes, config=config,
                           seed=args.seed, split=args.split, overwrite=args.overwrite)
    print(f"episode dataset: {path}")
    return path


def run_demo_cmd(args: argparse.Namespace) -> dict:
    from signalflow_gym.experiment import run_demo

    return run_demo(args.out, quick=args.quick, config=args.config, progress=not args.no_progress,
                    num_cpus=args.num_cpus)


def run_configs_cmd(args: argparse.Namespace) -> dict:
    from signalflow_gym.shipped import copy_config, describe, shipped_configs

    if args.copy is not None:
        target = copy_config(args.copy, args.to)
        print(f"copied {args.copy} -> {target}")
        return {"copied": str(target)}
    configs = shipped_configs()
    width = max(len(name) for name in configs)
    for name, path in configs.items():
        print(f"{name:<{width}}  {describe(path)}")
    print(f"(use --config NAME, or `{PROG} configs --copy NAME` to edit one)")
    return {"configs": list(configs)}


def run_walkforward_cmd(args: argparse.Namespace) -> dict:
    from signalflow_gym.scale.walkforward import run_walkforward

    return run_walkforward(args)


def run_sweep_cmd(args: argparse.Namespace) -> dict:
    from signalflow_gym.scale.sweep import run_sweep

    return run_sweep(args)


COMMANDS = {
    "train": run_train,
    "evaluate": run_evaluate,
    "export": run_export,
    "demo": run_demo_cmd,
    "configs": run_configs_cmd,
    "walkforward": run_walkforward_cmd,
    "sweep": run_sweep_cmd,
}

#: Exit status of a command that ran: a failed walk-forward fold is 1, and so is a failed sweep
#: trial or a sweep with no ranked trial (the reports are written in every case).
EXIT_CODES = {
    "walkforward": lambda report: 1 if report["n_failed"] else 0,
    "sweep": lambda report: 0 if report["best"] and not report.get("n_failed") else 1,
}


def fail(message: str) -> int:
    """Print ``signalflow-gym: error: <message>`` on one line to stderr; return exit status 2."""
    line = " ".join(str(message).split())
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return 2


def check_out_path(out: str | None) -> str | None:
    """Why `--out` cannot be an output folder (it, or a folder above it, is a file), or None."""
    if out is None:
        return None
    path = Path(out)
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                where = "is a file" if p == path else f"is inside {p}, which is a file"
                return f"--out {out} {where}; an output folder is needed, choose another --out"
            return None
    return None


def run(command: str, args: argparse.Namespace) -> int:
    """Run a command; user errors (config, data, files) become one line on stderr and status 2."""
    from signalflow.core.errors import ConfigError, DataValidationError

    problem = check_out_path(getattr(args, "out", None))
    if problem is not None:
        return fail(problem)
    try:
        result = COMMANDS[command](args)
    except (ConfigError, DataValidationError) as exc:
        return fail(str(exc))
    except FileNotFoundError as exc:  # (raised by the OS: strerror and filename; by our code: a message)
        return fail(f"{exc.strerror}: {exc.filename}" if exc.strerror else str(exc) or "file not found")
    except (FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        if not exc.strerror and str(exc):
            return fail(str(exc))
        return fail(f"{exc.strerror or type(exc).__name__}: {exc.filename}; check the path, or choose another")
    except UnicodeDecodeError as exc:
        return fail(f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8")
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    code_of = EXIT_CODES.get(command)
    return code_of(result) if code_of is not None else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args.command, args)


if __name__ == "__main__":
    sys.exit(main())
