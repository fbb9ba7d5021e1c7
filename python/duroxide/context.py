"""The contexts user code receives: ``OrchestrationContext`` and ``ActivityContext``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Coroutine, Generator, Mapping, Optional, Sequence, TypeVar, Union, overload

from . import _retry, _trace_mark, _validate
from ._activity_tag import NO_TAG, ActivityTag
from ._signatures import name_of
from .converter import DEFAULT_CONVERTER, DataConverter
from ._context_kv import KvMethods
from ._native import gen, translate_errors
from ._context_typed import TypedContextMethods
from .errors import InvalidArgumentError
from .tasks import ActivityTask, AllTask, RaceTask, Task, optional_str, require_tasks

if TYPE_CHECKING:
    from .client import Client

__all__ = ["OrchestrationContext", "ActivityContext", "ScheduledTask", "ActivityTag", "NO_TAG"]

#: The original SDK's name for what ``schedule_activity`` returns.
ScheduledTask = ActivityTask

I = TypeVar("I")  # noqa: E741 - a registered function's input type
R = TypeVar("R")  # its result type




_name = _validate.text


def _optional_version(value: Optional[str]) -> Optional[str]:
    """None (the latest registered), or a semantic version."""
    return None if optional_str("version", value) is None else _validate.version("version", value)


def _one_of(name: str, value: Any, legacy_name: str, legacy: Any) -> Any:
    """``value``, or the same argument under the original SDK's keyword ``legacy_name``."""
    if legacy is None:
        if value is None:
            raise TypeError(f"missing argument {name!r}")
        return value
    if value is not None:
        raise TypeError(f"pass {name!r} or {legacy_name!r}, not both")
    return legacy


def _session(value: Any) -> str:
    return _validate.identifier("session_id", value)


def _delay_ms(value: Any) -> int:
    return _validate.millis("timer delay", value)


def _instance_id(value: Any) -> str:
    return _validate.instance_id(value)


class _Tracing:
    """``trace_*`` methods over a native context's ``trace(level, message)``. In an
    orchestration the core keeps them silent while replaying; in an activity they carry
    the activity's structured fields (name, id, worker)."""

    __slots__ = ()
    _native: Any

    def trace_info(self, message: Any) -> None:
        """Log ``message`` at INFO through Rust tracing."""
        self._native.trace("info", str(message))

    def trace_warn(self, message: Any) -> None:
        """Log ``message`` at WARN."""
        self._native.trace("warn", str(message))

    def trace_error(self, message: Any) -> None:
        """Log ``message`` at ERROR."""
        self._native.trace("error", str(message))

    def trace_debug(self, message: Any) -> None:
        """Log ``message`` at DEBUG."""
        self._native.trace("debug", str(message))


