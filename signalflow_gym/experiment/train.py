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

import functools
import importlib.util
import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import polars as pl

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.config import ExperimentConfig, algorithm_class
from signalflow_gym.experiment.data import load_data, period_of, split_data
from signalflow_gym.experiment.envs import make_vec_env, validation_config
from signalflow_gym.experiment.seeds import (
    EVALUATION_DIR,
    MULTI_SEED_KIND,
    is_seed_dir_name,
    seed_config,
    seed_dir_name,
)
from signalflow_gym.outputs import (
    MARKER,
    atomic_file,
    is_temporary,
    kind_name,
    mark_complete,
    new_sibling,
    read_marker,
    recover,
    swap_in,
    write_json_atomic,
)

__all__ = ["train", "coerce_config", "config_differences", "latest_checkpoint", "CHECKPOINT_DIR", "BEST_DIR"]

CHECKPOINT_DIR = "checkpoints"
BEST_DIR = "best"
EXPERIMENT_FILE = "experiment.yaml"
_PREFIX = "model"
_CKPT = re.compile(rf"^{_PREFIX}_(\d+)_steps\.zip$")
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


def latest_checkpoint(out_dir: str | Path) -> tuple[Path, int] | None:
    """`(path, num_timesteps)` of the newest checkpoint in `out_dir/checkpoints`, or None."""
    ckpt_dir = Path(out_dir) / CHECKPOINT_DIR
    found = []
    if ckpt_dir.is_dir():
        for p in ckpt_dir.iterdir():
            m = _CKPT.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
    if not found:
        return None
    steps, path = max(found)
    return path, steps


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


def _unreadable_checkpoint(path: Path, exc: BaseException) -> ConfigError:
    return ConfigError(
        f"cannot resume from {path}: the checkpoint cannot be read ({type(exc).__name__}: "
        f"{' '.join(str(exc).split())[:200]}); delete it (with its side files of the same step count) to resume "
        "from the previous checkpoint, or pass --overwrite to train again"
    )


def _use_progress_bar(progress: bool) -> bool:
    if not progress or not sys.stderr.isatty():
        return False
    return importlib.util.find_spec("tqdm") is not None and importlib.util.find_spec("rich") is not None


