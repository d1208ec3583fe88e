"""Direct writers for the slots of frozen dataclasses, for code that builds many of them per run."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["slot_setters"]


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """One `setter(obj, value)` per slot name of `cls` (a `slots=True` dataclass).

    Writing the slots directly skips a frozen dataclass's generated `__init__`
    (one `object.__setattr__` call per field), about 3x cheaper per object; the
    caller is then responsible for setting every field (and for any validation).
    """
    return tuple(cls.__dict__[name].__set__ for name in names)
