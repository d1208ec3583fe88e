"""Minari export (`export_minari`, `signalflow-gym export --format minari`) against our parquet export."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from experiment_helpers import run_main
from signalflow.core.errors import ConfigError
from signalflow_gym.experiment import ExperimentConfig, export_episodes, load_data

minari = pytest.importorskip("minari")

from signalflow_gym.experiment.minari_export import export_minari  # noqa: E402

OVERRIDES = ["data.synthetic.n_bars=1500", "env.episode.length=120"]


@pytest.fixture(autouse=True)
def minari_root(tmp_path, monkeypatch):
    """Every Minari dataset of these tests goes under tmp_path, never ~/.minari."""
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def _config(*extra: str) -> ExperimentConfig:
    return ExperimentConfig.from_dict({}, [*OVERRIDES, *extra])


def _episode_meta(ds) -> list[dict]:
    return list(ds.storage.get_episode_metadata(range(ds.total_episodes)))


@pytest.mark.parametrize("policy", ["threshold", "random"])
def test_minari_matches_parquet_export(tmp_path, policy):
    cfg = _config()
    pq = export_episodes(tmp_path / "pq", policy=policy, episodes=3, config=cfg, seed=7)
    export_minari("signalflow/test-v0", policy=policy, episodes=3, config=cfg, seed=7)

    ds = minari.load_dataset("signalflow/test-v0")
    manifest_features = ds.storage.metadata["signalflow"]["feature_names"]
    transitions = pl.read_parquet(pq / "transitions.parquet")
    episodes = pl.read_parquet(pq / "episodes.parquet")
    assert ds.total_episodes == 3
    assert ds.total_steps == transitions.height
    for ep in ds.iterate_episodes():
        rows = transitions.filter(pl.col("episode_id") == ep.id).sort("step")
        n = rows.height
        assert len(ep) == n == episodes.filter(pl.col("episode_id") == ep.id)["length"][0]
        assert ep.observations.shape == (n + 1, len(manifest_features))  # the reset observation kept
        np.testing.assert_array_equal(ep.observations[:-1], rows.select(manifest_features).to_numpy())
        np.testing.assert_array_equal(ep.actions, rows["action"].to_numpy())
        np.testing.assert_allclose(ep.rewards, rows["reward"].to_numpy(), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(ep.terminations, rows["terminated"].to_numpy())
        np.testing.assert_array_equal(ep.truncations, rows["truncated"].to_numpy())
        masks = ep.infos["action_mask"]  # one row per observation, the reset one first
        assert masks.shape == (n + 1, len(ds.storage.metadata["signalflow"]["action_names"])) and masks.dtype == bool
        np.testing.assert_array_equal(masks[:-1], np.array(rows["action_mask"].to_list(), dtype=bool))
        assert masks[:, 0].all()  # hold is always allowed

    from minari.namespace import list_local_namespaces

    assert "signalflow" in list_local_namespaces()  # minari's namespace record kept (upload needs it)
    meta = _episode_meta(ds)
    assert [m.get("seed") for m in meta] == [7, None, None]  # one seeded reset, as in the parquet export
    windows = ds.storage.metadata["signalflow"]["windows"]
    starts = episodes.sort("episode_id")["start"].to_list()
    assert [w["start_time"] for w in windows] == [str(s) for s in starts]
    # the windows' first bars (not the first decision bars), as recorded in both exports
    assert episodes.sort("episode_id")["window_start"].to_list() == [w["start"] for w in windows]
    assert episodes.sort("episode_id")["window_length"].to_list() == [w["length"] for w in windows]
    assert all(m["options"]["length"] == 120 for m in meta)

    # the recovered env is a working SignalFlowEnv on the same market: replaying an episode's
    # recorded window and actions gives back its observations and rewards
    env = ds.recover_environment()
    try:
        from signalflow_gym import SignalFlowEnv

        assert isinstance(env.unwrapped, SignalFlowEnv)
        market = env.unwrapped.market
        assert [w["start_time"] for w in windows] == [str(market.datetime_at(w["start"])) for w in windows]
        ep = next(iter(ds.iterate_episodes([1])))
        obs, _ = env.reset(options=meta[1]["options"])
        np.testing.assert_array_equal(obs, ep.observations[0])
        for t, action in enumerate(ep.actions):
            np.testing.assert_array_equal(env.unwrapped.action_masks(), ep.infos["action_mask"][t])
            obs, reward, terminated, truncated, _ = env.step(int(action))
            np.testing.assert_array_equal(obs, ep.observations[t + 1])
            assert reward == pytest.approx(ep.rewards[t], abs=1e-12)
        assert terminated or truncated
    finally:
        env.close()


def test_existing_dataset_needs_overwrite():
    cfg = _config()
    export_minari("signalflow/again-v0", policy="random", episodes=1, config=cfg, seed=1)
    with pytest.raises(FileExistsError):
        export_minari("signalflow/again-v0", policy="random", episodes=1, config=cfg, seed=1)
    export_minari("signalflow/again-v0", policy="random", episodes=2, config=cfg, seed=1, overwrite=True)
    assert minari.load_dataset("signalflow/again-v0").total_episodes == 2


def test_file_data_recovered_env_names_the_missing_file(tmp_path):
    raw, _ = load_data(_config().data)
    csv = tmp_path / "bars.csv"
    raw.write_csv(csv)
    cfg = _config(f"data.source={csv}", "data.detector=momentum")
    export_minari("signalflow/file-v0", policy="threshold", episodes=1, config=cfg, seed=0)
    ds = minari.load_dataset("signalflow/file-v0")
    env = ds.recover_environment()  # the file is there: it is read again
    env.reset(options=_episode_meta(ds)[0]["options"])
    env.step(0)
    env.close()
    # edited since the export: the recovered env would replay other prices (it did, silently)
    first = raw.get_column("timestamp").min()
    raw.with_columns(pl.when(pl.col("timestamp") == first).then(pl.col("close") * 1.0001).otherwise(pl.col("close"))
                     .alias("close")).write_csv(csv)
    with pytest.raises(ConfigError, match=r"recorded on the train split of data.source .*bars\.csv, and that split is "
                                          r"not the data it recorded \(fingerprint"):
        ds.recover_environment()
    csv.unlink()
    with pytest.raises(FileNotFoundError, match="bars.csv"):
        ds.recover_environment()


def test_given_data_must_be_passed_to_recover(tmp_path):
    from signalflow.core.errors import ConfigError

    cfg = _config()
    raw, signals = load_data(cfg.data)
    export_minari("signalflow/given-v0", policy="random", episodes=1, config=cfg, data=(raw, signals))
    ds = minari.load_dataset("signalflow/given-v0")
    with pytest.raises(ConfigError, match="raw_data"):
        ds.recover_environment()
    env = ds.recover_environment(raw_data=raw, signals=signals)
    obs, _ = env.reset(options=_episode_meta(ds)[0]["options"])
    np.testing.assert_array_equal(obs, next(iter(ds.iterate_episodes())).observations[0])
    env.close()


def test_cli_format_minari(tmp_path, capsys, monkeypatch):
    root = tmp_path / "cli_minari"
    sets = [a for o in OVERRIDES for a in ("--set", o)]
    code, out, err = run_main(["export", "--policy", "random", "--episodes", "2", "--format", "minari",
                               "--dataset-id", "signalflow/cli-v0", "--out", str(root), *sets], capsys)
    assert code == 0, err
    assert "signalflow/cli-v0" in out
    assert (root / "signalflow" / "cli-v0").is_dir()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    ds = minari.load_dataset("signalflow/cli-v0")
    assert ds.total_episodes == 2 and ds.total_steps == 240

    code, _, err = run_main(["export", "--policy", "random", "--episodes", "1", "--format", "minari", *sets], capsys)
    assert code == 2 and "--dataset-id" in err
    code, _, err = run_main(["export", "--policy", "random", "--episodes", "1", "--format", "minari",
                             "--dataset-id", "not an id", "--out", str(root), *sets], capsys)
    assert code == 2 and "dataset_id" in err
    foreign = root / "signalflow" / "foreign-v0"  # a folder signalflow-gym did not write
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    import signalflow_gym.experiment.export as export_module

    rolled = []
    monkeypatch.setattr(export_module, "prepare_export", lambda **kw: rolled.append(kw))  # refused before it
    code, _, err = run_main(["export", "--policy", "random", "--episodes", "1", "--format", "minari", "--overwrite",
                             "--dataset-id", "signalflow/foreign-v0", "--out", str(root), *sets], capsys)
    assert rolled == []
    # it read "FileExistsError: None; check the path, or choose another"
    assert code == 2 and "None" not in err and "foreign-v0" in err, err
    assert (foreign / "notes.txt").read_text() == "mine"


def test_trained_run_minari_matches_parquet(tmp_path):
    from experiment_helpers import tiny_config
    from signalflow_gym.experiment import train

    run = train(tiny_config("ppo", total=256), tmp_path / "run")
    pq = export_episodes(tmp_path / "pq", run_dir=run, episodes=2, seed=3)
    export_minari("signalflow/ppo-v0", run_dir=run, episodes=2, seed=3)
    ds = minari.load_dataset("signalflow/ppo-v0")
    transitions = pl.read_parquet(pq / "transitions.parquet")
    assert ds.storage.metadata["signalflow"]["source"]["algorithm"] == "PPO"
    for ep in ds.iterate_episodes():
        rows = transitions.filter(pl.col("episode_id") == ep.id).sort("step")
        np.testing.assert_array_equal(ep.actions, rows["action"].to_numpy())
        np.testing.assert_allclose(ep.rewards, rows["reward"].to_numpy(), rtol=0, atol=1e-12)
    env = ds.recover_environment()
    env.reset(options=_episode_meta(ds)[0]["options"])
    env.step(0)
    env.close()


def test_a_failed_overwrite_keeps_the_previous_dataset_whole(monkeypatch, tmp_path):
    cfg = _config()
    path = export_minari("signalflow/kept-v0", policy="random", episodes=2, config=cfg, seed=1)

    def crash(*args, **kwargs):
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(minari, "create_dataset_from_buffers", crash)
    with pytest.raises(RuntimeError, match="killed while writing"):
        export_minari("signalflow/kept-v0", policy="random", episodes=3, config=cfg, seed=1, overwrite=True)
    assert minari.load_dataset("signalflow/kept-v0").total_episodes == 2
    beside = sorted(p.name for p in path.parent.iterdir())
    assert beside == sorted([path.name, "namespace_metadata.json"])  # no half-built sibling left
