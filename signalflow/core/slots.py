"""Direct writers for the slots of frozen dataclasses, for code that builds many of them per run."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

__all__ = ["slot_setters", "direct_init", "slot_twin"]

T = TypeVar("T", bound=type)


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """One `setter(obj, value)` per slot name of `cls` (a `slots=True` dataclass).

    Writing the slots directly skips a frozen dataclass's generated `__init__`
    (one `object.__setattr__` call per field), about 3x cheaper per object; the
    caller is then responsible for setting every field (and for any validation).
    """
    return tuple(cls.__dict__[name].__set__ for name in names)


def direct_init(cls: T) -> T:
    """Give a frozen `slots=True` dataclass an `__init__` that writes its slots directly.

    Same signature, defaults and result as the generated one (which calls
    `object.__setattr__` once per field, about 4x slower); for records the run
    builds by the thousand (fills, skipped decisions, rejections, trades). Only
    for classes without `default_factory` fields, `InitVar`s or `__post_init__`.
    Apply it above `@dataclass`.
    """
    fields = dataclasses.fields(cls)
    if hasattr(cls, "__post_init__") or any(f.default_factory is not dataclasses.MISSING or not f.init for f in fields):
        raise TypeError(f"direct_init: {cls.__name__} has a __post_init__, a default_factory or a non-init field")
    namespace: dict[str, Any] = {}
    params, body = [], []
    for f in fields:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # noqa: S102 (built from the class's own field names, as dataclasses does)
    init = namespace["__init__"]
    init.__annotations__ = {f.name: f.type for f in fields} | {"return": None}
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init
    return cls


def slot_twin(cls: type) -> type:
    """A plain class with the slots of `cls` (a `slots=True` dataclass) and an `__init__`
    taking them positionally, in field order.

    Its instances become `cls` instances by ``obj.__class__ = cls`` (the layouts are
    the same): filling a frozen dataclass this way costs about half as much as one
    `slot_setters` call per field, for objects built once per bar. The caller passes
    every field (no defaults, no validation).
    """
    names = tuple(cls.__dict__.get("__slots__", ()))
    if not dataclasses.is_dataclass(cls) or tuple(f.name for f in dataclasses.fields(cls)) != names:
        raise TypeError(f"slot_twin: the slots of {cls.__name__} must be exactly its fields, in order")
    namespace: dict[str, Any] = {}
    body = "".join(f"    self.{name} = {name}\n" for name in names)
    exec(f"def __init__(self, {', '.join(names)}):\n{body}", namespace)  # noqa: S102 (the class's own field names)
    return type(f"_{cls.__name__}Twin", (), {"__slots__": names, "__init__": namespace["__init__"], "__module__": cls.__module__})
