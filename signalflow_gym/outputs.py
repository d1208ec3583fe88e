"""Crash-safe output folders and files: the one writer every command uses.

A *result folder* (a run package, a training run, an evaluation report, an episode dataset,
a walk-forward or a sweep) is either absent, or complete: it carries `MARKER`
(``COMPLETE.json``), written last, which names its kind and lists every file it holds with
its sha256. `building(final, kind=...)` yields a fresh temporary sibling
``.<name>.new-<pid>-<token>`` to write into; when the block ends without an error the
marker is written and the folder is swapped in:

- no folder at `final`: one ``rename(new, final)``;
- a previous result at `final`: ``rename(final, .<name>.old-<pid>-<token>)``,
  ``rename(new, final)``, then the old one is deleted.

The second rename is the commit point. `recover(final)` (run by `building`, and by every
reader that opens a result) finishes an interrupted swap: when `final` is missing and an
``.old-`` sibling exists, the old result is put back; every other temporary sibling left
by a dead process is deleted. So a process killed at any instant leaves the previous
complete result or the new complete result at `final`, never a mix, never nothing.

Single files (YAML, JSON, markdown, plots) are written with `atomic_file` /
`write_text_atomic`: a temporary file in the same directory, fsync, `os.replace`.
Parquet files use `signalflow.strategy.exporter.write_parquet_atomic` (the backtester's).

Temporaries carry the writer's pid; "dead" means no such process on this machine, so one
output folder must not be written from two machines at once.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from signalflow.core.errors import ConfigError

__all__ = [
    "jsonable",
    "MARKER",
    "OutputError",
    "atomic_file",
    "building",
    "check_target",
    "is_temporary",
    "kind_name",
    "mark_complete",
    "new_sibling",
    "read_marker",
    "recover",
    "relocate",
    "sha256_file",
    "swap_in",
    "verify_complete",
    "write_json_atomic",
    "write_text_atomic",
]

#: The completion marker: written last into a result folder, lists its files and their sha256.
MARKER = "COMPLETE.json"
MARKER_VERSION = 1
_SIBLING = re.compile(r"^\.(?P<name>.+)\.(?P<role>new|old)-(?P<pid>\d+)-(?P<token>[0-9a-f]+)$")
_TEMP_FILE = re.compile(r"^\..+\.tmp-(?P<pid>\d+)-[0-9a-f]+$")


class OutputError(ConfigError):
    """An output folder cannot be written (it exists, holds foreign files, or is incomplete)."""


# =========================================================================== single files
def _token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - directories cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds it is fsynced and renamed to `path`.

    On an error the temporary file is removed and `path` is untouched. The parent directory
    is created. Use it for writers that take a path (``fig.savefig(tmp)``, ``model.save(tmp)``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{_token()}")
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # pragma: no cover
            pass
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; return `path`."""
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json_atomic(path: str | Path, data: Any, *, sort_keys: bool = False) -> Path:
    """Write `data` as indented JSON to `path` atomically (non-JSON values via `str`)."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=sort_keys, default=str) + "\n")


def jsonable(x: Any) -> Any:
    """`x` with only JSON types: dict keys as str, tuples as lists, numpy numbers as Python ones,
    and non-finite floats as the strings "nan", "inf", "-inf" (JSON has no such numbers)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    if isinstance(x, np.integer):
        return int(x)
    return x


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# =========================================================================== temporaries
def is_temporary(name: str) -> bool:
    """Whether `name` is a temporary file or folder of this module (never part of a result)."""
    return bool(_SIBLING.match(name) or _TEMP_FILE.match(name))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process
        return True
    except OSError:  # pragma: no cover
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # pragma: no cover
            pass


def recover(final: str | Path) -> list[str]:
    """Finish an interrupted swap of `final` and delete stale temporaries; return what was done.

    Only temporaries of processes that are no longer alive are touched (a writer that is
    still running keeps its own). When `final` is missing and an old result was renamed
    aside (``.<name>.old-*``), it is renamed back: the swap had not committed.
    """
    final = Path(final)
    parent = final.parent
    if not parent.is_dir():
        return []
    done: list[str] = []
    siblings = []
    for entry in parent.iterdir():
        m = _SIBLING.match(entry.name)
        if m and m.group("name") == final.name and not _alive(int(m.group("pid"))):
            siblings.append((m.group("role"), entry))
    olds = sorted(p for role, p in siblings if role == "old")
    if olds and not os.path.lexists(final):
        os.replace(olds[0], final)
        done.append(f"restored the previous result from {olds[0].name} (a replacement was interrupted)")
        olds = olds[1:]
    for path in [*olds, *(p for role, p in siblings if role == "new")]:
        _remove(path)
        done.append(f"removed {path.name}, left by an interrupted write")
    if final.is_dir() and not final.is_symlink():
        for entry in final.iterdir():
            m = _TEMP_FILE.match(entry.name)
            if m and not _alive(int(m.group("pid"))):
                _remove(entry)
                done.append(f"removed {final.name}/{entry.name}, left by an interrupted write")
    if done:
        _fsync_dir(parent)
    return done


