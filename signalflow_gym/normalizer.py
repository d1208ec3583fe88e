"""`ObservationNormalizer`: VecNormalize's observation transform, applied outside an environment."""

from __future__ import annotations

from typing import Any

import numpy as np

from signalflow.core.errors import ConfigError

__all__ = ["ObservationNormalizer"]


class ObservationNormalizer:
    """VecNormalize's observation transform, without an environment.

    ``clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)`` as float32:
    the same arithmetic as `VecNormalize.normalize_obs`, so normalised
    observations are bit-identical to the training wrapper's (with `training=False`).
    """

    def __init__(self, mean: np.ndarray, var: np.ndarray, *, clip_obs: float = 10.0, epsilon: float = 1e-8) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.var = np.asarray(var, dtype=np.float64)
        if self.mean.shape != self.var.shape:
            raise ConfigError(f"normaliser `mean` and `var` must have one shape, were {self.mean.shape} and {self.var.shape}")
        self.clip_obs = float(clip_obs)
        self.epsilon = float(epsilon)

    @classmethod
    def from_vec_normalize(cls, vec_normalize: Any) -> "ObservationNormalizer | None":
        """The transform of a `VecNormalize` (None if it does not normalise observations)."""
        if not getattr(vec_normalize, "norm_obs", False):
            return None
        rms = vec_normalize.obs_rms
        if isinstance(rms, dict):
            raise ConfigError("dict observations are not supported by the bridge; SignalFlowEnv observations are a Box")
        return cls(rms.mean, rms.var, clip_obs=vec_normalize.clip_obs, epsilon=vec_normalize.epsilon)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.clip((obs - self.mean) / np.sqrt(self.var + self.epsilon), -self.clip_obs, self.clip_obs).astype(np.float32)
