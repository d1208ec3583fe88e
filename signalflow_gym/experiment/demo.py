"""`run_demo()`: train -> evaluate -> export on the embedded synthetic market (the shipped `demo` config)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from signalflow.core.errors import ConfigError
from signalflow_gym.experiment.config import ExperimentConfig
from signalflow_gym.shipped import resolve_config

__all__ = ["run_demo", "find_config"]

def find_config(name: str) -> Path:
    """The shipped config `name` (e.g. "demo.yaml"); see `signalflow_gym.shipped`."""
    return resolve_config(name)


def run_demo(
    out_dir: str | Path = "runs/demo",
    *,
    quick: bool = False,
    config: str | Path | None = None,
    progress: bool = True,
    episodes: int = 10,
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Train PPO (`configs/demo.yaml`), evaluate it on the test split, export episodes; print where it all went.

    `quick=True` trains 5,000 steps (a smoke run, no learning expected). Re-running
    replaces the previous demo in `out_dir`. Returns ``{"run_dir", "report", "export_dir", "seconds"}``.
    """
    from signalflow_gym.experiment.evaluate import evaluate, report_table
    from signalflow_gym.experiment.export import export_episodes
    from signalflow_gym.experiment.train import train

    t0 = time.perf_counter()
    path = Path(config) if config is not None else find_config("demo.yaml")
    overrides = ["train.total_timesteps=5000", "train.eval_freq=2500", "train.checkpoint_freq=0"] if quick else []
    cfg = ExperimentConfig.from_yaml(path, overrides)
    out = Path(out_dir)
    run_dir, export_dir = out / "run", out / "episodes"
    echo(f"signalflow-gym demo: {cfg.train.algo}, {cfg.train.total_timesteps} steps, config {path}")
    train(cfg, run_dir, progress=progress, overwrite=True)
    t_train = time.perf_counter() - t0
    echo(f"  trained in {t_train:.0f} s -> run package {run_dir}")
    report = evaluate(run_dir)
    p = report["period"]
    echo(f"  evaluated on the test split {p['start']} .. {p['end']} ({p['n_bars']} bars) -> {Path(report['files']['report_md']).parent}")
    export_episodes(export_dir, run_dir=run_dir, episodes=episodes, seed=cfg.train.seed, overwrite=True)
    echo(f"  exported {episodes} episodes of the agent (train split) -> {export_dir}")
    seconds = time.perf_counter() - t0
    files = report["files"]
    echo("")
    echo(report_table(report))
    echo("")
    m = report["margins"]
    if "vs_hold" in m and "vs_random_mean" in m:
        echo(f"agent vs always-HOLD: {100 * m['vs_hold']:+.2f} pp; vs random (mean of "
             f"{len(report['baselines']['random']['seeds'])} seeds): {100 * m['vs_random_mean']:+.2f} pp")
    echo("")
    echo("files:")
    echo(f"  run package        {run_dir}/ (model.zip, env_config.yaml, manifest.json, checkpoints/, best/)")
    echo(f"  report             {files['report_md']}  {files['report_json']}")
    if "equity_png" in files:
        echo(f"  equity curves      {files['equity_png']}")
    echo(f"  agent backtest     {files['bars']}  {files['trades']}")
    echo(f"  episode dataset    {export_dir}/ (transitions.parquet, episodes.parquet, episodes/*/, manifest.json)")
    echo(f"done in {seconds:.0f} s")
    return {"run_dir": run_dir, "report": report, "export_dir": export_dir, "seconds": seconds}
