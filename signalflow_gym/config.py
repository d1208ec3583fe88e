"""`EnvConfig`: one serialisable description of a `SignalFlowEnv` (and of the backtest that evaluates it).

An `EnvConfig` is a frozen, keyword-only dataclass made of nested frozen sections
(`broker`, `sizing`, `exit`, `features`, `actions`, `reward`, `episode`,
`termination`, `augment`, `data`) plus `skip_idle_bars`. Every option has a default; every
value is validated in `__post_init__` with a message of the form
"`section.key` must be <rule>, was <value>; <fix>". Unknown keys are an error.

It round-trips through plain dicts (`to_dict` / `from_dict`), YAML (`to_yaml` /
`from_yaml`, read with `yaml.safe_load`) and JSON (`to_json` / `from_json`), and is
saved beside every trained model. `build_runner(config, model)` wires the
`BacktestRunner` exactly as the environment does, so a backtest of a trained policy
and a training episode go through the same rules and broker.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

from signalflow.core.enums import FillAt
from signalflow.core.errors import ConfigError
from signalflow_gym.validation import (
    ConfigSection,
    build_at,
    check_boolean,
    check_choice,
    check_integer,
    check_keys,
    check_number,
    config_error,
    current_location,
    dotted,
    unknown_key_error,
)
from signalflow_gym.actions import MAPPERS
from signalflow_gym.rewards import REWARD_NAMES
from signalflow_gym.yaml_io import read_yaml, write_yaml_atomic

__all__ = [
    "ActionsConfig",
    "AugmentConfig",
    "BrokerConfig",
    "DataConfig",
    "EnvConfig",
    "EpisodeConfig",
    "ExitConfig",
    "FeaturesConfig",
    "RewardConfig",
    "SizingConfig",
    "TerminationConfig",
    "build_runner",
]

FILL_AT_CHOICES = tuple(f.value for f in FillAt)
MAPPER_CHOICES: tuple[str, ...] = tuple(MAPPERS)
REWARD_CHOICES: tuple[str, ...] = REWARD_NAMES


# --------------------------------------------------------------------------- files
def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); fix the syntax, "
            "or write the config as YAML"
        ) from None


# --------------------------------------------------------------------------- validation
#: The sections' base (`signalflow_gym.validation.ConfigSection`): `to_dict` / `from_dict`, `key_path`.
_Section = ConfigSection


# --------------------------------------------------------------------------- sections
#: `broker.account` -> what it builds (the choice list of the key).
ACCOUNT_CHOICES = ("spot", "margin")
#: `broker.fee_model` -> the fee model class it builds (`signalflow.strategy.broker.fees`).
FEE_MODEL_CHOICES = ("proportional", "fixed")
#: `broker.slippage_model` -> the slippage model it builds (`signalflow.strategy.broker.slippage`).
SLIPPAGE_MODEL_CHOICES = ("proportional", "half_spread", "sqrt_impact")
#: Keys of one `broker.fee_per_pair` entry.
PAIR_FEE_KEYS = ("fee_model", "fee_rate", "fee_minimum", "fee_fixed")


def _check_pair_fee(path: str, value: Any) -> dict[str, Any]:
    """One `broker.fee_per_pair.<pair>` entry: a mapping of `PAIR_FEE_KEYS` (missing keys: the
    proportional defaults)."""
    if not isinstance(value, Mapping):
        raise config_error(path, "a mapping of fee keys", value, "write e.g. `{fee_model: fixed, fee_fixed: 1.0}`")
    for key in value:
        if key not in PAIR_FEE_KEYS:
            raise unknown_key_error(f"{path}.{key}", key, list(PAIR_FEE_KEYS), where=f"`{path}`")
    out = {"fee_model": "proportional", "fee_rate": 0.001, "fee_minimum": 0.0, "fee_fixed": 0.0, **dict(value)}
    check_choice(f"{path}.fee_model", out["fee_model"], FEE_MODEL_CHOICES)
    out["fee_rate"] = check_number(f"{path}.fee_rate", out["fee_rate"], lo=0.0, hi=0.1, hi_open=True,
                                   fix="use a fraction per fill, e.g. 0.001 (0.1%)")
    out["fee_minimum"] = check_number(f"{path}.fee_minimum", out["fee_minimum"], lo=0.0, fix="use quote currency per fill, e.g. 1.0")
    out["fee_fixed"] = check_number(f"{path}.fee_fixed", out["fee_fixed"], lo=0.0, fix="use quote currency per fill, e.g. 1.0")
    return out


def _fee_model(entry: Mapping[str, Any]) -> Any:
    from signalflow.strategy.broker.fees import FixedFee, ProportionalFee

    if entry["fee_model"] == "fixed":
        return FixedFee(entry["fee_fixed"])
    return ProportionalFee(entry["fee_rate"], entry["fee_minimum"])


@dataclass(frozen=True, kw_only=True, slots=True)
class BrokerConfig(_Section):
    """Capital, account, costs and fill timing (see `BacktestRunner`, `VirtualSpotExecutor`,
    `VirtualMarginExecutor`; the README's "Costs and risk" gives each model's formula).

    - `account`: "spot" (no leverage; a short locks its notional) or "margin" (`leverage`,
      `maintenance_margin`, `borrow_rate` per year); `intrabar_liquidation` checks
      liquidation against each bar's high/low instead of its close.
    - Fees: `fee_model` "proportional" (`fee_rate` of the notional, at least `fee_minimum`
      quote currency per fill) or "fixed" (`fee_fixed` per fill); `fee_per_pair` maps a pair
      to its own `{fee_model, fee_rate, fee_minimum, fee_fixed}`.
    - Slippage: `slippage_model` "proportional" (`slippage_pct`), "half_spread" (a constant
      `spread_bps`, or `spread_from_column: true` for the bars' `spread` column) or
      "sqrt_impact" (`impact_k * volatility * sqrt(qty / bar volume)`, volatility over
      `impact_window` past bars).
    - `max_volume_participation`: cap an entry at this share of its fill bar's volume (null:
      no cap).
    """

    SECTION: ClassVar[str] = "broker"
    initial_capital: float = 10_000.0
    fee_rate: float = 0.001
    slippage_pct: float = 0.0
    fill_at: str = "close"
    account: str = "spot"
    fee_model: str = "proportional"
    fee_minimum: float = 0.0
    fee_fixed: float = 0.0
    fee_per_pair: Mapping[str, Any] = field(default_factory=dict)
    slippage_model: str = "proportional"
    spread_bps: float | None = None
    spread_from_column: bool = False
    impact_k: float = 1.0
    impact_window: int = 20
    max_volume_participation: float | None = None
    leverage: float = 1.0
    maintenance_margin: float | None = None
    borrow_rate: float = 0.0
    intrabar_liquidation: bool = False

    def __post_init__(self) -> None:
        self._set("initial_capital", check_number(self.key_path("initial_capital"), self.initial_capital, lo=0.0, lo_open=True,
                                             fix="set it to the starting cash, e.g. 10000"))
        self._set("fee_rate", check_number(self.key_path("fee_rate"), self.fee_rate, lo=0.0, hi=0.1, hi_open=True,
                                      fix="use a fraction per fill, e.g. 0.001 (0.1%)"))
        self._set("slippage_pct", check_number(self.key_path("slippage_pct"), self.slippage_pct, lo=0.0, hi=0.1, hi_open=True,
                                          fix="use a fraction of the price, e.g. 0.0005"))
        check_choice(self.key_path("fill_at"), self.fill_at, FILL_AT_CHOICES)
        check_choice(self.key_path("account"), self.account, ACCOUNT_CHOICES)
        # fees
        check_choice(self.key_path("fee_model"), self.fee_model, FEE_MODEL_CHOICES)
        self._set("fee_minimum", check_number(self.key_path("fee_minimum"), self.fee_minimum, lo=0.0,
                                         fix="use quote currency per fill, e.g. 1.0"))
        self._set("fee_fixed", check_number(self.key_path("fee_fixed"), self.fee_fixed, lo=0.0, fix="use quote currency per fill, e.g. 1.0"))
        if self.fee_model == "fixed" and self.fee_minimum:
            raise config_error(self.key_path("fee_minimum"), "0 with fee_model: fixed", self.fee_minimum,
                               "a minimum applies to fee_model: proportional; remove it")
        if self.fee_model == "proportional" and self.fee_fixed:
            raise config_error(self.key_path("fee_fixed"), "0 with fee_model: proportional", self.fee_fixed,
                               "set fee_model: fixed to charge a fixed fee per fill")
        if not isinstance(self.fee_per_pair, Mapping):
            raise config_error(self.key_path("fee_per_pair"), "a mapping of pair -> fee keys", self.fee_per_pair,
                               "write e.g. `{BTCUSDT: {fee_rate: 0.0005}}`")
        per_pair = {}
        for pair, entry in self.fee_per_pair.items():
            if not isinstance(pair, str):
                raise config_error(self.key_path("fee_per_pair"), "keyed by pair names", pair, "use the pair as written in the data")
            per_pair[pair] = _check_pair_fee(self.key_path(f"fee_per_pair.{pair}"), entry)
        self._set("fee_per_pair", per_pair)
        # slippage
        check_choice(self.key_path("slippage_model"), self.slippage_model, SLIPPAGE_MODEL_CHOICES)
        check_boolean(self.key_path("spread_from_column"), self.spread_from_column, fix="write true or false")
        if self.spread_bps is not None:
            self._set("spread_bps", check_number(self.key_path("spread_bps"), self.spread_bps, lo=0.0, hi=1000.0, hi_open=True,
                                            fix="use basis points of the price, e.g. 4"))
        self._set("impact_k", check_number(self.key_path("impact_k"), self.impact_k, lo=0.0, fix="use a multiple of the volatility, e.g. 1.0"))
        self._set("impact_window", check_integer(self.key_path("impact_window"), self.impact_window, lo=2,
                                                 fix="use bars of past returns, e.g. 20"))
        model = self.slippage_model
        if model != "proportional" and self.slippage_pct:
            raise config_error(self.key_path("slippage_pct"), f"0 with slippage_model: {model}", self.slippage_pct,
                               "slippage_pct is the proportional model's; remove it")
        if model == "half_spread":
            if (self.spread_bps is None) == (not self.spread_from_column):
                raise config_error(self.key_path("spread_bps"), "set exactly when spread_from_column is false", self.spread_bps,
                                   "with slippage_model: half_spread give spread_bps (e.g. 4) or spread_from_column: true")
        elif self.spread_bps is not None or self.spread_from_column:
            raise config_error(self.key_path("slippage_model"), "half_spread when spread_bps or spread_from_column is set", model,
                               "set slippage_model: half_spread, or remove spread_bps / spread_from_column")
        if model != "sqrt_impact" and (self.impact_k != 1.0 or self.impact_window != 20):
            raise config_error(self.key_path("slippage_model"), "sqrt_impact when impact_k or impact_window is set", model,
                               "set slippage_model: sqrt_impact, or remove impact_k / impact_window")
        if self.max_volume_participation is not None:
            self._set("max_volume_participation", check_number(
                self.key_path("max_volume_participation"), self.max_volume_participation, lo=0.0, hi=1.0, lo_open=True,
                fix="use a share of the fill bar's volume, e.g. 0.1, or null for no cap"))
        # account
        self._set("leverage", check_number(self.key_path("leverage"), self.leverage, lo=1.0, hi=100.0, fix="use e.g. 2 (margin = notional / 2)"))
        self._set("borrow_rate", check_number(self.key_path("borrow_rate"), self.borrow_rate, lo=0.0, hi=10.0, hi_open=True,
                                         fix="use a yearly rate, e.g. 0.05 (5% a year)"))
        if self.maintenance_margin is not None:
            self._set("maintenance_margin", check_number(
                self.key_path("maintenance_margin"), self.maintenance_margin, lo=0.0, hi=1.0 / self.leverage, hi_open=True,
                fix=f"use a share of the gross exposure below 1 / leverage, e.g. {0.5 / self.leverage:g}, or null (0.5 / leverage)"))
        check_boolean(self.key_path("intrabar_liquidation"), self.intrabar_liquidation, fix="write true or false")
        if self.account == "spot":
            for name, default in (("leverage", 1.0), ("maintenance_margin", None), ("borrow_rate", 0.0)):
                if getattr(self, name) != default:
                    raise config_error(self.key_path(name), f"{default!r} with account: spot", getattr(self, name),
                                       "set account: margin to trade with leverage, maintenance margin or borrow costs")

    def build_executor(self) -> Any:
        """The executor these options describe (`VirtualSpotExecutor` or `VirtualMarginExecutor`)."""
        from signalflow.strategy.broker.executor import VirtualMarginExecutor, VirtualSpotExecutor
        from signalflow.strategy.broker.fees import PerPairFee
        from signalflow.strategy.broker.slippage import HalfSpreadSlippage, ProportionalSlippage, SquareRootImpact

        fee = _fee_model({"fee_model": self.fee_model, "fee_rate": self.fee_rate, "fee_minimum": self.fee_minimum,
                          "fee_fixed": self.fee_fixed})
        if self.fee_per_pair:
            fee = PerPairFee(fee, {pair: _fee_model(entry) for pair, entry in self.fee_per_pair.items()})
        if self.slippage_model == "half_spread":
            slippage: Any = (HalfSpreadSlippage(from_column=True) if self.spread_from_column
                             else HalfSpreadSlippage(self.spread_bps))
        elif self.slippage_model == "sqrt_impact":
            slippage = SquareRootImpact(self.impact_k, window=self.impact_window)
        else:
            slippage = ProportionalSlippage(self.slippage_pct)
        common = dict(fee=fee, slippage=slippage, max_volume_participation=self.max_volume_participation,
                      intrabar_liquidation=self.intrabar_liquidation)
        if self.account == "margin":
            return VirtualMarginExecutor(leverage=self.leverage, maintenance_margin=self.maintenance_margin,
                                         borrow_rate=self.borrow_rate, **common)
        return VirtualSpotExecutor(**common)


@dataclass(frozen=True, kw_only=True, slots=True)
class SizingConfig(_Section):
    """`ModelEntryRule` options: position size (fraction of equity), slots, threshold, shorts."""

    SECTION: ClassVar[str] = "sizing"
    base_position_size: float = 0.1
    max_positions: int = 3
    min_confidence: float = 0.0
    allow_shorts: bool = False

    def __post_init__(self) -> None:
        self._set("base_position_size", check_number(self.key_path("base_position_size"), self.base_position_size, lo=0.0, hi=1.0,
                                                lo_open=True, fix="use a fraction of equity per entry, e.g. 0.1"))
        self._set("max_positions", check_integer(self.key_path("max_positions"), self.max_positions, lo=1,
                                                 fix="allow at least one open position, e.g. 3"))
        self._set("min_confidence", check_number(self.key_path("min_confidence"), self.min_confidence, lo=0.0, hi=1.0,
                                            fix="use a probability threshold, e.g. 0.6"))
        check_boolean(self.key_path("allow_shorts"), self.allow_shorts, fix="write true or false")


@dataclass(frozen=True, kw_only=True, slots=True)
class ExitConfig(_Section):
    """Optional take-profit / stop-loss rule run after the model's exit rule (None = off)."""

    SECTION: ClassVar[str] = "exit"
    take_profit_pct: float | None = None
    stop_loss_pct: float | None = None
    intrabar: bool = False

    def __post_init__(self) -> None:
        for name in ("take_profit_pct", "stop_loss_pct"):
            v = getattr(self, name)
            if v is not None:
                self._set(name, check_number(self.key_path(name), v, lo=0.0, hi=1.0, lo_open=True, hi_open=True,
                                        fix="use a fraction of the entry price (0.05 == 5%; 100% or more can never "
                                            "be reached by one side) or null to disable it"))
        check_boolean(self.key_path("intrabar"), self.intrabar, fix="write true or false")

    @property
    def enabled(self) -> bool:
        return self.take_profit_pct is not None or self.stop_loss_pct is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class FeaturesConfig(_Section):
    """Observation layout (see `signalflow_gym.features.FeatureBuilder`).

    `direction_invariant`: express the signal and position features relative to the
    trade's own direction (no rise/fall, long/short sign the policy could pick a side
    from); false keeps the default layout unchanged."""

    SECTION: ClassVar[str] = "features"
    top_k_signals: int = 3
    max_position_features: int = 3
    runtime_features: tuple[str, ...] = ()
    bars_held_scale: int = 100
    runtime_clip: float = 10.0
    direction_invariant: bool = False

    def __post_init__(self) -> None:
        check_boolean(self.key_path("direction_invariant"), self.direction_invariant, fix="write true or false")
        self._set("top_k_signals", check_integer(self.key_path("top_k_signals"), self.top_k_signals, lo=0,
                                                 fix="use the number of ranked signals to observe, e.g. 3"))
        self._set("max_position_features", check_integer(self.key_path("max_position_features"), self.max_position_features, lo=0,
                 fix="use the number of open positions to observe, e.g. 3"))
        names = self.runtime_features
        if isinstance(names, str) or not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
            raise config_error(self.key_path("runtime_features"), "a list of non-empty names (keys of context.runtime)", names,
                        "write e.g. [regime, atr] or []")
        if len(set(names)) != len(names):
            raise config_error(self.key_path("runtime_features"), "a list of distinct names", list(names), "remove the duplicates")
        self._set("runtime_features", tuple(names))
        self._set("bars_held_scale", check_integer(self.key_path("bars_held_scale"), self.bars_held_scale, lo=1,
                                                   fix="use the holding time (bars) that maps to 1.0, e.g. 100"))
        # (at most 1e30: the observation Box is float32, whose largest finite value is ~3.4e38)
        self._set("runtime_clip", check_number(self.key_path("runtime_clip"), self.runtime_clip, lo=0.0, lo_open=True,
                                          hi=1e30, fix="use the bound runtime features are clipped to, e.g. 10"))


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionsConfig(_Section):
    """Action mapper: "simple" (HOLD, ENTER top, CLOSE_ALL) or "per_signal"."""

    SECTION: ClassVar[str] = "actions"
    mapper: str = "simple"

    def __post_init__(self) -> None:
        check_choice(self.key_path("mapper"), self.mapper, MAPPER_CHOICES)


