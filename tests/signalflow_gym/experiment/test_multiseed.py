"""Multi-seed experiments: train 2 seeds -> evaluate, and the numbers of the report are consistent;
a killed experiment keeps its complete seeds and a rerun finishes it; bad --seeds input.

The report's numbers are checked against what they must be by definition (IQM inside the runs'
range, CIs around their estimate, the probability of improvement equal to the share of run pairs
won, the per-run Sharpe equal to the summary's, the PSR equal to the one of the saved equity).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
import torch

from experiment_helpers import REPO, run_main, tiny_config
from signalflow.core.errors import ConfigError
from signalflow_gym.experiment import evaluate, train
from signalflow_gym.experiment.evaluate import load_experiment
from signalflow_gym.experiment.seeds import is_multi_seed, parse_seeds, seed_runs
from signalflow_gym.experiment.statistics import probabilistic_sharpe_ratio_of_returns
from signalflow.strategy.metrics import bar_returns
from signalflow_gym.outputs import read_marker, verify_complete

POLICIES = {"agent", "hold", "random", "threshold", "buy_and_hold"}


#: The report's per-run PSRs need agents that trade. After 256 steps a policy on ppo.yaml's
#: direction-invariant observation may keep HOLDing (its returns are then constant and its
#: PSR undefined); on the plain observation an untrained policy trades, so these tiny runs use it.
PLAIN_OBSERVATION = ("env.features.direction_invariant=false", "env.augment.mirror=0.0")


def _config(*extra: str):
    return tiny_config("ppo", "train.seeds=[0, 1]", "train.eval_freq=128", "train.checkpoint_freq=128",
                       *PLAIN_OBSERVATION, *extra, total=256)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("multiseed") / "exp"
    return train(_config(), out, progress=False), _config()


def _in_interval(est: dict) -> None:
    assert est["low"] is not None and est["high"] is not None
    assert est["low"] <= est["value"] + 1e-12 and est["value"] <= est["high"] + 1e-12, est
    assert est["confidence"] == 0.95


def test_an_experiment_directory_holds_one_complete_single_run_per_seed(experiment):
    exp, cfg = experiment
    assert is_multi_seed(exp) and read_marker(exp)["kind"] == "multi_seed"
    assert read_marker(exp)["info"]["seeds"] == [0, 1]
    runs = seed_runs(exp)
    assert [p.name for p in runs] == ["seed_0", "seed_1"]
    for seed, run in zip((0, 1), runs):
        verify_complete(run, kind="train")
        assert not is_multi_seed(run)
        run_cfg, manifest = load_experiment(run)
        assert run_cfg.train.seed == seed and run_cfg.train.seeds == ()
        assert run_cfg.to_dict() == cfg.replace(train={"seed": seed, "seeds": []}).to_dict()
        assert manifest["extra"]["num_timesteps"] >= 256
    # the two seeds trained different policies (else the spread over seeds would be meaningless)
    assert (runs[0] / "model.zip").read_bytes() != (runs[1] / "model.zip").read_bytes()


def test_multi_seed_report_carries_consistent_uncertainty_numbers(experiment):
    exp, cfg = experiment
    report = evaluate(exp)
    out = exp / "evaluation" / "test"
    for name in ("report.json", "report.md", "equity.png", "profile.png", "seeds/seed_0/bars.parquet",
                 "seeds/seed_1/trades.parquet"):
        assert (out / name).is_file(), name
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["kind"] == "multi_seed" and on_disk["agent"]["seeds"] == [0, 1]
    assert set(on_disk["aggregates"]) == POLICIES and set(on_disk["runs"]) == POLICIES
    assert set(on_disk["improvement"]) == POLICIES - {"agent"}

    runs = on_disk["runs"]
    assert [r["seed"] for r in runs["agent"]] == [0, 1]
    assert len(runs["random"]) == cfg.evaluation.n_random_seeds
    returns = {policy: np.array([r["total_return"] for r in items]) for policy, items in runs.items()}
    np.testing.assert_allclose(returns["agent"], on_disk["agent"]["total_returns"])

    for policy, agg in on_disk["aggregates"].items():
        assert agg["n_runs"] == len(runs[policy])
        for metric in ("total_return", "sharpe"):
            values = np.array([r[metric] if metric == "total_return" else r["sharpe"]["value"] for r in runs[policy]])
            lo, hi = values.min(), values.max()
            for name in ("mean", "median", "iqm"):
                est = agg[metric][name]
                _in_interval(est)
                assert lo - 1e-12 <= est["value"] <= hi + 1e-12, (policy, metric, name)
                assert lo - 1e-12 <= est["low"] and est["high"] <= hi + 1e-12  # a bootstrap of these runs
            assert agg[metric]["mean"]["value"] == pytest.approx(values.mean())
            assert agg[metric]["median"]["value"] == pytest.approx(np.median(values))
        if policy in ("hold", "threshold", "buy_and_hold"):
            assert agg["n_runs"] == 1 and agg["total_return"]["iqm"]["low"] == agg["total_return"]["iqm"]["high"]

    for name, est in on_disk["improvement"].items():
        _in_interval(est)
        assert 0.0 <= est["low"] and est["high"] <= 1.0
        wins = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(returns["agent"], returns[name])]
        assert est["value"] == pytest.approx(np.mean(wins)), name
        assert (est["n_agent_runs"], est["n_baseline_runs"]) == (2, len(returns[name]))

    # per run: the Sharpe is the summary's, inside its CI; the PSRs are probabilities of the saved equity
    for seed, run, summary in zip((0, 1), runs["agent"], on_disk["agent"]["summaries"]):
        assert run["sharpe"]["value"] == pytest.approx(summary["sharpe"])
        assert run["total_return"] == pytest.approx(summary["total_return"])
        _in_interval(run["sharpe"])
        assert run["sharpe"]["n_bars"] == on_disk["period"]["n_bars"]
        bars = pl.read_parquet(out / "seeds" / f"seed_{seed}" / "bars.parquet")
        equity = bars.group_by("timestamp", maintain_order=True).agg(pl.col("metric_equity").first())["metric_equity"]
        r = bar_returns(equity.to_numpy(), cfg.env.broker.initial_capital)
        expected = probabilistic_sharpe_ratio_of_returns(r)
        assert run["psr_vs_zero"] == pytest.approx(expected, nan_ok=True)
        assert 0.0 <= run["psr_vs_buy_and_hold"] <= 1.0
    bh = runs["buy_and_hold"][0]
    assert bh["psr_vs_buy_and_hold"] == pytest.approx(0.5)  # against its own Sharpe
    profile = on_disk["profile"]["agent"]
    assert profile["share"][0] <= 1.0 and all(a >= b for a, b in zip(profile["share"], profile["share"][1:]))

    md = (out / "report.md").read_text()
    for text in ("agent seed 0", "agent seed 1", "IQM return", "P(agent > threshold 0.7)", "PSR vs 0",
                 "PSR vs buy-and-hold", "![performance profiles](profile.png)"):
        assert text in md, text
    assert report["files"]["report_md"] == str(out / "report.md")


def test_single_seed_report_gains_the_per_run_numbers(experiment):
    exp, _ = experiment
    run = seed_runs(exp)[0]
    report = evaluate(run, plot=False, n_random_seeds=2)
    assert report["kind"] == "single_run" and set(report["runs"]) == POLICIES
    agent = report["runs"]["agent"][0]
    assert agent["seed"] == 0 and agent["sharpe"]["value"] == pytest.approx(report["agent"]["sharpe"])
    _in_interval(agent["sharpe"])
    # one training seed: aggregates without a CI, the probability of improvement without one either
    assert report["aggregates"]["agent"]["total_return"]["iqm"]["low"] is None
    _in_interval(report["aggregates"]["random"]["total_return"]["iqm"])
    assert report["improvement"]["threshold"]["low"] is None
    assert report["improvement"]["threshold"]["value"] in (0.0, 0.5, 1.0)


_KILL_AT_SEED_1_CHECKPOINT = textwrap.dedent("""
    import json, os, re, signal, sys
    real = os.replace
    def replace(src, dst, *a, **k):
        real(src, dst, *a, **k)
        if re.search(r"seed_1/checkpoints/model_\\d+_steps\\.zip$", os.fspath(dst)):
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
    import torch; torch.set_num_threads(1)
    from signalflow_gym.experiment import ExperimentConfig, train
    train(ExperimentConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], progress=False)
    print("finished without being killed")
