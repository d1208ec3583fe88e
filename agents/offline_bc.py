"""Behaviour cloning (plain torch) on an exported episode dataset, evaluated by backtest.

Reads a dataset written by ``signalflow-gym export`` (``transitions.parquet`` + ``manifest.json``),
fits an MLP that predicts the dataset's action from the observation (cross-entropy), then
backtests the cloned policy through `RLTradingModel` (the same features, masks and rules as the
environment) on a split of the dataset's own experiment data, beside the baselines of
``evaluate`` (hold, threshold, buy-and-hold), and prints one table:

    python agents/offline_bc.py runs/ppo1/episodes --split validation --epochs 300 [--out bc_report.json]

Choose epochs and the network size on the validation split; score the test split once, at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from signalflow.core.errors import ConfigError
from signalflow.strategy.runner import MarketData
from signalflow_gym import EnvConfig
from signalflow_gym.bridge import RLTradingModel
from signalflow_gym.experiment.baselines import baseline_result
from signalflow_gym.experiment.config import ExperimentConfig
from signalflow_gym.experiment.data import SPLIT_NAMES, check_no_overlap, load_data, split_data
from signalflow_gym.outputs import write_json_atomic

REPORTED = ("total_return", "sharpe", "max_drawdown", "n_trades", "fees")


def read_dataset(dataset: str | Path) -> tuple[dict[str, Any], pl.DataFrame]:
    """`(manifest, transitions)` of an exported dataset; a `ConfigError` naming what is missing."""
    root = Path(dataset)
    manifest_file, transitions_file = root / "manifest.json", root / "transitions.parquet"
    for path in (manifest_file, transitions_file):
        if not path.is_file():
            raise ConfigError(f"`{path}` does not exist: `{root}` is not an exported dataset (run `signalflow-gym export` first)")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    for key in ("env_config", "experiment"):
        if key not in manifest:
            raise ConfigError(f"`{manifest_file}` has no `{key}`; re-export the dataset with this version")
    return manifest, pl.read_parquet(transitions_file)


def fit_behaviour_cloning(
    observations: np.ndarray, actions: np.ndarray, n_actions: int, *, epochs: int = 300, hidden: int = 64, seed: int = 0,
    learning_rate: float = 1e-3,
) -> torch.nn.Module:
    """An MLP (one hidden layer of `hidden` units) fitted by full-batch Adam on cross-entropy,
    each action weighted by the inverse of its frequency (HOLD dominates trading datasets; an
    unweighted clone learns to always HOLD)."""
    if observations.shape[0] == 0:
        raise ConfigError("the dataset has no transitions to clone")
    torch.manual_seed(seed)
    x = torch.as_tensor(observations, dtype=torch.float32)
    y = torch.as_tensor(actions, dtype=torch.long)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_actions))
    counts = np.bincount(actions, minlength=n_actions).astype(np.float64)
    weights = torch.as_tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1.0) / np.count_nonzero(counts), 0.0),
                              dtype=torch.float32)
    optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
    for _ in range(epochs):
        loss = torch.nn.functional.cross_entropy(net(x), y, weight=weights)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net.eval()


def executed_actions(transitions: pl.DataFrame, hold: int) -> np.ndarray:
    """The action the env carried out at each transition: the recorded action where the step's
    `action_mask` allowed it, else `hold` (its index), since a masked action is a no-op. Cloning
    the recorded choice instead teaches the clone actions its source never executed."""
    actions = transitions["action"].to_numpy().astype(np.int64)
    masks = np.array(transitions["action_mask"].to_list(), dtype=bool)
    allowed = masks[np.arange(actions.size), actions]
    return np.where(allowed, actions, hold)


def balanced_accuracy(net: torch.nn.Module, observations: np.ndarray, actions: np.ndarray) -> float:
    """Mean over the actions present of the share of their transitions the network ranks first
    (chance: 1 / number of actions present)."""
    with torch.no_grad():
        predicted = net(torch.as_tensor(observations, dtype=torch.float32)).argmax(dim=1).numpy()
    return float(np.mean([(predicted[actions == a] == a).mean() for a in np.unique(actions)]))


def run(dataset: str | Path, *, split: str = "validation", epochs: int = 300, hidden: int = 64, seed: int = 0,
        allow_overlap: bool = False) -> dict[str, Any]:
    """Clone the dataset's policy and backtest it and the baselines on `split`; the report dict.

    A `split` holding bars of the dataset's own period is refused (the clone would be scored on
    the bars it learned from) unless `allow_overlap`."""
    if split not in SPLIT_NAMES:
        raise ConfigError(f"`split` must be one of {', '.join(SPLIT_NAMES)}, was {split!r}")
    torch.set_num_threads(1)
    manifest, transitions = read_dataset(dataset)
    experiment = ExperimentConfig.from_dict(manifest["experiment"])
    env_config = EnvConfig.from_dict(manifest["env_config"])
    raw, signals = load_data(experiment.data)
    part = getattr(split_data(experiment.data, raw, signals, env=env_config), split)
    if not allow_overlap:  # (before training: the clone would be scored in sample)
        recorded = manifest.get("data") or {}
        check_no_overlap(part.raw_data, recorded, what=f"{split} split",
                         period=f"dataset's period ({recorded.get('split')} split)")
    features = list(manifest["feature_names"])
    n_actions = len(manifest["action_names"])
    x = transitions.select(features).to_numpy().astype(np.float32)
    y = executed_actions(transitions, hold=list(manifest["action_names"]).index("hold"))
    net = fit_behaviour_cloning(x, y, n_actions, epochs=epochs, hidden=hidden, seed=seed)

    market = MarketData.build(part.raw_data, part.signals)
    results = {
        "offline_bc": RLTradingModel(net, env_config).backtest(market),
        "hold": baseline_result("hold", env_config, market),
        "threshold": baseline_result("threshold", env_config, market, threshold=experiment.evaluation.threshold),
        "buy_and_hold": baseline_result("buy_and_hold", env_config, market),
    }
    counts = np.bincount(y, minlength=n_actions)
    return {
        "dataset": str(dataset),
        "split": split,
        "transitions": int(len(y)),
        "training_balanced_accuracy": balanced_accuracy(net, x, y),
        "actions_present": int(np.count_nonzero(counts)),
        "policies": {name: {k: float(r.summary[k]) for k in REPORTED} for name, r in results.items()},
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"behaviour cloning on {report['transitions']:,} transitions of {report['dataset']}: balanced training accuracy "
        f"{report['training_balanced_accuracy']:.1%} (chance {1 / report['actions_present']:.1%})",
        f"backtest on the {report['split']} split:",
        f"{'policy':<14}" + "".join(f"{k:>14}" for k in REPORTED),
    ]
    for name, row in report["policies"].items():
        lines.append(f"{name:<14}" + "".join(f"{row[k]:>14.4f}" for k in REPORTED))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="folder written by `signalflow-gym export`")
    parser.add_argument("--split", default="validation", choices=SPLIT_NAMES)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the report as JSON here too")
    parser.add_argument("--allow-overlap", action="store_true",
                        help="score on a split that holds bars of the dataset's own period (in sample)")
    args = parser.parse_args(argv)
    try:
        report = run(args.dataset, split=args.split, epochs=args.epochs, hidden=args.hidden, seed=args.seed,
                     allow_overlap=args.allow_overlap)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.out:
        write_json_atomic(Path(args.out), report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
