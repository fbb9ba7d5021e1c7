"""OpenTelemetry spans: one per execution (built from its history), per activity
execution (live, on the worker that ran it) and per timer, under the caller's trace.

An execution's span is emitted once its end is committed, from the timestamps in its
history, by a background thread of the process whose live turn ended it: replays (a
restart, the replay cache off, another worker, the offline replayer) end executions in
replaying turns and emit nothing. Its span id is derived from the instance id and the
execution (``_trace_mark.orchestration_span_id``), so the activities and
sub-orchestrations it scheduled, possibly in other processes and before it ended, name
it as their parent. That needs the OpenTelemetry SDK's tracer (its ``id_generator``);
with another tracer the ids are its own and the children's parent is not found.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from opentelemetry import context as otel_context
from opentelemetry import trace

from .. import _trace_mark
from .._trace_mark import TraceMark

log = logging.getLogger("duroxide.observability")

_TERMINAL = {
    "OrchestrationCompleted": "completed",
    "OrchestrationFailed": "failed",
    "OrchestrationContinuedAsNew": "continued_as_new",
}
# How long the emitter waits for an execution's end to be committed (a crash before the
# commit: the turn runs again, and that run emits the span).
_COMMIT_WAIT_S = 10.0


class _ChosenIds:
    """The tracer's id generator, except for the spans whose ids history decides."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._chosen = threading.local()

    def choose(self, trace_id: Optional[int], span_id: int) -> None:
        self._chosen.ids = (trace_id, span_id)

    def generate_span_id(self) -> int:
        ids = getattr(self._chosen, "ids", None)
        return ids[1] if ids is not None else int(self._inner.generate_span_id())

    def generate_trace_id(self) -> int:
        ids = getattr(self._chosen, "ids", None)
        if ids is not None and ids[0] is not None:
            return int(ids[0])
        return int(self._inner.generate_trace_id())

    def is_trace_id_random(self) -> bool:
        return bool(getattr(self._inner, "is_trace_id_random", lambda: True)())

    def done(self) -> None:
        self._chosen.ids = None


def _parent(mark: Optional[TraceMark], instance_id: str, execution_id: int) -> Any:
    """The OpenTelemetry context an execution's children hang under."""
    if mark is None:  # started without a trace context: the instance is its own trace
        trace_id, span_id, flags = _trace_mark.root_trace_id(instance_id), 0, 1
    else:
        trace_id, span_id, flags = mark.trace_id, mark.parent_id, mark.flags
    if span_id == 0:
        return None
    span_context = trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(flags))
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def _ms_to_ns(ms: int) -> int:
    return int(ms) * 1_000_000