class OrchestrationContext(_Tracing, KvMethods, TypedContextMethods):
    """What an orchestration generator receives as ``ctx``.

    Methods that return a :class:`~duroxide.tasks.Task` must be yielded
    (``result = yield ctx.schedule_activity(...)``); the others (tracing, custom status,
    key-value state) take effect at once. Everything here is deterministic on replay.
    """

    __slots__ = (
        "_native", "_converter", "_trace_in", "_trace_out",
        "instance_id", "execution_id", "orchestration_name", "orchestration_version",
    )

    def __init__(
        self, native: Any, info: Any, converter: DataConverter = DEFAULT_CONVERTER,
        trace: Optional[_trace_mark.TraceMark] = None,
    ) -> None:
        self._native = native
        #: The trace context the instance's input carried, and the one it hands on to what
        #: it schedules (None, None without: see duroxide._trace_mark).
        self._trace_in = trace
        self._trace_out = _trace_mark.for_children(trace, info.instance_id, info.execution_id)
        #: Encodes the inputs this context schedules and decodes typed results.
        self._converter = converter
        #: The instance id this orchestration runs as.
        self.instance_id: str = info.instance_id
        #: 1 for the first execution, +1 after each ``continue_as_new``.
        self.execution_id: int = info.execution_id
        self.orchestration_name: str = info.orchestration_name
        self.orchestration_version: str = info.orchestration_version

    def __repr__(self) -> str:
        return (
            f"<OrchestrationContext {self.orchestration_name}@{self.orchestration_version} "
            f"instance={self.instance_id!r} execution={self.execution_id}>"
        )

    def _encode(self, value: Any, what: str, *, retry: bool = False, own: bool = False) -> str:
        """The payload of ``value`` with the trace mark this execution hands on (its own
        for the next execution), when its input had one; decided by history alone (see
        _trace_mark). ``what`` names the value in errors."""
        payload: str = self._converter.to_payload(value, what)
        mark = self._trace_in if own else self._trace_out
        if mark is None:
            return payload
        return (mark._replace(retry=True) if retry else mark).text() + payload

    # -- activities -------------------------------------------------------------------

    @overload
    def schedule_activity(
        self, name: Callable[[ActivityContext, I], Coroutine[Any, Any, R]], input: I = ..., session_id: Optional[str] = ...
    ) -> ActivityTask[R]: ...
    @overload
    def schedule_activity(
        self, name: Callable[[ActivityContext, I], R], input: I = ..., session_id: Optional[str] = ...
    ) -> ActivityTask[R]: ...
    @overload
    def schedule_activity(self, name: str, input: Any = ..., session_id: Optional[str] = ...) -> ActivityTask[Any]: ...

    def schedule_activity(
        self, name: Union[str, Callable[..., Any]], input: Any = None, session_id: Optional[str] = None
    ) -> ActivityTask[Any]:
        """Run activity ``name`` with ``input``; yields its return value.

        ``name`` may be the registered function itself: then the yield returns its
        result as the function's return annotation types it (a dataclass, a model, ...).
        With ``session_id``, every activity of that session runs on the same worker.
        A failure raises :class:`~duroxide.ActivityFailedError` at the ``yield``.
        """
        name, result_type = name_of("ctx.schedule_activity()", "activity", name)
        command = {
            "t": "activity",
            "name": _name("activity name", name),
            "input": self._encode(input, f"input of activity {name!r}"),
            "session": None if session_id is None else _session(session_id),
        }
        return ActivityTask("activity", command, result_type)

    def schedule_activity_on_session(self, name: str, input: Any, session_id: str) -> ActivityTask[Any]:
        """``schedule_activity`` pinned to the worker that owns ``session_id``."""
        return self.schedule_activity(name, input, session_id=_session(session_id))

    @overload
    def schedule_activity_with_retry(
        self,
        name: Callable[[ActivityContext, I], Coroutine[Any, Any, R]],
        input: I,
        policy: Optional[Mapping[str, Any]] = ...,
        session_id: Optional[str] = ...,
        *,
        retry: Optional[Mapping[str, Any]] = ...,
    ) -> Task[R]: ...
    @overload
    def schedule_activity_with_retry(
        self,
        name: Callable[[ActivityContext, I], R],
        input: I,
        policy: Optional[Mapping[str, Any]] = ...,
        session_id: Optional[str] = ...,
        *,
        retry: Optional[Mapping[str, Any]] = ...,
    ) -> Task[R]: ...
    @overload
    def schedule_activity_with_retry(
        self,
        name: str,
        input: Any,
        policy: Optional[Mapping[str, Any]] = ...,
        session_id: Optional[str] = ...,
        *,
        retry: Optional[Mapping[str, Any]] = ...,
    ) -> Task[Any]: ...

    def schedule_activity_with_retry(
        self,
        name: Union[str, Callable[..., Any]],
        input: Any,
        policy: Optional[Mapping[str, Any]] = None,
        session_id: Optional[str] = None,
        *,
        retry: Optional[Mapping[str, Any]] = None,
    ) -> Task[Any]:
        """Run an activity, retrying failures per ``policy``.

        ``policy`` keys: ``max_attempts`` (default 3), ``backoff`` ("none", "fixed",
        "linear", "exponential"; default "exponential"), ``delay_ms`` (100),
        ``max_delay_ms`` (30000), ``multiplier`` (2.0), ``timeout_ms`` (per attempt; a
        timed-out attempt is not retried) and ``total_timeout_ms`` (across all attempts).
        Waits between attempts are durable timers.
        """
        chosen: Mapping[str, Any] = _one_of("policy", policy, "retry", retry)
        name, result_type = name_of("ctx.schedule_activity_with_retry()", "activity", name)
        command = {
            "t": "retry",
            "name": _name("activity name", name),
            "input": self._encode(input, f"input of activity {name!r}", retry=True),
            "session": None if optional_str("session_id", session_id) is None else _session(session_id),
            "policy": _retry.normalize(chosen),
        }
        return Task("activity", command, result_type)

    def schedule_activity_with_retry_on_session(
        self, name: str, input: Any, policy: Mapping[str, Any], session_id: str
    ) -> Task[Any]:
        """``schedule_activity_with_retry`` with every attempt on ``session_id``'s worker."""
        return self.schedule_activity_with_retry(name, input, policy, session_id=_session(session_id))

    # -- time, events ---------------------------------------------------------------

    def schedule_timer(self, delay_ms: Union[int, float]) -> Task[None]:
        """A durable timer: yields ``None`` after ``delay_ms`` milliseconds, across restarts."""
        return Task("timer", {"t": "timer", "ms": _delay_ms(delay_ms)})

    def wait_for_event(self, name: str) -> Task[Any]:
        """Yields the data of the next event ``name`` raised with ``client.raise_event``.

        Events raised before the orchestration reaches this wait are not kept; use
        ``dequeue_event`` for messages that must never be missed.
        """
        return Task("wait", {"t": "wait", "name": _name("event name", name)})

    def dequeue_event(self, queue: Optional[str] = None, *, queue_name: Optional[str] = None) -> Task[Any]:
        """Yields the next message of ``queue`` (FIFO), sent with ``client.enqueue_event``.
        Messages wait in the queue until dequeued, and survive ``continue_as_new``.
        (``queue_name=`` is the original SDK's spelling.)"""
        queue = _one_of("queue", queue, "queue_name", queue_name)
        return Task("dequeue", {"t": "dequeue", "queue": _name("queue name", queue)})

    # -- other orchestrations ---------------------------------------------------------

    def _sub(self, name: Any, version: Optional[str], instance_id: Optional[str], input: Any) -> Task[Any]:
        name, result_type = name_of("ctx.schedule_sub_orchestration()", "orchestration", name)
        command = {
            "t": "sub",
            "name": _name("orchestration name", name),
            "version": _optional_version(version),
            "id": None if instance_id is None else _validate.identifier("instance_id", instance_id),
            "input": self._encode(input, f"input of sub-orchestration {name!r}"),
        }
        return Task("sub_orchestration", command, result_type)

    @overload
    def schedule_sub_orchestration(
        self, name: Callable[[OrchestrationContext, I], Generator[Any, Any, R]], input: I = ...
    ) -> Task[R]: ...
    @overload
    def schedule_sub_orchestration(
        self, name: Callable[[OrchestrationContext, I], Coroutine[Any, Any, R]], input: I = ...
    ) -> Task[R]: ...
    @overload
    def schedule_sub_orchestration(self, name: str, input: Any = ...) -> Task[Any]: ...

    def schedule_sub_orchestration(self, name: Union[str, Callable[..., Any]], input: Any = None) -> Task[Any]:
        """Run orchestration ``name`` as a child; yields its output. A failed child raises
        :class:`~duroxide.SubOrchestrationFailedError`."""
        return self._sub(name, None, None, input)

    @overload
    def schedule_sub_orchestration_with_id(
        self, name: Callable[[OrchestrationContext, I], Generator[Any, Any, R]], instance_id: str, input: I = ...
    ) -> Task[R]: ...
    @overload
    def schedule_sub_orchestration_with_id(
        self, name: Callable[[OrchestrationContext, I], Coroutine[Any, Any, R]], instance_id: str, input: I = ...
    ) -> Task[R]: ...
    @overload
    def schedule_sub_orchestration_with_id(self, name: str, instance_id: str, input: Any = ...) -> Task[Any]: ...

    def schedule_sub_orchestration_with_id(
        self, name: Union[str, Callable[..., Any]], instance_id: str, input: Any = None
    ) -> Task[Any]:
        """``schedule_sub_orchestration`` with an explicit child instance id."""
        return self._sub(name, None, instance_id, input)

    def schedule_sub_orchestration_versioned(self, name: str, version: Optional[str], input: Any = None) -> Task[Any]:
        """``schedule_sub_orchestration`` running ``version`` of the child (None: latest)."""
        return self._sub(name, version, None, input)

    def schedule_sub_orchestration_versioned_with_id(
        self, name: str, version: Optional[str], instance_id: str, input: Any = None
    ) -> Task[Any]:
        """Versioned sub-orchestration with an explicit child instance id."""
        return self._sub(name, version, instance_id, input)

    def start_orchestration(self, name: str, instance_id: str, input: Any = None) -> Task[Any]:
        """Start an independent orchestration (fire-and-forget); yields ``None`` at once."""
        return self.start_orchestration_versioned(name, None, instance_id, input)

    def start_orchestration_versioned(self, name: str, version: Optional[str], instance_id: str, input: Any = None) -> Task[Any]:
        """``start_orchestration`` running ``version`` (None: latest)."""
        name, _ = name_of("ctx.start_orchestration()", "orchestration", name)
        command = {
            "t": "start",
            "name": _name("orchestration name", name),
            "version": _optional_version(version),
            "id": _instance_id(instance_id),
            "input": self._encode(input, f"input of orchestration {name!r}"),
        }
        return Task("start_orchestration", command)

    def continue_as_new(self, input: Any = None) -> Task[Any]:
        """End this execution and start the next one with ``input`` and an empty history.
        Nothing after this yield runs."""
        text = self._encode(input, "continue_as_new input", own=True)
        return Task("continue_as_new", {"t": "can", "input": text})

    def continue_as_new_versioned(self, input: Any, version: str) -> Task[Any]:
        """``continue_as_new`` into ``version`` of this orchestration."""
        return Task(
            "continue_as_new",
            {
                "t": "can",
                "input": self._encode(input, "continue_as_new input", own=True),
                "version": _validate.version("version", version),
            },
        )

    # -- deterministic values -----------------------------------------------------------

    def new_guid(self) -> Task[str]:
        """Yields a new UUID string, the same one on every replay."""
        return Task("new_guid", {"t": "guid"})

    def utc_now(self) -> Task[int]:
        """Yields the current time in milliseconds since the epoch, stable on replay."""
        return Task("utc_now", {"t": "now"})

    # -- composition ----------------------------------------------------------------------

    def all(self, tasks: Sequence[Task[Any]], *, return_exceptions: bool = False) -> AllTask:
        """Run ``tasks`` concurrently; yields a list of their results in order.

        Activity and sub-orchestration items are their values; a timer item is
        ``{"ok": None}``; an event item ``{"ok": data}``. If a task fails, the yield raises
        its exception once all have finished (the first failure in task order); with
        ``return_exceptions=True`` the exception takes the task's place instead.
        """
        return AllTask(require_tasks("ctx.all()", tasks), bool(return_exceptions))

    def race(self, *tasks: Union[Task[Any], Sequence[Task[Any]]]) -> RaceTask:
        """Run tasks concurrently; yields ``{"index": i, "value": v}`` for the first to
        finish (``v`` shaped as in ``all``). The others are cancelled. Takes two or more
        tasks, as arguments or as one list."""
        items: Sequence[Any] = tasks[0] if len(tasks) == 1 and isinstance(tasks[0], (list, tuple)) else tasks
        children = require_tasks("ctx.race()", items)
        if not children:
            raise InvalidArgumentError("ctx.race() needs at least one task")
        return RaceTask(children)

    # -- effects that do not yield ------------------------------------------------------

    @property
    def is_replaying(self) -> bool:
        """True while the engine re-runs steps already in history."""
        return bool(self._native.is_replaying())

    def set_custom_status(self, status: Any) -> None:
        """Publish progress for clients (``OrchestrationResult.custom_status``).

        A ``str`` is stored as is; any other value is stored as its JSON text. At most
        ``MAX_CUSTOM_STATUS_BYTES``.
        """
        if isinstance(status, str):
            _validate.text("custom status", status, allow_empty=True)
            text = self._converter.seal(status)
        else:
            text = self._converter.to_payload(status, "custom status")
        _validate.text("custom status", text, allow_empty=True)
        with translate_errors():
            self._native.set_custom_status(text)

    def reset_custom_status(self) -> None:
        """Clear the custom status (clients then see ``None``)."""
        with translate_errors():
            self._native.reset_custom_status()

    def get_custom_status(self) -> Optional[str]:
        """The current custom status, including one carried over ``continue_as_new``."""
        with translate_errors():
            status = self._native.get_custom_status()
        return None if status is None else self._converter.unseal(status)


