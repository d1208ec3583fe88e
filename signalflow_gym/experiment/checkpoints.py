"""A training run's checkpoints: where they are, how they are written (atomically) and read back.

``RUN/checkpoints/model_<steps>_steps.zip``, beside it ``model_vecnormalize_<steps>_steps.pkl``
(with `train.vec_normalize`) and ``model_replay_buffer_<steps>_steps.pkl`` (off-policy
algorithms). Side files are written first and the model zip last, each renamed into place,
so `latest_checkpoint` only ever sees complete checkpoints.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from signalflow.core.errors import ConfigError
from signalflow_gym.outputs import atomic_file

__all__ = [
    "CHECKPOINT_DIR",
    "checkpoint_callback_class",
    "latest_checkpoint",
    "load_checkpoint",
    "replay_buffer_path",
    "save_checkpoint",
    "unreadable_checkpoint",
    "vecnormalize_path",
]

#: The run's folder of checkpoints.
CHECKPOINT_DIR = "checkpoints"
_PREFIX = "model"
_CKPT = re.compile(rf"^{_PREFIX}_(\d+)_steps\.zip$")


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


def unreadable_checkpoint(path: Path, exc: BaseException) -> ConfigError:
    """The error for a checkpoint file that cannot be read back (what to delete, or --overwrite)."""
    return ConfigError(
        f"cannot resume from {path}: the checkpoint cannot be read ({type(exc).__name__}: "
        f"{' '.join(str(exc).split())[:200]}); delete it (with its side files of the same step count) to resume "
        "from the previous checkpoint, or pass --overwrite to train again"
    )


def vecnormalize_path(ckpt: Path) -> Path:
    """The VecNormalize statistics saved with checkpoint `ckpt`."""
    steps = _CKPT.match(ckpt.name).group(1)
    return ckpt.with_name(f"{_PREFIX}_vecnormalize_{steps}_steps.pkl")


def replay_buffer_path(ckpt: Path) -> Path:
    """The replay buffer saved with checkpoint `ckpt` (off-policy algorithms)."""
    steps = _CKPT.match(ckpt.name).group(1)
    return ckpt.with_name(f"{_PREFIX}_replay_buffer_{steps}_steps.pkl")


def load_checkpoint(cls: Any, path: Path, out_dir: Path, **kwargs: Any) -> Any:
    """`cls.load(path, **kwargs)` and its replay buffer; an unreadable file is a `ConfigError` naming it."""
    shown = out_dir / CHECKPOINT_DIR / path.name
    if not zipfile.is_zipfile(path):
        raise unreadable_checkpoint(shown, ValueError("not a complete zip file (truncated or overwritten)"))
    try:
        model = cls.load(path, **kwargs)
    except Exception as exc:
        raise unreadable_checkpoint(shown, exc) from None
    buffer = replay_buffer_path(path)
    if hasattr(model, "load_replay_buffer") and buffer.is_file():
        try:
            model.load_replay_buffer(buffer)
        except Exception as exc:
            raise unreadable_checkpoint(out_dir / CHECKPOINT_DIR / buffer.name, exc) from None
    return model


def save_checkpoint(model: Any, ckpt_dir: Path, vec_normalize: bool) -> None:
    """Write a checkpoint so that `latest_checkpoint` only ever sees complete ones.

    Side files (VecNormalize statistics, replay buffer) first, then the model zip; each
    under a temporary name renamed into place (`outputs.atomic_file`): a crash leaves no
    truncated file, and a file is never rewritten in place (a resumed run hard-links them).
    """
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"{_PREFIX}_{model.num_timesteps}_steps.zip"
    if vec_normalize and model.get_vec_normalize_env() is not None:
        with atomic_file(vecnormalize_path(path)) as tmp:
            model.get_vec_normalize_env().save(str(tmp))
    if hasattr(model, "save_replay_buffer") and getattr(model, "replay_buffer", None) is not None:
        with atomic_file(replay_buffer_path(path)) as tmp:
            model.save_replay_buffer(tmp)
    with atomic_file(path) as tmp:
        model.save(tmp)


def checkpoint_callback_class() -> type:
    """The SB3 callback class that calls `save_checkpoint` every `save_freq` steps."""
    from stable_baselines3.common.callbacks import BaseCallback

    class AtomicCheckpoint(BaseCallback):
        """Every `save_freq` calls, `save_checkpoint` (atomic, unlike SB3's CheckpointCallback)."""

        def __init__(self, *, save_freq: int, ckpt_dir: Path, vec_normalize: bool) -> None:
            super().__init__()
            self.save_freq, self.ckpt_dir, self.vec_normalize = save_freq, ckpt_dir, vec_normalize

        def _on_step(self) -> bool:
            if self.n_calls % self.save_freq == 0:
                save_checkpoint(self.model, self.ckpt_dir, self.vec_normalize)
            return True

    return AtomicCheckpoint
