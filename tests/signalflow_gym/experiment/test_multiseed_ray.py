"""Multi-seed training as Ray tasks (`train(..., num_cpus=2)`): the seeds run in parallel workers
and write the same experiment directory; a seed that fails is reported by seed once the others
are done, the others stay complete, and a rerun trains only the failed one."""

from __future__ import annotations

import pytest

from experiment_helpers import tiny_config
from signalflow.core.errors import ConfigError
from signalflow_gym.experiment import train
from signalflow_gym.experiment.evaluate import load_experiment
from signalflow_gym.experiment.seeds import seed_runs
from signalflow_gym.outputs import read_marker, verify_complete


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_seeds_run_as_ray_tasks_and_a_failed_seed_is_named(ray_local, tmp_path):
    cfg = tiny_config("ppo", "train.seeds=[3, 4]", "train.eval_freq=0", "train.checkpoint_freq=0", total=128)
    exp = tmp_path / "exp"
    (exp / "seed_4").mkdir(parents=True)
    cfg.to_yaml(exp / "experiment.yaml")  # an experiment that had started
    (exp / "seed_4" / "notes.txt").write_text("not a run")  # makes seed 4's own train() refuse its folder
    with pytest.raises(ConfigError, match=r"seed 4 of the experiment failed: output directory .*seed_4 holds files "
                                          r"that are not from a run \(notes\.txt\)"):
        train(cfg, exp, progress=False, num_cpus=2)
    seed_3 = verify_complete(exp / "seed_3", kind="train")  # the other seed finished in its worker
    assert read_marker(exp) is None
    with pytest.raises(ConfigError, match=r"seed\(s\) 4 are missing or were interrupted"):
        seed_runs(exp)

    (exp / "seed_4" / "notes.txt").unlink()
    train(cfg, exp, progress=False, num_cpus=2)
    assert [p.name for p in seed_runs(exp)] == ["seed_3", "seed_4"]
    assert verify_complete(exp / "seed_3", kind="train") == seed_3  # not trained again
    for seed, run in zip((3, 4), seed_runs(exp)):
        run_cfg, manifest = load_experiment(run)
        assert run_cfg.train.seed == seed and manifest["extra"]["num_timesteps"] >= 128
