"""The Python half of the step protocol: runs orchestration generators and activities
for the Rust engine (see ``OrchestrationStepper`` / ``ActivityInvoker`` in the UDL and
docs/architecture.md).

These callbacks run on Rust threads and must never raise: every failure of user code
becomes a failed step or a failed activity with a message that says what went wrong.

A generator stays here between turns for as long as Rust keeps it in its replay cache;
Rust calls ``release`` when it no longer needs it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any, Callable, Dict, Optional

from . import _observe, _trace_mark, errors
from ._codec import encode_typed, storable
from ._signatures import types_of
from ._native import gen
from ._activity_loop import ActivityLoop
from ._workers import WorkerPool
from .context import ActivityContext, OrchestrationContext
from .converter import CODEC_MARK, DEFAULT_CONVERTER, DataConverter
from .tasks import AllTask, RaceTask, Task

log = logging.getLogger("duroxide")

def is_async(fn: Any) -> bool:
    """True for an ``async def`` function (or an object whose ``__call__`` is one)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


class Registered:
    """A registered function, the types its annotations give its input and result, and
    how its result is encoded (``typed``: a ``str`` result is sent as is, as the
    ``*_typed`` registrations promise)."""

    __slots__ = ("fn", "typed", "is_async", "input_type", "result_type")

    def __init__(self, fn: Callable[..., Any], typed: bool) -> None:
        self.fn = fn
        self.typed = typed
        self.is_async = is_async(fn)
        self.input_type, self.result_type = types_of(fn)

    def decode_input(self, converter: DataConverter, text: str, what: str) -> Any:
        """The input as the function's annotation types it; PayloadError naming the field."""
        try:
            return converter.from_payload(text, self.input_type, "input")
        except errors.PayloadError as e:
            raise errors.PayloadError(f"{what} cannot take its input: {e}") from None

    def encode_result(self, converter: DataConverter, value: Any, what: str) -> str:
        if self.typed and isinstance(value, str):
            return converter.seal(encode_typed(value, what))
        return converter.to_payload(value, what)


OrchestrationLookup = Callable[[str, str], Optional[Registered]]
ActivityLookup = Callable[[str], Optional[Registered]]

_VALUE, _ERROR, _COMPOSITE = 0, 1, 2
_NONE_RESULT_KINDS = ("timer", "start_orchestration")
_EVENT_KINDS = ("wait", "dequeue")


def describe(exc: BaseException) -> str:
    """The message a failure carries: the exception's text, or its type when it has none.
    Exceptions that are not ``Exception`` (``SystemExit``, ``KeyboardInterrupt``, ...)
    always name their type: ``SystemExit(3)`` fails with "SystemExit: 3", not "3"."""
    try:
        text = str(exc)
    except BaseException:  # noqa: B036 - a __str__ that raises
        text = ""
    name = type(exc).__name__
    if not isinstance(exc, Exception):
        return f"{name}: {text}" if text else name
    return text if text else name


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except BaseException:  # noqa: B036 - a __repr__ that raises
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= 200 else text[:200] + "..."


def _step_fail(message: str) -> str:
    message = storable(message)
    return json.dumps({"fail": message})


def _task_error(task: Task[Any], message: str) -> errors.TaskFailedError:
    if task.kind == "activity":
        return errors.ActivityFailedError(message)
    if task.kind == "sub_orchestration":
        return errors.SubOrchestrationFailedError(message)
    return errors.TaskFailedError(message)


def _shape(task: Task[Any], node: Dict[str, Any], in_composite: bool, converter: DataConverter) -> Any:
    """The value a composite outcome tree gives ``task`` (DECISIONS.md 1-2); raises the
    task's exception when it failed."""
    if "e" in node:
        raise _task_error(task, node["e"])
    if isinstance(task, AllTask):
        values, first_error = [], None
        for child, child_node in zip(task.children, node["all"]):
            try:
                values.append(_shape(child, child_node, not task.plain, converter))
            except errors.TaskFailedError as e:
                values.append(e)
                first_error = first_error or e
        if first_error is not None and not task.return_exceptions:
            raise first_error
        return values
    if isinstance(task, RaceTask):
        index = node["race"]
        return {"index": index, "value": _shape(task.children[index], node["of"], not task.plain, converter)}
    value = node["v"]
    if isinstance(value, str) and value.startswith(CODEC_MARK):  # not JSON: the codec's text
        value = converter.from_payload(value)
    if task.result_type is not Any:
        value = converter.from_json(value, task.result_type, "result")
    if not in_composite:
        return value
    if task.kind in _NONE_RESULT_KINDS:
        return {"ok": None}
    if task.kind in _EVENT_KINDS:
        return {"ok": value}
    return value


_TASK_AWAIT = Task.__await__.__code__


