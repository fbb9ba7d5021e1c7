"""A worker process for tests/test_observability.py: runs "Traced" on a PostgreSQL
schema with OpenTelemetry instrumented (an in-memory exporter), waits until the
instance the test started completes, then writes the spans it emitted as JSON.

    python otel_worker.py URL SCHEMA INSTANCE_ID OUT.json
"""

from __future__ import annotations

import json
import sys
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from duroxide import Client, PostgresProvider, Runtime, RuntimeOptions, observability


def main() -> int:
    url, schema, instance_id, out = sys.argv[1:5]
    exporter = InMemorySpanExporter()
    provider_ = TracerProvider()
    provider_.add_span_processor(SimpleSpanProcessor(exporter))
    observability.instrument(tracer_provider=provider_, metrics=False)
    provider = PostgresProvider.connect_with_schema(url, schema)
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10))
    runtime.register_activity("Work", lambda ctx, n: n * 2)

    def traced(ctx, n):
        doubled = yield ctx.schedule_activity("Work", n)
        return doubled

    runtime.register_orchestration("Traced", traced)
    runtime.start()
    print("ready", flush=True)
    client = Client(provider)
    deadline = time.monotonic() + 60
    while client.get_status(instance_id).status != "Completed":
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.05)
    observability.flush(20)
    runtime.shutdown(1000)
    spans = [
        {
            "name": s.name,
            "trace_id": s.context.trace_id,
            "span_id": s.context.span_id,
            "parent_id": s.parent.span_id if s.parent is not None else None,
            "attributes": dict(s.attributes or {}),
        }
        for s in exporter.get_finished_spans()
    ]
    with open(out, "w") as f:
        json.dump(spans, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
