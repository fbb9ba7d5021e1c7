"""``duroxide.aio.Client``: every :class:`duroxide.Client` method as a coroutine.

For asyncio services (FastAPI, aiohttp, Starlette): a call awaits a Rust future the
event loop polls, so waiting holds no thread: 1,000 concurrent
``await client.wait_for_orchestration(...)`` on one loop use the threads the runtime
already has (docs/performance.md). Arguments, results and exceptions are those of the
blocking client; cancelling the awaiting task (``asyncio.wait_for``, a client that hung
up) stops the wait.

    from duroxide import SqliteProvider
    from duroxide.aio import Client

    async def handler(order):
        async with Client(provider) as client:
            await client.start_orchestration(order["id"], "ProcessOrder", order)
            result = await client.wait_for_orchestration(order["id"], timeout_ms=10_000)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Type, TypeVar, cast, overload

from . import _validate
from . import client as _sync
from ._codec import decode
from ._native import gen, translate_errors
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
)
from .converter import DataConverter
from .errors import OrchestrationFailedError
from .providers import Provider

if TYPE_CHECKING:
    from .client import OrchestrationFn

__all__ = ["Client"]

R = TypeVar("R")
T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - an orchestration's input type


class _Calls(_sync.Client):
    """The blocking client's methods, each returning a coroutine: its ``_call`` awaits
    the native async client (the checks and conversions stay the blocking client's)."""

    __slots__ = ()

    async def _call(self, method: str, *args: Any, convert: Callable[[Any], T]) -> T:  # type: ignore[override]
        with translate_errors():
            result = await getattr(self._native, method)(*args)
        return convert(result)


class Client:
    """The asyncio client of a provider's store; needs no running Runtime in this process.

    The same methods as :class:`duroxide.Client`, each a coroutine. One client may be
    used by many tasks at once. ``async with Client(provider) as client:`` closes it.
    """

    __slots__ = ("_calls",)
    _calls: Any  # a _Calls: its methods return coroutines whatever their annotations say

    def __init__(self, provider: Provider, *, data_converter: Optional[DataConverter] = None) -> None:
        if not isinstance(provider, Provider):
            raise TypeError(f"Client needs a SqliteProvider or PostgresProvider, got {type(provider).__name__}")
        self._calls = _Calls._from_native(gen.AsyncClient(provider._native), data_converter)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Refuse further calls (they raise :class:`~duroxide.ClosedError`)."""
        self._calls.close()

    # -- instances --------------------------------------------------------------------------

    @overload
    async def start_orchestration(self, instance_id: str, name: "OrchestrationFn[I]", input: I = ...) -> None: ...
    @overload
    async def start_orchestration(self, instance_id: str, name: str, input: Any = ...) -> None: ...

    async def start_orchestration(self, instance_id: str, name: Any, input: Any = None) -> None:
        """Start orchestration ``name`` as ``instance_id`` (see :meth:`duroxide.Client.start_orchestration`)."""
        await self._calls.start_orchestration(instance_id, name, input)

    async def start_orchestration_versioned(self, instance_id: str, name: Any, input: Any, version: str) -> None:
        """Start ``version`` of orchestration ``name``."""
        await self._calls.start_orchestration_versioned(instance_id, name, input, version)

    @overload
    async def get_status(self, instance_id: str, *, result_type: Type[R]) -> _sync.OrchestrationResult[R]: ...
    @overload
    async def get_status(self, instance_id: str, *, result_type: Any = ...) -> _sync.OrchestrationResult[Any]: ...

    async def get_status(self, instance_id: str, *, result_type: Any = Any) -> _sync.OrchestrationResult[Any]:
        """The instance's state now (status "NotFound" when it does not exist)."""
        return cast(_sync.OrchestrationResult[Any], await self._calls.get_status(instance_id, result_type=result_type))

    @overload
    async def wait_for_orchestration(
        self, instance_id: str, timeout_ms: int = ..., *, result_type: Type[R]
    ) -> _sync.OrchestrationResult[R]: ...
    @overload
    async def wait_for_orchestration(
        self, instance_id: str, timeout_ms: int = ..., *, result_type: Any = ...
    ) -> _sync.OrchestrationResult[Any]: ...

    async def wait_for_orchestration(
        self, instance_id: str, timeout_ms: int = 30_000, *, result_type: Any = Any
    ) -> _sync.OrchestrationResult[Any]:
        """Wait until the instance Completes or Fails and return its result (its output as
        ``result_type`` when given); raises :class:`~duroxide.DuroxideTimeoutError` when
        ``timeout_ms`` passes first."""
        iid, timeout = _validate.text("instance_id", instance_id), _validate.millis("timeout_ms", timeout_ms)
        return cast(_sync.OrchestrationResult[Any], await self._calls._call("wait_for_orchestration", iid, timeout, convert=self._calls._result(result_type)))

    async def wait_for_status_change(
        self, instance_id: str, last_seen_version: int, poll_interval_ms: int = 50, timeout_ms: int = 30_000
    ) -> Optional[_sync.OrchestrationResult[Any]]:
        """The state once the custom status version exceeds ``last_seen_version``; None
        on timeout or when the instance ended without a newer status."""
        iid, seen = _validate.text("instance_id", instance_id), _sync.version_seen(last_seen_version)
        interval = max(1, _validate.millis("poll_interval_ms", poll_interval_ms))
        timeout = _validate.millis("timeout_ms", timeout_ms)
        convert = self._calls._result(Any)
        result: Optional[_sync.OrchestrationResult[Any]] = await self._calls._call(
            "wait_for_status_change", iid, seen, interval, timeout, convert=lambda s: None if s is None else convert(s)
        )
        return result

    async def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        """Deliver ``data`` to the instance's ``ctx.wait_for_event(event_name)``."""
        await self._calls.raise_event(instance_id, event_name, data)

    async def enqueue_event(self, instance_id: str, queue: str, data: Any = None) -> None:
        """Append ``data`` to the instance's FIFO ``queue`` (``ctx.dequeue_event``)."""
        await self._calls.enqueue_event(instance_id, queue, data)

    async def cancel_instance(self, instance_id: str, reason: str = "") -> None:
        """Cancel a running instance (it ends "Failed" with "canceled: <reason>")."""
        await self._calls.cancel_instance(instance_id, reason)

    # -- key-value state --------------------------------------------------------------------

    async def get_kv_value(self, instance_id: str, key: str) -> Optional[str]:
        """The value the instance set for ``key``, or None."""
        return cast(Optional[str], await self._calls.get_kv_value(instance_id, key))

    async def get_kv_all_values(self, instance_id: str) -> Dict[str, str]:
        """Every key the instance set, with its value."""
        return cast(Dict[str, str], await self._calls.get_kv_all_values(instance_id))

    async def wait_for_kv_value(self, instance_id: str, key: str, timeout_ms: int = 30_000) -> str:
        """Wait until the instance sets ``key`` and return the value (see
        :meth:`duroxide.Client.wait_for_kv_value`)."""
        iid, k = _validate.text("instance_id", instance_id), _validate.text("key", key)
        value: str = await self._calls._call(
            "wait_for_kv_value", iid, k, _validate.millis("timeout_ms", timeout_ms), convert=self._calls._unseal
        )
        return value

    # -- typed variants ---------------------------------------------------------------------

    async def start_orchestration_typed(self, instance_id: str, name: Any, input: Any = None) -> None:
        """``start_orchestration`` with the typed encoding of ``input``."""
        await self._calls.start_orchestration_typed(instance_id, name, input)

    async def start_orchestration_versioned_typed(self, instance_id: str, name: Any, input: Any, version: str) -> None:
        """``start_orchestration_versioned`` with the typed encoding of ``input``."""
        await self._calls.start_orchestration_versioned_typed(instance_id, name, input, version)

    async def raise_event_typed(self, instance_id: str, event_name: str, data: Any = None) -> None:
        """``raise_event`` with the typed encoding of ``data``."""
        await self._calls.raise_event_typed(instance_id, event_name, data)

    async def enqueue_event_typed(self, instance_id: str, queue: str, data: Any = None) -> None:
        """``enqueue_event`` with the typed encoding of ``data``."""
        await self._calls.enqueue_event_typed(instance_id, queue, data)

    @overload
    async def wait_for_orchestration_typed(self, instance_id: str, timeout_ms: int = ..., *, result_type: Type[R]) -> R: ...
    @overload
    async def wait_for_orchestration_typed(
        self, instance_id: str, timeout_ms: int = ..., *, result_type: Any = ...
    ) -> Any: ...

    async def wait_for_orchestration_typed(self, instance_id: str, timeout_ms: int = 30_000, *, result_type: Any = Any) -> Any:
        """The instance's output once it ends; raises OrchestrationFailedError when it Failed."""
        result = await self.wait_for_orchestration(instance_id, timeout_ms, result_type=result_type)
        if result.status != "Completed":
            raise OrchestrationFailedError(instance_id, result.error or result.status)
        return result.output

    async def get_kv_value_typed(self, instance_id: str, key: str) -> Any:
        """``get_kv_value`` JSON-decoded (None when unset)."""
        value = await self.get_kv_value(instance_id, key)
        return None if value is None else decode(value)

    async def wait_for_kv_value_typed(self, instance_id: str, key: str, timeout_ms: int = 30_000) -> Any:
        """``wait_for_kv_value`` JSON-decoded."""
        return decode(await self.wait_for_kv_value(instance_id, key, timeout_ms))

    # -- admin ------------------------------------------------------------------------------

    async def get_system_metrics(self) -> SystemMetrics:
        """Instance, execution and event counts over the whole store."""
        return cast(SystemMetrics, await self._calls.get_system_metrics())

    async def get_queue_depths(self) -> QueueDepths:
        """Messages waiting in the orchestrator, worker and timer queues."""
        return cast(QueueDepths, await self._calls.get_queue_depths())

    async def list_all_instances(self) -> List[str]:
        """The ids of every instance in the store."""
        return cast(List[str], await self._calls.list_all_instances())

    async def list_instances_by_status(self, status: str) -> List[str]:
        """The ids of the instances in ``status`` ("Running", "Completed", "Failed", "ContinuedAsNew")."""
        return cast(List[str], await self._calls.list_instances_by_status(status))

    async def get_instance_info(self, instance_id: str) -> InstanceInfo:
        """The instance's record; InstanceNotFoundError when it does not exist."""
        return cast(InstanceInfo, await self._calls.get_instance_info(instance_id))

    async def get_execution_info(self, instance_id: str, execution_id: int) -> ExecutionInfo:
        """One execution's record; InstanceNotFoundError when it does not exist."""
        return cast(ExecutionInfo, await self._calls.get_execution_info(instance_id, execution_id))

    async def get_instance_tree(self, instance_id: str) -> InstanceTree:
        """The instance and all its sub-orchestrations, recursively."""
        return cast(InstanceTree, await self._calls.get_instance_tree(instance_id))

    async def export_history(self, instance_id: str) -> Dict[str, Any]:
        """Every execution of the instance as the history export document (see
        :meth:`duroxide.Client.export_history`)."""
        return cast(Dict[str, Any], await self._calls.export_history(instance_id))

    async def list_executions(self, instance_id: str) -> List[int]:
        """The instance's execution ids, oldest first."""
        return cast(List[int], await self._calls.list_executions(instance_id))

    async def read_execution_history(self, instance_id: str, execution_id: int) -> List[HistoryEvent]:
        """The events of one execution, in order."""
        return cast(List[HistoryEvent], await self._calls.read_execution_history(instance_id, execution_id))

    async def get_orchestration_stats(self, instance_id: str) -> Optional[OrchestrationStats]:
        """History and key-value sizes of the instance, or None when it does not exist."""
        return cast(Optional[OrchestrationStats], await self._calls.get_orchestration_stats(instance_id))

    async def delete_instance(self, instance_id: str, force: bool = False) -> DeleteInstanceResult:
        """Delete a root instance with its sub-orchestrations and history."""
        return cast(DeleteInstanceResult, await self._calls.delete_instance(instance_id, force))

    async def delete_instance_bulk(self, filter: InstanceFilter) -> DeleteInstanceResult:
        """Delete the terminal root instances ``filter`` selects."""
        return cast(DeleteInstanceResult, await self._calls.delete_instance_bulk(filter))

    async def prune_executions(self, instance_id: str, options: PruneOptions) -> PruneResult:
        """Delete old executions of an instance per ``options``."""
        return cast(PruneResult, await self._calls.prune_executions(instance_id, options))

    async def prune_executions_bulk(self, filter: InstanceFilter, options: PruneOptions) -> PruneResult:
        """``prune_executions`` over the instances ``filter`` selects."""
        return cast(PruneResult, await self._calls.prune_executions_bulk(filter, options))
