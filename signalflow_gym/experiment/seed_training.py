"""Multi-seed experiments: train one run per seed of `train.seeds` into one experiment directory.

The layout is `signalflow_gym.experiment.seeds`'s; `signalflow_gym.experiment.train.train` calls
`train_experiment` for a config with seeds, handing it the single-run trainer. What a crash
leaves and what a rerun does: see `signalflow_gym.experiment.train`.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

import polars as pl

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.checkpoints import latest_checkpoint
from signalflow_gym.experiment.config import ExperimentConfig
from signalflow_gym.experiment.seeds import (
    EVALUATION_DIR,
    EXPERIMENT_FILE,
    MULTI_SEED_KIND,
    is_seed_dir_name,
    seed_config,
    seed_dir_name,
)
from signalflow_gym.outputs import (
    MARKER,
    is_temporary,
    kind_name,
    mark_complete,
    new_sibling,
    read_marker,
    recover,
    swap_in,
)

__all__ = ["config_differences", "train_experiment"]

Data = tuple[pl.DataFrame, pl.DataFrame]
#: The single-run trainer (`train` for a config without seeds).
TrainRun = Callable[..., Path]


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], *, prefix: str = "") -> list[str]:
    """The dotted keys (e.g. ``train.total_timesteps``) whose values differ between two config dicts."""
    keys = sorted(set(old) | set(new), key=str)
    out: list[str] = []
    for key in keys:
        a, b, name = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += config_differences(a, b, prefix=f"{name}.")
        elif a != b:
            out.append(name)
    return out


def _check_experiment_dir(out_dir: Path, config: ExperimentConfig, *, resume: bool, overwrite: bool) -> str:
    """Whether `out_dir` may receive the experiment: "new" (absent or empty), "replace" (an experiment,
    with `overwrite`) or "continue" (an unfinished one with the same config, or a complete one with
    `resume`). Every other case is a `ConfigError` naming what is there and the flag that helps."""
    if resume and overwrite:
        raise ConfigError("pass either --resume (continue the experiment's seeds) or --overwrite (train it again), "
                          "not both")
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise ConfigError(f"output directory {out_dir} is a file; choose another --out")
    entries = {p.name for p in out_dir.iterdir() if not is_temporary(p.name)} if out_dir.is_dir() else set()
    if not entries:
        return "new"
    marker = read_marker(out_dir)
    if marker is not None and marker["kind"] != MULTI_SEED_KIND:
        raise ConfigError(f"output directory {out_dir} holds {kind_name(marker['kind'], article=True)}, not a "
                          "multi-seed experiment; choose another --out")
    foreign = sorted(n for n in entries if n not in (EXPERIMENT_FILE, MARKER, EVALUATION_DIR) and not is_seed_dir_name(n))
    if foreign:
        raise ConfigError(f"output directory {out_dir} holds files that are not from a multi-seed experiment "
                          f"({', '.join(foreign[:5])}); choose another --out")
    if overwrite:
        return "replace"
    if not (out_dir / EXPERIMENT_FILE).is_file():
        raise ConfigError(f"output directory {out_dir} holds seed folders but no {EXPERIMENT_FILE}; pass --overwrite "
                          "to train the experiment again, or choose another --out")
    old = ExperimentConfig.from_yaml(out_dir / EXPERIMENT_FILE).to_dict()
    new = config.to_dict()
    diff = [k for k in config_differences(old, new) if not (resume and k == "train.total_timesteps")]
    if diff:
        allowed = "only `train.total_timesteps` may change on --resume; " if resume else ""
        raise ConfigError(f"output directory {out_dir} holds a multi-seed experiment with another config (it differs "
                          f"in {', '.join(diff)}); {allowed}pass --overwrite to train it again, or choose another --out")
    if marker is not None and not resume:
        raise ConfigError(f"output directory {out_dir} already holds a complete multi-seed experiment (completed "
                          f"{marker.get('completed_at')}); pass --resume to continue its seeds (with a larger "
                          "`train.total_timesteps`), --overwrite to train it again, or choose another --out")
    return "continue"


def _plan_seeds(work: Path, out_dir: Path, config: ExperimentConfig, *, resume: bool) -> list[tuple[int, bool]]:
    """``(seed, resume it)`` for every seed still to train in `work`; complete seeds trained with their
    config are skipped. Refuses, before anything is trained, seeds that need --resume."""
    jobs: list[tuple[int, bool]] = []
    blocked: list[str] = []
    for seed in config.train.seeds:
        folder = work / seed_dir_name(seed)
        recover(folder)
        if not folder.is_dir():
            jobs.append((seed, False))
            continue
        marker = read_marker(folder)
        if marker is not None and marker["kind"] == "train" and (folder / EXPERIMENT_FILE).is_file():
            recorded = ExperimentConfig.from_yaml(folder / EXPERIMENT_FILE).to_dict()
            diff = config_differences(recorded, seed_config(config, seed).to_dict())
            if not diff:
                continue  # complete, as asked
            if resume:
                jobs.append((seed, True))
            else:
                blocked.append(f"{out_dir / folder.name} is complete but was trained with another "
                               f"{', '.join(diff)}")
        elif latest_checkpoint(folder) is not None:
            if resume:
                jobs.append((seed, True))
            else:
                blocked.append(f"{out_dir / folder.name} was interrupted (newest checkpoint "
                               f"{latest_checkpoint(folder)[0].name})")
        else:
            jobs.append((seed, False))  # never started or failed before its first checkpoint: train it again
    if blocked:
        raise ConfigError(f"cannot finish the multi-seed experiment in {out_dir}: {'; '.join(blocked)}; pass --resume "
                          "to continue those seeds, --overwrite to train the whole experiment again, or choose "
                          "another --out")
    return jobs


def _use_ray(num_cpus: int | None, address: str | None) -> bool:
    """Seeds go as Ray tasks when a cluster is named, or when Ray is installed and > 1 CPU is asked for."""
    if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1):
        raise ConfigError(f"--num-cpus must be a positive integer, was {num_cpus!r}")
    if address is not None:
        return True  # `init_ray` says how to install Ray when it is missing
    return num_cpus is not None and num_cpus > 1 and importlib.util.find_spec("ray") is not None


def _train_seed_task(train_run: TrainRun, config_dict: dict[str, Any], folder: str, resume: bool, data: Any,
                     verbose: int) -> str:
    """One seed's run, in a Ray worker (data: ``(train_data, validation_data)`` or None)."""
    train_data, validation_data = data if data is not None else (None, None)
    return str(train_run(ExperimentConfig.from_dict(config_dict), folder, resume=resume, progress=False,
                         train_data=train_data, validation_data=validation_data, verbose=verbose))


