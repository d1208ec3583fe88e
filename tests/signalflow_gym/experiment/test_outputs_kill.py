"""SIGKILL `save_run_package`, `evaluate` and `export` at several instants: the output folder always holds one
complete result (the previous one or the new one), and the same command run again succeeds.

Each case runs `kill_driver.py` in a subprocess that replaces a complete result with a new one
and kills itself at a chosen rename (mid-build, between the two renames of the swap, or just
after the swap). The folder is then read the way every reader of this package reads it
(`outputs.recover` first, which finishes an interrupted swap).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from experiment_helpers import tiny_config
from signalflow_gym.experiment import evaluate, export_episodes, train
from signalflow_gym.outputs import recover, verify_complete
from signalflow_gym.run_package import load_run_package, save_run_package, verify_run_package

DRIVER = Path(__file__).with_name("kill_driver.py")
#: (writer, kill point, which result must be there afterwards: "old", "new" or "either")
CASES = [
    ("package", "nth:1", "old"),  # the new package half-built (model.zip written, config not yet)
    ("package", "between", "old"),  # the old package renamed aside, the new one not yet in place
    ("package", "after", "new"),  # the new package in place, the old one not yet deleted
    ("evaluate", "nth:2", "old"),  # bars.parquet of the new report written, trades.parquet not yet
    ("evaluate", "between", "old"),
    ("export", "nth:3", "old"),  # the second episode of the new dataset being written
    ("export", "between", "old"),
]


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """A trained run, and a complete package, report and dataset to be replaced (the "old" results)."""
    from stable_baselines3 import PPO

    root = tmp_path_factory.mktemp("kill")
    cfg = tiny_config("ppo", "train.eval_freq=0", "train.checkpoint_freq=0", total=128)
    run = train(cfg, root / "run", progress=False)
    model = PPO.load(run / "model.zip", device="cpu")
    save_run_package(root / "package", model=model, config=run / "env_config.yaml", extra={"version": 1})
    evaluate(run, out_dir=root / "evaluate", n_random_seeds=1, plot=False)
    export_episodes(root / "export", policy="random", episodes=2, config=cfg)
    spec = root / "spec.json"
    spec.write_text(json.dumps({"model": str(run / "model.zip"), "env_config": str(run / "env_config.yaml"),
                                "run": str(run), "experiment": cfg.to_dict()}))
    return root, spec, model, cfg


def _version(op: str, out: Path) -> str:
    """Check `out` is one complete, self-consistent result of `op`; say whether it is the old or the new one."""
    kind = {"package": "run_package", "evaluate": "evaluation", "export": "export"}[op]
    verify_complete(out, kind=kind)
    if op == "package":
        manifest = verify_run_package(out)
        return {1: "old", 2: "new"}[manifest["extra"]["version"]]
    if op == "evaluate":
        report = json.loads((out / "report.json").read_text())
        assert pl.read_parquet(out / "bars.parquet")["timestamp"].n_unique() == report["period"]["n_bars"]
        return {1: "old", 2: "new"}[len(report["baselines"]["random"]["seeds"])]
    manifest = json.loads((out / "manifest.json").read_text())
    n = manifest["episodes"]
    assert pl.read_parquet(out / "episodes.parquet").height == n
    assert pl.read_parquet(out / "transitions.parquet")["episode_id"].n_unique() == n
    assert sorted(p.name for p in (out / "episodes").iterdir()) == [f"{i:05d}" for i in range(n)]
    return {2: "old", 3: "new"}[n]


def test_a_killed_writer_leaves_one_complete_result_and_a_rerun_succeeds(originals, tmp_path):
    root, spec, model, cfg = originals
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    procs = []
    for i, (op, at, expected) in enumerate(CASES):
        out = tmp_path / f"case{i}" / op
        shutil.copytree(root / op, out)
        procs.append((op, at, expected, out, subprocess.Popen(
            [sys.executable, str(DRIVER), op, str(out), at, str(spec)], env=env, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    for op, at, expected, out, proc in procs:
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == -signal.SIGKILL, f"{op} at {at}: not killed ({proc.returncode}): {stdout}{stderr}"
        recover(out)  # what every reader and writer does first
        assert sorted(p.name for p in out.parent.iterdir()) == [op], f"{op} at {at}: temporaries left"
        assert _version(op, out) == expected, f"{op} at {at}"
        # the same command again: accepted, and it leaves the new result
        if op == "package":
            save_run_package(out, model=model, config=root / "run" / "env_config.yaml", extra={"version": 2},
                             overwrite=True)
            load_run_package(out)
        elif op == "evaluate":
            evaluate(root / "run", out_dir=out, n_random_seeds=2, plot=False, overwrite=True)
        else:
            export_episodes(out, policy="random", episodes=3, config=cfg, overwrite=True)
        assert _version(op, out) == "new", f"{op} at {at}: rerun"
        assert sorted(p.name for p in out.parent.iterdir()) == [op]