class Spans:
    """Emits the SDK's spans through ``tracer_provider`` (None: the global one)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        from .. import __version__

        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        self._tracer: Any = provider.get_tracer("duroxide", __version__)
        self._ids: Optional[_ChosenIds] = None
        if hasattr(self._tracer, "id_generator"):  # the SDK's tracer
            self._ids = _ChosenIds(self._tracer.id_generator)
            self._tracer.id_generator = self._ids
        self._jobs: "queue.Queue[Optional[Tuple[Any, Any, Optional[TraceMark], str]]]" = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._emit_loop, name="duroxide-spans", daemon=True)
        self._thread.start()

    # -- the caller ----------------------------------------------------------------------

    def caller_mark(self) -> TraceMark:
        """The current span as the parent of an orchestration being started; with none,
        a new trace with the instance as its root."""
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            return TraceMark(span_context.trace_id, span_context.span_id, int(span_context.trace_flags))
        return TraceMark(random.getrandbits(128) or 1, 0, 1)

    # -- executions, from history --------------------------------------------------------

    def execution_ended(self, client: Any, info: Any, mark: Optional[TraceMark], worker: str) -> None:
        with self._idle:
            self._pending += 1
        self._jobs.put((client, info, mark, worker))

    def flush(self, timeout_s: float) -> bool:
        """Wait until every ended execution's span is emitted; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        self._jobs.put(None)

    def _emit_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._emit_execution(*job)
            except Exception:  # noqa: BLE001 - observability must never break the runtime
                log.warning("could not emit the span of an execution", exc_info=True)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _committed_history(self, client: Any, instance_id: str, execution_id: int) -> Optional[List[Any]]:
        deadline = time.monotonic() + _COMMIT_WAIT_S
        delay = 0.005
        while True:
            events = client.read_execution_history(instance_id, execution_id)
            if events and events[-1].kind in _TERMINAL:
                return list(events)
            if time.monotonic() > deadline:
                return None
            time.sleep(delay)
            delay = min(0.1, delay * 2)

    def _emit_execution(self, client: Any, info: Any, mark: Optional[TraceMark], worker: str) -> None:
        iid, eid = info.instance_id, info.execution_id
        events = self._committed_history(client, iid, eid)
        if events is None:
            return
        end = events[-1]
        attributes = {
            "duroxide.instance_id": iid,
            "duroxide.execution_id": eid,
            "duroxide.orchestration.name": info.orchestration_name,
            "duroxide.orchestration.version": info.orchestration_version,
            "duroxide.orchestration.outcome": _TERMINAL[end.kind],
            "duroxide.worker_id": worker,
        }
        trace_id = _trace_mark.root_trace_id(iid) if mark is None else mark.trace_id
        span_id = _trace_mark.orchestration_span_id(iid, eid)
        if self._ids is not None:
            self._ids.choose(trace_id, span_id)
        try:
            span = self._tracer.start_span(
                f"orchestration {info.orchestration_name}",
                context=_parent(mark, iid, eid) or otel_context.Context(),
                attributes=attributes,
                start_time=_ms_to_ns(events[0].timestamp_ms),
            )
        finally:
            if self._ids is not None:
                self._ids.done()
        if end.kind == "OrchestrationFailed":
            span.set_status(trace.Status(trace.StatusCode.ERROR, _failure(end)))
        self._emit_timers(span, events)
        span.end(end_time=_ms_to_ns(end.timestamp_ms))

    def _emit_timers(self, parent: Any, events: List[Any]) -> None:
        fired: Dict[int, Any] = {e.source_event_id: e for e in events if e.kind == "TimerFired"}
        within = trace.set_span_in_context(parent)
        for event in events:
            if event.kind != "TimerCreated":
                continue
            done = fired.get(event.event_id)
            fields = _fields(event)
            span = self._tracer.start_span(
                "timer",
                context=within,
                attributes={"duroxide.timer.fire_at_ms": int(fields.get("fire_at_ms", 0) or 0),
                            "duroxide.timer.fired": done is not None},
                start_time=_ms_to_ns(event.timestamp_ms),
            )
            span.end(end_time=_ms_to_ns((done or events[-1]).timestamp_ms))

    # -- activities, live ----------------------------------------------------------------

    def activity_started(self, info: Any, mark: Optional[TraceMark], client: Callable[[], Any], raw_input: str) -> Any:
        iid, eid = info.instance_id, info.execution_id
        if mark is None:  # an instance started without a trace context
            mark = TraceMark(_trace_mark.root_trace_id(iid), _trace_mark.orchestration_span_id(iid, eid), 1)
        attributes: Dict[str, Any] = {
            "duroxide.instance_id": iid,
            "duroxide.execution_id": eid,
            "duroxide.orchestration.name": info.orchestration_name,
            "duroxide.orchestration.version": info.orchestration_version,
            "duroxide.activity.name": info.activity_name,
            "duroxide.worker_id": info.worker_id,
        }
        if info.session_id is not None:
            attributes["duroxide.activity.session_id"] = info.session_id
        if info.tag is not None:
            attributes["duroxide.activity.tag"] = info.tag
        if mark.retry:
            attributes["duroxide.activity.retry_policy"] = True
            attempt = _attempt(client, info, raw_input)
            if attempt is not None:
                attributes["duroxide.activity.attempt"] = attempt
        span = self._tracer.start_span(
            f"activity {info.activity_name}", context=_parent(mark, iid, eid), attributes=attributes
        )
        return span

    def activity_ended(self, span: Any, error: Optional[str]) -> None:
        if error is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))
            span.add_event("activity failed", {"duroxide.error": error})
        span.end()


def _failure(event: Any) -> str:
    fields = _fields(event)
    details = fields.get("details")
    return str(details if details is not None else fields)[:1000]


def _attempt(client: Callable[[], Any], info: Any, raw_input: str) -> Optional[int]:
    """Which attempt of a retried activity this is: 1 + the finished attempts with this
    name and input (a retry loop schedules one at a time; two identical retried
    activities running at once would count each other's)."""
    try:
        events = client().read_execution_history(info.instance_id, info.execution_id)
    except Exception:  # noqa: BLE001
        return None
    scheduled = [e for e in events if _schedules(e, info.activity_name, raw_input)]
    completed = {e.source_event_id for e in events if e.kind in ("ActivityCompleted", "ActivityFailed")}
    done = sum(1 for e in scheduled if e.event_id in completed)
    return done + 1 if scheduled else None


def _schedules(event: Any, name: str, raw_input: str) -> bool:
    """True for the ActivityScheduled event of activity ``name`` with ``raw_input``."""
    if event.kind != "ActivityScheduled":
        return False
    fields = _fields(event)
    return fields.get("name") == name and fields.get("input") == raw_input


def _fields(event: Any) -> Dict[str, Any]:
    """An event's fields (decoded from its JSON once per call), {} when not an object."""
    fields = event.fields
    return fields if isinstance(fields, dict) else {}
