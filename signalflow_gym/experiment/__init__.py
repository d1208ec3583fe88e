"""Experiments: train SB3 agents on `SignalFlowEnv`, evaluate them by backtest against
baselines, and export episodes as parquet. The `signalflow-gym` CLI and `agents/*.py` call these.

- `ExperimentConfig` (`TrainConfig`, `DataSpec`, `EvaluationConfig`, plus the `EnvConfig`)
- `load_data` / `split_data`: validated bars and signals, chronological splits
- `train(config, out_dir)` -> run package directory; with `train.seeds`, a multi-seed
  experiment directory of one run per seed (`seeds`: its layout; `seed_training`)
- `evaluate(run_dir)` -> report dict (+ report.json / report.md / equity.png / bars / trades);
  with per-run Sharpe CIs and PSRs, aggregates over runs with CIs and the probability of
  improvement over each baseline (`uncertainty`, on `statistics`; read by `report`)
- `export_episodes(out_dir, run_dir=... | policy=..., episodes=N)` -> dataset directory
- `export_minari(dataset_id, run_dir=... | policy=..., episodes=N)` -> a Minari dataset (minari extra)
- `run_demo(out_dir)`: train -> evaluate -> export with `configs/demo.yaml`
"""

from signalflow_gym.experiment.config import (
    DataSpec,
    EvaluationConfig,
    ExperimentConfig,
    TrainConfig,
    apply_overrides,
)
from signalflow_gym.experiment.data import load_data, split_data
from signalflow_gym.experiment.evaluate import evaluate, report_table
from signalflow_gym.experiment.export import export_episodes
from signalflow_gym.experiment.minari_export import export_minari
from signalflow_gym.experiment.train import latest_checkpoint, train
from signalflow_gym.experiment.demo import run_demo

__all__ = [
    "DataSpec",
    "EvaluationConfig",
    "ExperimentConfig",
    "TrainConfig",
    "apply_overrides",
    "evaluate",
    "export_episodes",
    "export_minari",
    "latest_checkpoint",
    "load_data",
    "report_table",
    "run_demo",
    "split_data",
    "train",
]
