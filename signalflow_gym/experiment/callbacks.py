"""The SB3 callbacks and logger of a training run (SB3 is imported only when they are built).

- `run_logger`: the run's logger (`RUN/tb/<name>`: progress.csv, TensorBoard events when installed);
- `trading_scalars_callback`: each finished training episode's trading figures as `trading/<name>`;
- `FinishedEpisodes` + `validation_scalars_callback`: the validation episodes' figures as
  `eval/trading/<name>`;
- `eval_callback_class`: SB3's EvalCallback (the maskable one for MaskablePPO);
- `SaveBestExtras`: on a new best validation score, the VecNormalize statistics and ``best.json``.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from signalflow_gym.outputs import write_json_atomic

__all__ = [
    "FinishedEpisodes",
    "SaveBestExtras",
    "eval_callback_class",
    "run_logger",
    "trading_scalars_callback",
    "validation_scalars_callback",
]


def eval_callback_class(algo: str) -> Any:
    """SB3's EvalCallback class for `algo` (MaskableEvalCallback for MaskablePPO)."""
    if algo == "MaskablePPO":
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback

        return MaskableEvalCallback
    from stable_baselines3.common.callbacks import EvalCallback

    return EvalCallback


def run_logger(folder: Path, *, verbose: int = 0, continue_from: int | None = None) -> Any:
    """The SB3 logger of a training run, writing into `folder` (progress.csv, and TensorBoard
    events when tensorboard is installed). Every model gets one: SB3's default logger would
    create an ``SB3-<time>`` folder in the system temp folder.

    `continue_from` (a resumed run's step count): the rows of an existing progress.csv up to
    that step are kept and the new ones appended (SB3's CSV writer truncates the file it opens;
    rows logged after that checkpoint, by the interrupted run, are dropped as the resumed one
    logs those steps again). TensorBoard events go to a new file beside the old ones.
    """
    from stable_baselines3.common.logger import CSVOutputFormat, configure

    csv_path = Path(folder) / "progress.csv"
    kept = _progress_rows(csv_path, continue_from) if continue_from is not None else None
    formats = ["csv"]
    if importlib.util.find_spec("tensorboard") is not None:
        formats.append("tensorboard")
    if verbose:
        formats.append("stdout")
    logger = configure(str(folder), formats)
    if kept:
        keys, lines = kept
        writer = next(f for f in logger.output_formats if isinstance(f, CSVOutputFormat))
        writer.file.write("".join(lines))
        writer.file.flush()
        writer.keys = keys
    return logger


def _progress_rows(path: Path, up_to_step: int) -> tuple[list[str], list[str]] | None:
    """The column names of SB3's progress.csv at `path`, and its lines to keep: the header and
    the rows whose ``time/total_timesteps`` is at most `up_to_step` (None: no file, or not one
    SB3 wrote)."""
    import csv

    if not path.is_file():
        return None
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        return None
    header = lines[0] if lines[0].endswith("\n") else lines[0] + "\n"
    keys = next(csv.reader([header]))
    if "time/total_timesteps" not in keys:
        return None
    at = keys.index("time/total_timesteps")
    rows = [header]
    for line in lines[1:]:
        values = next(csv.reader([line]))
        try:
            step = float(values[at])
        except (IndexError, ValueError):
            continue
        if step <= up_to_step:
            rows.append(line if line.endswith("\n") else line + "\n")
    return keys, rows


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


def SaveBestExtras(best_dir: Path) -> Any:  # noqa: N802 - a factory standing for a class
    """The EvalCallback's `callback_on_new_best`: saves VecNormalize statistics and ``best.json`` in `best_dir`."""
    return _make_save_best_extras()(best_dir)
