"""`ExperimentConfig`: one YAML file describing a training run, its data and its evaluation.

Layout of an experiment YAML (every key is optional, but the file must not be empty; unknown keys
are an error)::

    name: ppo_demo
    train:      {algo: PPO, total_timesteps: 50000, n_envs: 1, seed: 0, algo_kwargs: {...}, ...}
    env:        the `EnvConfig` sections (broker, sizing, exit, features, actions, reward,
                episode, skip_idle_bars, termination); `env.data` is not used here
    data:       {source: synthetic | path/to/bars.(csv|parquet), signals: null | path,
                 detector: null | momentum | ma_cross, detector_kwargs: {}, synthetic: {...},
                 fractions: [0.6, 0.2, 0.2], split_at: null | [train_end, validation_end]}
    evaluation: {n_random_seeds: 5, baselines: [hold, random, threshold, buy_and_hold], threshold: 0.7}

`ExperimentConfig.from_yaml(path, overrides=["train.total_timesteps=2000"])` reads the file
with `yaml.safe_load`, applies ``dotted.key=value`` overrides (values parsed as YAML), then
validates; every problem raises `ConfigError` naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import yaml

from signalflow_gym.shipped import resolve_config
from signalflow_gym.yaml_io import read_yaml, write_yaml_atomic
from signalflow.core.errors import ConfigError
from signalflow.core.times import as_utc_naive
from signalflow_gym.config import DataConfig, EnvConfig
from signalflow_gym.experiment.baselines import BASELINES
from signalflow.detector import DETECTORS
from signalflow_gym.run_package import ALGORITHMS
from signalflow_gym.validation import (
    ConfigSection,
    build_at,
    check_boolean,
    check_choice,
    check_integer,
    check_keys,
    check_mapping,
    check_number,
    config_error,
    numeric_text_hint,
    unknown_key_error,
)

__all__ = [
    "ALGO_CHOICES",
    "BASELINE_CHOICES",
    "DETECTOR_CHOICES",
    "DataSpec",
    "EvaluationConfig",
    "ExperimentConfig",
    "TrainConfig",
    "apply_overrides",
]

ALGO_CHOICES: tuple[str, ...] = tuple(ALGORITHMS)
VEC_ENV_CHOICES = ("dummy", "subproc")
DETECTOR_CHOICES: tuple[str, ...] = tuple(DETECTORS)
BASELINE_CHOICES: tuple[str, ...] = tuple(BASELINES)
DEFAULT_POLICY = {"RecurrentPPO": "MlpLstmPolicy"}
#: Constructor arguments that `train()` sets itself (not allowed in `algo_kwargs`).
_RESERVED_KWARGS = ("policy", "env", "seed", "device", "tensorboard_log", "verbose", "_init_setup_model")
#: Ranges of the common `algo_kwargs` (what the value means; SB3 checks few of them itself):
#: name -> ("number" | "integer", lo, hi, lo_open, hi_open, fix). Only checked when set.
_KWARG_RANGES: dict[str, tuple[str, float, float | None, bool, bool, str]] = {
    "learning_rate": ("number", 0.0, None, True, False, "use a positive step size, e.g. 0.0003"),
    "gamma": ("number", 0.0, 1.0, True, False, "use a discount factor in (0, 1], e.g. 0.99"),
    "gae_lambda": ("number", 0.0, 1.0, False, False, "use a value in [0, 1], e.g. 0.95"),
    "ent_coef": ("number", 0.0, None, False, False, "use a non-negative weight, e.g. 0.01"),
    "vf_coef": ("number", 0.0, None, False, False, "use a non-negative weight, e.g. 0.5"),
    "clip_range": ("number", 0.0, 1.0, True, False, "use a fraction in (0, 1], e.g. 0.2"),
    "max_grad_norm": ("number", 0.0, None, True, False, "use a positive norm, e.g. 0.5"),
    "tau": ("number", 0.0, 1.0, True, False, "use a soft-update rate in (0, 1], e.g. 1.0"),
    "exploration_fraction": ("number", 0.0, 1.0, False, False, "use a fraction of training in [0, 1], e.g. 0.1"),
    "exploration_initial_eps": ("number", 0.0, 1.0, False, False, "use a probability in [0, 1], e.g. 1.0"),
    "exploration_final_eps": ("number", 0.0, 1.0, False, False, "use a probability in [0, 1], e.g. 0.05"),
    "n_steps": ("integer", 1, None, False, False, "use the steps per environment per update, e.g. 2048"),
    "batch_size": ("integer", 1, None, False, False, "use a minibatch size, e.g. 64"),
    "n_epochs": ("integer", 1, None, False, False, "use e.g. 10"),
    "buffer_size": ("integer", 1, None, False, False, "use a replay buffer size, e.g. 100000"),
    "learning_starts": ("integer", 0, None, False, False, "use a number of steps, e.g. 100"),
    "target_update_interval": ("integer", 1, None, False, False, "use a number of steps, e.g. 10000"),
    "target_kl": ("number", 0.0, None, True, False, "use a positive KL bound per update, e.g. 0.02, or null for none"),
    "clip_range_vf": ("number", 0.0, None, True, False, "use a positive value clip, e.g. 0.2, or null for none"),
}
#: `_KWARG_RANGES` entries whose None is the algorithm's default ("no limit").
_NULLABLE_KWARGS = frozenset({"target_kl", "clip_range_vf"})


def algorithm_class(algo: str) -> type:
    """The SB3 / sb3-contrib class for an `ALGO_CHOICES` name."""
    module, name = ALGORITHMS[algo]
    return getattr(import_module(module), name)


# --------------------------------------------------------------------------- train
@dataclass(frozen=True, kw_only=True)
class TrainConfig(ConfigSection):
    """How to train: algorithm, budget, vectorisation, seeds, evaluation and checkpoints.

    - `algo`: "PPO" | "A2C" | "DQN" | "MaskablePPO" | "RecurrentPPO".
    - `total_timesteps`: environment steps in total (over all `n_envs`).
    - `n_envs`, `vec_env`: parallel environments; "dummy" (one process) or "subproc"
      (`SubprocVecEnv`, start method "spawn").
    - `seed`: seeds Python, numpy, torch, the model and every environment (env i gets seed + i).
    - `seeds`: train one run per seed (a multi-seed experiment; empty: one run with `seed`).
      Distinct non-negative integers; `seed_list` is what a run uses either way.
    - `policy`: SB3 policy name (None: "MlpPolicy", "MlpLstmPolicy" for RecurrentPPO).
    - `algo_kwargs`: passed to the algorithm's constructor (e.g. `n_steps`, `ent_coef`,
      `policy_kwargs: {net_arch: [64, 64]}`); names are checked against it.
    - `vec_normalize`: wrap the envs in `VecNormalize` (observations and rewards); its
      statistics are saved in the run package and used by the bridge.
    - `eval_freq`: evaluate on the validation split every `eval_freq` steps (0 = off) with
      `eval_episodes` deterministic episodes (one episode = the whole validation split) and
      keep the best model; `checkpoint_freq`: save a checkpoint every so many steps (0 = off).
    - `device`, `torch_threads`: torch device and `torch.set_num_threads`.
    """

    SECTION: ClassVar[str] = "train"
    algo: str = "PPO"
    total_timesteps: int = 50_000
    n_envs: int = 1
    vec_env: str = "dummy"
    seed: int = 0
    seeds: tuple[int, ...] = ()
    policy: str | None = None
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    vec_normalize: bool = False
    eval_freq: int = 0
    eval_episodes: int = 1
    checkpoint_freq: int = 0
    device: str = "cpu"
    torch_threads: int = 1

    def __post_init__(self) -> None:
        check_choice(self.key_path("algo"), self.algo, ALGO_CHOICES)
        self._set("total_timesteps", check_integer(self.key_path("total_timesteps"), self.total_timesteps, lo=1,
                                         fix="use a number of environment steps, e.g. 50000"))
        self._set("n_envs", check_integer(self.key_path("n_envs"), self.n_envs, lo=1,
                                         fix="use e.g. 1, or the number of CPU cores"))
        check_choice(self.key_path("vec_env"), self.vec_env, VEC_ENV_CHOICES)
        self._set("seed", check_integer(self.key_path("seed"), self.seed, lo=0, fix="use e.g. 0"))
        self._set("seeds", _check_seeds(self.key_path("seeds"), self.seeds))
        if self.policy is not None and (not isinstance(self.policy, str) or not self.policy):
            raise config_error(self.key_path("policy"), "a policy name or null", self.policy, "use e.g. MlpPolicy, or null for the default")
        kwargs = check_mapping(self.key_path("algo_kwargs"), self.algo_kwargs, "write e.g. `algo_kwargs: {n_steps: 512}`")
        self._set("algo_kwargs", kwargs)
        self._check_algo_kwargs(kwargs)
        check_boolean(self.key_path("vec_normalize"), self.vec_normalize, fix="write true or false")
        self._set("eval_freq", check_integer(self.key_path("eval_freq"), self.eval_freq, lo=0,
                                         fix="use a number of steps, or 0 to disable evaluation"))
        self._set("eval_episodes", check_integer(self.key_path("eval_episodes"), self.eval_episodes, lo=1,
                                         fix="use e.g. 1 (an episode is the whole validation split)"))
        self._set("checkpoint_freq", check_integer(self.key_path("checkpoint_freq"), self.checkpoint_freq, lo=0,
                                         fix="use a number of steps, or 0 to disable checkpoints"))
        if not isinstance(self.device, str) or not self.device:
            raise config_error(self.key_path("device"), "a torch device name", self.device, "use e.g. cpu")
        self._check_policy_and_device()
        self._set("torch_threads", check_integer(self.key_path("torch_threads"), self.torch_threads, lo=1, fix="use e.g. 1"))

    def _check_algo_kwargs(self, kwargs: Mapping[str, Any]) -> None:
        params = inspect.signature(algorithm_class(self.algo).__init__).parameters
        valid = sorted(p for p in params if p not in ("self", *_RESERVED_KWARGS) and params[p].kind is not inspect.Parameter.VAR_KEYWORD)
        for key in kwargs:
            if key in _RESERVED_KWARGS:
                raise ConfigError(
                    f"`{self.key_path('algo_kwargs.' + key)}` is set by the trainer; use "
                    + {"policy": "`train.policy`", "seed": "`train.seed`", "device": "`train.device`"}.get(key, "the train section")
                    + " instead"
                )
            if key not in valid:
                raise unknown_key_error(self.key_path(f"algo_kwargs.{key}"), key, valid, where=f"the arguments of {self.algo}")
            path = self.key_path(f"algo_kwargs.{key}")
            _refuse_numeric_text(path, kwargs[key])
            rule = _KWARG_RANGES.get(key)
            if rule is not None and key in _NULLABLE_KWARGS and kwargs[key] is None:
                continue  # (None: the algorithm's "no limit")
            if rule is not None and not callable(kwargs[key]):  # a schedule (Python API) is SB3's to check
                kind, lo, hi, lo_open, hi_open, fix = rule
                if kind == "integer":
                    kwargs[key] = check_integer(path, kwargs[key], lo=int(lo), fix=fix)
                else:
                    kwargs[key] = check_number(path, kwargs[key], lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, fix=fix)

    def _check_policy_and_device(self) -> None:
        """The policy name is one the algorithm knows; the device is one torch can parse."""
        aliases = sorted(getattr(algorithm_class(self.algo), "policy_aliases", {}) or {})
        if aliases and self.policy_name not in aliases:
            listed = ", ".join(aliases)
            raise config_error(self.key_path("policy"), f"a policy of {self.algo} ({listed}) or null", self.policy,
                               f"use e.g. {DEFAULT_POLICY.get(self.algo, 'MlpPolicy')}, or null for the default")
        from stable_baselines3.common.utils import get_device

        try:
            get_device(self.device)
        except (RuntimeError, ValueError, TypeError):
            raise config_error(self.key_path("device"), "a torch device (cpu, cuda, cuda:0, mps or auto)", self.device,
                               "torch does not know it; use e.g. cpu") from None

    @property
    def policy_name(self) -> str:
        return self.policy or DEFAULT_POLICY.get(self.algo, "MlpPolicy")

    @property
    def seed_list(self) -> tuple[int, ...]:
        """The training seeds: `seeds`, or ``(seed,)`` for a single-seed run."""
        return self.seeds or (self.seed,)


def _check_seeds(path: str, value: Any) -> tuple[int, ...]:
    """A list of distinct non-negative integer seeds (null or [] for none)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise config_error(path, "a list of seeds", value, "write e.g. `seeds: [0, 1, 2]`, or [] for one run with `seed`")
    seeds = tuple(check_integer(f"{path}[{i}]", s, lo=0, fix="use e.g. 0") for i, s in enumerate(value))
    if len(set(seeds)) != len(seeds):
        raise config_error(path, "distinct seeds", list(value), "list each seed once")
    return seeds


