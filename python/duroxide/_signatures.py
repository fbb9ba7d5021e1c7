"""What a registered function's signature says: the type of its input (its second
parameter) and of its result (its return annotation), and the name it was registered
under, so ``ctx.schedule_activity(charge, order)`` can take the function itself."""

from __future__ import annotations

import collections.abc
import inspect
import typing
from typing import Any, Callable, Dict, Optional, Tuple

_ACTIVITY_ATTR = "__duroxide_activity__"
_ORCHESTRATION_ATTR = "__duroxide_orchestration__"
_AMBIGUOUS = "<several names>"


def types_of(fn: Callable[..., Any]) -> Tuple[Any, Any]:
    """(input type, result type) of ``fn(ctx, input) -> result``; ``Any`` where there is
    no annotation or it cannot be resolved. A generator's result is the third argument of
    its ``Generator[...]`` annotation."""
    hints = _hints(fn)
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    input_type = hints.get(parameters[1].name, Any) if len(parameters) >= 2 else Any
    result_type = hints.get("return", Any)
    if typing.get_origin(result_type) in (collections.abc.Generator, typing.Generator):
        args = typing.get_args(result_type)
        result_type = args[2] if len(args) == 3 else Any
    if typing.get_origin(result_type) in (collections.abc.Coroutine, collections.abc.Awaitable):
        args = typing.get_args(result_type)
        result_type = args[-1] if args else Any
    return input_type, result_type


def _hints(fn: Callable[..., Any]) -> Dict[str, Any]:
    """The function's resolved annotations; one that does not resolve (a class defined
    inside a function, under ``from __future__ import annotations``) counts as ``Any``
    instead of spoiling the others."""
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward references, builtins, ...
        pass
    raw = getattr(fn, "__annotations__", None) or {}
    namespace = getattr(fn, "__globals__", {})
    hints: Dict[str, Any] = {}
    for key, annotation in raw.items():
        try:
            hints[key] = eval(annotation, namespace) if isinstance(annotation, str) else annotation  # noqa: S307
        except Exception:  # noqa: BLE001
            hints[key] = Any
    return hints


def mark(fn: Any, kind: str, name: str) -> None:
    """Remember on ``fn`` that it was registered as ``kind`` ("activity" or
    "orchestration") ``name``; a function registered under two names is ambiguous."""
    attr = _ACTIVITY_ATTR if kind == "activity" else _ORCHESTRATION_ATTR
    try:
        previous = getattr(fn, attr, None)
        setattr(fn, attr, name if previous in (None, name) else _AMBIGUOUS)
    except (AttributeError, TypeError):  # a builtin or a slotted object: only names work
        pass


def name_of(what: str, kind: str, target: Any) -> Tuple[str, Any]:
    """(name, result type) of what a caller passed: a name, or a registered function."""
    if isinstance(target, str):
        return target, Any
    if not callable(target):
        raise TypeError(f"{what} must be a name (str) or a registered function, got {type(target).__name__}")
    attr = _ACTIVITY_ATTR if kind == "activity" else _ORCHESTRATION_ATTR
    name: Optional[str] = getattr(target, attr, None)
    label = getattr(target, "__qualname__", repr(target))
    if name is None:
        raise TypeError(
            f"{what}: {label} is not registered as an {kind}; register it "
            f"(runtime.register_{kind}(\"Name\", fn)) or pass its name"
        )
    if name == _AMBIGUOUS:
        raise TypeError(f"{what}: {label} is registered under several {kind} names; pass the name to use")
    return name, types_of(target)[1]
