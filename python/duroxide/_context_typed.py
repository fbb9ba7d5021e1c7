"""The ``*_typed`` variants, for code shared with other duroxide SDKs.

They differ from the plain methods in one way: a ``str`` input is sent as is instead of
as a JSON string (``"abc"`` crosses as ``abc``), which is how the core's typed helpers
encode strings. Anything else is JSON-encoded, and every result is JSON-decoded (text
that is not JSON comes back as the string itself). A consequence to keep in mind: a
string that looks like JSON (``"42"``) arrives on the other side as that JSON value.
``all_typed``/``race_typed`` give each task's value as is, without ``{"ok": ...}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, TypeVar, Union

from . import _trace_mark, _validate
from ._codec import decode, encode_typed
from .errors import InvalidArgumentError
from .tasks import ActivityTask, AllTask, RaceTask, Task, require_tasks

if TYPE_CHECKING:
    from .converter import DataConverter

F = TypeVar("F", bound=Callable[..., Any])


def _raw(converter: "DataConverter", value: Any, what: str) -> str:
    """A ``str`` as is; anything else through the context's converter."""
    return converter.seal(encode_typed(value, what)) if isinstance(value, str) else converter.to_payload(value, what)


def _with_input(task: Task[Any], input_text: str) -> Task[Any]:
    """``task`` with its (already encoded) input replaced, keeping its trace mark."""
    mark = _trace_mark.split(task._command["input"])[0]
    if mark is not None:
        input_text = mark.text() + input_text
    command = {**task._command, "input": input_text}
    return type(task)(task.kind, command, task.result_type)


class TypedContextMethods:
    """Mixed into :class:`~duroxide.OrchestrationContext`."""

    __slots__ = ()

    # Provided by OrchestrationContext.
    _converter: Any
    schedule_activity: Callable[..., ActivityTask[Any]]
    schedule_activity_with_retry: Callable[..., Task[Any]]
    schedule_sub_orchestration_versioned_with_id: Callable[..., Task[Any]]
    schedule_sub_orchestration_versioned: Callable[..., Task[Any]]
    start_orchestration_versioned: Callable[..., Task[Any]]
    continue_as_new: Callable[..., Task[Any]]
    wait_for_event: Callable[..., Task[Any]]
    dequeue_event: Callable[..., Task[Any]]

    def schedule_activity_typed(self, name: str, input: Any = None, *, session_id: Optional[str] = None) -> ActivityTask[Any]:
        """``schedule_activity`` with the typed encoding of ``input``."""
        task = self.schedule_activity(name, None, session_id=session_id)
        return _with_input(task, _raw(self._converter, input, f"input of activity {name!r}"))  # type: ignore[return-value]

    def schedule_activity_on_session_typed(self, name: str, input: Any, session_id: str) -> ActivityTask[Any]:
        """``schedule_activity_on_session`` with the typed encoding of ``input``."""
        return self.schedule_activity_typed(name, input, session_id=_validate.identifier("session_id", session_id))

    def schedule_activity_with_retry_typed(
        self, name: str, input: Any, policy: Mapping[str, Any], *, session_id: Optional[str] = None
    ) -> Task[Any]:
        """``schedule_activity_with_retry`` with the typed encoding of ``input``."""
        task = self.schedule_activity_with_retry(name, None, policy, session_id=session_id)
        return _with_input(task, _raw(self._converter, input, f"input of activity {name!r}"))

    def schedule_activity_with_retry_on_session_typed(
        self, name: str, input: Any, policy: Mapping[str, Any], session_id: str
    ) -> Task[Any]:
        """``schedule_activity_with_retry_on_session`` with the typed encoding of ``input``."""
        return self.schedule_activity_with_retry_typed(
            name, input, policy, session_id=_validate.identifier("session_id", session_id)
        )

    def schedule_sub_orchestration_typed(self, name: str, input: Any = None) -> Task[Any]:
        """``schedule_sub_orchestration`` with the typed encoding of ``input``."""
        task = self.schedule_sub_orchestration_versioned(name, None, None)
        return _with_input(task, _raw(self._converter, input, f"input of sub-orchestration {name!r}"))

    def schedule_sub_orchestration_with_id_typed(self, name: str, instance_id: str, input: Any = None) -> Task[Any]:
        """``schedule_sub_orchestration_with_id`` with the typed encoding of ``input``."""
        task = self.schedule_sub_orchestration_versioned_with_id(name, None, instance_id, None)
        return _with_input(task, _raw(self._converter, input, f"input of sub-orchestration {name!r}"))

    def start_orchestration_typed(self, name: str, instance_id: str, input: Any = None) -> Task[Any]:
        """``start_orchestration`` (fire-and-forget) with the typed encoding of ``input``."""
        return self.start_orchestration_versioned_typed(name, None, instance_id, input)

    def start_orchestration_versioned_typed(
        self, name: str, version: Optional[str], instance_id: str, input: Any = None
    ) -> Task[Any]:
        """``start_orchestration_versioned`` with the typed encoding of ``input``."""
        task = self.start_orchestration_versioned(name, version, instance_id, None)
        return _with_input(task, _raw(self._converter, input, f"input of orchestration {name!r}"))

    def continue_as_new_typed(self, input: Any = None) -> Task[Any]:
        """``continue_as_new`` with the typed encoding of ``input``."""
        return _with_input(self.continue_as_new(None), _raw(self._converter, input, "continue_as_new input"))

    def wait_for_event_typed(self, name: str) -> Task[Any]:
        """``wait_for_event``; its data is JSON-decoded (raw text when not JSON)."""
        return self.wait_for_event(name)

    def dequeue_event_typed(self, queue: str) -> Task[Any]:
        """``dequeue_event``; the message is JSON-decoded (raw text when not JSON)."""
        return self.dequeue_event(queue)

    def all_typed(self, tasks: Sequence[Task[Any]], *, return_exceptions: bool = False) -> AllTask:
        """``all`` that yields the plain list of the tasks' values (a timer's is None, an
        event's is its data), not ``{"ok": ...}`` items."""
        return AllTask(require_tasks("ctx.all_typed()", tasks), bool(return_exceptions), plain=True)

    def race_typed(self, *tasks: Union[Task[Any], Sequence[Task[Any]]]) -> RaceTask:
        """``race`` that yields ``{"index": i, "value": v}`` with ``v`` the winner's plain value."""
        items: Sequence[Any] = tasks[0] if len(tasks) == 1 and isinstance(tasks[0], (list, tuple)) else tasks
        children = require_tasks("ctx.race_typed()", items)
        if not children:
            raise InvalidArgumentError("ctx.race_typed() needs at least one task")
        return RaceTask(children, plain=True)
