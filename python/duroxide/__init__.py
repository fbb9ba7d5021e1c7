"""duroxide: durable workflows as Python generators, on the duroxide Rust runtime.

    from duroxide import SqliteProvider, Runtime, Client

    provider = SqliteProvider.open("app.db")
    runtime = Runtime(provider)

    @runtime.register_activity("Greet")
    def greet(ctx, name):
        return f"Hello, {name}!"

    @runtime.register_orchestration("Hello")
    def hello(ctx, input):
        return (yield ctx.schedule_activity("Greet", input))

    runtime.start()
    client = Client(provider)
    client.start_orchestration("hello-1", "Hello", "World")
    print(client.wait_for_orchestration("hello-1").output)   # Hello, World!
    runtime.shutdown()
"""

from .admin import (
    DeleteInstanceResult,
    Event,
    ExecutionInfo,
    HistoryEvent,
    InstanceFilter,
    InstanceInfo,
    InstanceTree,
    OrchestrationStats,
    PruneOptions,
    PruneResult,
    PyDeleteInstanceResult,
    PyEvent,
    PyExecutionInfo,
    PyHistoryEvent,
    PyInstanceFilter,
    PyInstanceInfo,
    PyInstanceTree,
    PyOrchestrationStats,
    PyPruneOptions,
    PyPruneResult,
    PyQueueDepths,
    PySystemMetrics,
    PySystemStats,
    QueueDepths,
    SystemMetrics,
    SystemStats,
)
from .client import Client, OrchestrationResult
from .context import ActivityContext, OrchestrationContext, ScheduledTask
from .errors import (
    ActivityFailedError,
    ClosedError,
    DuroxideError,
    DuroxideTimeoutError,
    InstanceNotFoundError,
    HistoryFormatError,
    InternalError,
    InvalidArgumentError,
    LogFileError,
    NotRegisteredError,
    OrchestrationFailedError,
    PayloadError,
    ProviderError,
    RuntimeStateError,
    SubOrchestrationFailedError,
    TaskFailedError,
)
from .limits import (
    MAX_CARRY_FORWARD_EVENTS,
    MAX_CUSTOM_STATUS_BYTES,
    MAX_KV_KEYS,
    MAX_KV_VALUE_BYTES,
    MAX_TAG_NAME_BYTES,
    MAX_WORKER_TAGS,
)
from .options import PyRuntimeOptions, RuntimeOptions, TagFilter
from .providers import PostgresProvider, Provider, SqliteProvider
from .runtime import MetricsSnapshot, Runtime

# The original SDK's names for the same classes.
OrchestrationStatus = PyOrchestrationStatus = OrchestrationResult
PyMetricsSnapshot = MetricsSnapshot
from .tasks import ActivityTask, AllTask, RaceTask, Task
from .tracing import init_python_logging, init_tracing, reset_tracing

__version__ = "0.1.0"

__all__ = [
    "MAX_CARRY_FORWARD_EVENTS",
    "MAX_CUSTOM_STATUS_BYTES",
    "MAX_KV_KEYS",
    "MAX_KV_VALUE_BYTES",
    "MAX_TAG_NAME_BYTES",
    "MAX_WORKER_TAGS",
    "ActivityContext",
    "ActivityFailedError",
    "ActivityTask",
    "AllTask",
    "Client",
    "ClosedError",
    "DeleteInstanceResult",
    "DuroxideError",
    "DuroxideTimeoutError",
    "ExecutionInfo",
    "HistoryEvent",
    "InstanceFilter",
    "InstanceInfo",
    "InstanceNotFoundError",
    "InstanceTree",
    "HistoryFormatError",
    "InternalError",
    "InvalidArgumentError",
    "LogFileError",
    "MetricsSnapshot",
    "NotRegisteredError",
    "OrchestrationContext",
    "ScheduledTask",
    "OrchestrationFailedError",
    "OrchestrationResult",
    "OrchestrationStats",
    "PayloadError",
    "PostgresProvider",
    "Provider",
    "ProviderError",
    "PruneOptions",
    "PruneResult",
    "PyDeleteInstanceResult",
    "PyEvent",
    "PyExecutionInfo",
    "PyHistoryEvent",
    "PyInstanceFilter",
    "PyInstanceInfo",
    "PyInstanceTree",
    "PyOrchestrationStats",
    "PyPruneOptions",
    "PyPruneResult",
    "PyQueueDepths",
    "PyRuntimeOptions",
    "PySystemMetrics",
    "PySystemStats",
    "PyMetricsSnapshot",
    "PyOrchestrationStatus",
    "OrchestrationStatus",
    "Event",
    "SystemStats",
    "QueueDepths",
    "RaceTask",
    "Runtime",
    "RuntimeOptions",
    "RuntimeStateError",
    "SqliteProvider",
    "SubOrchestrationFailedError",
    "SystemMetrics",
    "TagFilter",
    "Task",
    "TaskFailedError",
    "init_python_logging",
    "init_tracing",
    "reset_tracing",
]
