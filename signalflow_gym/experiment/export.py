"""`export_episodes()`: roll out episodes of a policy and write them as a parquet dataset.

Layout of `out_dir`::

    transitions.parquet   one row per step: episode_id, step, timestamp (bar acted on),
                          one column per observation feature (the raw, unnormalised
                          observation the action was chosen on), action, action_name,
                          reward, terminated, truncated, equity, cash, positions (after the step)
    episodes.parquet      one row per episode: episode_id, length, return, log_return,
                          reward_sum, max_drawdown, trades, start, end (times of the
                          window's first and last bar), window_start, window_length (bars:
                          reset(options={"start": ..., "length": ...}) replays the window),
                          terminated
    episodes/<id>/bars.parquet, trades.parquet   each episode's backtest (BacktestExporter)
    manifest.json         experiment config, feature and action names, policy, seed, versions
    COMPLETE.json         the completion marker

The dataset is built in a temporary sibling folder and swapped in when every file is
written (`signalflow_gym.outputs.building`): killed at any instant, `out_dir` holds the
previous dataset or the new one, never episodes of both. An existing dataset is replaced
only with `overwrite=True` (CLI ``--overwrite``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import polars as pl

from signalflow.core.errors import ConfigError
from signalflow.strategy.exporter import BacktestExporter
from signalflow.strategy.exporter.atomic import write_parquets_atomic
from signalflow_gym.actions import action_index
from signalflow_gym.experiment.baselines import POLICY_BASELINES, baseline_policy, describe
from signalflow_gym.experiment.config import ExperimentConfig
from signalflow_gym.experiment.data import SPLIT_NAMES, load_data, period_of, split_data
from signalflow_gym.outputs import building, write_json_atomic

__all__ = ["export_episodes", "roll_out", "Rollout", "Transition", "PolicyActor", "POLICY_CHOICES"]

#: The baselines export can roll out (`signalflow_gym.experiment.baselines`).
POLICY_CHOICES = POLICY_BASELINES
#: What a dataset folder holds (one written by an older version, without a marker, may be replaced).
DATASET_FILES = ("transitions.parquet", "episodes.parquet", "episodes", "manifest.json")


def PolicyActor(package: Any, *, deterministic: bool = True) -> Any:  # noqa: N802 - the older class name
    """A run package's policy acting on raw env observations: the bridge's `PolicyAdapter`
    with the package's normaliser, so export and backtest act alike (`reset()` starts an episode)."""
    from signalflow_gym.policy import PolicyAdapter

    return PolicyAdapter(package.policy, n_actions=int(package.policy.action_space.n), deterministic=deterministic,
                         normalizer=package.normalizer)


def export_episodes(
    out_dir: str | Path,
    *,
    run_dir: str | Path | None = None,
    policy: str | None = None,
    episodes: int,
    config: ExperimentConfig | Mapping[str, Any] | str | Path | None = None,
    seed: int = 0,
    data: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    split: str = "train",
    deterministic: bool = True,
    overwrite: bool = False,
) -> Path:
    """Roll out `episodes` episodes and write the dataset to `out_dir`; return `out_dir`.

    The actor is the run package's policy (`run_dir`) or a baseline `policy` ("hold",
    "random" seeded with `seed`, "threshold" with `evaluation.threshold`: the policies of
    `signalflow_gym.experiment.baselines`, the ones backtests run through the bridge; the
    manifest's ``source.description`` says what it does). Exactly one of them is required.
    The environment uses the run's (or `config`'s, default `ExperimentConfig()`) env
    config on `data` as given, else on the `split` of the experiment's data. Episode
    windows are drawn by the env (`env.reset(seed=seed)` once, so the export is reproducible).
    `out_dir` must not hold a dataset yet, unless `overwrite` (it is then replaced whole).
    """
    from signalflow_gym.run_package import library_versions

    setup = prepare_export(run_dir=run_dir, policy=policy, episodes=episodes, config=config, seed=seed, data=data,
                     split=split, deterministic=deterministic)
    exp, env_cfg, raw, where, env, exporter, actor, source = (
        setup.exp, setup.env_cfg, setup.raw, setup.where, setup.env, setup.exporter, setup.actor, setup.source)

    out = Path(out_dir)
    try:
        with building(out, kind="export", overwrite=overwrite, known=DATASET_FILES) as tmp:
            _write_dataset(tmp, env, exporter, actor, episodes=episodes, seed=seed, initial=env_cfg.broker.initial_capital,
                      manifest={"format_version": 1, "source": source, "episodes": episodes, "seed": seed,
                                "data": {"split": where, **period_of(raw)}, "reward": env_cfg.reward.to_dict(),
                                "experiment": exp.to_dict(), "env_config": env_cfg.to_dict(),
                                "versions": library_versions()})
    finally:
        env.close()
    return out


@dataclass
class ExportSetup:
    exp: ExperimentConfig
    env_cfg: Any
    raw: pl.DataFrame
    signals: pl.DataFrame
    where: str
    env: Any
    exporter: BacktestExporter
    actor: Any
    source: dict[str, Any]