class ActivityContext(_Tracing):
    """What an activity function receives as ``ctx``."""

    __slots__ = (
        "_native",
        "_converter",
        "instance_id",
        "execution_id",
        "orchestration_name",
        "orchestration_version",
        "activity_name",
        "worker_id",
        "session_id",
        "tag",
    )

    def __init__(
        self, native: Any, info: Any, converter: DataConverter = DEFAULT_CONVERTER
    ) -> None:
        self._native = native
        self._converter = converter
        self.instance_id: str = info.instance_id
        self.execution_id: int = info.execution_id
        self.orchestration_name: str = info.orchestration_name
        self.orchestration_version: str = info.orchestration_version
        self.activity_name: str = info.activity_name
        self.worker_id: str = info.worker_id
        #: The session this activity runs on, or None for a regular activity.
        self.session_id: Optional[str] = info.session_id
        #: The tag the activity was scheduled with (an :class:`ActivityTag`, a str), or
        #: :data:`NO_TAG` (falsy, ``== None``). Both are also callable: ``ctx.tag()``.
        self.tag: Any = NO_TAG if info.tag is None else ActivityTag(info.tag)

    def __repr__(self) -> str:
        return f"<ActivityContext {self.activity_name} instance={self.instance_id!r} worker={self.worker_id!r}>"

    def is_cancelled(self) -> bool:
        """True once the orchestration no longer needs this result (it lost a race, the
        orchestration ended, ...). Long activities should check it and return early."""
        return bool(self._native.is_cancelled())

    def get_client(self) -> "Client":
        """A :class:`~duroxide.Client` on the runtime's provider, e.g. to start instances."""
        from .client import Client

        return Client._from_native(self._native.get_client(), self._converter)
