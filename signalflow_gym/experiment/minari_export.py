"""`export_minari()`: roll out episodes of a policy and write them as a Minari dataset.

Needs the ``minari`` extra (``pip install -e ".[minari]"``: minari with its arrow backend).
The episodes are those `export_episodes()` writes for the same arguments (same actor, same
`env.reset(seed=seed)` on the first episode, so the same windows), stored the Minari way:

- per episode: N+1 observations (the reset observation kept: the raw, unnormalised ones),
  N actions, rewards, terminations and truncations, each its own array;
- per episode metadata: ``seed`` (the first episode's; later episodes continue the env's
  random generator) and ``options`` = ``{"start": bar, "length": bars}``, reset options that
  replay the episode's window (``env.reset(options=ep_meta["options"])``);
- dataset metadata: ``signalflow`` (policy, seed, split, feature and action names, each
  episode's window start time, the experiment config, library versions);
- the env spec: ``recover_environment()`` builds a `SignalFlowEnv` with the recorded env
  config on the recorded data (`make_recorded_env`): the synthetic market is rebuilt from
  its parameters; a data file is read again from its recorded (absolute) path, and when it
  is not there the error names the file; data passed from Python (`data=`) cannot be
  recorded, pass it again: ``recover_environment(raw_data=..., signals=...)``.

Minari writes into ``$MINARI_DATASETS_PATH`` (default ``~/.minari/datasets``), or into
`datasets_path` when given. An existing dataset id is replaced only with `overwrite=True`.
"""

from __future__ import annotations

import errno
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import polars as pl

from signalflow.core.errors import ConfigError
from signalflow_gym.outputs import building, check_target
from signalflow_gym.experiment.config import ExperimentConfig

__all__ = ["export_minari", "make_recorded_env", "RECORDED_ENTRY_POINT"]

RECORDED_ENTRY_POINT = "signalflow_gym.experiment.minari_export:make_recorded_env"


def _require_minari() -> Any:
    try:
        import minari
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError('the Minari export needs minari: pip install -e ".[minari]"') from exc
    return minari


