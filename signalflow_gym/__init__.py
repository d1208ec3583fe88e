"""signalflow_gym: a Gymnasium environment that trades through the SignalFlow backtester.

Importing the package registers ``"SignalFlow-v0"``, so ``gymnasium.make("SignalFlow-v0")``
works (with no data it trades the embedded synthetic market), as does
``gymnasium.make("SignalFlow-v0", raw_data=..., signals=..., config=...)``.
"""

from __future__ import annotations

import gymnasium

from signalflow_gym.actions import InvalidActionError, PerSignalActionMapper, SimpleActionMapper, make_action_mapper
from signalflow_gym.config import (
    ActionsConfig,
    BrokerConfig,
    DataConfig,
    EnvConfig,
    EpisodeConfig,
    ExitConfig,
    FeaturesConfig,
    RewardConfig,
    SizingConfig,
    TerminationConfig,
    build_runner,
)
from signalflow_gym.data import default_market
from signalflow_gym.env import SignalFlowEnv
from signalflow_gym.features import FeatureBuilder
from signalflow_gym.rewards import DifferentialSharpe, Reward, drawdown_penalty, log_return, make_reward, pnl

from signalflow_gym.bridge import RLTradingModel
from signalflow_gym.policy import PolicyAdapter

__all__ = [
    "ENV_ID",
    "PolicyAdapter",
    "RLTradingModel",
    "ActionsConfig",
    "BrokerConfig",
    "DataConfig",
    "DifferentialSharpe",
    "EnvConfig",
    "EpisodeConfig",
    "ExitConfig",
    "FeatureBuilder",
    "FeaturesConfig",
    "InvalidActionError",
    "PerSignalActionMapper",
    "Reward",
    "RewardConfig",
    "SignalFlowEnv",
    "SimpleActionMapper",
    "SizingConfig",
    "TerminationConfig",
    "build_runner",
    "default_market",
    "drawdown_penalty",
    "log_return",
    "make_action_mapper",
    "make_reward",
    "pnl",
]

#: Registered Gymnasium id. Bump the version when observation, action or reward semantics change.
ENV_ID = "SignalFlow-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="signalflow_gym.env:SignalFlowEnv")
