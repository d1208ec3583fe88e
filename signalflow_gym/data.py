"""The embedded synthetic market used when `SignalFlowEnv` gets no data."""

from __future__ import annotations

from functools import lru_cache

from signalflow.data.synthetic import make_synthetic_market
from signalflow.data.market import MarketData
from signalflow_gym.config import DataConfig, EnvConfig

__all__ = ["default_market"]


@lru_cache(maxsize=8)
def _market(data: DataConfig) -> MarketData:
    m = make_synthetic_market(**data.to_dict())
    return MarketData.build(m.raw_data, m.signals)


def default_market(config: EnvConfig | DataConfig | None = None) -> MarketData:
    """The `MarketData` of `make_synthetic_market(**config.data)` (built once per parameter set, then cached)."""
    if config is None:
        data = DataConfig()
    elif isinstance(config, DataConfig):
        data = config
    else:
        data = EnvConfig.coerce(config).data
    return _market(data)
