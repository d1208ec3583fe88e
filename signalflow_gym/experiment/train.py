"""`train()`: an SB3 / sb3-contrib agent on `SignalFlowEnv`, saved as a run package.

Output directory (`out_dir`, also the run package)::

    model.zip, env_config.yaml, [vecnormalize.pkl], manifest.json   the run package
    experiment.yaml          the experiment config as run (listed in the manifest)
    COMPLETE.json            the completion marker, written last (`signalflow_gym.outputs`)
    checkpoints/             model_<steps>_steps.zip (+ vecnormalize / replay buffer) and
                             experiment.yaml: the config the checkpoints were trained with
    best/                    best model on the validation split (+ best.json, vecnormalize.pkl)
    eval/evaluations.npz     validation scores over time (EvalCallback)
    tb/<name>/               the SB3 logger's progress.csv (+ TensorBoard events when tensorboard is
                             installed: `tensorboard --logdir RUN/tb`), with per-episode trading
                             scalars `trading/total_return`, `sharpe`, `max_drawdown`, `n_trades`, `fees`

What a crash leaves, and what a rerun does (`_prepare_run`):

- a new run trains in `out_dir` itself; killed before it completes, the folder has no
  marker. With a checkpoint, a rerun is refused unless `resume=True` (continue it) or
  `overwrite=True` (start again); without one (it failed early), a rerun starts it again;
- a complete run is refused unless `resume=True` (continue to a larger
  `train.total_timesteps`) or `overwrite=True`. Both build the new run in a temporary
  sibling folder (a resumed one starts from a copy of the checkpoints, best model and logs)
  and swap it in when it is complete, so until then, and after any crash, the previous
  complete run stays in place. The `evaluation/` and `episodes/` folders of the previous
  model are not carried over.

A multi-seed experiment (`train.seeds` non-empty; layout in `signalflow_gym.experiment.seeds`)
trains each seed as the single run above into ``out_dir/seed_<s>`` and writes the
experiment's marker when every seed is complete:

- killed at any instant, every seed that was complete stays complete (each is its own
  result); the experiment has no marker until the end;
- a rerun with the same config skips the complete seeds and trains the missing ones (and
  seeds that failed before their first checkpoint); a seed interrupted after a checkpoint
  needs `resume=True` (continue it), as a single run does. A different config is refused;
- `resume=True` continues every seed (interrupted ones, and complete ones to a larger
  `train.total_timesteps`, the only change allowed); the experiment's marker is removed
  first and written again once every seed is complete, and its `evaluation/` folder (reports
  about the previous models) is deleted when a seed is trained further;
- `overwrite=True` trains the whole experiment again in a temporary sibling, swapped in
  once every seed is complete (until then the previous experiment stays in place).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.config import ExperimentConfig, algorithm_class
from signalflow_gym.experiment.data import load_data, period_of, split_data
from signalflow_gym.experiment.envs import make_vec_env, validation_config
from signalflow_gym.experiment.callbacks import (
    FinishedEpisodes,
    SaveBestExtras,
    eval_callback_class,
    run_logger,
    trading_scalars_callback,
    validation_scalars_callback,
)
from signalflow_gym.experiment.checkpoints import (
    CHECKPOINT_DIR,
    checkpoint_callback_class,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    unreadable_checkpoint,
    vecnormalize_path,
)
from signalflow_gym.experiment.seed_training import config_differences, train_experiment
from signalflow_gym.experiment.seeds import EXPERIMENT_FILE
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

__all__ = ["train", "coerce_config", "config_differences", "latest_checkpoint", "CHECKPOINT_DIR", "BEST_DIR"]

BEST_DIR = "best"
_PACKAGE_FILES = ("model.zip", "env_config.yaml", "vecnormalize.pkl", "manifest.json")
#: Folders of a run that are not part of its result: they change after it is complete
#: (checkpoints of a resumed run, TensorBoard logs, reports written into the run later).
OPEN_DIRS = (CHECKPOINT_DIR, "tb", "evaluation", "episodes")
#: What a run directory may hold: anything else makes `train` refuse to reuse it
#: (".package" is the staging folder of earlier versions).
_RUN_ENTRIES = {*_PACKAGE_FILES, MARKER, EXPERIMENT_FILE, CHECKPOINT_DIR, BEST_DIR, "eval", "tb", "evaluation",
                "episodes", ".package"}
#: Not carried into a resumed run: the previous package, and reports about the previous model.
_NOT_CARRIED = {*_PACKAGE_FILES, MARKER, "evaluation", "episodes", ".package"}

Data = tuple[pl.DataFrame, pl.DataFrame]


def coerce_config(config: ExperimentConfig | Mapping[str, Any] | str | Path) -> ExperimentConfig:
    """An `ExperimentConfig` from itself, a dict or a YAML path."""
    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, Mapping):
        return ExperimentConfig.from_dict(config)
    if isinstance(config, (str, Path)):
        return ExperimentConfig.from_yaml(config)
    raise ConfigError(f"`config` must be an ExperimentConfig, a dict or a YAML path, was {type(config).__name__}")




def _prepare_run(out_dir: Path, config: ExperimentConfig, *, resume: bool, overwrite: bool) -> tuple[Path, bool]:
    """The folder to train in and whether it must be swapped into `out_dir` at the end (see the module doc)."""
    recover(out_dir)
    if resume and overwrite:
        raise ConfigError("pass either --resume (continue the run) or --overwrite (train it again), not both")
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise ConfigError(f"output directory {out_dir} is a file; choose another --out")
    entries = {p.name for p in out_dir.iterdir() if not is_temporary(p.name)} if out_dir.is_dir() else set()
    marker = read_marker(out_dir) if entries else None
    if marker is not None and marker["kind"] not in ("train", "run_package"):
        raise ConfigError(f"output directory {out_dir} holds {kind_name(marker['kind'], article=True)}, not a training "
                          "run; choose another --out")
    foreign = entries - _RUN_ENTRIES
    if foreign:
        raise ConfigError(
            f"output directory {out_dir} holds files that are not from a run ({', '.join(sorted(foreign))}); "
            "choose another --out"
        )
    ckpt = latest_checkpoint(out_dir) if entries else None
    if resume:
        if ckpt is None:
            raise ConfigError(
                f"cannot resume: no checkpoint in {out_dir / CHECKPOINT_DIR}; train without --resume "
                "(and set `train.checkpoint_freq` to write checkpoints)"
            )
        _check_resume_config(out_dir, config)
        info = marker.get("info") if marker is not None else None
        trained = max(ckpt[1], int(info.get("num_timesteps", 0)) if isinstance(info, dict) else 0)
        budget = config.train.total_timesteps
        if budget < trained or (marker is not None and budget == trained):
            raise ConfigError(
                f"cannot resume {out_dir}: it is already trained for {trained} steps and train.total_timesteps is "
                f"{budget}; resume continues to a larger budget (e.g. --set train.total_timesteps={2 * trained})"
            )
        if marker is None:
            return out_dir, False  # an interrupted run: continue it where it is
        work = new_sibling(out_dir)
        _carry_over(out_dir, work)
        return work, True
    if overwrite:
        return new_sibling(out_dir), True  # the previous run stays until the new one is complete
    if marker is not None:
        raise ConfigError(
            f"output directory {out_dir} is not empty; pass --resume to continue its training (with a larger "
            "`train.total_timesteps`), --overwrite to replace it, or choose another --out"
        )
    if ckpt is not None:
        raise ConfigError(
            f"output directory {out_dir} is not empty: it holds an interrupted run (newest checkpoint {ckpt[0].name}); "
            "pass --resume to continue it, --overwrite to train it again, or choose another --out"
        )
    for name in entries:  # a run that failed before its first checkpoint: start it again
        p = out_dir / name
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir, False


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link a checkpoint file (they are only ever replaced, never rewritten in place), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _carry_over(src: Path, dst: Path) -> None:
    """Copy what a resumed run continues from (checkpoints, best model, logs, config) into `dst`."""
    def temporaries(_folder: str, names: list[str]) -> list[str]:
        return [n for n in names if is_temporary(n)]

    for entry in sorted(src.iterdir()):
        if entry.name in _NOT_CARRIED or is_temporary(entry.name):
            continue
        if entry.is_dir():
            shutil.copytree(entry, dst / entry.name, ignore=temporaries,
                            copy_function=_link_or_copy if entry.name == CHECKPOINT_DIR else shutil.copy2)
        else:
            shutil.copy2(entry, dst / entry.name)


def _check_resume_config(out_dir: Path, config: ExperimentConfig) -> None:
    """The config must equal the one the checkpoints were trained with, except `train.total_timesteps`.

    That config is recorded in ``checkpoints/experiment.yaml`` (runs written before it was,
    have ``experiment.yaml`` beside the checkpoints folder). Neither file: refused.
    """
    record = out_dir / CHECKPOINT_DIR / EXPERIMENT_FILE
    path = record if record.is_file() else out_dir / EXPERIMENT_FILE
    if not path.is_file():
        raise ConfigError(
            f"cannot resume {out_dir}: the config its checkpoints were trained with is not recorded "
            f"({out_dir / CHECKPOINT_DIR / EXPERIMENT_FILE} and {out_dir / EXPERIMENT_FILE} are missing); "
            "restore one of them, or pass --overwrite to train again"
        )
    old = ExperimentConfig.from_yaml(path).to_dict()
    new = config.to_dict()
    old["train"].pop("total_timesteps")
    new["train"].pop("total_timesteps")
    if old != new:
        diff = [
            f"{section}.{key}" if key else section
            for section in new
            for key in (new[section] if isinstance(new[section], dict) else [""])
            if (old.get(section, {}).get(key) if key else old.get(section)) != (new[section].get(key) if key else new[section])
        ]
        raise ConfigError(
            f"cannot resume {out_dir}: the config differs from {path} in {', '.join(diff)}; "
            "only `train.total_timesteps` may change on --resume"
        )




def _use_progress_bar(progress: bool) -> bool:
    if not progress or not sys.stderr.isatty():
        return False
    return importlib.util.find_spec("tqdm") is not None and importlib.util.find_spec("rich") is not None




def _score(model: Any, eval_env: Any, algo: str, episodes: int) -> float:
    """Mean episode reward of the deterministic policy on the validation env."""
    if algo == "MaskablePPO":
        from sb3_contrib.common.maskable.evaluation import evaluate_policy
    else:
        from stable_baselines3.common.evaluation import evaluate_policy
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=episodes, deterministic=True, warn=False)
    return float(mean)


def train(
    config: ExperimentConfig | Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    train_data: Data | None = None,
    validation_data: Data | None = None,
    overwrite: bool = False,
    verbose: int = 0,
    num_cpus: int | None = None,
    address: str | None = None,
) -> Path:
    """Train `config.train.algo` on the train split; write a run package to `out_dir`; return it.

    With a non-empty `config.train.seeds`, `out_dir` becomes a multi-seed experiment directory
    instead (`signalflow_gym.experiment.seeds`): one run per seed in ``out_dir/seed_<s>``, each
    trained exactly as a single run with ``train.seed = s``; as Ray tasks when Ray is installed
    and `address` is given or `num_cpus` > 1 (see `init_ray`), else one after the other. What a
    crash leaves and what a rerun does: see the module doc.

    Data: `train_data` / `validation_data` when given (used as they are), else
    `load_data(config.data)` split by `split_data`. Every source of randomness is seeded
    from `config.train.seed` (Python, numpy, torch, the model, env i with seed + i).
    With `train.eval_freq > 0` and validation data, the policy is scored every
    `eval_freq` steps on the whole validation split (deterministic) and the best one
    (also compared with the final one) becomes the package's `model.zip`; otherwise the
    final model does. `resume=True` continues from the newest checkpoint in
    `out_dir/checkpoints` up to `train.total_timesteps` (only that may change; the config is
    checked against the one recorded with the checkpoints). `overwrite=True` replaces an
    earlier run in `out_dir`. What a crash leaves and what a rerun accepts: see the module doc.
    """
    from signalflow.strategy.runner import MarketData

    config = coerce_config(config)
    out_dir = Path(out_dir)
    if config.train.seeds:
        return train_experiment(config, out_dir, train_run=train, resume=resume, overwrite=overwrite, progress=progress,
                                 verbose=verbose, num_cpus=num_cpus, address=address,
                                 data=None if train_data is None else (train_data, validation_data))

    # ---- data
    periods: dict[str, Any] = {}
    if train_data is None:
        raw, signals = load_data(config.data)
        split = split_data(config.data, raw, signals, env=config.env)
        train_raw, train_sig = split.train.raw_data, split.train.signals
        if validation_data is None:
            validation_data = (split.validation.raw_data, split.validation.signals)
        data_origin = "config"
        others = {name: (getattr(split, name).raw_data, getattr(split, name).signals) for name in ("validation", "test")}
    else:
        train_raw, train_sig = train_data
        data_origin = "given"
        others = {"validation": validation_data} if validation_data is not None else {}
    train_market = MarketData.build(train_raw, train_sig)
    periods["train"] = {**period_of(train_raw), "fingerprint": train_market.fingerprint()}
    for name, (raw_part, signals_part) in others.items():  # what `evaluate` checks a recomputed split against
        periods[name] = {**period_of(raw_part), "fingerprint": MarketData.build(raw_part, signals_part).fingerprint()}
    env_cfg = config.env
    env_cfg.episode.check_fits(train_market.n_bars, what="the training data", fix="use shorter episodes or more data")

    work, swap = _prepare_run(out_dir, config, resume=resume, overwrite=overwrite)
    try:
        _train_in(work, out_dir, config, resume=resume, progress=progress, verbose=verbose, train_market=train_market,
                  validation_data=validation_data, extra={"periods": periods, "data_origin": data_origin})
    except BaseException:
        if swap:
            shutil.rmtree(work, ignore_errors=True)  # the previous run (if any) is untouched
        raise
    if swap:
        swap_in(work, out_dir)
    return out_dir


def _train_in(work: Path, out_dir: Path, config: ExperimentConfig, *, resume: bool, progress: bool, verbose: int,
              train_market: Any, validation_data: Data | None, extra: dict[str, Any]) -> None:
    """Train in `work` (`out_dir` itself, or its temporary sibling): checkpoints, best model, then the
    package and the marker. Messages name `out_dir`."""
    import torch
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize, sync_envs_normalization

    from signalflow_gym.run_package import write_package_files

    tc = config.train
    env_cfg = config.env
    record = work / CHECKPOINT_DIR / EXPERIMENT_FILE
    if (work / ".package").exists():
        shutil.rmtree(work / ".package")  # the staging folder of earlier versions
    config.to_yaml(work / EXPERIMENT_FILE)
    if tc.checkpoint_freq > 0 or record.is_file():
        config.to_yaml(record)  # the config the checkpoints are trained with, checked by --resume

    # ---- seeds, threads, envs
    torch.set_num_threads(tc.torch_threads)
    set_random_seed(tc.seed)
    venv = make_vec_env(train_market.raw_data, train_market.signals, env_cfg, n_envs=tc.n_envs, vec_env=tc.vec_env)
    eval_env = None
    if tc.eval_freq > 0 and validation_data is not None:
        venv = FinishedEpisodes(venv, keep=False)
    if tc.eval_freq > 0 and validation_data is not None:
        validation_episodes = FinishedEpisodes(make_vec_env(validation_data[0], validation_data[1], validation_config(env_cfg)))
        eval_env = validation_episodes
        eval_env.seed(tc.seed + 10_000)
    cls = algorithm_class(tc.algo)
    ckpt = latest_checkpoint(work) if resume else None
    logger = None
    try:
        if tc.vec_normalize:
            if ckpt is not None:
                if not vecnormalize_path(ckpt[0]).is_file():
                    raise ConfigError(
                        f"cannot resume from {out_dir / CHECKPOINT_DIR / ckpt[0].name}: its VecNormalize statistics "
                        f"{vecnormalize_path(ckpt[0]).name} are missing; delete that checkpoint to resume from the previous one"
                    )
                try:
                    venv = VecNormalize.load(str(vecnormalize_path(ckpt[0])), venv)
                except Exception as exc:
                    raise unreadable_checkpoint(out_dir / CHECKPOINT_DIR / vecnormalize_path(ckpt[0]).name, exc) from None
                venv.training = True
            else:
                venv = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=float(tc.algo_kwargs.get("gamma", 0.99)))
            if eval_env is not None:
                eval_env = VecNormalize(eval_env, training=False, norm_reward=False)
        if ckpt is not None:
            model = load_checkpoint(cls, ckpt[0], out_dir, env=venv, device=tc.device)
            model.set_random_seed(tc.seed + model.num_timesteps)
        else:
            model = cls(tc.policy_name, venv, seed=tc.seed, device=tc.device, verbose=verbose, **tc.algo_kwargs)
        logger = run_logger(work / "tb" / config.name, verbose=verbose,
                            continue_from=model.num_timesteps if ckpt is not None else None)
        model.set_logger(logger)

        # ---- callbacks
        callbacks: list[Any] = [trading_scalars_callback()]
        if tc.checkpoint_freq > 0:
            callbacks.append(checkpoint_callback_class()(
                save_freq=max(tc.checkpoint_freq // tc.n_envs, 1),
                ckpt_dir=work / CHECKPOINT_DIR,
                vec_normalize=tc.vec_normalize,
            ))
        best_dir = work / BEST_DIR
        eval_cb = None
        if eval_env is not None:
            best_dir.mkdir(exist_ok=True)
            eval_cb = eval_callback_class(tc.algo)(
                eval_env,
                callback_on_new_best=SaveBestExtras(best_dir),
                callback_after_eval=validation_scalars_callback(validation_episodes),
                n_eval_episodes=tc.eval_episodes,
                eval_freq=max(tc.eval_freq // tc.n_envs, 1),
                log_path=str(work / "eval"),
                best_model_save_path=str(best_dir),
                deterministic=True,
                verbose=0,
                warn=False,
            )
            previous = _read_best(best_dir)
            if resume and previous is not None:
                eval_cb.best_mean_reward = previous["score"]
            callbacks.append(eval_cb)

        remaining = tc.total_timesteps - model.num_timesteps
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=callbacks or None,
                progress_bar=_use_progress_bar(progress),
                reset_num_timesteps=ckpt is None,
                tb_log_name=config.name,
            )
        # a last checkpoint, so that --resume with a larger budget continues from here
        if tc.checkpoint_freq > 0:
            save_checkpoint(model, work / CHECKPOINT_DIR, tc.vec_normalize)

        # ---- pick the model to ship
        selected, score, package_model, package_vecnorm = "final", None, model, (venv if tc.vec_normalize else None)
        if eval_env is not None:
            if tc.vec_normalize:
                sync_envs_normalization(venv, eval_env)
            final_score = _score(model, eval_env, tc.algo, tc.eval_episodes)
            best = _read_best(best_dir)
            if best is not None and (best_dir / "best_model.zip").is_file() and best["score"] > final_score:
                selected, score = "best_on_validation", best["score"]
                package_model = cls.load(best_dir / "best_model.zip", device=tc.device)
                if tc.vec_normalize:
                    package_vecnorm = VecNormalize.load(str(best_dir / "vecnormalize.pkl"), DummyVecEnv([_dummy_env(env_cfg, validation_data)]))
            else:
                selected, score = "final", final_score
        fingerprint = extra["periods"]["train"]["fingerprint"]
        extra = {
            "experiment": config.to_dict(),
            **extra,
            "train_fingerprint": fingerprint,
            "num_timesteps": int(model.num_timesteps),
            "selected_model": selected,
            "validation_score": score,
        }
        write_package_files(work, model=package_model, config=env_cfg, vec_normalize=package_vecnorm,
                            data_fingerprint=fingerprint, extra=extra, extra_files=(EXPERIMENT_FILE,))
        mark_complete(work, kind="train", open_dirs=OPEN_DIRS, info={"num_timesteps": int(model.num_timesteps)})
    finally:
        if logger is not None:
            logger.close()  # its progress.csv (and TensorBoard) files
        venv.close()
        if eval_env is not None:
            eval_env.close()


def _dummy_env(env_cfg: Any, data: Data) -> Any:
    from signalflow_gym.experiment.envs import EnvFactory

    return EnvFactory(data[0], data[1], validation_config(env_cfg))












def _read_best(best_dir: Path) -> dict[str, Any] | None:
    path = best_dir / "best.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())
















# =========================================================================== multi-seed experiments












