"""Config validation: the value checks, the error messages and the section base of every config.

Used by `EnvConfig` (`signalflow_gym.config`) and `ExperimentConfig`
(`signalflow_gym.experiment.config`). Every problem raises `ConfigError` with a message of the
form "`dotted.path` must be <rule>, was <value>; <fix>" (or "unknown key `dotted.path` in
<where>; did you mean ...? valid keys: ...").

**Dotted paths.** A section's error names the key by its full path in the file being read:
`sizing.max_positions` in an env config, `env.sizing.max_positions` in an experiment config,
`data.synthetic.n_bars` for the synthetic market of an experiment's data. A parent builds each
of its sections with `build_at(location, cls, value)`, which sets the location while the
section validates itself; inside, `ConfigSection.key_path(key)` gives the full path (a section
built on its own is at its `SECTION` name). The path is composed once, where the message is
written: no message is rewritten afterwards.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, Iterator, Mapping, Sequence, TypeVar

import yaml

from signalflow.core.errors import ConfigError
from signalflow.core.values import is_integer, is_real

__all__ = [
    "ConfigSection",
    "build_at",
    "check_boolean",
    "check_choice",
    "check_integer",
    "check_keys",
    "check_mapping",
    "check_number",
    "config_error",
    "current_location",
    "dotted",
    "numeric_text_hint",
    "unknown_key_error",
]

S = TypeVar("S")


# --------------------------------------------------------------------------- where a section is
_LOCATION: ContextVar[str | None] = ContextVar("signalflow_gym_config_location", default=None)


def dotted(*parts: str) -> str:
    """The dotted path of `parts`, empty parts left out (``dotted("", "env", "sizing") == "env.sizing"``)."""
    return ".".join(p for p in parts if p)


def current_location(default: str) -> str:
    """The dotted location of the config object being built: the one its parent gave with
    `build_at`, else `default` (the object is built on its own)."""
    location = _LOCATION.get()
    return default if location is None else location


@contextmanager
def _located(location: str) -> Iterator[None]:
    token = _LOCATION.set(location)
    try:
        yield
    finally:
        _LOCATION.reset(token)


def build_at(location: str, cls: type[S], value: Any) -> S:
    """``cls.from_dict(value)`` validated as the section at dotted `location` (its errors name
    ``location.key``); an instance of `cls` is returned as it is."""
    if isinstance(value, cls):
        return value
    with _located(location):
        return cls.from_dict(value)  # type: ignore[attr-defined,no-any-return]


# --------------------------------------------------------------------------- messages
def config_error(path: str, rule: str, value: Any, fix: str) -> ConfigError:
    """"`path` must be `rule`, was `value`; `fix`"."""
    return ConfigError(f"`{path}` must be {rule}, was {value!r}; {fix}")


def unknown_key_error(path: str, key: Any, valid: Sequence[str], *, where: str) -> ConfigError:
    """An unknown key `key` (at dotted `path`) in `where`, with the closest valid key and the list."""
    close = difflib.get_close_matches(str(key), list(valid), n=1)
    hint = f" did you mean `{close[0]}`?" if close else ""
    listed = ", ".join(f"`{v}`" for v in valid)
    return ConfigError(f"unknown key `{path}` in {where};{hint} valid keys: {listed}")


def check_keys(location: str, data: Mapping[str, Any], valid: Sequence[str], *, where: str | None = None) -> None:
    """Refuse the first key of `data` that is not in `valid` (`where`: default "section `location`")."""
    for key in data:
        if key not in valid:
            raise unknown_key_error(dotted(location, str(key)), key, valid,
                                    where=where or (f"section `{location}`" if location else "the config"))


_NUMERIC_TEXT = re.compile(r"^[+-]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def numeric_text_hint(value: Any, *, integer: bool = False) -> str | None:
    """For text that looks like a number, how to write it so that YAML reads a number; else None.

    PyYAML (YAML 1.1) reads ``1e6`` and ``3e-4`` as strings: a float needs a dot and a
    signed exponent (``1.0e+6``). Text that YAML would read as a number was quoted.
    """
    if not isinstance(value, str) or not _NUMERIC_TEXT.match(value.strip()):
        return None
    number = float(value.strip().replace("_", ""))
    if integer and not number.is_integer():
        return f"{value!r} is text, and not a whole number; write an integer without quotes"
    if isinstance(yaml.safe_load(value), (int, float)):
        return f"{value!r} is quoted text, not a number; write it without quotes"
    mantissa, exponent = f"{number:.15e}".split("e")
    mantissa = mantissa.rstrip("0")
    sci = f"{mantissa}{'0' if mantissa.endswith('.') else ''}e{int(exponent):+d}"
    if number.is_integer() and abs(number) < 1e16:
        options = f"{int(number)}" if integer else f"{sci} or {int(number)}"
    else:
        plain = repr(number)
        options = sci if "e" in plain else f"{sci} or {plain}"
    return f"YAML reads {value!r} as text, not a number (it needs a dot and a signed exponent); write {options}"


# --------------------------------------------------------------------------- value checks
def check_number(
    path: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    fix: str,
) -> float:
    """`value` as a float, if it is a finite real number (not a bool) within the bounds."""
    ok = is_real(value) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        if lo is not None and hi is not None:
            rule = f"a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        elif lo is not None:
            rule = f"a finite number {'>' if lo_open else '>='} {lo:g}"
        elif hi is not None:
            rule = f"a finite number {'<' if hi_open else '<='} {hi:g}"
        else:
            rule = "a finite number"
        raise config_error(path, rule, value, numeric_text_hint(value) or fix)
    return float(value)


def check_integer(path: str, value: Any, *, lo: int, fix: str) -> int:
    """`value` as a Python int (numpy integers accepted; bools and floats are not)."""
    if not is_integer(value) or value < lo:
        raise config_error(path, f"an integer >= {lo}", value, numeric_text_hint(value, integer=True) or fix)
    return int(value)


def check_optional_integer(path: str, value: Any, *, lo: int, fix: str) -> int | None:
    """None, or `value` as a Python int by `check_integer` (None: "use the default")."""
    return None if value is None else check_integer(path, value, lo=lo, fix=fix)


def check_boolean(path: str, value: Any, fix: str) -> bool:
    """`value` if it is a bool."""
    if not isinstance(value, bool):
        raise config_error(path, "true or false", value, fix)
    return value


def check_choice(path: str, value: Any, choices: Sequence[str]) -> str:
    """`value` if it is one of `choices`."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise config_error(path, f"one of {listed}", value, f"pick one of {listed}")
    return value


