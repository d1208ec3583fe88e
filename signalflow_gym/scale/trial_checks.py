"""A sweep's trials, checked before Ray starts: every trial's config, and one set of splits for all.

A sweep expands into trials (`trials.expand_trials`), each the base config plus its
overrides. What a config check can refuse (an unknown key, a value of the wrong type or out
of range, episodes longer than a split) is refused here, for every trial, before any trial
trains, naming the trial and its overrides, rather than as one failed trial after another
once the sweep runs. What only the algorithm's constructor or training can refuse is still a
failed trial, reported with its error while the others go on.

The trials must also share their splits: a sweep ranks them on the validation split and the
winner is reported on the test split, so if an override moved the boundaries (more bars,
another file, other dates) one trial's validation bars could be another's test bars and the
winner's test figure would no longer be out of sample. Overrides that change the market but
not its timestamps (the synthetic market's volatility or signal rate, a detector's
parameters) are allowed. Nothing here imports Ray.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import polars as pl

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.config import ExperimentConfig
from signalflow_gym.scale.trials import override_strings

__all__ = ["trial_config", "trial_configs", "check_trial_splits"]


def trial_config(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> ExperimentConfig:
    """The config of one trial: `base` (a config dict) with the trial's `overrides`; one run, so a
    seed list in the base config is cleared (the sweep crosses it into the trials instead)."""
    return ExperimentConfig.from_dict(base, ["train.seeds=[]", *override_strings(overrides)])


def _described(index: int, overrides: Mapping[str, Any]) -> str:
    return f"trial {index} ({', '.join(override_strings(overrides)) or 'no overrides'})"


def _refused(index: int, overrides: Mapping[str, Any], exc: ConfigError) -> ConfigError:
    """`exc` of trial `index`, naming the trial and its overrides."""
    return ConfigError(f"{_described(index, overrides)} of the sweep space: {exc}")


def trial_configs(base: ExperimentConfig, specs: Sequence[Mapping[str, Any]]) -> list[ExperimentConfig]:
    """Every trial's config, validated now; a `ConfigError` names the first trial that is refused."""
    base_dict = base.to_dict()
    out = []
    for i, spec in enumerate(specs):
        try:
            out.append(trial_config(base_dict, spec))
        except ConfigError as exc:
            raise _refused(i, spec, exc) from None
    return out


def _key(section: Any) -> str:
    return json.dumps(section.to_dict(), sort_keys=True, default=str)


def check_trial_splits(configs: Sequence[ExperimentConfig], specs: Sequence[Mapping[str, Any]],
                       shared: tuple[pl.DataFrame, pl.DataFrame] | None) -> None:
    """Every trial's splits long enough for its episodes, and the same train / validation / test
    periods for all trials (see the module docstring).

    `shared`: the bars and signals of every trial when no trial changes the `data` section, or
    None; otherwise each distinct `data` section is loaded once, one at a time.
    """
    from signalflow_gym.experiment.data import SPLIT_NAMES, check_split, load_data, split_data

    if not configs:
        return
    groups: dict[str, list[int]] = {}
    for i, cfg in enumerate(configs):
        groups.setdefault(_key(cfg.data), []).append(i)
    first_periods: tuple[Any, ...] | None = None
    first_trial = 0
    for members in groups.values():
        cfg = configs[members[0]]
        try:
            raw, signals = shared if shared is not None and len(groups) == 1 else load_data(cfg.data)
            split = split_data(cfg.data, raw, signals)
        except ConfigError as exc:
            raise _refused(members[0], specs[members[0]], exc) from None
        checked_envs: set[str] = set()
        for i in members:
            env_key = _key(configs[i].env)
            if env_key in checked_envs:
                continue
            checked_envs.add(env_key)
            try:
                check_split(split, configs[i].env)
            except ConfigError as exc:
                raise _refused(i, specs[i], exc) from None
        periods = tuple((name, getattr(split, name).start, getattr(split, name).end) for name in SPLIT_NAMES)
        if first_periods is None:
            first_periods, first_trial = periods, members[0]
        elif periods != first_periods:
            i = members[0]
            (name, start, end), (_, start0, end0) = next((p, q) for p, q in zip(periods, first_periods) if p != q)
            varied = [k for k in specs[i] if k.startswith("data.") and specs[i][k] != specs[first_trial].get(k)]
            hint = f"--set {varied[0]}=..." if varied else "--set data....=..."
            raise ConfigError(
                f"{_described(i, specs[i])} of the sweep space has its {name} split at {start}..{end}, "
                f"trial {first_trial}'s is at {start0}..{end0}: the trials must share their splits (a sweep "
                "picks its best trial on the validation split, so one trial's validation bars would be "
                "another's test bars and the winner's test figure would no longer be out of sample); "
                f"do not vary {', '.join(f'`{k}`' for k in varied) or 'the data'} in the space, run one sweep "
                f"per market instead ({hint})"
            )