def _inner(step: Any) -> Any:
    """What a generator (``yield from``) or coroutine (``await``) is suspended in, or
    None; ``Task.__await__`` does not count: the user's line is the one awaiting it."""
    inner = getattr(step, "gi_yieldfrom", None) or getattr(step, "cr_await", None)
    if getattr(inner, "gi_code", None) is _TASK_AWAIT:
        return None
    if hasattr(inner, "gi_frame") or hasattr(inner, "cr_frame"):
        return inner
    return None


def _location(generator: Any) -> Optional[str]:
    """``file:line`` where ``generator`` (or coroutine) is suspended, inside any
    ``yield from`` or ``await`` of a helper."""
    while (inner := _inner(generator)) is not None:
        generator = inner
    frame = getattr(generator, "gi_frame", None) or getattr(generator, "cr_frame", None)
    if frame is None:
        return None
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _not_a_task(name: str, yielded: Any, is_coroutine: bool) -> str:
    if not is_coroutine:
        return (
            f"orchestration {name!r} yielded {_safe_repr(yielded)} ({type(yielded).__name__}), which is not a task; "
            "yield what a ctx.* method returns, e.g. `yield ctx.schedule_activity(...)`"
        )
    return (
        f"orchestration {name!r} awaited {_safe_repr(yielded)} ({type(yielded).__name__}), which is not a durable "
        "task; an async orchestration may only await what a ctx.* method returns (ctx.schedule_timer() instead "
        "of asyncio.sleep(), an activity for I/O and for other libraries' coroutines)"
    )


class _Live:
    """A generator suspended at a yield, waiting for the outcome of ``pending``."""

    __slots__ = ("gen", "name", "pending", "registered", "ctx")

    def __init__(self, gen_: Any, name: str, registered: Registered, ctx: OrchestrationContext) -> None:
        self.gen = gen_
        self.name = name
        self.registered = registered
        self.ctx = ctx
        self.pending: Optional[Task[Any]] = None