def swap_in(new: Path, final: Path) -> Path:
    """Move the complete folder `new` (a sibling from `building`) to `final`, replacing what is there."""
    m = _SIBLING.match(new.name)
    token = f"{m.group('pid')}-{m.group('token')}" if m else _token()
    if os.path.lexists(final):
        old = final.with_name(f".{final.name}.old-{token}")
        os.replace(final, old)
        os.replace(new, final)  # the commit point
        _fsync_dir(final.parent)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, final)
        _fsync_dir(final.parent)
    return final


def new_sibling(final: Path) -> Path:
    """Create and return an empty temporary sibling folder of `final` (parents created)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    path = final.with_name(f".{final.name}.new-{_token()}")
    path.mkdir()
    return path


# =========================================================================== the marker
def _walk(root: Path, open_dirs: Iterable[str]) -> Iterator[tuple[str, Path]]:
    skip = set(open_dirs)
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d not in skip and not is_temporary(d)]
        else:
            dirnames[:] = [d for d in dirnames if not is_temporary(d)]
        for name in filenames:
            if rel == Path(".") and name == MARKER:
                continue
            if is_temporary(name):
                continue
            yield (rel / name).as_posix(), Path(dirpath) / name


def mark_complete(folder: str | Path, *, kind: str, open_dirs: Iterable[str] = (), info: dict[str, Any] | None = None) -> Path:
    """Write `MARKER` into `folder`: its kind, the time, and the sha256 of every file it holds.

    `open_dirs`: top-level folders that are not part of the result and may change later
    (a run's checkpoints, reports written into it afterwards); they are not listed.
    """
    folder = Path(folder)
    open_dirs = sorted(open_dirs)
    files = {rel: sha256_file(path) for rel, path in sorted(_walk(folder, open_dirs))}
    marker = {
        "marker_version": MARKER_VERSION,
        "kind": kind,
        "completed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "open_dirs": open_dirs,
        "files": files,
        **({"info": info} if info else {}),
    }
    return write_json_atomic(folder / MARKER, marker, sort_keys=True)


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The marker of `folder`, or None when it has none (absent, or not a result of this package)."""
    path = Path(folder) / MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputError(f"{path} is not valid JSON ({exc}); the folder was changed after it was written") from None
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict) or not isinstance(marker.get("kind"), str):
        raise OutputError(f"{path} must be a JSON object with `kind` and `files`; the folder was changed after it "
                          "was written")
    return marker


def verify_complete(folder: str | Path, *, kind: str | None = None) -> dict[str, Any]:
    """Check that `folder` is one complete result: its marker, every listed file with its sha256,
    and no other file outside its open folders. Returns the marker; raises `OutputError`."""
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is None:
        raise OutputError(f"{folder} is not a complete result: it has no {MARKER}")
    if kind is not None and marker["kind"] != kind:
        raise OutputError(f"{folder} holds {_a(marker['kind'])}, not {_a(kind)}")
    on_disk = {rel: path for rel, path in _walk(folder, marker.get("open_dirs") or [])}
    for rel, digest in marker["files"].items():
        if rel not in on_disk:
            raise OutputError(f"{folder / rel} is listed in {MARKER} but missing")
        if sha256_file(on_disk[rel]) != digest:
            raise OutputError(f"{folder / rel} does not match its sha256 in {MARKER}; it was changed after it was written")
    extra = sorted(set(on_disk) - set(marker["files"]))
    if extra:
        raise OutputError(f"{folder} holds files that are not listed in {MARKER}: {', '.join(extra[:5])}")
    return marker


# =========================================================================== folders
_KIND_NAMES = {"run_package": "run package", "train": "training run", "evaluation": "evaluation report",
               "export": "episode dataset", "walkforward": "walk-forward", "sweep": "sweep",
               "multi_seed": "multi-seed experiment", "fold": "walk-forward fold"}


def kind_name(kind: str, *, article: bool = False) -> str:
    """What a marker's kind is called in messages ("evaluation" -> "evaluation report", or "an evaluation report")."""
    name = _KIND_NAMES.get(kind, kind)
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}" if article else name


def _a(kind: str) -> str:
    return kind_name(kind, article=True)


def _foreign(folder: Path, marker: dict[str, Any] | None, known: Iterable[str]) -> list[str]:
    """Top-level entries of `folder` that are neither part of its result nor known names of its kind."""
    listed = {rel.split("/", 1)[0] for rel in (marker or {}).get("files", {})}
    allowed = set(listed) | set((marker or {}).get("open_dirs") or []) | {MARKER}
    patterns = list(known)
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name in allowed or is_temporary(name) or any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        out.append(name)
    return sorted(out)


