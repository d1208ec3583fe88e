"""`agents/offline_bc.py`: behaviour cloning on an exported dataset learns the exporting policy
(above the majority-action share) and is backtested beside the baselines through the bridge."""

from __future__ import annotations

import importlib.util
import json

import pytest

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.export import export_episodes

from tests.signalflow_gym.experiment.experiment_helpers import REPO, tiny_config


def _offline_bc():
    spec = importlib.util.spec_from_file_location("offline_bc", REPO / "agents" / "offline_bc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_offline_bc_clones_the_threshold_policy_and_backtests_it_beside_the_baselines(tmp_path, capsys):
    dataset = export_episodes(tmp_path / "episodes", policy="threshold", episodes=4, config=tiny_config("ppo"), seed=1)
    bc = _offline_bc()
    out = tmp_path / "bc.json"
    assert bc.main([str(dataset), "--epochs", "300", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["policies"]) == {"offline_bc", "hold", "threshold", "buy_and_hold"}
    # a learning signal: the clone reproduces the deterministic exporter's actions far above chance
    assert report["actions_present"] >= 2
    assert report["training_balanced_accuracy"] > 1.0 / report["actions_present"] + 0.2
    assert report["policies"]["offline_bc"]["n_trades"] > 0
    assert report["policies"]["hold"]["n_trades"] == 0
    printed = capsys.readouterr().out
    assert "offline_bc" in printed and "validation split" in printed


def test_offline_bc_refuses_a_folder_that_is_not_a_dataset(tmp_path, capsys):
    bc = _offline_bc()
    assert bc.main([str(tmp_path)]) == 2
    assert "is not an exported dataset" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="is not an exported dataset"):
        bc.read_dataset(tmp_path)



def test_offline_bc_clones_what_the_env_executed_a_masked_action_is_hold():
    """A policy that always picks close_all trades nothing while nothing is open (masked: a
    no-op). Its dataset used to carry no mask, and the clone learned close_all (and, from the
    balanced weights, other actions) its source never executed."""
    import numpy as np
    import polars as pl

    from signalflow_gym import SignalFlowEnv
    from signalflow_gym.experiment.data import load_data
    from signalflow_gym.experiment.export import roll_out

    cfg = tiny_config("ppo")
    raw, signals = load_data(cfg.data)
    env = SignalFlowEnv(raw, signals, config=cfg.env)
    close_all = env.action_names.index("close_all")
    enter_then_close = iter([env.action_names.index("enter_top")] * 3)
    actor = lambda obs, mask: next(enter_then_close, close_all)  # noqa: E731
    (rollout,) = roll_out(env, actor, episodes=1, seed=0)
    steps = rollout.transitions
    frame = pl.DataFrame({"action": [t.action for t in steps],
                          "action_mask": [t.action_mask.tolist() for t in steps]})
    allowed = np.array([t.action_mask[t.action] for t in steps])
    assert not allowed.all() and allowed.any()
    executed = _offline_bc().executed_actions(frame, hold=env.action_names.index("hold"))
    actions = frame["action"].to_numpy()
    np.testing.assert_array_equal(executed[~allowed], 0)
    np.testing.assert_array_equal(executed[allowed], actions[allowed])


def test_offline_bc_refuses_to_score_on_the_split_the_dataset_came_from(tmp_path, capsys):
    dataset = export_episodes(tmp_path / "episodes", policy="threshold", episodes=2, config=tiny_config("ppo"), seed=1,
                              split="validation")
    bc = _offline_bc()
    assert bc.main([str(dataset), "--split", "validation", "--epochs", "5"]) == 2
    err = capsys.readouterr().err
    assert "the validation split overlaps the dataset's period (validation split)" in err and "--allow-overlap" in err
    assert bc.main([str(dataset), "--split", "validation", "--epochs", "5", "--allow-overlap"]) == 0
    assert bc.main([str(dataset), "--split", "test", "--epochs", "5"]) == 0  # later bars: out of sample
