"""Multi-seed experiments: the layout of an experiment directory, and what one holds.

`train(config, out)` with a non-empty `train.seeds` writes an *experiment directory*::

    experiment.yaml     the experiment's config as given (with its `train.seeds`)
    seed_<s>/           one complete training run per seed s, written exactly as a single run
                        of `seed_config(config, s)` (`train.seed = s`, `train.seeds = []`),
                        with its own COMPLETE.json
    evaluation/<split>/ reports written later by `evaluate` (not part of the result)
    COMPLETE.json       the experiment's marker (kind `MULTI_SEED_KIND`), written once every seed
                        is complete; it lists experiment.yaml and names the seeds in its `info`
                        (each seed folder is checked by its own marker)

`is_multi_seed(path)` says whether a folder is one (complete or not); `seed_runs(path)` lists
the seed runs of a complete one, in the order of `train.seeds`, and says precisely what is
missing from an unfinished one. What a crash leaves and what a rerun does: see
`signalflow_gym.experiment.train`.
"""

from __future__ import annotations

import re
from pathlib import Path

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.config import ExperimentConfig
from signalflow_gym.outputs import MARKER, read_marker, recover

__all__ = [
    "EVALUATION_DIR",
    "EXPERIMENT_FILE",
    "MULTI_SEED_KIND",
    "experiment_config",
    "is_multi_seed",
    "is_seed_dir_name",
    "parse_seeds",
    "seed_config",
    "seed_dir_name",
    "seed_runs",
]

#: The marker kind of a complete multi-seed experiment directory.
MULTI_SEED_KIND = "multi_seed"
#: The experiment's config, at the top of the directory.
EXPERIMENT_FILE = "experiment.yaml"
#: Where `evaluate` writes the experiment's reports (one folder per split).
EVALUATION_DIR = "evaluation"
_SEED_DIR = re.compile(r"^seed_(\d+)$")


def seed_dir_name(seed: int) -> str:
    """The folder of seed `seed`'s run inside an experiment directory: ``seed_<seed>``."""
    return f"seed_{int(seed)}"


def is_seed_dir_name(name: str) -> bool:
    """Whether `name` is a seed folder's name (``seed_<integer>``)."""
    return _SEED_DIR.match(name) is not None


def seed_config(config: ExperimentConfig, seed: int) -> ExperimentConfig:
    """The config one seed's run is trained with: `config` with ``train.seed = seed`` and no `seeds`."""
    return config.replace(train={"seed": int(seed), "seeds": []})


def parse_seeds(text: str, *, flag: str = "--seeds") -> tuple[int, ...]:
    """Seeds from a comma-separated list such as ``"0,1,2"`` (distinct non-negative integers).

    Raises `ConfigError` naming `flag` and the bad item.
    """
    items = [item.strip() for item in str(text).split(",")]
    fix = f"write e.g. {flag} 0,1,2 (distinct non-negative integers, comma-separated)"
    if not any(items):
        raise ConfigError(f"{flag} must list at least one seed, was {text!r}; {fix}")
    seeds = []
    for item in items:
        if not item.isdigit():
            raise ConfigError(f"{flag} must be a comma-separated list of non-negative integers, was {text!r} "
                              f"({item!r} is not one); {fix}")
        seeds.append(int(item))
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"{flag} must list each seed once, was {text!r} (repeated: {', '.join(map(str, repeated))}); {fix}")
    return tuple(seeds)


def experiment_config(path: str | Path) -> ExperimentConfig:
    """The config recorded at the top of an experiment directory (``experiment.yaml``)."""
    return ExperimentConfig.from_yaml(Path(path) / EXPERIMENT_FILE)


def is_multi_seed(path: str | Path) -> bool:
    """Whether `path` is a multi-seed experiment directory, complete or not.

    True when its marker is of kind `MULTI_SEED_KIND`, or (no marker yet: unfinished) when its
    ``experiment.yaml`` has a non-empty `train.seeds`. A single run's folder records its
    config with `seeds` empty, so it is never taken for one.
    """
    path = Path(path)
    if not path.is_dir():
        return False
    marker = read_marker(path)
    if marker is not None:
        return marker["kind"] == MULTI_SEED_KIND
    if not (path / EXPERIMENT_FILE).is_file():
        return False
    try:
        return bool(experiment_config(path).train.seeds)
    except ConfigError:
        return False


def seed_runs(path: str | Path) -> list[Path]:
    """The run package of every seed of the complete experiment at `path`, in `train.seeds` order.

    `ConfigError` when `path` is not an experiment directory, or when it is an unfinished one:
    the message lists the seeds that are complete and those that are missing or were
    interrupted, and says how to finish them.
    """
    path = Path(path)
    recover(path)
    if not is_multi_seed(path):
        raise ConfigError(f"{path} is not a multi-seed experiment directory (no {MARKER} of kind {MULTI_SEED_KIND!r} "
                          f"and no {EXPERIMENT_FILE} with `train.seeds`); pass a run or an experiment directory "
                          "written by `signalflow-gym train`")
    seeds = experiment_config(path).train.seeds
    done, missing = [], []
    for seed in seeds:
        folder = path / seed_dir_name(seed)
        recover(folder)
        marker = read_marker(folder) if folder.is_dir() else None
        (done if marker is not None and marker["kind"] == "train" else missing).append(seed)
    finish = (f"rerun the same `signalflow-gym train` command (e.g. --config {path / EXPERIMENT_FILE} --out {path}) "
              "to finish it")
    if missing:
        raise ConfigError(
            f"{path} is an unfinished multi-seed experiment: {len(done)} of {len(seeds)} seeds are complete "
            f"({', '.join(map(str, done)) or 'none'}); seed(s) {', '.join(map(str, missing))} are missing or were "
            f"interrupted; {finish} (add --resume to continue an interrupted seed from its checkpoint)"
        )
    if read_marker(path) is None:
        raise ConfigError(f"{path} is an unfinished multi-seed experiment: every seed is complete but the experiment's "
                          f"{MARKER} was not written (interrupted at the end); {finish}")
    return [path / seed_dir_name(seed) for seed in seeds]
