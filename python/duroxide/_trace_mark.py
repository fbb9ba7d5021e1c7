"""The trace context an instance carries to its activities and sub-orchestrations.

The core has no field for it (no headers on a start or a scheduled activity), so it
travels as a prefix of the payload text: ``duroxide-trace:<traceparent>[;r]|<payload>``,
with ``<traceparent>`` in the W3C form ``00-<trace id>-<parent span id>-<flags>``.
An orchestration whose input carries a mark puts a mark on everything it schedules;
one without a mark puts none. Activity and sub-orchestration inputs are compared byte
for byte on replay, so the mark must depend on history alone: it is derived from the
instance's own (stored) mark and from ids that replay cannot change, never from whether
this process has OpenTelemetry. Handling marks needs no OpenTelemetry at all.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple, Optional, Tuple

MARK = "duroxide-trace:"
_END = "|"
_RETRY = ";r"


class TraceMark(NamedTuple):
    """A parent span: the trace, the parent span's id (0: none, a root), the W3C flags,
    and ``retry`` for an activity scheduled with a retry policy."""

    trace_id: int
    parent_id: int
    flags: int
    retry: bool = False

    def text(self) -> str:
        tail = _RETRY if self.retry else ""
        return f"{MARK}00-{self.trace_id:032x}-{self.parent_id:016x}-{self.flags:02x}{tail}{_END}"


def split(payload: str) -> Tuple[Optional[TraceMark], str]:
    """(the mark, the payload without it); (None, payload) when there is none or it is
    malformed (a payload that merely looks like one is left as it is)."""
    if not payload.startswith(MARK):
        return None, payload
    end = payload.find(_END, len(MARK))
    head = payload[len(MARK):end] if end > 0 else ""
    retry = head.endswith(_RETRY)
    parts = (head[: -len(_RETRY)] if retry else head).split("-")
    if len(parts) != 4 or parts[0] != "00" or (len(parts[1]), len(parts[2]), len(parts[3])) != (32, 16, 2):
        return None, payload
    try:
        mark = TraceMark(int(parts[1], 16), int(parts[2], 16), int(parts[3], 16), retry)
    except ValueError:
        return None, payload
    return mark, payload[end + 1:]


def strip(payload: str) -> str:
    """The payload without its mark."""
    return split(payload)[1]


def _hash(size: int, *parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=size).digest()
    return int.from_bytes(digest, "big") or 1  # 0 is not a valid id


def orchestration_span_id(instance_id: str, execution_id: int) -> int:
    """The span id of an execution's span: the same in every process and on every replay,
    so the activities it schedules can name it as their parent before it is emitted."""
    return _hash(8, "span", instance_id, execution_id)


def root_trace_id(instance_id: str) -> int:
    """The trace of an instance started without a trace context."""
    return _hash(16, "trace", instance_id)


def for_children(mark: Optional[TraceMark], instance_id: str, execution_id: int) -> Optional[TraceMark]:
    """The mark an execution puts on what it schedules (None when its input had none)."""
    if mark is None:
        return None
    return TraceMark(mark.trace_id, orchestration_span_id(instance_id, execution_id), mark.flags)
