"""Input checks shared by the statistics modules: finite 1-D samples, strata of runs, matrices
of per-bar returns, and the bootstrap's knobs.

Every check raises `DataValidationError` (bad numbers: empty, NaN/inf, wrong shape) or
`ConfigError` (bad option: confidence, reps, partitions) with the message form
"`name` must be <rule>, was <value>; <fix>".
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

from signalflow.core.errors import ConfigError, DataValidationError

__all__ = [
    "as_finite_matrix",
    "as_finite_vector",
    "as_strata",
    "check_confidence",
    "check_reps",
    "require_runs_per_stratum",
]


def _first_bad(values: np.ndarray) -> str:
    """`index i (value v)` of the first non-finite entry of a flat array."""
    i = int(np.flatnonzero(~np.isfinite(values))[0])
    return f"index {i} ({values[i]})"


def as_finite_vector(values: Any, *, name: str, min_size: int = 1) -> np.ndarray:
    """`values` as a float64 1-D array with at least `min_size` finite entries and nothing else."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"`{name}` must be a 1-D array of numbers, was {type(values).__name__}; {error}") from None
    if array.ndim != 1:
        raise DataValidationError(
            f"`{name}` must be a 1-D array of numbers, was an array of shape {array.shape}; pass one value per run or bar"
        )
    if array.size < min_size:
        raise DataValidationError(f"`{name}` must have at least {min_size} value(s), was {array.size}")
    if not np.isfinite(array).all():
        raise DataValidationError(
            f"`{name}` must be finite, was NaN or inf at {_first_bad(array)}; drop or fill the missing runs or bars first"
        )
    return array


def as_strata(scores: Any, *, name: str) -> list[np.ndarray]:
    """`scores` as one finite 1-D array of runs per stratum.

    Accepted forms: a 1-D array of numbers (one stratum: the runs of one task, fold or market);
    a sequence of 1-D arrays, one per stratum, of any lengths (e.g. ``[fold0_seeds, fold1_seeds]``);
    a 2-D array, read as one row per stratum (``scores[stratum, run]``). Note that rliable's
    matrices are ``[run, task]``: pass ``matrix.T`` for those.
    """
    if isinstance(scores, np.ndarray):
        if scores.ndim == 1:
            return [as_finite_vector(scores, name=name)]
        if scores.ndim == 2:
            if scores.shape[0] == 0:
                raise DataValidationError(f"`{name}` must have at least one stratum (row), was shape {scores.shape}")
            return [as_finite_vector(row, name=f"{name}[{i}]") for i, row in enumerate(scores)]
        raise DataValidationError(
            f"`{name}` must be 1-D (one stratum) or 2-D (one row per stratum), was shape {scores.shape}"
        )
    if isinstance(scores, (str, bytes)) or not isinstance(scores, Sequence):
        raise DataValidationError(
            f"`{name}` must be an array of runs or a sequence of arrays (one per stratum), was {type(scores).__name__}"
        )
    if len(scores) == 0:
        raise DataValidationError(f"`{name}` must have at least one run, was empty")
    if all(np.ndim(item) == 0 for item in scores):
        return [as_finite_vector(scores, name=name)]
    return [as_finite_vector(item, name=f"{name}[{i}]") for i, item in enumerate(scores)]


def require_runs_per_stratum(strata: Sequence[np.ndarray], *, name: str, minimum: int = 2) -> None:
    """Every stratum has at least `minimum` runs (a bootstrap over one run has no spread)."""
    for i, stratum in enumerate(strata):
        if stratum.size < minimum:
            where = f"`{name}`" if len(strata) == 1 else f"`{name}[{i}]`"
            raise DataValidationError(
                f"{where} must have at least {minimum} runs for a confidence interval, was {stratum.size}; "
                f"train more seeds (runs are resampled within each stratum)"
            )


def as_finite_matrix(values: Any, *, name: str, min_rows: int, min_columns: int) -> np.ndarray:
    """`values` as a finite float64 2-D array ``[rows, columns]`` of at least the given size."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"`{name}` must be a 2-D array of numbers, was {type(values).__name__}; {error}") from None
    if array.ndim != 2:
        raise DataValidationError(f"`{name}` must be a 2-D array [bars, trials], was an array of shape {array.shape}")
    rows, columns = array.shape
    if rows < min_rows or columns < min_columns:
        raise DataValidationError(
            f"`{name}` must have at least {min_rows} bars (rows) and {min_columns} trials (columns), was shape {array.shape}"
        )
    if not np.isfinite(array).all():
        row, column = (int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise DataValidationError(
            f"`{name}` must be finite, was {array[row, column]} at bar {row}, trial {column}; "
            f"fill bars without a position with 0.0"
        )
    return array


def check_confidence(confidence: float) -> float:
    """`confidence` in (0, 1), e.g. 0.95."""
    if not (isinstance(confidence, numbers.Real) and 0.0 < confidence < 1.0):
        raise ConfigError(f"`confidence` must be in (0, 1), e.g. 0.95, was {confidence!r}")
    return float(confidence)


def check_reps(reps: int, *, minimum: int = 100) -> int:
    """`reps` (bootstrap replications) an int of at least `minimum`."""
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < minimum:
        raise ConfigError(f"`reps` must be an int >= {minimum}, was {reps!r}; 2,000 to 10,000 is usual")
    return int(reps)