@dataclass(frozen=True, kw_only=True, slots=True)
class RewardConfig(_Section):
    """Reward: `name` of the base reward, times `scale`, minus `drawdown_penalty` x drawdown increase."""

    SECTION: ClassVar[str] = "reward"
    name: str = "log_return"
    scale: float = 1.0
    drawdown_penalty: float = 0.0
    dsr_eta: float = 0.01

    def __post_init__(self) -> None:
        check_choice(self.key_path("name"), self.name, REWARD_CHOICES)
        self._set("scale", check_number(self.key_path("scale"), self.scale, lo=0.0, lo_open=True, fix="use a positive factor, e.g. 1.0"))
        self._set("drawdown_penalty", check_number(self.key_path("drawdown_penalty"), self.drawdown_penalty, lo=0.0,
                                              fix="use 0 to disable it, or a weight such as 1.0"))
        self._set("dsr_eta", check_number(self.key_path("dsr_eta"), self.dsr_eta, lo=0.0, hi=1.0, lo_open=True, hi_open=True,
                                     fix="use an adaptation rate such as 0.01"))


@dataclass(frozen=True, kw_only=True, slots=True)
class EpisodeConfig(_Section):
    """Episode window: `length` bars (None = to the end of the data), random or fixed start.

    `warmup_bars`: the first `warmup_bars` bars of the data are never an episode's
    first bar (room for look-back features); they are not traded.
    """

    SECTION: ClassVar[str] = "episode"
    length: int | None = 1000
    random_start: bool = True
    warmup_bars: int = 0

    def __post_init__(self) -> None:
        if self.length is not None:
            self._set("length", check_integer(self.key_path("length"), self.length, lo=1,
                                              fix="use a number of bars, e.g. 1000, or null for the whole data"))
        check_boolean(self.key_path("random_start"), self.random_start, fix="write true or false")
        self._set("warmup_bars", check_integer(self.key_path("warmup_bars"), self.warmup_bars, lo=0, fix="use a number of bars, e.g. 0"))

    @property
    def bars_needed(self) -> int:
        """Bars a market must hold for one episode: ``warmup_bars + length`` (``warmup_bars + 1``
        for episodes that run to the end of the data)."""
        return self.warmup_bars + (1 if self.length is None else self.length)

    def check_fits(self, n_bars: int, *, what: str, fix: str) -> None:
        """The one "does an episode fit" check: raise `ConfigError` if `n_bars` bars (of `what`,
        e.g. "the training data") cannot hold `bars_needed`; `fix` says what to change."""
        if n_bars < self.bars_needed:
            raise ConfigError(
                f"{what} has {n_bars} bars, fewer than `env.episode.length` + `env.episode.warmup_bars` "
                f"({self.length if self.length is not None else 1} + {self.warmup_bars}); {fix}"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class TerminationConfig(_Section):
    """`terminated` when equity < `ruin_fraction` x initial capital, or drawdown >= `max_drawdown`."""

    SECTION: ClassVar[str] = "termination"
    ruin_fraction: float = 0.5
    max_drawdown: float | None = None

    def __post_init__(self) -> None:
        self._set("ruin_fraction", check_number(self.key_path("ruin_fraction"), self.ruin_fraction, lo=0.0, hi=1.0, hi_open=True,
                                           fix="use e.g. 0.5 (stop below half the capital), or 0 to disable it"))
        if self.max_drawdown is not None:
            self._set("max_drawdown", check_number(self.key_path("max_drawdown"), self.max_drawdown, lo=0.0, hi=1.0, lo_open=True,
                                              fix="use a fraction such as 0.3, or null to disable it"))


@dataclass(frozen=True, kw_only=True, slots=True)
class AugmentConfig(_Section):
    """Training-time augmentation of episodes (never of evaluation; see `SignalFlowEnv`).

    - `mirror`: the probability (in [0, 1], per episode) that a randomly started episode
      runs on the mirrored market: every pair's prices reflected in log space about its
      first open ``p0`` (``p -> p0**2 / p``: a rise becomes a fall of the same log size;
      high and low swap) and every signal's direction flipped ("rise" <-> "fall"). The
      planted edge of a signal is the same in both markets, a drift is reversed, so an
      agent cannot profit from a direction learned from the training window. 0 (default):
      off. Episodes with a fixed start (`episode.random_start: false`, or a `start` reset
      option, as validation uses) are never mirrored.
    """

    SECTION: ClassVar[str] = "augment"
    mirror: float = 0.0

    def __post_init__(self) -> None:
        self._set("mirror", check_number(self.key_path("mirror"), self.mirror, lo=0.0, hi=1.0,
                                        fix="use the probability that an episode is mirrored, e.g. 0.5, or 0 to disable it"))


@dataclass(frozen=True, kw_only=True, slots=True)
class DataConfig(_Section):
    """Parameters of the embedded synthetic market (used only when no data is passed).

    See `signalflow.data.synthetic.make_synthetic_market` (ranges are checked there).
    """

    SECTION: ClassVar[str] = "data"
    seed: int = 0
    n_pairs: int = 3
    n_bars: int = 5000
    volatility: float = 0.004
    drift: float = 0.0
    signal_rate: float = 0.02
    edge: float = 0.7
    horizon: int = 20
    base_price: float = 100.0

    def __post_init__(self) -> None:
        self._set("seed", check_integer(self.key_path("seed"), self.seed, lo=0, fix="use e.g. 0"))
        self._set("n_pairs", check_integer(self.key_path("n_pairs"), self.n_pairs, lo=1, fix="use e.g. 3"))
        self._set("n_bars", check_integer(self.key_path("n_bars"), self.n_bars, lo=2, fix="use e.g. 5000"))
        self._set("horizon", check_integer(self.key_path("horizon"), self.horizon, lo=1, fix="use e.g. 20"))
        for name in ("volatility", "drift", "signal_rate", "edge", "base_price"):
            self._set(name, check_number(self.key_path(name), getattr(self, name), fix="see make_synthetic_market for the ranges"))


_SECTIONS: dict[str, type[_Section]] = {
    "broker": BrokerConfig,
    "sizing": SizingConfig,
    "exit": ExitConfig,
    "features": FeaturesConfig,
    "actions": ActionsConfig,
    "reward": RewardConfig,
    "episode": EpisodeConfig,
    "termination": TerminationConfig,
    "augment": AugmentConfig,
    "data": DataConfig,
}
_TOP_LEVEL = ("broker", "sizing", "exit", "features", "actions", "reward", "episode", "skip_idle_bars", "termination",
              "augment", "data")


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvConfig:
    """Everything that defines a `SignalFlowEnv` except the data.

    Sections may be given as section objects or plain dicts
    (``EnvConfig(sizing={"max_positions": 5})``). `skip_idle_bars=True` makes the
    run jump over bars with no signal, no open position and no pending order, in
    the environment and in backtests built with `build_runner`, identically.
    """

    broker: BrokerConfig = field(default_factory=BrokerConfig)
    sizing: SizingConfig = field(default_factory=SizingConfig)
    exit: ExitConfig = field(default_factory=ExitConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    actions: ActionsConfig = field(default_factory=ActionsConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    skip_idle_bars: bool = False
    termination: TerminationConfig = field(default_factory=TerminationConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        root = current_location("")  # "" on its own, "env" inside an experiment config
        for name, cls in _SECTIONS.items():
            object.__setattr__(self, name, build_at(dotted(root, name), cls, getattr(self, name)))
        check_boolean(dotted(root, "skip_idle_bars"), self.skip_idle_bars, fix="write true or false")
        if self.actions.mapper == "per_signal" and self.features.top_k_signals < 1:
            raise config_error(
                dotted(root, "features.top_k_signals"), "an integer >= 1 with `actions.mapper: per_signal`",
                self.features.top_k_signals,
                "its ENTER actions are one per observed signal, so with 0 the agent could never open a position; "
                "use e.g. 3",
            )

    # -- conversion -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of plain values (lists, not tuples): safe for YAML and JSON."""
        out: dict[str, Any] = {}
        for name in _TOP_LEVEL:
            v = getattr(self, name)
            out[name] = v.to_dict() if isinstance(v, _Section) else v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "EnvConfig":
        """Build from a (possibly partial) dict; unknown keys and wrong types raise `ConfigError`."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"an env config must be a mapping of sections, was {type(data).__name__} {data!r}; "
                f"write e.g. {{'sizing': {{'max_positions': 3}}}}"
            )
        root = current_location("")
        check_keys(root, data, _TOP_LEVEL, where=f"section `{root}`" if root else "the env config")
        return cls(**data)  # the sections are built (and located) by __post_init__

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> "EnvConfig":
        """Build from JSON text; text that is not JSON raises `ConfigError` with the line and column."""
        return cls.from_dict(_parse_json(text, "the env config"))

    def to_yaml(self, path: str | Path) -> Path:
        """Write the config as YAML to `path` (parents are created); return the path."""
        return write_yaml_atomic(self.to_dict(), path)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "EnvConfig":
        """Read a YAML file (`yaml.safe_load`), or a shipped env config by name (``"env_simple"``);
        an empty file gives the defaults."""
        from signalflow_gym.shipped import resolve_config

        path = resolve_config(path, what="env config file")
        return cls.from_dict(read_yaml(path, what="env config file", example="configs/env_simple.yaml"))

    @classmethod
    def coerce(cls, config: "EnvConfig | Mapping[str, Any] | str | Path | None") -> "EnvConfig":
        """Accept an `EnvConfig`, a dict, a path to a YAML (or .json) file, or None (defaults)."""
        if config is None:
            return cls()
        if isinstance(config, EnvConfig):
            return config
        if isinstance(config, Mapping):
            return cls.from_dict(config)
        if isinstance(config, (str, Path)):
            path = Path(config)
            if path.suffix == ".json":
                if not path.is_file():
                    raise ConfigError(f"env config file `{path}` does not exist; pass an existing path, a dict or None")
                try:
                    text = path.read_text(encoding="utf-8")
                except UnicodeDecodeError as exc:
                    raise ConfigError(
                        f"env config file `{path}` is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
                    ) from None
                return cls.from_dict(_parse_json(text, f"env config file `{path}`"))
            return cls.from_yaml(path)
        raise ConfigError(
            f"`config` must be an EnvConfig, a dict, a path to a YAML file or None, was {type(config).__name__}"
        )

    def replace(self, **changes: Any) -> "EnvConfig":
        """A copy with whole sections (or `skip_idle_bars`) replaced; dicts are merged into the section."""
        merged: dict[str, Any] = {}
        for k, v in changes.items():
            if k not in _TOP_LEVEL:
                raise unknown_key_error(k, k, list(_TOP_LEVEL), where="EnvConfig.replace")
            if k in _SECTIONS and isinstance(v, Mapping):
                v = _SECTIONS[k].from_dict({**getattr(self, k).to_dict(), **v})
            merged[k] = v
        return dataclasses.replace(self, **merged)

    def without_augmentation(self) -> "EnvConfig":
        """This config with training-time augmentation off (`augment`'s defaults): what
        validation, evaluation and episode export run, so they see the real market."""
        return self if self.augment == AugmentConfig() else self.replace(augment=AugmentConfig())


# --------------------------------------------------------------------------- runner wiring
def build_runner(config: EnvConfig, model: Any, *, strategy_id: str = "signalflow_gym", exporter: Any = None) -> Any:
    """The `BacktestRunner` for `config` with `model` deciding.

    Exit rules: `ModelExitRule(model)`, then (if `config.exit` sets a level)
    `TakeProfitStopLossExit`; entry rule: `ModelEntryRule(model, **config.sizing)`;
    broker: `BacktestBroker(config.broker.build_executor())`. The
    environment uses exactly this wiring, so an env episode and a backtest of the
    same (deterministic) decisions produce the same trades.
    """
    from signalflow.strategy.broker import BacktestBroker
    from signalflow.strategy.component.exit import TakeProfitStopLossExit
    from signalflow.strategy.model import ModelEntryRule, ModelExitRule
    from signalflow.strategy.runner import BacktestRunner

    config = EnvConfig.coerce(config)
    b, s, x = config.broker, config.sizing, config.exit
    exit_rules: list[Any] = [ModelExitRule(model)]
    if x.enabled:
        exit_rules.append(
            TakeProfitStopLossExit(
                take_profit_pct=x.take_profit_pct,
                stop_loss_pct=x.stop_loss_pct,
                intrabar=x.intrabar,
            )
        )
    entry_rules = [
        ModelEntryRule(
            model,
            base_position_size=s.base_position_size,
            max_positions=s.max_positions,
            min_confidence=s.min_confidence,
            allow_shorts=s.allow_shorts,
        )
    ]
    return BacktestRunner(
        strategy_id=strategy_id,
        broker=BacktestBroker(executor=b.build_executor()),
        entry_rules=entry_rules,
        exit_rules=exit_rules,
        initial_capital=b.initial_capital,
        fill_at=b.fill_at,
        exporter=exporter,
        skip_idle_bars=config.skip_idle_bars,
    )