""")


def test_a_killed_experiment_keeps_its_complete_seeds_and_a_rerun_finishes_it(tmp_path):
    cfg = _config()
    exp = tmp_path / "exp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests" / "experiment")])}
    proc = subprocess.run([sys.executable, "-c", _KILL_AT_SEED_1_CHECKPOINT, json.dumps(cfg.to_dict()), str(exp)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    seed_0 = verify_complete(exp / "seed_0", kind="train")
    assert read_marker(exp / "seed_1") is None and read_marker(exp) is None
    assert is_multi_seed(exp)
    unfinished = r"unfinished multi-seed experiment: 1 of 2 seeds are complete \(0\); seed\(s\) 1 are missing"
    with pytest.raises(ConfigError, match=unfinished):
        seed_runs(exp)
    with pytest.raises(ConfigError, match=unfinished):
        evaluate(exp, plot=False)
    # seed 1 stopped after a checkpoint: like a single run, it needs --resume (or --overwrite)
    with pytest.raises(ConfigError, match=r"seed_1 was interrupted \(newest checkpoint model_\d+_steps\.zip\); "
                                          r"pass --resume"):
        train(cfg, exp, progress=False)
    train(cfg, exp, resume=True, progress=False)
    assert [p.name for p in seed_runs(exp)] == ["seed_0", "seed_1"]
    assert verify_complete(exp / "seed_0", kind="train") == seed_0  # the complete seed was not trained again
    verify_complete(exp / "seed_1", kind="train")
    assert read_marker(exp)["kind"] == "multi_seed"

    # a seed that is missing altogether: a plain rerun trains it (and only it)
    import shutil

    shutil.rmtree(exp / "seed_1")
    (exp / "COMPLETE.json").unlink()
    with pytest.raises(ConfigError, match="seed\\(s\\) 1 are missing"):
        seed_runs(exp)
    train(cfg, exp, progress=False)
    assert verify_complete(exp / "seed_0", kind="train") == seed_0
    assert len(seed_runs(exp)) == 2

    # a complete experiment: a rerun is refused with the flags; another config is refused
    with pytest.raises(ConfigError, match="already holds a complete multi-seed experiment.*--resume.*--overwrite"):
        train(cfg, exp, progress=False)
    with pytest.raises(ConfigError, match=r"another config \(it differs in env\.sizing\.max_positions"):
        train(cfg.replace(env={"sizing": {"max_positions": 2}}), exp, progress=False)
    with pytest.raises(ConfigError, match=r"another config \(it differs in train\.seeds\)"):
        train(cfg.replace(train={"seeds": [0, 1, 2]}), exp, progress=False)
    # and a single run's folder is not an experiment's
    with pytest.raises(ConfigError, match="holds a training run, not a multi-seed experiment"):
        train(cfg, exp / "seed_0", progress=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,x", r"--seeds must be a comma-separated list of non-negative integers, was '0,x' \('x' is not one\)"),
        ("-1", r"'-1' is not one"),
        ("1.5", r"'1.5' is not one"),
        ("", r"--seeds must list at least one seed"),
        ("0,,1", r"'' is not one"),
        ("2,1,2", r"--seeds must list each seed once, was '2,1,2' \(repeated: 2\)"),
    ],
)
def test_bad_seeds_are_refused_naming_the_flag(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_seeds(text)


def test_seeds_parse_in_order():
    assert parse_seeds("3, 0,7") == (3, 0, 7)


def test_bad_seeds_at_the_cli_are_one_line_and_nothing_is_written(tmp_path, capsys):
    code, _, err = run_main(["train", "--config", "ppo", "--seeds", "0,a", "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("signalflow-gym: error: --seeds must be a comma-separated list") and "e.g. --seeds 0,1,2" in err
    code, _, err = run_main(["train", "--config", "ppo", "--num-cpus", "2", "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "--num-cpus and --address are for a multi-seed experiment" in err
    assert not (tmp_path / "r").exists()
