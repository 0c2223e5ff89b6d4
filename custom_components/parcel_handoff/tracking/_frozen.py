"""A quicker `__init__` and `replace` for the engine's frozen, slotted dataclasses.

A frozen dataclass sets each field through `object.__setattr__`, which looks the name
up again on every call, and `dataclasses.replace` inspects every field's definition on
every copy; a refresh makes and copies thousands of events, snapshots and records, and
the two were a fifth of its CPU time. `fill_slots` gives such a class an `__init__` that
calls each slot's own setter instead, and `replace` copies it from a list of its field
names made once. Everything else is the dataclass's: the same parameters, defaults,
default factories and `__post_init__`, and the instances stay frozen (assigning to a
field still raises `FrozenInstanceError`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, fields
import inspect
from typing import Any, cast

# The fields of each class `fill_slots` made, in order: what `replace` copies.
_FIELDS: dict[type, tuple[str, ...]] = {}


def fill_slots[T](cls: type[T]) -> type[T]:
    """Replace the `__init__` of a frozen, slotted dataclass by one that fills its slots."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    namespace: dict[str, Any] = {}
    arguments: list[str] = []
    keyword_only = False
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind is parameter.KEYWORD_ONLY and not keyword_only:
            arguments.append("*")
            keyword_only = True
        if parameter.default is parameter.empty:
            arguments.append(parameter.name)
        else:
            namespace[f"_default_{parameter.name}"] = parameter.default
            arguments.append(f"{parameter.name}=_default_{parameter.name}")
    body: list[str] = []
    for field in fields(cast("Any", cls)):
        if not field.init:
            raise TypeError(f"{cls.__name__}.{field.name} is not set by __init__")
        if (slot := vars(cls).get(field.name)) is None or not hasattr(slot, "__set__"):
            raise TypeError(f"{cls.__name__}.{field.name} is not a slot of its own")
        namespace[f"_set_{field.name}"] = slot.__set__
        value = field.name
        if field.default_factory is not MISSING:
            # The dataclass's own sentinel default stands for "call the factory".
            namespace[f"_factory_{field.name}"] = field.default_factory
            value = f"_factory_{field.name}() if {value} is _default_{value} else {value}"
        body.append(f"    _set_{field.name}(self, {value})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(arguments)}):\n" + "\n".join(body or ["    pass"])
    exec(source, namespace)  # noqa: S102 (our own field names, as dataclasses does)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    setattr(cls, "__init__", init)  # noqa: B010 (mypy forbids assigning a method)
    _FIELDS[cls] = tuple(field.name for field in fields(cast("Any", cls)))
    return cls


def replace[T](obj: T, /, **changes: Any) -> T:
    """`dataclasses.replace`: a copy of `obj` with `changes`, quicker for `fill_slots` classes."""
    names = _FIELDS.get(type(obj))
    if names is None:
        return cast("T", dataclasses.replace(cast("Any", obj), **changes))
    for name in names:
        if name not in changes:
            changes[name] = getattr(obj, name)
    return type(obj)(**changes)