class Stepper(gen.OrchestrationStepper):  # type: ignore[misc]  # a generated base (Any to checkers)
    """Creates and advances orchestration generators on behalf of the Rust driver."""

    def __init__(
        self, lookup: OrchestrationLookup, converter: DataConverter = DEFAULT_CONVERTER,
        client: Optional[Callable[[], Any]] = None, worker: str = "",
    ) -> None:
        self._lookup = lookup
        self._worker = worker  # who ends executions here, for their spans
        self._converter = converter
        self._live: Dict[int, _Live] = {}
        # The runtime's client, for observability to read an ended execution's history
        # (None in the offline replayer, which never ends anything live).
        self._client = client

    # The three callbacks never raise into Rust: anything unexpected fails the step.

    def start(self, generator_id: int, ctx: Any, info: Any, input: str) -> str:
        try:
            return self._start(generator_id, ctx, info, input)
        except BaseException as e:  # noqa: B036
            return self._internal(generator_id, e)

    def resume(self, generator_id: int, outcome_kind: int, payload: str) -> str:
        try:
            return self._resume(generator_id, outcome_kind, payload)
        except BaseException as e:  # noqa: B036
            return self._internal(generator_id, e)

    def release(self, generator_id: int) -> None:
        try:
            live = self._live.pop(generator_id, None)
            if live is not None:
                self.release_generator(live)
        except BaseException:  # noqa: B036
            log.debug("releasing generator %s failed", generator_id, exc_info=True)

    def _internal(self, generator_id: int, exc: BaseException) -> str:
        live = self._live.pop(generator_id, None)
        if live is not None:
            self.release_generator(live)
        if isinstance(exc, RecursionError):
            return _step_fail(
                "the orchestration's step is nested too deeply to process (a deeply nested value, "
                "or all/race nested too deeply)"
            )
        log.error("internal error in the orchestration driver", exc_info=exc)
        return _step_fail(f"internal error in the orchestration driver: {describe(exc)}")

    def _start(self, generator_id: int, ctx: Any, info: Any, input: str) -> str:
        name = f"{info.orchestration_name}@{info.orchestration_version}"
        registered = self._lookup(info.orchestration_name, info.orchestration_version)
        if registered is None:
            return _step_fail(f"orchestration {name!r} is not registered in this process")
        mark, input = _trace_mark.split(input)
        octx = OrchestrationContext(ctx, info, self._converter, mark)
        try:
            value = registered.decode_input(self._converter, input, f"orchestration {name!r}")
        except errors.PayloadError as e:  # before any user code runs
            return self._ended(octx, _step_fail(str(e)))
        try:
            result = registered.fn(octx, value)
        except BaseException as e:  # noqa: B036 - user code must never escape into Rust
            return self._ended(octx, self._failed(name, e))
        if inspect.isgenerator(result) or inspect.iscoroutine(result):
            return self._advance(generator_id, _Live(result, name, registered, octx), None, None)
        if inspect.isasyncgen(result):
            result.aclose().close()
            return self._ended(octx, _step_fail(
                f"orchestration {name!r} is an async generator (an `async def` with `yield`); write either a "
                "generator (`def`, `result = yield ctx.schedule_activity(...)`) or a coroutine "
                "(`async def`, `result = await ctx.schedule_activity(...)`)"
            ))
        return self._ended(octx, self._returned(name, registered, result))

    def _ended(self, ctx: OrchestrationContext, step: str) -> str:
        """``step``, which ends the execution; a live (not replayed) end is reported to
        observability, which builds the execution's span from its history."""
        observer = _observe.observer
        if observer is not None and self._client is not None and not ctx.is_replaying:
            try:
                observer.execution_ended(self._client(), ctx, ctx._trace_in, self._worker)
            except Exception:  # noqa: BLE001 - observability never fails a step
                log.warning("observability could not take an ended execution", exc_info=True)
        return step

    def _resume(self, generator_id: int, outcome_kind: int, payload: str) -> str:
        live = self._live.get(generator_id)
        if live is None or live.pending is None:
            return _step_fail(f"internal error: generator {generator_id} is unknown to the driver")
        task = live.pending
        if outcome_kind == _ERROR:
            return self._advance(generator_id, live, None, _task_error(task, payload))
        try:
            if outcome_kind == _VALUE:
                value = None if task.kind in _NONE_RESULT_KINDS else self._converter.from_payload(payload, task.result_type, "result")
            elif outcome_kind == _COMPOSITE:
                value = _shape(task, json.loads(payload), False, self._converter)
            else:
                return _step_fail(f"internal error: unknown outcome kind {outcome_kind}")
        except (errors.TaskFailedError, errors.PayloadError) as e:
            # The yield raises: a failed task of an all/race, or a result Python cannot decode.
            return self._advance(generator_id, live, None, e)
        return self._advance(generator_id, live, value, None)

    @staticmethod
    def release_generator(live: _Live) -> None:
        try:
            live.gen.close()
        except BaseException:  # noqa: B036 - a generator that refuses to close
            log.debug("generator of %s did not close cleanly", live.name, exc_info=True)

    def _advance(self, generator_id: int, live: _Live, value: Any, error: Optional[BaseException]) -> str:
        """Send ``value`` (or throw ``error``) into the generator; report what it did next."""
        try:
            yielded = live.gen.send(value) if error is None else live.gen.throw(error)
        except StopIteration as stop:
            self._live.pop(generator_id, None)
            return self._ended(live.ctx, self._returned(live.name, live.registered, stop.value))
        except BaseException as e:  # noqa: B036
            self._live.pop(generator_id, None)
            return self._ended(live.ctx, self._failed(live.name, e, inspect.iscoroutine(live.gen)))
        if not isinstance(yielded, Task):
            self._live.pop(generator_id, None)
            self.release_generator(live)
            return self._ended(live.ctx, _step_fail(_not_a_task(live.name, yielded, inspect.iscoroutine(live.gen))))
        live.pending = yielded
        self._live[generator_id] = live
        step = json.dumps({"yield": {"task": yielded._command, "at": _location(live.gen)}})
        return self._ended(live.ctx, step) if yielded._kind == "continue_as_new" else step

    def _returned(self, name: str, registered: Registered, value: Any) -> str:
        if inspect.isgenerator(value) or inspect.iscoroutine(value):
            kind = "generator" if inspect.isgenerator(value) else "coroutine"
            value.close()
            return _step_fail(
                f"orchestration {name!r} returned a {kind}; an orchestration `return`s a JSON value "
                "(did you mean `return (yield ...)` or `return await ...`?)"
            )
        try:
            return json.dumps({"return": registered.encode_result(self._converter, value, f"the result of orchestration {name!r}")})
        except (TypeError, ValueError) as e:
            return _step_fail(str(e))

    @staticmethod
    def _failed(name: str, exc: BaseException, is_coroutine: bool = False) -> str:
        if not isinstance(exc, errors.TaskFailedError):
            log.warning("orchestration %s raised %s", name, type(exc).__name__, exc_info=exc)
        if is_coroutine and isinstance(exc, RuntimeError) and "no running event loop" in str(exc):
            # asyncio.sleep(), asyncio.gather(), ... called inside the orchestration.
            return _step_fail(
                f"orchestration {name!r} called asyncio, which needs an event loop (no running event loop); "
                "an async orchestration runs on the durable driver, not on asyncio: await ctx.* tasks only "
                "(ctx.schedule_timer() instead of asyncio.sleep(), ctx.all() instead of asyncio.gather(), "
                "activities for I/O)"
            )
        return _step_fail(describe(exc))


