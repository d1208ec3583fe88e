"""`RLTradingModel`: a trained SB3 policy acting as an ordinary `StrategyModel`.

The bridge rebuilds, from the environment's `EnvConfig`, the very pieces the
environment used during training: the `FeatureBuilder` (context ->
observation), the observation normalisation (VecNormalize statistics), the
action mapper (action -> decisions) and its masks. Run inside a runner built
by `build_runner(config, model)` (see `make_runner`), a deterministic policy
reproduces an environment episode trade for trade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from signalflow.core.errors import ConfigError
from signalflow.core.values import is_finite_real
from signalflow.strategy.model.context import ModelContext
from signalflow.strategy.model.decision import StrategyDecision
from signalflow.strategy.runner import BacktestRunner, MarketData
from signalflow.strategy.runner.result import BacktestResult
from signalflow_gym.actions import make_action_mapper
from signalflow_gym.config import EnvConfig, build_runner
from signalflow_gym.features import FeatureBuilder
from signalflow_gym.normalizer import ObservationNormalizer
from signalflow_gym.policy import PolicyAdapter, is_recurrent

__all__ = ["RLTradingModel", "ObservationNormalizer", "PolicyAdapter", "is_recurrent"]


class RLTradingModel:
    """A trained policy as a `StrategyModel`: ``decide(context) -> list[StrategyDecision]``.

    Per bar (called once per bar by the model rules): build the observation with
    the environment's `FeatureBuilder`, normalise it as VecNormalize did, ask the
    policy (`predict`, with the action mask for MaskablePPO, with the LSTM state
    carried bar to bar for RecurrentPPO and reset when a run starts), optionally
    replace the action by a random *valid* one with probability `epsilon`
    (seeded by `seed`), and map it to decisions with the environment's mapper.

    - `policy`: an SB3 algorithm (PPO, A2C, DQN, MaskablePPO, RecurrentPPO), any object
      with SB3's ``predict(obs, state=None, episode_start=None, deterministic=...)`` (e.g.
      an offline learner's wrapper), a `torch.nn.Module` returning one score per action
      (the best valid action is taken), or a plain callable ``(obs, mask) -> action``
      (see `signalflow_gym.policy.PolicyAdapter`).
    - `config`: the `EnvConfig` the policy was trained with (or a dict / YAML path).
    - `normalizer`: an `ObservationNormalizer` or a `VecNormalize` (statistics used, never updated).
    - `epsilon`, `deterministic`, `seed`, `normalizer` are keyword-only.

    Use `make_runner()` (or `backtest(...)`) to get a `BacktestRunner` wired exactly
    like the environment (same rules, TP/SL fallback, sizing, fees, `fill_at`,
    `skip_idle_bars`); that wiring is what makes env and backtest agree.

    `RLTradingModel.load(run_dir)` restores a saved run package. Model files are
    pickles: load packages only from sources you trust.
    """

    def __init__(
        self,
        policy: Any,
        config: EnvConfig | dict | str | Path | None,
        *,
        epsilon: float = 0.0,
        deterministic: bool = True,
        seed: int | None = None,
        normalizer: Any = None,
    ) -> None:
        if not is_finite_real(epsilon) or not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"`epsilon` must be in [0, 1], was {epsilon!r}")
        self.policy = policy
        self.config = EnvConfig.coerce(config)
        self.epsilon = float(epsilon)
        self.deterministic = bool(deterministic)
        self.seed = seed
        if normalizer is not None and not isinstance(normalizer, ObservationNormalizer):
            normalizer = ObservationNormalizer.from_vec_normalize(normalizer)
        self.normalizer: ObservationNormalizer | None = normalizer
        self.features = FeatureBuilder(self.config.features, self.config.sizing)
        self.mapper = make_action_mapper(self.config)
        self.feature_names = self.features.feature_names
        self.action_names = self.mapper.action_names
        self._check_spaces()
        self.adapter = PolicyAdapter(policy, n_actions=int(self.mapper.action_space.n), deterministic=self.deterministic,
                                     normalizer=normalizer)
        self._rng = np.random.default_rng(seed)
        self.calls = 0
        self.on_run_start()

    def _check_spaces(self) -> None:
        obs_space = getattr(self.policy, "observation_space", None)
        act_space = getattr(self.policy, "action_space", None)
        want_obs = self.features.observation_space.shape
        if obs_space is not None and tuple(obs_space.shape) != tuple(want_obs):
            raise ConfigError(
                f"the policy's observation space has shape {tuple(obs_space.shape)}, but the config's features "
                f"give {tuple(want_obs)} ({len(self.feature_names)} features); use the env config the policy was trained with"
            )
        want_n = int(self.mapper.action_space.n)
        if act_space is not None and int(getattr(act_space, "n", -1)) != want_n:
            raise ConfigError(
                f"the policy's action space is {act_space}, but the config's `{self.config.actions.mapper}` mapper "
                f"has Discrete({want_n}); use the env config the policy was trained with"
            )

    # -- StrategyModel --------------------------------------------------------------------------------
    def on_run_start(self) -> None:
        """Reset per-run state: the recurrent policy's hidden state and the episode-start flag."""
        self.adapter.reset()

    def observation(self, context: ModelContext) -> np.ndarray:
        """The (normalised) observation the policy sees for `context`."""
        return self.adapter.normalize(self.features.build(context))

    def act(self, context: ModelContext) -> int:
        """The action index for `context` (policy, mask, epsilon), advancing the recurrent state."""
        self.calls += 1
        mask = self.mapper.action_masks(context)
        action = self.adapter(self.features.build(context), mask)
        if self.epsilon > 0.0 and self._rng.random() < self.epsilon:
            action = int(self._rng.choice(np.flatnonzero(mask)))
        return action

    def decide(self, context: ModelContext) -> list[StrategyDecision]:
        """This bar's decisions: the mapped action of the policy."""
        return self.mapper.to_decisions(self.act(context), context)

    # -- running it -------------------------------------------------------------------------------------
    def make_runner(self, *, strategy_id: str = "rl_policy", exporter: Any = None) -> BacktestRunner:
        """A `BacktestRunner` wired exactly as the environment (this model decides)."""
        return build_runner(self.config, self, strategy_id=strategy_id, exporter=exporter)

    def backtest(
        self,
        raw_data: Any = None,
        signals: Any = None,
        *,
        start: int = 0,
        end: int | None = None,
        exporter: Any = None,
    ) -> BacktestResult:
        """Backtest the policy on bars `[start, end)` of `raw_data` (or a prebuilt `MarketData`)."""
        if raw_data is None:
            from signalflow_gym.data import default_market

            raw_data = default_market(self.config)
        runner = self.make_runner(exporter=exporter)
        market = raw_data if isinstance(raw_data, MarketData) else MarketData.build(raw_data, signals)
        runner.run(market, start=start, end=end)
        return runner.result

    # -- run packages ----------------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        run_dir: str | Path,
        *,
        epsilon: float = 0.0,
        deterministic: bool = True,
        seed: int | None = None,
        model_file: str | None = None,
    ) -> "RLTradingModel":
        """Restore a policy from a run package directory (see `signalflow_gym.run_package`).

        Checks every file against the sha256 in `manifest.json` and the spaces
        against the config; refuses a package that does not match, naming the
        file and what is wrong. The files are pickles: only load trusted packages.
        """
        from signalflow_gym.run_package import load_run_package

        package = load_run_package(run_dir, model_file=model_file)
        return cls(
            package.policy,
            package.config,
            epsilon=epsilon,
            deterministic=deterministic,
            seed=seed,
            normalizer=package.normalizer,
        )

