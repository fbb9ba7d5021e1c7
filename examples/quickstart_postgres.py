"""The quick start on PostgreSQL.

    DATABASE_URL=postgresql://user:pass@localhost:5432/mydb python examples/quickstart_postgres.py

The tables live in schema "duroxide_quickstart" (created when missing). Start this
script in several terminals at once: the runtimes share the work through the database.
"""

import os
import uuid
from typing import Any, Dict, Generator, List

from duroxide import ActivityContext, Client, OrchestrationContext, PostgresProvider, Runtime, RuntimeOptions

url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
provider = PostgresProvider.connect_with_schema(url, "duroxide_quickstart")
runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10))


@runtime.register_activity("Greet")
def greet(ctx: ActivityContext, input: Dict[str, str]) -> str:
    return f"Hello, {input['name']} (from {ctx.worker_id})!"


@runtime.register_orchestration("GreetWorkflow")
def greet_workflow(ctx: OrchestrationContext, input: Dict[str, List[str]]) -> Generator[Any, Any, List[str]]:
    greetings: List[str] = yield ctx.all([ctx.schedule_activity("Greet", {"name": n}) for n in input["names"]])
    return greetings


runtime.start()
try:
    client = Client(provider)
    instance_id = f"greet-{uuid.uuid4().hex[:8]}"
    client.start_orchestration(instance_id, "GreetWorkflow", {"names": ["Ada", "Grace", "Linus"]})
    result = client.wait_for_orchestration(instance_id, timeout_ms=10_000)
    print(f"{instance_id}: {result.status}")
    for line in result.output or []:
        print(" ", line)
finally:
    runtime.shutdown()