def prepare_export(*, run_dir: str | Path | None, policy: str | None, episodes: int,
             config: ExperimentConfig | Mapping[str, Any] | str | Path | None, seed: int,
             data: tuple[pl.DataFrame, pl.DataFrame] | None, split: str, deterministic: bool) -> ExportSetup:
    """Check the arguments; build the env (with a BacktestExporter) and the actor of an export."""
    from signalflow_gym.env import SignalFlowEnv
    from signalflow_gym.run_package import load_run_package

    if (run_dir is None) == (policy is None):
        raise ConfigError("pass exactly one of `run_dir` (a trained run) and `policy` ("
                          f"{' or '.join(repr(p) for p in POLICY_CHOICES)})")
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ConfigError(f"`episodes` must be an integer >= 1, was {episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"`seed` must be an integer >= 0 (it seeds the episode windows), was {seed!r}")
    if split not in SPLIT_NAMES:
        raise ConfigError(f"`split` must be one of {', '.join(SPLIT_NAMES)}, was {split!r}")
    package = None
    if run_dir is not None:
        from signalflow_gym.experiment.evaluate import load_experiment

        exp, run_manifest = load_experiment(run_dir)
        package = load_run_package(run_dir)
    else:
        if policy not in POLICY_CHOICES:
            raise ConfigError(f"`policy` must be one of {', '.join(POLICY_CHOICES)}, was {policy!r}")
        from signalflow_gym.experiment.train import coerce_config

        exp = coerce_config(config) if config is not None else ExperimentConfig()
    # exported episodes are the real market's: training-time augmentation (mirrored episodes) is off
    env_cfg = (package.config if package is not None else exp.env).without_augmentation()
    if data is None:
        raw, signals = load_data(exp.data)
        sl = getattr(split_data(exp.data, raw, signals, env=env_cfg), split)
        raw, signals = sl.raw_data, sl.signals
        where = split
    else:
        raw, signals = data
        where = "given"

    env = SignalFlowEnv(raw, signals, config=env_cfg)
    if package is not None and data is None:  # the trained policy's episodes on the data it recorded, as evaluate checks
        from signalflow_gym.experiment.evaluate import check_recorded_data

        check_recorded_data(env.market, split, run_manifest, source=exp.data.source,
                            fix="restore the data, or export from the directory the run was trained in")
    exporter = env.runner.exporter = BacktestExporter()
    if package is not None:
        actor: Any = PolicyActor(package, deterministic=deterministic)
        source = {"run_dir": str(Path(run_dir).resolve()), "algorithm": package.manifest["algorithm"], "deterministic": deterministic}
    else:
        threshold = exp.evaluation.threshold
        actor = baseline_policy(policy, env, seed=seed, threshold=threshold)
        source = {"policy": policy, "description": describe(policy, threshold=threshold),
                  **({"seed": seed} if policy == "random" else {}),
                  **({"threshold": threshold} if policy == "threshold" else {})}

    return ExportSetup(exp, env_cfg, raw, signals, where, env, exporter, actor, source)


@dataclass(frozen=True)
class Transition:
    """One env step of a rolled-out episode: the bar acted on (`timestamp`, UTC naive), the raw
    observation the action was chosen on, the env's action mask there (`action_masks()`: which
    actions were allowed; a masked action taken anyway is a no-op, the env holds), the action
    and what `env.step` returned for it."""

    step: int
    timestamp: Any
    observation: np.ndarray
    action_mask: np.ndarray
    action: int
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


@dataclass(frozen=True)
class Rollout:
    """One episode: its index, the seed of its reset (None: the env's generator continued),
    the reset observation and info, its transitions, and the observation and action mask after
    the last step."""

    episode: int
    seed: int | None
    reset_observation: np.ndarray
    reset_info: dict[str, Any]
    transitions: list[Transition]
    final_observation: np.ndarray
    final_action_mask: np.ndarray

    @property
    def observations(self) -> list[np.ndarray]:
        """The N+1 observations of an N-step episode (the reset one first)."""
        return [*(t.observation for t in self.transitions), self.final_observation]


def roll_out(env: Any, actor: Any, *, episodes: int, seed: int) -> Iterator[Rollout]:
    """Run `episodes` episodes of `actor` (``actor(obs, mask) -> action``; its `reset()`, if
    any, is called at each episode start) in `env` and yield each `Rollout` when it ends.

    Only the first reset is seeded (``env.reset(seed=seed)``; later episodes continue the
    env's generator), so a rollout is reproducible. When a rollout is yielded the env is
    still at that episode's end (`env.episode_result()` and the runner's exporter describe it).
    """
    for ep in range(episodes):
        ep_seed = seed if ep == 0 else None
        obs, info = env.reset(seed=ep_seed)
        if hasattr(actor, "reset"):
            actor.reset()
        first_obs, first_info = obs, info
        transitions: list[Transition] = []
        done = False
        while not done:
            ts = info["timestamp"]
            mask = np.array(env.action_masks(), dtype=bool)
            # the env's own rule (a float, bool or out-of-range index raises InvalidActionError)
            action = action_index(actor(obs, mask), env.action_space, tuple(env.action_names))
            next_obs, reward, terminated, truncated, info = env.step(action)
            transitions.append(Transition(len(transitions), ts, obs, mask, action, float(reward), bool(terminated),
                                          bool(truncated), info))
            obs = next_obs
            done = terminated or truncated
        yield Rollout(ep, ep_seed, first_obs, first_info, transitions, obs, np.array(env.action_masks(), dtype=bool))


def _write_dataset(out: Path, env: Any, exporter: BacktestExporter, actor: Any, *, episodes: int, seed: int,
                   initial: float, manifest: dict[str, Any]) -> None:
    """Roll out `episodes` episodes of `actor` in `env` and write the dataset files into `out`."""
    feature_names = list(env.feature_names)
    action_names = list(env.action_names)
    cols: dict[str, list[Any]] = {k: [] for k in ("episode_id", "step", "timestamp", "action_mask", "action",
                                                  "action_name", "reward", "terminated", "truncated", "equity",
                                                  "cash", "positions")}
    observations: list[np.ndarray] = []
    ep_rows: list[dict[str, Any]] = []
    for rollout in roll_out(env, actor, episodes=episodes, seed=seed):
        ep = rollout.episode
        for t in rollout.transitions:
            observations.append(t.observation)
            for k, v in (("episode_id", ep), ("step", t.step), ("timestamp", t.timestamp),
                         ("action_mask", t.action_mask.tolist()), ("action", t.action),
                         ("action_name", action_names[t.action]), ("reward", t.reward),
                         ("terminated", t.terminated), ("truncated", t.truncated),
                         ("equity", float(t.info["equity"])), ("cash", float(t.info["cash"])),
                         ("positions", int(t.info["positions"]))):
                cols[k].append(v)
        result = env.episode_result()
        exporter.finalize(out / "episodes" / f"{ep:05d}")
        final = result.summary["final_equity"]
        window_start, window_end = (int(x) for x in rollout.reset_info["window"])
        start_ts = env.unwrapped.market.datetime_at(window_start)  # (the window's first bar, a decision bar or not)
        step = len(rollout.transitions)
        ep_rows.append({
            "episode_id": ep,
            "length": step,
            "return": final / initial - 1.0,
            "log_return": math.log(final / initial) if final > 0 else -math.inf,
            "reward_sum": float(sum(t.reward for t in rollout.transitions)),
            "max_drawdown": result.summary["max_drawdown"],
            "trades": int(result.summary["n_trades"]),
            "n_bars": int(result.summary["n_bars"]),
            "start": start_ts,
            "window_start": window_start,
            "window_length": window_end - window_start,
            "end": result.metrics_df.get_column("timestamp")[-1] if result.metrics_df.height else start_ts,
            "terminated": rollout.transitions[-1].terminated if step else False,
        })

    obs_arr = np.asarray(observations, dtype=np.float32).reshape(len(observations), len(feature_names))
    transitions = pl.DataFrame(
        {
            "episode_id": pl.Series(cols["episode_id"], dtype=pl.Int64),
            "step": pl.Series(cols["step"], dtype=pl.Int64),
            "timestamp": pl.Series(cols["timestamp"], dtype=pl.Datetime("us")),
            **{name: pl.Series(name, obs_arr[:, i], dtype=pl.Float32) for i, name in enumerate(feature_names)},
            "action_mask": pl.Series(cols["action_mask"], dtype=pl.List(pl.Boolean)),
            "action": pl.Series(cols["action"], dtype=pl.Int64),
            "action_name": pl.Series(cols["action_name"], dtype=pl.String),
            "reward": pl.Series(cols["reward"], dtype=pl.Float64),
            "terminated": pl.Series(cols["terminated"], dtype=pl.Boolean),
            "truncated": pl.Series(cols["truncated"], dtype=pl.Boolean),
            "equity": pl.Series(cols["equity"], dtype=pl.Float64),
            "cash": pl.Series(cols["cash"], dtype=pl.Float64),
            "positions": pl.Series(cols["positions"], dtype=pl.Int64),
        }
    )
    episodes_df = pl.DataFrame(ep_rows, schema={
        "episode_id": pl.Int64, "length": pl.Int64, "return": pl.Float64, "log_return": pl.Float64,
        "reward_sum": pl.Float64, "max_drawdown": pl.Float64, "trades": pl.Int64, "n_bars": pl.Int64,
        "start": pl.Datetime("us"), "end": pl.Datetime("us"), "window_start": pl.Int64, "window_length": pl.Int64,
        "terminated": pl.Boolean,
    })
    write_parquets_atomic({out / "transitions.parquet": transitions, out / "episodes.parquet": episodes_df})
    manifest = {
        **manifest,
        "feature_names": feature_names,
        "action_names": action_names,
        "files": {"transitions": "transitions.parquet", "episodes": "episodes.parquet",
                  "per_episode": "episodes/<episode_id:05d>/{bars,trades}.parquet"},
    }
    write_json_atomic(out / "manifest.json", manifest)
