"""A worker process for the multi-worker tests: one Runtime on a PostgreSQL schema.

Usage: python pg_worker.py URL SCHEMA NAME LOG_FILE
Appends one line per activity run to LOG_FILE ("<activity> <instance_id>"), prints
"ready" once started, and runs until killed.
"""

import os
import sys
import time

from duroxide import PostgresProvider, Runtime, RuntimeOptions

url, schema, name, log_path = sys.argv[1:5]
log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def record(activity, ctx):
    os.write(log_fd, f"{activity} {ctx.instance_id}\n".encode())


provider = PostgresProvider.connect_with_schema(url, schema)
runtime = Runtime(
    provider,
    RuntimeOptions(
        dispatcher_poll_interval_ms=20,
        orchestration_concurrency=4,
        worker_concurrency=4,
        orchestrator_lock_timeout_ms=2_000,
        worker_lock_timeout_ms=3_000,
        session_idle_timeout_ms=60_000,
        worker_node_id=name,
        log_level="error",
    ),
)


@runtime.register_activity("Work")
def work(ctx, n):
    record("Work", ctx)
    time.sleep(0.005)
    return n * 2


@runtime.register_activity("Finish")
def finish(ctx, n):
    record("Finish", ctx)
    return f"done-{n}"


@runtime.register_orchestration("Chain")
def chain(ctx, n):
    doubled = yield ctx.schedule_activity("Work", n)
    label = yield ctx.schedule_activity("Finish", doubled)
    return {"n": n, "label": label}


runtime.start()
print("ready", flush=True)
while True:
    time.sleep(1)