def _run_seeds(jobs: list[tuple[int, bool]], work: Path, config: ExperimentConfig, *, train_run: TrainRun, progress: bool,
               verbose: int,
               num_cpus: int | None, address: str | None, data: tuple[Data, Data | None] | None) -> None:
    """Train the planned seeds into `work`, sequentially or as Ray tasks, with a progress bar over seeds.

    A failed seed does not stop the others (Ray); the first failure is raised once all have ended.
    """
    from tqdm.auto import tqdm

    seeds = config.train.seeds
    bar = tqdm(total=len(seeds), initial=len(seeds) - len(jobs), desc=f"{config.name}: seeds", unit="seed",
               disable=not progress)
    try:
        if not _use_ray(num_cpus, address):
            for seed, resume_seed in jobs:
                bar.set_postfix_str(f"seed {seed}")
                train_run(seed_config(config, seed), work / seed_dir_name(seed), resume=resume_seed, progress=False,
                      train_data=None if data is None else data[0], validation_data=None if data is None else data[1],
                      verbose=verbose)
                bar.update(1)
            return
        from signalflow_gym.scale.ray_utils import init_ray, task_cpus

        cpus = task_cpus(config.train.n_envs, config.train.vec_env)
        ray = init_ray(address, num_cpus, cpus_per_task=cpus)
        remote = ray.remote(num_cpus=cpus, max_retries=0)(_train_seed_task)
        data_ref = ray.put(data) if data is not None else None
        pending = {remote.remote(train_run, seed_config(config, seed).to_dict(), str(work / seed_dir_name(seed)), resume_seed,
                                 data_ref, verbose): seed for seed, resume_seed in jobs}
        failures: list[tuple[int, BaseException]] = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            seed = pending.pop(done[0])
            try:
                ray.get(done[0])
            except Exception as exc:  # the seed's error, or its worker died
                failures.append((seed, getattr(exc, "cause", None) or exc))
            bar.update(1)
        if failures:
            seed, cause = failures[0]
            others = f" ({len(failures) - 1} other seed(s) failed too)" if len(failures) > 1 else ""
            message = f"seed {seed} of the experiment failed{others}: {' '.join(str(cause).split())[:500]}"
            if isinstance(cause, ConfigError):
                raise ConfigError(message) from None
            raise RuntimeError(message) from cause
    finally:
        bar.close()


def train_experiment(config: ExperimentConfig, out_dir: Path, *, train_run: TrainRun, resume: bool, overwrite: bool,
                     progress: bool,
                      verbose: int, num_cpus: int | None, address: str | None,
                      data: tuple[Data, Data | None] | None) -> Path:
    """`train` for a non-empty `train.seeds`: the experiment directory (see the module doc).

    `train_run` trains one seed's run as `signalflow_gym.experiment.train.train` does for a
    config without seeds (it is passed in, so that this module does not import `train`)."""
    recover(out_dir)
    state = _check_experiment_dir(out_dir, config, resume=resume, overwrite=overwrite)
    swap = state == "replace"
    work = new_sibling(out_dir) if swap else out_dir
    try:
        work.mkdir(parents=True, exist_ok=True)
        if (work / MARKER).exists():
            (work / MARKER).unlink()  # resuming a complete experiment: unfinished until every seed is again
        config.to_yaml(work / EXPERIMENT_FILE)
        jobs = _plan_seeds(work, out_dir, config, resume=resume)
        if jobs and (work / EVALUATION_DIR).is_dir():
            shutil.rmtree(work / EVALUATION_DIR)  # reports about models that are about to change
        _run_seeds(jobs, work, config, train_run=train_run, progress=progress, verbose=verbose, num_cpus=num_cpus, address=address,
                   data=data)
        seeds = list(config.train.seeds)
        mark_complete(work, kind=MULTI_SEED_KIND, open_dirs=[EVALUATION_DIR, *(seed_dir_name(s) for s in seeds)],
                      info={"seeds": seeds, "runs": [seed_dir_name(s) for s in seeds]})
    except BaseException:
        if swap:
            shutil.rmtree(work, ignore_errors=True)  # the previous experiment is untouched
        raise
    if swap:
        swap_in(work, out_dir)
    return out_dir
