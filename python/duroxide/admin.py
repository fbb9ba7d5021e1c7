"""Records of the admin API (``Client.get_system_metrics()``, ``list_executions()``, ...).

Each is also importable under the name the earlier SDK used (``PyPruneOptions``,
``PyInstanceInfo``, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Type, TypeVar

from . import _validate
from ._native import gen
from .errors import InvalidArgumentError

__all__ = [
    "SystemMetrics",
    "QueueDepths",
    "InstanceInfo",
    "ExecutionInfo",
    "InstanceTree",
    "HistoryEvent",
    "OrchestrationStats",
    "InstanceFilter",
    "PruneOptions",
    "DeleteInstanceResult",
    "PruneResult",
]

_U32_MAX = 2**32 - 1


def _copy(cls: Any, native: Any) -> Any:
    return cls(**{f: getattr(native, f) for f in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SystemMetrics:
    """Counts over the whole store."""

    total_instances: int
    total_executions: int
    running_instances: int
    completed_instances: int
    failed_instances: int
    total_events: int


@dataclass(frozen=True)
class QueueDepths:
    """Messages waiting (not locked) in each queue."""

    orchestrator_queue: int
    worker_queue: int
    timer_queue: int


@dataclass(frozen=True)
class InstanceInfo:
    """An instance as the store records it."""

    instance_id: str
    orchestration_name: str
    orchestration_version: str
    current_execution_id: int
    #: "Running", "Completed", "Failed" or "ContinuedAsNew".
    status: str
    #: The output, the failure message, or the next execution's input (raw text).
    output: Optional[str]
    #: Milliseconds since the epoch; 0 where the provider does not record it (SQLite).
    created_at: int
    updated_at: int
    parent_instance_id: Optional[str]


@dataclass(frozen=True)
class ExecutionInfo:
    """One execution of an instance (a new one starts at each ``continue_as_new``)."""

    execution_id: int
    status: str
    output: Optional[str]
    started_at: int
    completed_at: Optional[int]
    event_count: int


@dataclass(frozen=True)
class InstanceTree:
    """A root instance and all its sub-orchestrations."""

    root_id: str
    all_ids: List[str]

    @property
    def size(self) -> int:
        return len(self.all_ids)

    def is_root_only(self) -> bool:
        """True when the instance has no sub-orchestrations."""
        return len(self.all_ids) == 1


@dataclass(frozen=True)
class HistoryEvent:
    """One event of an execution's history."""

    event_id: int
    #: For completions, the event id of the step they complete.
    source_event_id: Optional[int]
    execution_id: int
    timestamp_ms: int
    #: "OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", ...
    kind: str
    #: The event's fields as JSON text (input, result, error details, ...).
    data: str

    @property
    def fields(self) -> Any:
        """``data`` decoded."""
        return json.loads(self.data)


@dataclass(frozen=True)
class OrchestrationStats:
    """Size figures of one instance (its current execution)."""

    history_event_count: int
    history_size_bytes: int
    queue_pending_count: int
    kv_user_key_count: int
    kv_total_value_bytes: int


def _optional_uint(name: str, value: Any, maximum: int) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidArgumentError(f"{name} must be None or an integer from 0 to {maximum}, got {value!r}")
    return value


@dataclass(frozen=True)
class InstanceFilter:
    """Which instances a bulk operation touches: all conditions must hold.

    ``instance_ids``: only these; ``completed_before``: ended before this time
    (milliseconds since the epoch); ``limit``: at most this many (the store's default
    is 1000).
    """

    instance_ids: Optional[Sequence[str]] = None
    completed_before: Optional[int] = None
    limit: Optional[int] = None

    def __post_init__(self) -> None:
        if self.instance_ids is not None:
            if isinstance(self.instance_ids, str):
                raise InvalidArgumentError("instance_ids must be a list of ids, not one string")
            ids = [_validate.text("instance id", i) for i in self.instance_ids]
            object.__setattr__(self, "instance_ids", ids)
        _optional_uint("completed_before", self.completed_before, 2**63 - 1)
        _optional_uint("limit", self.limit, _U32_MAX)

    def _to_native(self) -> Any:
        ids = None if self.instance_ids is None else list(self.instance_ids)
        return gen.InstanceFilter(instance_ids=ids, completed_before=self.completed_before, limit=self.limit)


@dataclass(frozen=True)
class PruneOptions:
    """Which old executions ``prune_executions`` deletes (never the current one).

    ``keep_last``: keep this many most recent executions (None, 0 or 1: only the
    current); ``completed_before``: only executions that ended before this time
    (milliseconds since the epoch).
    """

    keep_last: Optional[int] = None
    completed_before: Optional[int] = None

    def __post_init__(self) -> None:
        _optional_uint("keep_last", self.keep_last, _U32_MAX)
        _optional_uint("completed_before", self.completed_before, 2**63 - 1)

    def _to_native(self) -> Any:
        return gen.PruneOptions(keep_last=self.keep_last, completed_before=self.completed_before)


@dataclass(frozen=True)
class DeleteInstanceResult:
    """What a deletion removed."""

    instances_deleted: int
    executions_deleted: int
    events_deleted: int
    queue_messages_deleted: int


@dataclass(frozen=True)
class PruneResult:
    """What pruning removed."""

    instances_processed: int
    executions_deleted: int
    events_deleted: int


# The earlier SDK's names for the same records.
PySystemMetrics = SystemMetrics
PyQueueDepths = QueueDepths
PyInstanceInfo = InstanceInfo
PyExecutionInfo = ExecutionInfo
PyInstanceTree = InstanceTree
PyHistoryEvent = HistoryEvent
PyEvent = HistoryEvent
PyOrchestrationStats = OrchestrationStats
PyInstanceFilter = InstanceFilter
PyPruneOptions = PruneOptions
PyDeleteInstanceResult = DeleteInstanceResult
PyPruneResult = PruneResult
# The original SDK's names for the same records.
Event = HistoryEvent
SystemStats = OrchestrationStats
PySystemStats = OrchestrationStats

T = TypeVar("T")


def from_native(cls: Type[T], native: Any) -> T:
    """The record ``cls`` copied from its generated counterpart."""
    record = _copy(cls, native)
    if cls is InstanceTree:
        object.__setattr__(record, "all_ids", list(record.all_ids))
    typed: T = record
    return typed
