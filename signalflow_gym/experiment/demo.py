"""`run_demo()`: train 3 seeds -> evaluate -> export on the embedded synthetic market (the shipped `demo` config)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from signalflow_gym.experiment.config import ExperimentConfig
from signalflow_gym.shipped import resolve_config

__all__ = ["run_demo", "find_config", "DEMO_SEEDS"]

#: The training seeds of the demo when its config names none.
DEMO_SEEDS = (0, 1, 2)


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
    num_cpus: int | None = None,
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Train PPO (`configs/demo.yaml`) with 3 seeds, evaluate them on the test split, export episodes.

    The config's `train.seeds` (``DEMO_SEEDS`` when it has none) are trained into
    ``out_dir/run/seed_<s>`` (a multi-seed experiment, see `signalflow_gym.experiment.seeds`),
    one after the other, or as Ray tasks with `num_cpus` > 1. The report compares every
    seed's agent with the baselines on the same test bars; the demo ends with the agent's IQM
    total return and its probability of improvement over the threshold rule, each with its
    95% CI. Episodes are exported from the first seed's agent. `quick=True` trains 5,000
    steps per seed (a smoke run, no learning expected). Re-running replaces the previous demo in
    `out_dir`. Returns ``{"run_dir", "report", "export_dir", "seconds"}``.
    """
    from signalflow_gym.experiment.evaluate import evaluate, format_interval, report_table
    from signalflow_gym.experiment.export import export_episodes
    from signalflow_gym.experiment.seeds import seed_runs
    from signalflow_gym.experiment.train import train

    t0 = time.perf_counter()
    path = Path(config) if config is not None else find_config("demo.yaml")
    overrides = ["train.total_timesteps=5000", "train.eval_freq=2500", "train.checkpoint_freq=0"] if quick else []
    cfg = ExperimentConfig.from_yaml(path, overrides)
    if not cfg.train.seeds:
        cfg = cfg.replace(train={"seeds": list(DEMO_SEEDS)})
    seeds = cfg.train.seeds
    out = Path(out_dir)
    run_dir, export_dir = out / "run", out / "episodes"
    how = f"as Ray tasks on {num_cpus} CPUs" if num_cpus is not None and num_cpus > 1 else "one after the other"
    echo(f"signalflow-gym demo: {cfg.train.algo}, {cfg.train.total_timesteps} steps x {len(seeds)} seeds "
         f"({', '.join(map(str, seeds))}, {how}), config {path}")
    train(cfg, run_dir, progress=progress, overwrite=True, num_cpus=num_cpus)
    t_train = time.perf_counter() - t0
    echo(f"  trained in {t_train:.0f} s -> experiment {run_dir} ({', '.join(p.name for p in seed_runs(run_dir))})")
    report = evaluate(run_dir)
    p = report["period"]
    echo(f"  evaluated every seed and the baselines on the test split {p['start']} .. {p['end']} ({p['n_bars']} bars) "
         f"-> {Path(report['files']['report_md']).parent}")
    first = seed_runs(run_dir)[0]
    export_episodes(export_dir, run_dir=first, episodes=episodes, seed=seeds[0], overwrite=True)
    echo(f"  exported {episodes} episodes of the agent of seed {seeds[0]} (train split) -> {export_dir}")
    seconds = time.perf_counter() - t0
    files = report["files"]
    echo("")
    echo(report_table(report))
    echo("")
    m = report["margins"]
    if "vs_hold" in m and "vs_random_mean" in m:
        echo(f"agent (mean of {len(seeds)} seeds) vs always-HOLD: {100 * m['vs_hold']:+.2f} pp; vs random (mean of "
             f"{len(report['baselines']['random']['seeds'])} seeds): {100 * m['vs_random_mean']:+.2f} pp")
    echo("")
    echo("files:")
    echo(f"  experiment         {run_dir}/ (experiment.yaml, seed_<s>/: one run package per seed)")
    echo(f"  report             {files['report_md']}  {files['report_json']}")
    if "equity_png" in files:
        echo(f"  equity of seeds    {files['equity_png']}")
        echo(f"  profiles           {files['profile_png']}")
    echo(f"  agent backtests    {Path(files['report_md']).parent / 'seeds'}/seed_<s>/ (bars.parquet, trades.parquet)")
    echo(f"  episode dataset    {export_dir}/ (transitions.parquet, episodes.parquet, episodes/*/, manifest.json)")
    echo(f"done in {seconds:.0f} s")
    echo("")
    iqm = report["aggregates"]["agent"]["total_return"]["iqm"]
    echo(f"agent IQM total return over {len(seeds)} seeds: {format_interval(iqm, percent=True, labelled=True)}")
    if "threshold" in report["improvement"]:
        poi = report["improvement"]["threshold"]
        thr = report["baselines"]["threshold"]["threshold"]
        echo(f"P(agent > threshold {thr:g}), probability of improvement over the threshold rule: "
             f"{format_interval(poi, labelled=True)}")
    return {"run_dir": run_dir, "report": report, "export_dir": export_dir, "seconds": seconds}