def _eval_callback_class(algo: str) -> Any:
    if algo == "MaskablePPO":
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback

        return MaskableEvalCallback
    from stable_baselines3.common.callbacks import EvalCallback

    return EvalCallback


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
        return _train_experiment(config, out_dir, resume=resume, overwrite=overwrite, progress=progress,
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
                if not _vecnorm_path(ckpt[0]).is_file():
                    raise ConfigError(
                        f"cannot resume from {out_dir / CHECKPOINT_DIR / ckpt[0].name}: its VecNormalize statistics "
                        f"{_vecnorm_path(ckpt[0]).name} are missing; delete that checkpoint to resume from the previous one"
                    )
                try:
                    venv = VecNormalize.load(str(_vecnorm_path(ckpt[0])), venv)
                except Exception as exc:
                    raise _unreadable_checkpoint(out_dir / CHECKPOINT_DIR / _vecnorm_path(ckpt[0]).name, exc) from None
                venv.training = True
            else:
                venv = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=float(tc.algo_kwargs.get("gamma", 0.99)))
            if eval_env is not None:
                eval_env = VecNormalize(eval_env, training=False, norm_reward=False)
        if ckpt is not None:
            model = _load_checkpoint(cls, ckpt[0], out_dir, env=venv, device=tc.device)
            model.set_random_seed(tc.seed + model.num_timesteps)
        else:
            model = cls(tc.policy_name, venv, seed=tc.seed, device=tc.device, verbose=verbose, **tc.algo_kwargs)
        logger = run_logger(work / "tb" / config.name, verbose=verbose)
        model.set_logger(logger)

        # ---- callbacks
        callbacks: list[Any] = [trading_scalars_callback()]
        if tc.checkpoint_freq > 0:
            callbacks.append(_checkpoint_callback_class()(
                save_freq=max(tc.checkpoint_freq // tc.n_envs, 1),
                ckpt_dir=work / CHECKPOINT_DIR,
                vec_normalize=tc.vec_normalize,
            ))
        best_dir = work / BEST_DIR
        eval_cb = None
        if eval_env is not None:
            best_dir.mkdir(exist_ok=True)
            eval_cb = _eval_callback_class(tc.algo)(
                eval_env,
                callback_on_new_best=_SaveBestExtras(best_dir),
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
            _save_checkpoint(model, work / CHECKPOINT_DIR, tc.vec_normalize)

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


def _vecnorm_path(ckpt: Path) -> Path:
    steps = _CKPT.match(ckpt.name).group(1)
    return ckpt.with_name(f"{_PREFIX}_vecnormalize_{steps}_steps.pkl")


def _buffer_path(ckpt: Path) -> Path:
    steps = _CKPT.match(ckpt.name).group(1)
    return ckpt.with_name(f"{_PREFIX}_replay_buffer_{steps}_steps.pkl")


def _load_checkpoint(cls: Any, path: Path, out_dir: Path, **kwargs: Any) -> Any:
    """`cls.load(path, **kwargs)` and its replay buffer; an unreadable file is a `ConfigError` naming it."""
    shown = out_dir / CHECKPOINT_DIR / path.name
    if not zipfile.is_zipfile(path):
        raise _unreadable_checkpoint(shown, ValueError("not a complete zip file (truncated or overwritten)"))
    try:
        model = cls.load(path, **kwargs)
    except Exception as exc:
        raise _unreadable_checkpoint(shown, exc) from None
    buffer = _buffer_path(path)
    if hasattr(model, "load_replay_buffer") and buffer.is_file():
        try:
            model.load_replay_buffer(buffer)
        except Exception as exc:
            raise _unreadable_checkpoint(out_dir / CHECKPOINT_DIR / buffer.name, exc) from None
    return model


def _save_checkpoint(model: Any, ckpt_dir: Path, vec_normalize: bool) -> None:
    """Write a checkpoint so that `latest_checkpoint` only ever sees complete ones.

    Side files (VecNormalize statistics, replay buffer) first, then the model zip; each
    under a temporary name renamed into place (`outputs.atomic_file`): a crash leaves no
    truncated file, and a file is never rewritten in place (a resumed run hard-links them).
    """
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"{_PREFIX}_{model.num_timesteps}_steps.zip"
    if vec_normalize and model.get_vec_normalize_env() is not None:
        with atomic_file(_vecnorm_path(path)) as tmp:
            model.get_vec_normalize_env().save(str(tmp))
    if hasattr(model, "save_replay_buffer") and getattr(model, "replay_buffer", None) is not None:
        with atomic_file(_buffer_path(path)) as tmp:
            model.save_replay_buffer(tmp)
    with atomic_file(path) as tmp:
        model.save(tmp)


def _checkpoint_callback_class() -> type:
    from stable_baselines3.common.callbacks import BaseCallback

    class AtomicCheckpoint(BaseCallback):
        """Every `save_freq` calls, `_save_checkpoint` (atomic, unlike SB3's CheckpointCallback)."""

        def __init__(self, *, save_freq: int, ckpt_dir: Path, vec_normalize: bool) -> None:
            super().__init__()
            self.save_freq, self.ckpt_dir, self.vec_normalize = save_freq, ckpt_dir, vec_normalize

        def _on_step(self) -> bool:
            if self.n_calls % self.save_freq == 0:
                _save_checkpoint(self.model, self.ckpt_dir, self.vec_normalize)
            return True

    return AtomicCheckpoint


def _read_best(best_dir: Path) -> dict[str, Any] | None:
    path = best_dir / "best.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def run_logger(folder: Path, *, verbose: int = 0) -> Any:
    """The SB3 logger of a training run, writing into `folder` (progress.csv, and TensorBoard
    events when tensorboard is installed). Every model gets one: SB3's default logger would
    create an ``SB3-<time>`` folder in the system temp folder."""
    from stable_baselines3.common.logger import configure

    formats = ["csv"]
    if importlib.util.find_spec("tensorboard") is not None:
        formats.append("tensorboard")
    if verbose:
        formats.append("stdout")
    return configure(str(folder), formats)


@functools.cache
def _finished_episodes_class() -> type:
    """The wrapper class of `FinishedEpisodes`, made once (SB3 is imported only when training)."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class FinishedEpisodesWrapper(VecEnvWrapper):
        def __init__(self, inner: Any, keep: bool) -> None:
            super().__init__(inner)
            self.keep = keep
            self.finished: list[dict[str, float]] = []

        def reset(self) -> Any:
            return self.venv.reset()

        def step_wait(self) -> Any:
            obs, rewards, dones, infos = self.venv.step_wait()
            if self.keep:
                self.finished.extend(info["trading"] for info, done in zip(infos, dones) if done and "trading" in info)
            return obs, rewards, dones, infos

    return FinishedEpisodesWrapper


def FinishedEpisodes(venv: Any, *, keep: bool = True) -> Any:  # noqa: N802 - a factory standing for a class
    """`venv` wrapped so that (with `keep`) the ``info["trading"]`` of every episode that ends is
    kept in `.finished` (read and cleared by `validation_scalars_callback`). The training env is
    wrapped too, with `keep=False`, so that SB3's EvalCallback sees envs of one type."""
    return _finished_episodes_class()(venv, keep)


def validation_scalars_callback(episodes: Any) -> Any:
    """Called after each validation run of the EvalCallback: logs the mean trading figures of its
    episodes as ``eval/trading/<name>`` (written with the next log line)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class ValidationScalars(BaseCallback):
        def _on_step(self) -> bool:
            finished, episodes.finished = episodes.finished, []
            for name in (finished[0] if finished else {}):
                self.logger.record(f"eval/trading/{name}", float(np.mean([f[name] for f in finished])))
            return True

    return ValidationScalars()


def trading_scalars_callback() -> Any:
    """A callback logging each finished episode's ``info["trading"]`` (total return, Sharpe, max
    drawdown, trades, fees; see `SignalFlowEnv`) as ``trading/<name>``, averaged per log dump."""
    from stable_baselines3.common.callbacks import BaseCallback

    class TradingScalars(BaseCallback):
        def _on_step(self) -> bool:
            for info, done in zip(self.locals.get("infos", ()), self.locals.get("dones", ())):
                if done and "trading" in info:
                    for name, value in info["trading"].items():
                        self.logger.record_mean(f"trading/{name}", value)
            return True

    return TradingScalars()


def _make_save_best_extras() -> type:
    from stable_baselines3.common.callbacks import BaseCallback

    class SaveBestExtras(BaseCallback):
        """On a new best validation score: save VecNormalize statistics and best.json."""

        def __init__(self, best_dir: Path) -> None:
            super().__init__(verbose=0)
            self.best_dir = best_dir

        def _on_step(self) -> bool:
            parent = self.parent
            vn = self.model.get_vec_normalize_env()
            if vn is not None:
                vn.save(str(self.best_dir / "vecnormalize.pkl"))
            write_json_atomic(self.best_dir / "best.json", {
                "score": float(parent.best_mean_reward),
                "num_timesteps": int(self.model.num_timesteps),
            }, sort_keys=True)
            return True

    return SaveBestExtras


def _SaveBestExtras(best_dir: Path) -> Any:  # noqa: N802 - a factory standing for a class
    return _make_save_best_extras()(best_dir)


# =========================================================================== multi-seed experiments
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


def _train_seed_task(config_dict: dict[str, Any], folder: str, resume: bool, data: Any, verbose: int) -> str:
    """One seed's run, in a Ray worker (data: ``(train_data, validation_data)`` or None)."""
    train_data, validation_data = data if data is not None else (None, None)
    return str(train(ExperimentConfig.from_dict(config_dict), folder, resume=resume, progress=False,
                     train_data=train_data, validation_data=validation_data, verbose=verbose))


def _run_seeds(jobs: list[tuple[int, bool]], work: Path, config: ExperimentConfig, *, progress: bool, verbose: int,
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
                train(seed_config(config, seed), work / seed_dir_name(seed), resume=resume_seed, progress=False,
                      train_data=None if data is None else data[0], validation_data=None if data is None else data[1],
                      verbose=verbose)
                bar.update(1)
            return
        from signalflow_gym.scale.ray_utils import init_ray, task_cpus

        ray = init_ray(address, num_cpus)
        remote = ray.remote(num_cpus=task_cpus(config.train.n_envs, config.train.vec_env), max_retries=0)(_train_seed_task)
        data_ref = ray.put(data) if data is not None else None
        pending = {remote.remote(seed_config(config, seed).to_dict(), str(work / seed_dir_name(seed)), resume_seed,
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


def _train_experiment(config: ExperimentConfig, out_dir: Path, *, resume: bool, overwrite: bool, progress: bool,
                      verbose: int, num_cpus: int | None, address: str | None,
                      data: tuple[Data, Data | None] | None) -> Path:
    """`train` for a non-empty `train.seeds`: the experiment directory (see the module doc)."""
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
        _run_seeds(jobs, work, config, progress=progress, verbose=verbose, num_cpus=num_cpus, address=address,
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
