"""Sweeps on Ray Tune, by their old module path: the public names of their parts.

The job is split by what each part does: planning in `signalflow_gym.scale.trials`
(`SweepSpace`, `load_space`, `expand_trials`, `rung_budgets`), running in `sweep_run`
(`tune_sweep`; the output layout is described there), the results table in `sweep_report`
(`results_frame`, `results_markdown`), the overfitting statistics in `selection`
(`selection_statistics`: DSR, PBO), and the command's options in `commands`. Importing from
here keeps working; the report modules (scipy, arch) are imported only when results are written.
"""

from signalflow_gym.scale.commands import add_sweep_args, run_sweep
from signalflow_gym.scale.sweep_run import tune_sweep
from signalflow_gym.scale.trials import MIN_METRICS, SweepSpace, expand_trials, load_space, override_strings, rung_budgets

__all__ = [
    "MIN_METRICS",
    "SweepSpace",
    "add_sweep_args",
    "expand_trials",
    "load_space",
    "override_strings",
    "rung_budgets",
    "run_sweep",
    "tune_sweep",
]
