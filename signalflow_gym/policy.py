"""`PolicyAdapter`: any policy as one call, ``adapter(obs, mask) -> action index``.

Three kinds of policy are accepted, so that a policy trained anywhere runs through the
bridge (`RLTradingModel`) and the environment the same way:

- an object with SB3's ``predict(obs, state=None, episode_start=None, deterministic=True)``
  (SB3 and sb3-contrib algorithms, a d3rlpy wrapper, your own class). MaskablePPO-style
  ``predict(..., action_masks=mask)`` gets the mask; RecurrentPPO-style policies get their
  state carried from call to call and reset by `reset()`;
- a `torch.nn.Module` mapping a float32 ``[1, n_features]`` observation to ``[1, n_actions]``
  scores (logits or Q-values): the action is the best-scoring *valid* action (masked ones
  are never chosen);
- a plain callable ``policy(obs, mask) -> action`` (obs: float32 ``[n_features]``, mask:
  bool ``[n_actions]``).

The action returned is an int; an action outside ``[0, n_actions)`` raises a `ConfigError`
naming the policy. With a `normalizer` (an `ObservationNormalizer`: the VecNormalize
statistics of training) the policy sees ``normalizer(obs)``; the mask is never normalised.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import numpy as np

from signalflow.core.errors import ConfigError

__all__ = ["PolicyAdapter", "is_recurrent"]


def is_recurrent(policy: Any) -> bool:
    """True for sb3-contrib's RecurrentPPO (its LSTM state is carried bar to bar)."""
    try:
        from sb3_contrib import RecurrentPPO
    except ImportError:  # pragma: no cover - sb3-contrib is a dependency
        return False
    return isinstance(policy, RecurrentPPO)


def _is_torch_module(policy: Any) -> bool:
    torch = sys.modules.get("torch")  # a torch module implies torch is imported already
    return torch is not None and isinstance(policy, torch.nn.Module)


def _positional_arity(fn: Any) -> tuple[int, int] | None:
    """(required, total) positional parameters of `fn`; None if unknown or unbounded (``*args``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return sum(p.default is p.empty for p in positional), len(positional)


class PolicyAdapter:
    """``adapter(obs, mask) -> int`` for an SB3-style, torch or callable policy (see the module
    docstring). `deterministic` is passed to `predict`; `normalizer` (or None) maps the raw
    observation to the policy's; `reset()` starts a new episode."""

    def __init__(self, policy: Any, *, n_actions: int, deterministic: bool = True, normalizer: Any = None) -> None:
        self.policy = policy
        self.normalizer = normalizer
        self.n_actions = int(n_actions)
        self.deterministic = bool(deterministic)
        predict = getattr(policy, "predict", None)
        if callable(predict):
            self.kind = "recurrent" if is_recurrent(policy) else "predict"
            self._masked = "action_masks" in inspect.signature(predict).parameters
        elif _is_torch_module(policy):
            self.kind = "torch"
            self._masked = True
        elif callable(policy):
            arity = _positional_arity(policy)
            if arity is not None and not arity[0] <= 2 <= arity[1]:
                required, total = arity
                raise ConfigError(
                    f"a callable policy must take (obs, mask) and return an action, but "
                    f"{getattr(policy, '__name__', type(policy).__name__)} takes {required} required positional "
                    f"argument(s){f' (at most {total})' if total < 2 else ''}; wrap it, e.g. `lambda obs, mask: f(obs)`"
                )
            self.kind = "callable"
            self._masked = True
        else:
            raise ConfigError(
                f"`policy` must be an SB3-style model (with predict(obs, ...)), a torch.nn.Module or a callable "
                f"(obs, mask) -> action, was {type(policy).__name__}"
            )
        self.reset()

    @property
    def uses_mask(self) -> bool:
        """True if the policy sees the action mask (MaskablePPO, torch modules, callables)."""
        return self._masked

    def reset(self) -> None:
        """Forget the recurrent state: the next call starts an episode."""
        self._state: Any = None
        self._episode_start = np.ones((1,), dtype=bool)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """The observation the policy sees for raw observation `obs` (normalised, if a normalizer is set)."""
        return self.normalizer(obs) if self.normalizer is not None else obs

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """The action for raw observation `obs` and action mask `mask` (advances the recurrent state)."""
        obs = self.normalize(obs)
        kind = self.kind
        if kind == "recurrent":
            action, self._state = self._pair(self.policy.predict(
                obs, state=self._state, episode_start=self._episode_start, deterministic=self.deterministic
            ))
            self._episode_start = np.zeros((1,), dtype=bool)
        elif kind == "predict":
            if self._masked:
                action, _ = self._pair(self.policy.predict(obs, deterministic=self.deterministic, action_masks=mask))
            else:
                action, _ = self._pair(self.policy.predict(obs, deterministic=self.deterministic))
        elif kind == "torch":
            action = self._torch_action(obs, mask)
        else:
            action = self.policy(obs, mask)
        return self._checked(action)

    def _torch_action(self, obs: np.ndarray, mask: np.ndarray) -> int:
        import torch

        with torch.no_grad():
            scores = self.policy(torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(1, -1))
        scores = np.asarray(scores.detach().cpu().numpy(), dtype=np.float64).reshape(-1)
        if scores.shape != (self.n_actions,):
            raise ConfigError(
                f"the torch policy {type(self.policy).__name__} returned {scores.size} scores for an observation; "
                f"the action space has {self.n_actions} actions: its last layer must have {self.n_actions} outputs"
            )
        scores[~np.asarray(mask, dtype=bool)] = -np.inf
        return int(np.argmax(scores))

    def _pair(self, result: Any) -> tuple[Any, Any]:
        """`predict`'s ``(action, state)``, as SB3 models return it; refused by name otherwise."""
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ConfigError(
                f"the policy {type(self.policy).__name__}.predict() returned {result!r:.80}; it must return "
                "(action, state) as SB3 models do, e.g. `return action, None`"
            )
        return result

    def _checked(self, action: Any) -> int:
        value = np.asarray(action).reshape(-1)
        if value.size != 1 or not np.issubdtype(value.dtype, np.integer):
            raise ConfigError(
                f"the policy {type(self.policy).__name__} returned {action!r}; it must return one action index "
                f"(an integer in [0, {self.n_actions}))"
            )
        index = int(value[0])
        if not 0 <= index < self.n_actions:
            raise ConfigError(
                f"the policy {type(self.policy).__name__} returned action {index}, outside [0, {self.n_actions})"
            )
        return index
