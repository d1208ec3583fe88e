"""First taste of parity: an env episode whose actions mirror a fixed model trades exactly like
`BacktestRunner.run` with that model, wired by the same `build_runner`."""

from __future__ import annotations

import numpy as np
import pytest

from gymtest_helpers import ENV_CONFIGS, small_market_data, small_synthetic
from signalflow_gym import EnvConfig, FeatureBuilder, SignalFlowEnv, build_runner, make_action_mapper

HOLD_BARS = 5


def threshold_policy(obs: np.ndarray, mask: np.ndarray, cfg: EnvConfig) -> int:
    """The guide's threshold model as a per_signal policy: close a position held >= 5 bars,
    else enter the top signal when its probability > 0.7, else hold."""
    K, M = cfg.features.top_k_signals, cfg.features.max_position_features
    held_col = 6 + 3 * K + 1
    for m in range(M):
        if mask[1 + K + m] and obs[held_col + 3 * m] >= (HOLD_BARS - 0.5) / cfg.features.bars_held_scale:
            return 1 + K + m
    if obs[6] > 0.7 and mask[1]:
        return 1
    return 0


class ThresholdModel:
    """The same policy as a plain `StrategyModel` (what the SB3 bridge will generalise)."""

    def __init__(self, cfg: EnvConfig, pairs) -> None:
        self.cfg = cfg
        self.features = FeatureBuilder(cfg.features, cfg.sizing, pairs)
        self.mapper = make_action_mapper(cfg)
        self.calls = 0

    def decide(self, context):
        self.calls += 1
        action = threshold_policy(self.features.build(context), self.mapper.action_masks(context), self.cfg)
        return self.mapper.to_decisions(action, context)


PARITY_CONFIGS = [
    pytest.param({"actions": {"mapper": "per_signal"}}, id="per_signal"),
    pytest.param({"actions": {"mapper": "per_signal"}, "sizing": {"allow_shorts": True},
                  "exit": {"take_profit_pct": 0.01, "stop_loss_pct": 0.01, "intrabar": True}}, id="shorts_tpsl_intrabar"),
    *[pytest.param(str(p), id=p.name) for p in ENV_CONFIGS if "per_signal" in p.name],
]


@pytest.mark.parametrize("config", PARITY_CONFIGS)
def test_env_episode_matches_backtest_of_the_mirrored_model(config):
    cfg = EnvConfig.coerce(config).replace(episode={"length": 400, "warmup_bars": 0}, termination={"ruin_fraction": 0.0, "max_drawdown": None})
    start, end = 150, 550
    env = SignalFlowEnv(market=small_market_data(), config=cfg)
    obs, _ = env.reset(seed=0, options={"start": start, "length": end - start})
    steps = 0
    while True:
        obs, _, terminated, truncated, _ = env.step(threshold_policy(obs, env.action_masks(), cfg))
        steps += 1
        if terminated or truncated:
            break
    episode = env.episode_result()

    m = small_synthetic()
    model = ThresholdModel(cfg, small_market_data().pairs)
    runner = build_runner(cfg, model)
    runner.run(m.raw_data, m.signals, start=start, end=end)

    assert episode.trades_df.height >= 5
    assert episode.trades_df.equals(runner.trades_df)
    assert episode.metrics_df.equals(runner.metrics_df)
    assert model.calls == steps
