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

from .client import Client, OrchestrationResult
from .context import ActivityContext, OrchestrationContext
from .errors import (
    ActivityFailedError,
    ClosedError,
    DuroxideError,
    DuroxideTimeoutError,
    InstanceNotFoundError,
    InternalError,
    InvalidArgumentError,
    NotRegisteredError,
    ProviderError,
    RuntimeStateError,
    SubOrchestrationFailedError,
    TaskFailedError,
)
from .options import PyRuntimeOptions, RuntimeOptions
from .providers import PostgresProvider, Provider, SqliteProvider
from .runtime import Runtime
from .tasks import ActivityTask, AllTask, RaceTask, Task

__version__ = "0.1.0"

__all__ = [
    "ActivityContext",
    "ActivityFailedError",
    "ActivityTask",
    "AllTask",
    "Client",
    "ClosedError",
    "DuroxideError",
    "DuroxideTimeoutError",
    "InstanceNotFoundError",
    "InternalError",
    "InvalidArgumentError",
    "NotRegisteredError",
    "OrchestrationContext",
    "OrchestrationResult",
    "PostgresProvider",
    "Provider",
    "ProviderError",
    "PyRuntimeOptions",
    "RaceTask",
    "Runtime",
    "RuntimeOptions",
    "RuntimeStateError",
    "SqliteProvider",
    "SubOrchestrationFailedError",
    "Task",
    "TaskFailedError",
]
