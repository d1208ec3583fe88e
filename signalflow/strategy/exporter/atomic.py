"""Atomic parquet writes: a temporary file in the target directory, then `os.replace`.

A reader never sees a partially written file: either the old file (or none)
or the complete new one. On failure the temporary files are removed and an
`ExportError` naming the file and the cause is raised (the original exception
is chained).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from signalflow.core.errors import ConfigError, ExportError

__all__ = ["PARQUET_COMPRESSIONS", "check_compression", "write_parquet_atomic", "write_parquets_atomic"]

#: Compression codecs accepted by `polars.DataFrame.write_parquet`.
PARQUET_COMPRESSIONS: tuple[str, ...] = (
    "zstd",
    "lz4",
    "snappy",
    "gzip",
    "brotli",
    "lzo",
    "uncompressed",
)


def check_compression(compression: str) -> None:
    """Raise `ConfigError` unless `compression` is one of `PARQUET_COMPRESSIONS`."""
    if compression not in PARQUET_COMPRESSIONS:
        raise ConfigError(
            f"`compression` must be one of {list(PARQUET_COMPRESSIONS)}, was {compression!r}; "
            f"use 'zstd' (the default)"
        )


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _write_temp(df: pl.DataFrame, target: Path, compression: str) -> Path:
    """Write `df` to a fresh temporary file beside `target`; return its path."""
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ExportError(
            f"`{target}` could not be written: no temporary file could be created in "
            f"`{target.parent}` ({type(exc).__name__}: {exc}); check the directory exists and is writable"
        ) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        df.write_parquet(tmp, compression=compression)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ExportError(
            f"`{target}` could not be written ({type(exc).__name__}: {exc}); "
            f"no partial file was left behind, fix the cause and export again"
        ) from exc
    return tmp


def write_parquets_atomic(
    frames: Mapping[Path | str, pl.DataFrame], *, compression: str = "zstd"
) -> list[Path]:
    """Write several frames as parquet, all or nothing.

    Every frame is first written to a temporary file beside its target; only
    when all succeeded are they moved into place with `os.replace`. If any
    write fails, all temporary files are removed, no target is touched, and
    `ExportError` is raised. Parent directories must exist. Returns the target
    paths in the order given.
    """
    check_compression(compression)
    targets = [Path(p) for p in frames]
    temps: list[Path] = []
    try:
        for target, df in zip(targets, frames.values(), strict=True):
            temps.append(_write_temp(df, target, compression))
        for i, (tmp, target) in enumerate(zip(temps, targets, strict=True)):
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise ExportError(
                    f"`{target}` could not be moved into place ({type(exc).__name__}: {exc}); "
                    f"{i} of {len(targets)} files were already replaced, export again"
                ) from exc
    finally:
        for tmp in temps:
            if tmp.exists():
                _remove_quietly(tmp)
    return targets


def write_parquet_atomic(df: pl.DataFrame, path: Path | str, *, compression: str = "zstd") -> Path:
    """Write `df` to `path` as parquet atomically (temporary file + `os.replace`).

    The parent directory must exist. Raises `ConfigError` for an unknown
    `compression` and `ExportError` if writing fails (nothing partial is left).
    """
    return write_parquets_atomic({Path(path): df}, compression=compression)[0]
