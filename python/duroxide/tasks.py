"""Task descriptors: what an orchestration yields (or awaits).

A task is a plain description of durable work. Creating one has no effect; yielding it
schedules the work in the Rust engine, which owns the resulting durable future (so
Python's garbage collector can never cancel work by accident). Yielding the same task
object twice schedules the work twice.
"""

from __future__ import annotations

import inspect

from typing import Any, Dict, Generator, Generic, List, Optional, Sequence, TypeVar

from .errors import InvalidArgumentError

__all__ = ["Task", "ActivityTask", "AllTask", "RaceTask"]

#: What a task's ``yield``/``await`` gives back.
R_co = TypeVar("R_co", covariant=True)


class Task(Generic[R_co]):
    """Something an orchestration can ``yield`` (or ``await``). Create tasks with ``ctx.*``
    methods. ``Task[Receipt]``: awaiting it gives a ``Receipt`` (type checkers know it)."""

    __slots__ = ("_kind", "_command", "result_type")

    def __init__(self, kind: str, command: Dict[str, Any], result_type: Any = Any) -> None:
        self._kind = kind
        self._command = command
        #: What the task's result is decoded into (``Any``: the JSON value as it is); the
        #: return annotation of a registered function passed instead of a name.
        self.result_type = result_type

    @property
    def kind(self) -> str:
        """The kind of work: "activity", "timer", "wait", "sub_orchestration", ..."""
        return self._kind

    def __repr__(self) -> str:
        details = ", ".join(f"{k}={v!r}" for k, v in self._command.items() if k not in ("t", "tasks"))
        return f"<{type(self).__name__} {self._kind}{': ' + details if details else ''}>"

    def __await__(self) -> Generator["Task[Any]", Any, R_co]:
        # `await task` in an async def orchestration is `yield task` in a generator one:
        # the driver receives the task and sends its result back.
        result: R_co = yield self
        return result


class ActivityTask(Task[R_co]):
    """An activity call. ``with_tag`` routes it to workers that accept that tag."""

    __slots__ = ()

    def with_tag(self, tag: str) -> "ActivityTask[R_co]":
        """Route this task to runtimes whose ``worker_tag_filter`` accepts ``tag`` (see
        :class:`~duroxide.TagFilter`); returns the task itself, so both
        ``yield ctx.schedule_activity(...).with_tag("gpu")`` and ``task.with_tag("gpu");
        yield task`` work. A tag is 1 to ``MAX_TAG_NAME_BYTES`` bytes of UTF-8."""
        from .limits import MAX_TAG_NAME_BYTES

        from ._validate import text

        text("activity tag", tag)
        size = len(tag.encode("utf-8"))
        if size > MAX_TAG_NAME_BYTES:
            raise InvalidArgumentError(f"activity tag is {size} bytes; the limit is {MAX_TAG_NAME_BYTES} (MAX_TAG_NAME_BYTES)")
        if self._command["t"] != "activity":
            raise InvalidArgumentError("with_tag() applies to plain activities, not to retried ones")
        self._command = {**self._command, "tag": tag}
        return self


#: How deeply ``all``/``race`` may nest inside each other.
MAX_NESTING = 32


def _depth(children: Sequence[Task[Any]]) -> int:
    inner = [getattr(c, "depth", 0) for c in children]
    depth = 1 + (max(inner) if inner else 0)
    if depth > MAX_NESTING:
        raise InvalidArgumentError(
            f"ctx.all()/ctx.race() nested {depth} levels deep; at most {MAX_NESTING} are supported "
            "(split the work into sub-orchestrations)"
        )
    return depth


class AllTask(Task[List[Any]]):
    """Waits for every child task; see ``OrchestrationContext.all``. ``plain``: items are
    the children's values as they are (``all_typed``), not ``{"ok": ...}`` for events."""

    __slots__ = ("children", "return_exceptions", "plain", "depth")

    def __init__(self, children: Sequence[Task[Any]], return_exceptions: bool, plain: bool = False) -> None:
        self.children: List[Task[Any]] = list(children)
        self.depth = _depth(self.children)
        self.return_exceptions = return_exceptions
        self.plain = plain
        super().__init__("all", {"t": "all", "tasks": [c._command for c in self.children]})


class RaceTask(Task[Dict[str, Any]]):
    """Waits for the first child task to finish; see ``OrchestrationContext.race``."""

    __slots__ = ("children", "plain", "depth")

    def __init__(self, children: Sequence[Task[Any]], plain: bool = False) -> None:
        self.children: List[Task[Any]] = list(children)
        self.depth = _depth(self.children)
        self.plain = plain
        super().__init__("race", {"t": "race", "tasks": [c._command for c in self.children]})


def require_tasks(what: str, tasks: Sequence[Any]) -> List[Task[Any]]:
    """The list of tasks, or TypeError naming the first thing that is not one."""
    items = list(tasks)
    for i, t in enumerate(items):
        if inspect.iscoroutine(t):
            t.close()  # never awaited: closing it avoids a "never awaited" warning
            raise TypeError(
                f"{what}: item {i} is a coroutine ({t.__qualname__}), not a task; {what} runs durable "
                "tasks (ctx.schedule_activity(), ctx.schedule_timer(), ...). To run an async helper "
                "concurrently, make it a sub-orchestration (ctx.schedule_sub_orchestration())"
            )
        if inspect.iscoroutinefunction(t) or inspect.isfunction(t) or inspect.ismethod(t):
            raise TypeError(
                f"{what}: item {i} is the function {getattr(t, '__qualname__', t)!r}, not a task; "
                "pass the task a ctx.* call returns, e.g. ctx.schedule_activity(\"Name\", input)"
            )
        if not isinstance(t, Task):
            raise TypeError(
                f"{what}: item {i} is {t!r} ({type(t).__name__}), not a task; "
                "pass tasks created by ctx.schedule_activity(), ctx.schedule_timer(), ..."
            )
    return items


def optional_str(name: str, value: Optional[str]) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    return value