def check_mapping(path: str, value: Any, fix: str) -> dict[str, Any]:
    """`value` as a dict (None: empty), if it is a mapping."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise config_error(path, "a mapping", value, fix)
    return dict(value)


# --------------------------------------------------------------------------- the section base
class ConfigSection:
    """Base of the frozen config sections (keyword-only dataclasses validated in `__post_init__`).

    `SECTION` is the section's name on its own; `key_path(key)` is a key's full dotted path
    while the section validates itself (see the module docstring); `from_dict` refuses what
    is not a mapping and unknown keys; `to_dict` gives plain values (lists for tuples, dicts
    for nested sections and mappings).
    """

    __slots__ = ()
    SECTION: ClassVar[str] = ""

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @classmethod
    def location(cls) -> str:
        """Where the section being built stands (its parent's `build_at` location, else `SECTION`)."""
        return current_location(cls.SECTION)

    def key_path(self, key: str) -> str:
        """The full dotted path of `key` of the section being validated."""
        return dotted(self.location(), key)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, ConfigSection):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, Mapping):
                v = dict(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data
        location = cls.location()
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"`{location}` must be a mapping of its options, was {type(data).__name__} {data!r}; "
                f"write it as `{location}: {{key: value, ...}}`"
            )
        check_keys(location, data, [f.name for f in dataclasses.fields(cls)])  # type: ignore[arg-type]
        return cls(**dict(data))