@contextmanager
def _datasets_path(path: str | Path | None) -> Iterator[None]:
    """Point minari at `path` (``MINARI_DATASETS_PATH``) for the duration, when given."""
    if path is None:
        yield
        return
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(Path(path).resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


#: The file minari keeps in a namespace's folder (``<datasets root>/<namespace>/``).
NAMESPACE_METADATA = "namespace_metadata.json"


def _recorded_data(exp: ExperimentConfig, given: bool) -> dict[str, Any] | None:
    """The experiment's data section with absolute file paths, or None for data given from Python."""
    if given:
        return None
    spec = exp.data.to_dict()
    if spec.get("source") != "synthetic":
        spec["source"] = str(Path(spec["source"]).resolve())
    if spec.get("signals") is not None:
        spec["signals"] = str(Path(spec["signals"]).resolve())
    return spec


def make_recorded_env(
    config: Mapping[str, Any] | None = None,
    experiment_data: Mapping[str, Any] | None = None,
    split: str = "train",
    raw_data: Any = None,
    signals: Any = None,
    render_mode: str | None = None,
    fingerprint: str | None = None,
) -> Any:
    """The env a Minari dataset was recorded in (its env spec's entry point).

    `config`: the EnvConfig dict; `experiment_data`: the experiment's data section
    (`DataSpec` dict) and `split` the split of it the episodes ran on; `fingerprint`: that
    split's `MarketData.fingerprint()` at export, checked when the data is read again (a file
    edited since would replay other prices). `raw_data` / `signals` given
    (``recover_environment(raw_data=..., signals=...)``) replace the data, unchecked.
    """
    from signalflow_gym.env import SignalFlowEnv
    from signalflow_gym.experiment.config import DataSpec
    from signalflow_gym.experiment.data import load_data, split_data

    if raw_data is not None:
        return SignalFlowEnv(raw_data, signals, config=config, render_mode=render_mode)
    if experiment_data is None:
        raise ConfigError("this Minari dataset was recorded on data passed from Python (`data=`), which it does not "
                          "hold; pass it again: recover_environment(raw_data=..., signals=...)")
    spec = DataSpec.from_dict(dict(experiment_data))
    for key in ("source", "signals"):
        path = getattr(spec, key)
        if path is not None and not (key == "source" and path == "synthetic") and not Path(path).exists():
            raise FileNotFoundError(
                errno.ENOENT,
                f"this Minari dataset was recorded on the {split} split of data.{key} {path}, which is not there; "
                "put the file back, or pass the data: recover_environment(raw_data=..., signals=...)",
                path)
    from signalflow_gym.config import EnvConfig

    env_cfg = EnvConfig.coerce(dict(config) if config is not None else None)
    raw, sigs = load_data(spec)
    sl = getattr(split_data(spec, raw, sigs, env=env_cfg), split)
    env = SignalFlowEnv(sl.raw_data, sl.signals, config=env_cfg, render_mode=render_mode)
    actual = env.market.fingerprint() if fingerprint is not None else None
    if actual != fingerprint:
        env.close()
        raise ConfigError(
            f"this Minari dataset was recorded on the {split} split of data.source {spec.source}, and that split "
            f"is not the data it recorded (fingerprint {actual[:12]}..., recorded "
            f"{fingerprint[:12]}...): the file changed since the export; restore it, or pass the data the episodes "
            "ran on: recover_environment(raw_data=..., signals=...)"
        )
    return env


def export_minari(
    dataset_id: str,
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
    datasets_path: str | Path | None = None,
    description: str | None = None,
) -> Path:
    """Roll out the episodes `export_episodes()` would and write them as Minari dataset `dataset_id`.

    `dataset_id` is Minari's ``[namespace/]name-vN`` (e.g. ``"signalflow/threshold-v0"``).
    The other arguments are `export_episodes()`'s; `datasets_path` is the folder Minari
    writes into (default ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``). Returns the
    dataset's folder. Load it with ``minari.load_dataset(dataset_id)`` (same datasets path).
    """
    minari = _require_minari()
    import gymnasium

    from minari.dataset.minari_dataset import parse_dataset_id

    from signalflow_gym import ENV_ID
    from signalflow_gym.experiment.export import prepare_export

    if not isinstance(dataset_id, str) or not dataset_id:
        raise ConfigError(f"`dataset_id` must be a Minari id like 'signalflow/name-v0', was {dataset_id!r}")
    try:
        parse_dataset_id(dataset_id)
    except Exception as exc:
        raise ConfigError(f"`dataset_id` {dataset_id!r} is not a Minari id ([namespace/]name-vN): {exc}") from exc
    existing = _existing(dataset_id, datasets_path)
    if existing is not None and not overwrite:
        raise FileExistsError(errno.EEXIST, f"Minari dataset {dataset_id} exists (replace it with --overwrite, "
                              "overwrite=True)", str(existing))
    if existing is not None:  # a folder this export may not replace is refused before the rollout, not after
        check_target(existing, kind="minari dataset", overwrite=overwrite, what="Minari dataset",
                     error=FileExistsError)

    setup = prepare_export(run_dir=run_dir, policy=policy, episodes=episodes, config=config, seed=seed, data=data,
                            split=split, deterministic=deterministic)
    env, actor = setup.env, setup.actor
    env.runner.exporter = None  # no per-episode backtest files here
    env_spec = gymnasium.envs.registration.EnvSpec(
        id=ENV_ID,
        entry_point=RECORDED_ENTRY_POINT,
        kwargs={"config": setup.env_cfg.to_dict(), "experiment_data": _recorded_data(setup.exp, data is not None),
                "split": setup.where if data is None else split,
                "fingerprint": env.market.fingerprint() if data is None else None},
    )
    env.spec = env_spec  # minari records it; passing the env (not the spec) spares a gym.make here
    try:
        buffers, windows = _episode_buffers(env, actor, episodes=episodes, seed=seed)
        path = _write(minari, dataset_id, env, buffers, windows, setup, episodes=episodes, seed=seed,
                      overwrite=overwrite, datasets_path=datasets_path, description=description)
    finally:
        env.close()
    return path


def _write(minari: Any, dataset_id: str, env: Any, buffers: list[dict[str, Any]], windows: list[dict[str, Any]],
           setup: Any, *, episodes: int, seed: int, overwrite: bool, datasets_path: str | Path | None,
           description: str | None) -> Path:
    from minari.storage.datasets_root_dir import get_dataset_path

    from minari.data_collector import EpisodeBuffer

    from signalflow_gym.run_package import library_versions

    episode_buffers = [EpisodeBuffer(**b) for b in buffers]
    meta = {
        "format_version": 1,
        "source": setup.source,
        "episodes": episodes,
        "seed": seed,
        "split": setup.where,
        "feature_names": list(env.feature_names),
        "action_names": list(env.action_names),
        "windows": windows,
        "experiment": setup.exp.to_dict(),
        "versions": library_versions(),
    }
    with _datasets_path(datasets_path):
        final = Path(get_dataset_path(dataset_id))
    # built in a temporary sibling and swapped in (`signalflow_gym.outputs.building`): killed at
    # any instant, the dataset's folder holds the previous dataset or the new one, never a mix
    with building(final, kind="minari dataset", overwrite=overwrite, what="Minari dataset", error=FileExistsError) as tmp:
        root = tmp / ".minari-root"  # minari writes under a datasets root of its own, inside the build
        with _datasets_path(root):
            with warnings.catch_warnings():  # minari's advice on code_permalink, author_email, eval_env
                warnings.filterwarnings("ignore", category=UserWarning, module=r"minari\.")
                dataset = minari.create_dataset_from_buffers(
                    dataset_id=dataset_id,
                    buffer=episode_buffers,
                    env=env,
                    algorithm_name=str(setup.source.get("algorithm") or setup.source.get("policy")),
                    author="signalflow-gym",
                    description=description or _describe_source(setup.source),
                    data_format="arrow",
                    requirements=None,
                )
            dataset.storage.update_metadata({"signalflow": _jsonable(meta)})
            built = Path(get_dataset_path(dataset_id))
        for entry in built.iterdir():
            os.replace(entry, tmp / entry.name)
        # minari's own record of the namespace (`minari.list_local_namespaces`, needed by
        # `minari.upload_dataset`), kept where minari looks for it unless one is there already
        namespace = built.parent / NAMESPACE_METADATA
        if built.parent != root and namespace.is_file() and not (final.parent / NAMESPACE_METADATA).exists():
            os.replace(namespace, final.parent / NAMESPACE_METADATA)
        shutil.rmtree(root)
    return final


def _describe_source(source: Mapping[str, Any]) -> str:
    """A sentence naming the policy whose episodes a dataset holds (its default description)."""
    if "run_dir" in source:
        return (f"SignalFlow-v0 episodes of the {source.get('algorithm')} policy trained in {source['run_dir']} "
                f"({'deterministic' if source.get('deterministic') else 'sampled'} actions)")
    return f"SignalFlow-v0 episodes of the {source.get('policy')} baseline: {source.get('description')}"


def _existing(dataset_id: str, datasets_path: str | Path | None) -> Path | None:
    """The folder of Minari dataset `dataset_id`, if it exists."""
    from minari.storage.datasets_root_dir import get_dataset_path

    with _datasets_path(datasets_path):
        path = Path(get_dataset_path(dataset_id))
    return path if path.exists() else None


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def _episode_buffers(env: Any, actor: Any, *, episodes: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The episodes of `roll_out` (those `export_episodes` writes) as Minari episode buffers
    (N+1 observations, the reset one kept, with ``infos["action_mask"]`` beside them) and
    their windows."""
    from signalflow_gym.experiment.export import roll_out

    buffers: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    for rollout in roll_out(env, actor, episodes=episodes, seed=seed):
        start, end = (int(x) for x in rollout.reset_info["window"])
        windows.append({"id": rollout.episode, "seed": rollout.seed, "start": start, "length": end - start,
                        "start_time": str(env.unwrapped.market.datetime_at(start))})
        steps = rollout.transitions
        buffers.append({
            "id": rollout.episode,
            "seed": rollout.seed,
            "options": {"start": start, "length": end - start},
            "observations": np.stack([np.asarray(o, dtype=np.float32) for o in rollout.observations]),
            "actions": np.asarray([t.action for t in steps], dtype=np.int64),
            "rewards": [t.reward for t in steps],
            "terminations": [t.terminated for t in steps],
            "truncations": [t.truncated for t in steps],
            # one row per observation (the reset one first), as Minari keeps infos: the actions
            # the env allowed there (a masked action taken anyway was a no-op, the env held)
            "infos": {"action_mask": np.stack([*(t.action_mask for t in steps), rollout.final_action_mask])},
        })
    return buffers, windows
