"""The quick start: one activity, one orchestration, on a SQLite file.

Run it twice: the second run finds the first run's instance already completed in
quickstart.db and starts a new one next to it.
"""

import os
import uuid
from typing import Any, Dict, Generator

from duroxide import ActivityContext, Client, OrchestrationContext, Runtime, RuntimeOptions, SqliteProvider

db_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quickstart.db")
provider = SqliteProvider.open(db_path)
runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10))


@runtime.register_activity("Greet")
def greet(ctx: ActivityContext, input: Dict[str, str]) -> str:
    ctx.trace_info(f"greeting {input['name']}")
    return f"Hello, {input['name']}!"


@runtime.register_activity("Shout")
def shout(ctx: ActivityContext, text: str) -> str:
    return text.upper()


@runtime.register_orchestration("GreetWorkflow")
def greet_workflow(ctx: OrchestrationContext, input: Dict[str, str]) -> Generator[Any, Any, Dict[str, str]]:
    greeting = yield ctx.schedule_activity("Greet", input)
    # Fan out, then fan in: both activities run in parallel.
    loud, again = yield ctx.all([
        ctx.schedule_activity("Shout", greeting),
        ctx.schedule_activity("Greet", {"name": "again"}),
    ])
    yield ctx.schedule_timer(50)  # a durable timer: survives a restart
    return {"greeting": greeting, "loud": loud, "again": again}


runtime.start()
try:
    client = Client(provider)
    instance_id = f"greet-{uuid.uuid4().hex[:8]}"
    client.start_orchestration(instance_id, "GreetWorkflow", {"name": "World"})
    result = client.wait_for_orchestration(instance_id, timeout_ms=10_000)
    print(f"{instance_id}: {result.status}")
    print(result.output)
finally:
    runtime.shutdown()