def check_target(
    final: str | Path,
    *,
    kind: str,
    overwrite: bool,
    replaces: Iterable[str] = (),
    known: Iterable[str] = (),
    what: str = "output directory",
    flag: str = "--overwrite",
    elsewhere: str = "choose another --out",
    error: type[Exception] = OutputError,
) -> str:
    """Whether `final` may receive a new `kind` result; return its state ("absent", "empty", "result", "legacy").

    - absent or an empty folder: fine;
    - a complete result of `kind` (or of a kind in `replaces`): refused unless `overwrite`;
      with it, only if the folder holds nothing but that result (and names matching `known`);
    - a folder without a marker whose entries all match `known` (written by an older version,
      or by hand): refused unless `overwrite`;
    - anything else (a file, another kind of result, foreign files): refused.
    """
    final = Path(final)
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise error(f"{what} {final} is a file (or a link), not a folder; {elsewhere}")
    if not final.exists():
        return "absent"
    if not any(final.iterdir()):
        return "empty"
    marker = read_marker(final)
    kinds = {kind, *replaces}
    if marker is not None:
        found = kind_name(marker["kind"])
        if marker["kind"] not in kinds:
            raise error(f"{what} {final} holds {_a(marker['kind'])}, not {_a(kind)}; {elsewhere}")
        if not overwrite:
            raise error(f"{what} {final} already holds a complete {found} (completed {marker.get('completed_at')}); "
                        f"pass {flag} to replace it, or {elsewhere}")
        foreign = _foreign(final, marker, known)
        if foreign:
            raise error(f"refusing to replace {final}: it also holds files that are not part of the {found} "
                        f"({', '.join(foreign[:5])}); move them, or {elsewhere}")
        return "result"
    foreign = _foreign(final, None, known)
    if foreign:
        raise error(f"{what} {final} is not empty and is not {_a(kind)} written by signalflow-gym "
                    f"(no {MARKER}; it holds {', '.join(foreign[:5])}); {elsewhere}")
    if not overwrite:
        raise error(f"{what} {final} holds an incomplete {kind_name(kind)} (no {MARKER}: it was interrupted "
                    f"or written by an older version); pass {flag} to replace it, or {elsewhere}")
    return "legacy"


@contextmanager
def building(
    final: str | Path,
    *,
    kind: str,
    overwrite: bool = False,
    replaces: Iterable[str] = (),
    known: Iterable[str] = (),
    open_dirs: Iterable[str] = (),
    info: dict[str, Any] | None = None,
    what: str = "output directory",
    flag: str = "--overwrite",
    elsewhere: str = "choose another --out",
    error: type[Exception] = OutputError,
) -> Iterator[Path]:
    """Build a `kind` result for `final` in a temporary sibling; mark it complete and swap it in.

    `recover(final)` runs first; then `check_target` refuses an existing result unless
    `overwrite` (see there for `replaces` and `known`). The block writes into the yielded
    folder; if it raises, the temporary folder is deleted and `final` is untouched.

    `final` is checked again just before the swap: if another process wrote a result there
    meanwhile that this one may not replace, nothing is replaced, the new result is kept
    complete beside it (``<final>.kept-<pid>-<token>``, its recorded paths naming `final`)
    and `error` says where.
    """
    final = Path(final)
    recover(final)
    checks = dict(kind=kind, replaces=tuple(replaces), known=tuple(known), what=what, flag=flag, elsewhere=elsewhere,
                  error=error)
    check_target(final, overwrite=overwrite, **checks)
    tmp = new_sibling(final)
    try:
        yield tmp
        mark_complete(tmp, kind=kind, open_dirs=open_dirs, info=info)
        try:
            check_target(final, overwrite=overwrite, **checks)  # written by another process meanwhile?
        except error as exc:
            kept = final.with_name(f"{final.name}.kept-{_token()}")
            os.replace(tmp, kept)
            raise error(f"{final} changed while this run was writing its result and may no longer be replaced "
                        f"({exc}); nothing was replaced: this run's complete result was kept in {kept} (its recorded "
                        f"paths name {final}); move it there once {final} is out of the way") from None
        swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def relocate(obj: Any, src: str | Path, dst: str | Path) -> Any:
    """`obj` (nested dicts / lists) with every path under `src` moved under `dst`, in strings
    that are paths and in texts that name one (an error message, say).

    A folder built in a temporary sibling records the paths it was written to; after the
    swap they must name the final place. A string where `src` runs on into a longer name
    (``src + "x"``) is not a path under it and is kept.
    """
    src_s, dst_s = str(src), str(dst)
    if isinstance(obj, dict):
        return {k: relocate(v, src_s, dst_s) for k, v in obj.items()}
    if isinstance(obj, list):
        return [relocate(v, src_s, dst_s) for v in obj]
    if isinstance(obj, str) and src_s in obj:
        # (a path starts the text or follows a space, quote or bracket; it ends the text or is
        # followed by a separator, a space, a quote or punctuation)
        pattern = r"(?<![^\s'\"`(\[{=:<])" + re.escape(src_s) + r"(?=$|[\\/\s'\"`),.:;\]}>])"
        return re.sub(pattern, lambda m: dst_s, obj)
    return obj