class Invoker(gen.ActivityInvoker):  # type: ignore[misc]  # a generated base (Any to checkers)
    """Runs sync activity functions on Python-owned daemon threads (see ``_workers``) and
    ``async def`` ones as tasks of one event loop (see ``_activity_loop``)."""

    def __init__(self, lookup: ActivityLookup, converter: DataConverter = DEFAULT_CONVERTER) -> None:
        self._lookup = lookup
        self._converter = converter
        self._pool = WorkerPool("duroxide-activity")
        self._loop = ActivityLoop("duroxide-async-activities")

    def invoke(
        self,
        ctx: Any,
        info: Any,
        input: str,
        completion: Any,
    ) -> None:
        raw = input
        mark, input = _trace_mark.split(input)
        observer = _observe.observer
        if observer is not None:
            client = lambda: ActivityContext(ctx, info, self._converter).get_client()  # noqa: E731
            completion = _observe.observed(observer, completion, info, mark, client, raw)
        registered = self._lookup(info.activity_name)
        if registered is not None and registered.is_async:
            try:
                self._start_async(registered, ctx, info, input, completion)
            except BaseException as e:  # noqa: B036 - the runtime is shutting down
                _complete(completion, _activity_failed(info.activity_name, e))
            return
        def run() -> None:
            with _observe.scope(completion):  # the activity's span is current in its code
                outcome = self._run(ctx, info, input)
            _complete(completion, outcome)

        self._pool.submit(run)

    def close(self) -> None:
        """Stop the event loop of async activities (the runtime has shut down)."""
        self._loop.close()

    def _start_async(
        self,
        registered: Registered,
        ctx: Any,
        info: Any,
        input: str,
        completion: Any,
    ) -> None:
        name = info.activity_name
        try:
            value = registered.decode_input(self._converter, input, f"activity {name!r}")
            # Calling an async def runs none of its code: it only binds the arguments.
            coroutine = registered.fn(ActivityContext(ctx, info, self._converter), value)
        except BaseException as e:  # noqa: B036
            _complete(completion, _activity_failed(name, e))
            return
        if not inspect.iscoroutine(coroutine):
            coroutine = _await(coroutine)
        coroutine = _observe.in_scope(completion, coroutine)

        def finish(task: "asyncio.Future[Any]") -> None:
            _complete(completion, _async_outcome(task, registered, name, self._converter))

        self._loop.run(coroutine, ctx, finish)

    def _run(self, ctx: Any, info: Any, input: str) -> Any:
        name = info.activity_name
        registered = self._lookup(name)
        if registered is None:
            return gen.ActivityOutcome(ok=False, payload=f"activity {name!r} is not registered in this process")
        try:
            value = registered.decode_input(self._converter, input, f"activity {name!r}")
            result = registered.fn(ActivityContext(ctx, info, self._converter), value)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            payload = registered.encode_result(self._converter, result, f"the result of activity {name!r}")
            return gen.ActivityOutcome(ok=True, payload=payload)
        except BaseException as e:  # noqa: B036 - KeyboardInterrupt/SystemExit fail the activity only
            return _activity_failed(name, e)


def _activity_failed(name: str, exc: BaseException) -> Any:
    if not isinstance(exc, Exception):
        log.warning("activity %s raised %s; the activity fails, the worker goes on", name, type(exc).__name__)
    return gen.ActivityOutcome(ok=False, payload=storable(describe(exc)))


def _async_outcome(
    task: "asyncio.Future[Any]", registered: Registered, name: str, converter: DataConverter
) -> Any:
    """The outcome of the task that ran an async activity."""
    if task.cancelled():
        message = f"activity {name!r} was cancelled (its orchestration no longer needs the result)"
        return gen.ActivityOutcome(ok=False, payload=message)
    exc = task.exception()
    if exc is not None:
        return _activity_failed(name, exc)
    try:
        payload = registered.encode_result(converter, task.result(), f"the result of activity {name!r}")
    except BaseException as e:  # noqa: B036
        return _activity_failed(name, e)
    return gen.ActivityOutcome(ok=True, payload=payload)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _complete(completion: Any, outcome: Any) -> None:
    """Report an outcome; if it cannot cross into Rust, report that instead (an activity
    must never be left without an outcome)."""
    try:
        completion.complete(outcome)
    except BaseException as e:  # noqa: B036
        message = storable(f"the activity's outcome could not be reported: {describe(e)}")
        try:
            completion.complete(gen.ActivityOutcome(ok=False, payload=message))
        except BaseException:  # noqa: B036
            log.exception("an activity outcome could not be reported")
