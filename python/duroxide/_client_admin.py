"""The admin half of :class:`~duroxide.Client`: metrics, listings, history, deletion,
pruning. These read and write the store directly; no runtime needs to run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Type, TypeVar

from . import _validate
from .admin import (
    DeleteInstanceResult,
    ExecutionInfo,
    HistoryEvent,
    InstanceFilter,
    InstanceInfo,
    InstanceTree,
    OrchestrationStats,
    PruneOptions,
    PruneResult,
    QueueDepths,
    SystemMetrics,
    from_native,
)
from .errors import InvalidArgumentError

STATUSES = ("Running", "Completed", "Failed", "ContinuedAsNew")

T = TypeVar("T")


def _to(cls: Type[T]) -> Callable[[Any], T]:
    return lambda native: from_native(cls, native)


def _events(natives: Any) -> List[HistoryEvent]:
    return [from_native(HistoryEvent, e) for e in natives]


def _stats(native: Any) -> Optional[OrchestrationStats]:
    return None if native is None else from_native(OrchestrationStats, native)


def _execution_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**63 - 1:
        raise InvalidArgumentError(f"execution_id must be an integer >= 1, got {value!r}")
    return value


class AdminMethods:
    """Mixed into :class:`~duroxide.Client`."""

    __slots__ = ()
    if TYPE_CHECKING:

        def _call(self, method: str, *args: Any, convert: Callable[[Any], T]) -> T:
            """Client._call: one native call (awaited by duroxide.aio.Client)."""
            raise NotImplementedError

    def get_system_metrics(self) -> SystemMetrics:
        """Instance, execution and event counts over the whole store."""
        return self._call("get_system_metrics", convert=_to(SystemMetrics))

    def get_queue_depths(self) -> QueueDepths:
        """Messages waiting in the orchestrator, worker and timer queues."""
        return self._call("get_queue_depths", convert=_to(QueueDepths))

    def list_all_instances(self) -> List[str]:
        """The ids of every instance in the store."""
        return self._call("list_all_instances", convert=list)

    def list_instances_by_status(self, status: str) -> List[str]:
        """The ids of the instances in ``status``: "Running", "Completed", "Failed" or
        "ContinuedAsNew". Another value raises ValueError."""
        if status not in STATUSES:
            raise InvalidArgumentError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        return self._call("list_instances_by_status", status, convert=list)

    def get_instance_info(self, instance_id: str) -> InstanceInfo:
        """The instance's record. Raises InstanceNotFoundError when it does not exist."""
        return self._call("get_instance_info", _validate.text("instance_id", instance_id), convert=_to(InstanceInfo))

    def get_execution_info(self, instance_id: str, execution_id: int) -> ExecutionInfo:
        """One execution's record. Raises InstanceNotFoundError when it does not exist."""
        iid, eid = _validate.text("instance_id", instance_id), _execution_id(execution_id)
        return self._call("get_execution_info", iid, eid, convert=_to(ExecutionInfo))

    def get_instance_tree(self, instance_id: str) -> InstanceTree:
        """The instance and all its sub-orchestrations, recursively."""
        return self._call("get_instance_tree", _validate.text("instance_id", instance_id), convert=_to(InstanceTree))

    def export_history(self, instance_id: str) -> Dict[str, Any]:
        """Every execution of the instance, its events exactly as stored, as a JSON-ready
        dict (``"format": "duroxide-history"``, ``"format_version": 1``): write it to a
        file with ``json.dump`` and replay it with :class:`duroxide.replay.Replayer`."""
        return self._call("export_history", _validate.text("instance_id", instance_id), convert=json.loads)

    def list_executions(self, instance_id: str) -> List[int]:
        """The instance's execution ids, oldest first (one more per ``continue_as_new``)."""
        return self._call("list_executions", _validate.text("instance_id", instance_id), convert=list)

    def read_execution_history(self, instance_id: str, execution_id: int) -> List[HistoryEvent]:
        """The events of one execution, in order (``event.kind``, ``event.data``)."""
        iid, eid = _validate.text("instance_id", instance_id), _execution_id(execution_id)
        return self._call("read_execution_history", iid, eid, convert=_events)

    def get_orchestration_stats(self, instance_id: str) -> Optional[OrchestrationStats]:
        """History and key-value sizes of the instance, or None when it does not exist."""
        return self._call("get_orchestration_stats", _validate.text("instance_id", instance_id), convert=_stats)

    def delete_instance(self, instance_id: str, force: bool = False) -> DeleteInstanceResult:
        """Delete a root instance with its sub-orchestrations and history.

        A running instance is refused (InvalidArgumentError) unless ``force``; a
        sub-orchestration is refused (delete its root); an unknown id raises
        InstanceNotFoundError.
        """
        if not isinstance(force, bool):
            raise TypeError(f"force must be a bool, got {type(force).__name__}")
        iid = _validate.text("instance_id", instance_id)
        return self._call("delete_instance", iid, force, convert=_to(DeleteInstanceResult))

    def delete_instance_bulk(self, filter: InstanceFilter) -> DeleteInstanceResult:
        """Delete the terminal root instances that ``filter`` selects (running instances
        and sub-orchestrations are skipped)."""
        if not isinstance(filter, InstanceFilter):
            raise TypeError(f"filter must be an InstanceFilter, got {type(filter).__name__}")
        return self._call("delete_instance_bulk", filter._to_native(), convert=_to(DeleteInstanceResult))

    def prune_executions(self, instance_id: str, options: PruneOptions) -> PruneResult:
        """Delete old executions of an instance per ``options`` (never the current one)."""
        if not isinstance(options, PruneOptions):
            raise TypeError(f"options must be a PruneOptions, got {type(options).__name__}")
        iid = _validate.text("instance_id", instance_id)
        return self._call("prune_executions", iid, options._to_native(), convert=_to(PruneResult))

    def prune_executions_bulk(self, filter: InstanceFilter, options: PruneOptions) -> PruneResult:
        """``prune_executions`` over the instances ``filter`` selects."""
        if not isinstance(filter, InstanceFilter):
            raise TypeError(f"filter must be an InstanceFilter, got {type(filter).__name__}")
        if not isinstance(options, PruneOptions):
            raise TypeError(f"options must be a PruneOptions, got {type(options).__name__}")
        return self._call(
            "prune_executions_bulk", filter._to_native(), options._to_native(), convert=_to(PruneResult)
        )