def _refuse_numeric_text(path: str, value: Any) -> None:
    """`ConfigError` for text that looks like a number (``1e6`` read as a string by YAML), nested too."""
    hint = numeric_text_hint(value)
    if hint is not None:
        raise config_error(path, "a number, not text", value, hint)
    if isinstance(value, Mapping):
        for k, v in value.items():
            _refuse_numeric_text(f"{path}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _refuse_numeric_text(f"{path}[{i}]", v)


# --------------------------------------------------------------------------- data
def _as_datetime(path: str, value: Any) -> datetime:
    """A datetime in UTC, naive: naive values are UTC, aware ones (a YAML timestamp with an
    offset, or quoted ISO text with one) are converted; the machine's zone is never used."""
    if isinstance(value, datetime):
        return as_utc_naive(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return as_utc_naive(datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise config_error(path, "an ISO 8601 date or datetime (UTC unless it carries an offset)", value,
                       "write e.g. 2024-01-10, 2024-01-10T12:00:00 or 2024-01-10T12:00:00+00:00")


def _is_csv(path: str | None) -> bool:
    return isinstance(path, str) and path.lower().endswith(".csv")


@dataclass(frozen=True, kw_only=True)
class DataSpec(ConfigSection):
    """Where the bars and signals come from and how they are split.

    - `source`: "synthetic" (the embedded market, parameters in `synthetic`) or a path to a
      CSV / parquet OHLCV file (`pair, timestamp, open, high, low, close[, volume]`).
    - `signals`: a CSV / parquet signals file, or None.
    - `detector`: "momentum" (`MomentumZScoreDetector`) or "ma_cross"
      (`MovingAverageCrossDetector`) with `detector_kwargs`; it produces the signals when no
      `signals` file is given (None with a file source means "momentum"). With the synthetic
      source, a detector replaces the planted signals.
    - `synthetic`: `make_synthetic_market` parameters (see `signalflow_gym.DataConfig`).
    - `fractions`: train / validation / test fractions of the timestamps (chronological).
    - `split_at`: optional ``[train_end, validation_end]`` datetimes instead of fractions
      (train < train_end <= validation < validation_end <= test). UTC: a value without an
      offset is UTC, one with an offset is converted; the machine's zone is never used.
    - `timestamp_format`: strftime pattern of the CSV files' timestamps when they are not
      ISO 8601 (e.g. ``"%m/%d/%Y %H:%M"``); None: ISO 8601 is required.
    Relative paths are resolved against the current directory.
    """

    SECTION: ClassVar[str] = "data"
    source: str = "synthetic"
    signals: str | None = None
    detector: str | None = None
    detector_kwargs: dict[str, Any] = field(default_factory=dict)
    synthetic: DataConfig = field(default_factory=DataConfig)
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_at: tuple[datetime, datetime] | None = None
    timestamp_format: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.source, (str, Path)) or not str(self.source):
            raise config_error(self.key_path("source"), "\"synthetic\" or a path to a .csv/.parquet OHLCV file", self.source,
                        "write e.g. `source: data/bars.parquet`")
        self._set("source", str(self.source))
        if self.signals is not None:
            if not isinstance(self.signals, (str, Path)) or not str(self.signals):
                raise config_error(self.key_path("signals"), "a path to a .csv/.parquet signals file or null", self.signals,
                            "write e.g. `signals: data/signals.parquet`")
            self._set("signals", str(self.signals))
        if self.detector is not None:
            check_choice(self.key_path("detector"), self.detector, DETECTOR_CHOICES)
        self._set("detector_kwargs", check_mapping(self.key_path("detector_kwargs"), self.detector_kwargs,
                                              "write e.g. `detector_kwargs: {window: 20, threshold: 2.0}`"))
        _refuse_numeric_text(self.key_path("detector_kwargs"), self.detector_kwargs)
        syn = build_at(self.key_path("synthetic"), DataConfig, self.synthetic)
        self._set("synthetic", syn)
        fr = self.fractions
        if isinstance(fr, str) or not isinstance(fr, Sequence) or len(fr) != 3:
            raise config_error(self.key_path("fractions"), "three numbers (train, validation, test)", fr, "write e.g. [0.6, 0.2, 0.2]")
        fr = tuple(check_number(self.key_path(f"fractions[{i}]"), v, lo=0.0, hi=1.0, lo_open=True, fix="write e.g. [0.6, 0.2, 0.2]")
                   for i, v in enumerate(fr))
        if abs(sum(fr) - 1.0) > 1e-9:
            raise config_error(self.key_path("fractions"), "three positive numbers summing to 1", list(fr), "write e.g. [0.6, 0.2, 0.2]")
        self._set("fractions", fr)
        if self.split_at is not None:
            sa = self.split_at
            if isinstance(sa, str) or not isinstance(sa, Sequence) or len(sa) != 2:
                raise config_error(self.key_path("split_at"), "two datetimes [train_end, validation_end] or null", sa,
                            "write e.g. [2024-01-08, 2024-01-10]")
            t1, t2 = (_as_datetime(self.key_path(f"split_at[{i}]"), v) for i, v in enumerate(sa))
            if not t1 < t2:
                raise ConfigError(
                    f"`{self.key_path('split_at')}` must be increasing [train_end, validation_end], was [{t1}, {t2}]; "
                    "the validation split would overlap the training split, swap or fix the dates"
                )
            self._set("split_at", (t1, t2))
        tf = self.timestamp_format
        if tf is not None and (not isinstance(tf, str) or "%" not in tf):
            raise config_error(self.key_path("timestamp_format"), "a strftime pattern or null", tf,
                               'write e.g. "%m/%d/%Y %H:%M" (quoted), or null for ISO 8601 timestamps')
        if tf is not None and not any(_is_csv(p) for p in (self.source, self.signals)):
            raise config_error(self.key_path("timestamp_format"), "null unless `data.source` or `data.signals` is a CSV file", tf,
                               "it says how a CSV's text timestamps are written; remove it")

    def csv_timestamp_format(self, path: str | None) -> str | None:
        """`timestamp_format` for `path` if it is a CSV file, else None (parquet keeps its types)."""
        return self.timestamp_format if _is_csv(path) else None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.split_at is not None:
            out["split_at"] = [t.isoformat() for t in self.split_at]
        return out


# --------------------------------------------------------------------------- evaluation
@dataclass(frozen=True, kw_only=True)
class EvaluationConfig(ConfigSection):
    """Baselines of `evaluate()` (`signalflow_gym.experiment.baselines`, whose `describe(name)`
    says exactly what each does): "hold", "random" (seeds ``0 .. n_random_seeds - 1``),
    "threshold" (at most one entry a bar, of the best signal with probability > `threshold`)
    and "buy_and_hold"; `split`: the split evaluated by default."""

    SECTION: ClassVar[str] = "evaluation"
    n_random_seeds: int = 5
    baselines: tuple[str, ...] = BASELINE_CHOICES
    threshold: float = 0.7
    split: str = "test"

    def __post_init__(self) -> None:
        self._set("n_random_seeds", check_integer(self.key_path("n_random_seeds"), self.n_random_seeds, lo=1,
                                         fix="use e.g. 5"))
        names = self.baselines
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise config_error(self.key_path("baselines"), "a list of baseline names", names, f"pick from {list(BASELINE_CHOICES)}")
        for i, n in enumerate(names):
            check_choice(self.key_path(f"baselines[{i}]"), n, BASELINE_CHOICES)
        self._set("baselines", tuple(names))
        self._set("threshold", check_number(self.key_path("threshold"), self.threshold, lo=0.0, hi=1.0, fix="use e.g. 0.7"))
        check_choice(self.key_path("split"), self.split, ("train", "validation", "test"))


# --------------------------------------------------------------------------- experiment
def _env_from_dict(data: Any) -> EnvConfig:
    """The `env` section: an `EnvConfig` without its `data` (an experiment's market is its
    `data` section), validated at location `env` (errors name `env.sizing.max_positions`)."""
    if isinstance(data, EnvConfig):
        return data
    data = check_mapping("env", data, "write it as `env: {sizing: {...}, ...}`")
    if "data" in data:
        raise ConfigError(
            "unknown key `env.data` in the experiment config: experiments take their market from the "
            "`data` section; move it to `data.synthetic`"
        )
    check_keys("env", data, [k for k in EnvConfig().to_dict() if k != "data"])
    return build_at("env", EnvConfig, data)


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """A whole experiment: `name`, `train` (TrainConfig), `env` (EnvConfig), `data` (DataSpec),
    `evaluation` (EvaluationConfig). Frozen; sections may be given as dicts."""

    name: str = "experiment"
    train: TrainConfig = field(default_factory=TrainConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    data: DataSpec = field(default_factory=DataSpec)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or any(c in self.name for c in "/\\"):
            raise config_error("name", "a non-empty name without slashes", self.name, "write e.g. `name: ppo_demo`")
        object.__setattr__(self, "train", build_at("train", TrainConfig, self.train))
        object.__setattr__(self, "env", _env_from_dict(self.env))
        object.__setattr__(self, "data", build_at("data", DataSpec, self.data))
        object.__setattr__(self, "evaluation", build_at("evaluation", EvaluationConfig, self.evaluation))

    # -- conversion ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain values only (safe for YAML and JSON); `env.data` is left out (unused)."""
        env = self.env.to_dict()
        env.pop("data", None)
        return {
            "name": self.name,
            "train": self.train.to_dict(),
            "env": env,
            "data": self.data.to_dict(),
            "evaluation": self.evaluation.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, overrides: Sequence[str] = ()) -> "ExperimentConfig":
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"an experiment config must be a mapping of sections, was {type(data).__name__} {data!r}; "
                "write e.g. `train: {algo: PPO}`"
            )
        data = apply_overrides(data, overrides)
        check_keys("", data, [f.name for f in dataclasses.fields(cls)], where="the experiment config")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()) -> "ExperimentConfig":
        """Read `path` (a YAML file, or a shipped config's name such as ``"ppo"``) with
        `yaml.safe_load`, apply ``key=value`` `overrides`, validate.

        An empty file (nothing, or only comments or ``{}``) is refused: it would run every
        default (50,000 PPO steps on the synthetic market) without a word.
        """
        path = resolve_config(path, what="config file")  # a file, or a shipped config's name
        data = read_yaml(path, what="config file", example="configs/ppo.yaml")
        if data is None or data == {}:
            raise ConfigError(
                f"config file `{path}` is empty; write at least the algorithm, e.g. `train: {{algo: PPO}}` "
                "(see configs/ppo.yaml), or start from a shipped config"
            )
        try:
            return cls.from_dict(data, overrides)
        except ConfigError as exc:
            culprit = _override_of(str(exc), overrides)
            where = f"override `{culprit}` (on {path})" if culprit else str(path)
            raise ConfigError(f"{where}: {exc}") from None

    def to_yaml(self, path: str | Path) -> Path:
        return write_yaml_atomic(self.to_dict(), path)

    def replace(self, **changes: Any) -> "ExperimentConfig":
        """A copy with sections replaced; dicts are merged into the current section."""
        current = self.to_dict()
        for key, value in changes.items():
            if key not in current:
                raise unknown_key_error(key, key, list(current), where="ExperimentConfig.replace")
            if isinstance(value, Mapping) and isinstance(current[key], dict):
                current[key] = _deep_merge(current[key], value)
            else:
                current[key] = value.to_dict() if hasattr(value, "to_dict") else value
        return ExperimentConfig.from_dict(current)


def _override_of(message: str, overrides: Sequence[str]) -> str | None:
    """The last override that set the key an error message names first (its leading
    `` `dotted.key` ``, or a section above or below it), if any."""
    named = re.search(r"`([^`=\s]+)`", message)
    if not named:
        return None
    key = named.group(1).split("[", 1)[0]
    for item in reversed([o for o in overrides if isinstance(o, str)]):
        set_key = item.partition("=")[0].strip()
        if set_key == key or key.startswith(set_key + ".") or set_key.startswith(key + "."):
            return item
    return None


def _deep_merge(base: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`base` updated with `new`, section by section; nested mappings are fresh dicts (neither
    input is changed, and changing the result changes neither)."""
    out = {k: _deep_merge({}, v) if isinstance(v, Mapping) else copy.deepcopy(v) for k, v in base.items()}
    for k, v in new.items():
        if isinstance(v, Mapping):
            out[k] = _deep_merge(out[k] if isinstance(out.get(k), Mapping) else {}, v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of `data` with ``dotted.key=value`` overrides applied (values parsed with `yaml.safe_load`).

    Missing intermediate sections are created; validation happens afterwards, so an
    override of an unknown key is reported like an unknown key in the file.
    """
    out = _deep_merge({}, data)
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"override must look like `section.key=value`, was {item!r}; e.g. train.total_timesteps=2000")
        key, _, text = item.partition("=")
        key = key.strip()
        parts = key.split(".")
        if not key or any(not p for p in parts):
            raise ConfigError(f"override must look like `section.key=value`, was {item!r}; e.g. train.total_timesteps=2000")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            elif not isinstance(nxt, dict):
                raise ConfigError(
                    f"override `{item}`: `{'.'.join(parts[: i + 1])}` is a value, not a section; "
                    f"set it directly, e.g. {'.'.join(parts[: i + 1])}=..."
                )
            node = nxt
        node[parts[-1]] = value
    return out

