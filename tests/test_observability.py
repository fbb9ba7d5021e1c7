"""OpenTelemetry spans and metrics, and the Prometheus endpoint (duroxide.observability),
with the OpenTelemetry SDK's in-memory exporters and a real HTTP scrape.

The span tree of a workflow with a fan-out, a retried activity, a timer and a
sub-orchestration: parents, names, attributes and exactly one span per real execution
(the suite runs again with the replay cache off, where every turn replays from history:
the counts must not change). The caller's trace id reaches a worker in another process
through PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

from conftest import new_id
from duroxide import Client, PostgresProvider, _observe, observability

WORKER = Path(__file__).parent / "helpers" / "otel_worker.py"
RETRY = {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10}
_attempts: Dict[str, int] = defaultdict(int)


@pytest.fixture
def otel():
    """(tracer provider, span exporter, metric reader), instrumented for the test."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    observability.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield tracer_provider, exporter, reader
    observability.uninstrument()


def register_workflow(runtime, tracer) -> None:
    def work(ctx, n):
        with tracer.start_as_current_span("inside work"):
            return n * 2

    async def work_async(ctx, n):
        with tracer.start_as_current_span("inside async work"):
            return n * 3

    runtime.register_activity("Work", work)
    runtime.register_activity("WorkAsync", work_async)

    def flaky(ctx, key):
        _attempts[ctx.instance_id] += 1
        if _attempts[ctx.instance_id] == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    runtime.register_activity("Flaky", flaky)

    def child(ctx, n):
        doubled = yield ctx.schedule_activity("Work", n)
        yield ctx.schedule_timer(20)
        return doubled

    def parent(ctx, n):
        fan = yield ctx.all([ctx.schedule_activity("Work", i) for i in range(3)])
        fan.append((yield ctx.schedule_activity("WorkAsync", 1)))
        flaky_result = yield ctx.schedule_activity_with_retry("Flaky", "k", RETRY)
        sub = yield ctx.schedule_sub_orchestration("Child", n)
        return {"fan": fan, "flaky": flaky_result, "sub": sub}

    runtime.register_orchestration("Child", child)
    runtime.register_orchestration("Parent", parent)


def by_name(spans: List[Any], name: str) -> List[Any]:
    return [s for s in spans if s.name == name]


def test_span_tree_of_fan_out_retry_timer_and_sub_orchestration(otel, make_runtime, client):
    tracer_provider, exporter, _ = otel
    runtime = make_runtime()
    tracer = tracer_provider.get_tracer("test")
    register_workflow(runtime, tracer)
    runtime.start()
    iid = new_id("traced")
    with tracer.start_as_current_span("request") as request:
        client.start_orchestration(iid, "Parent", 5)
    result = client.wait_for_orchestration(iid, 30_000)
    assert result.status == "Completed", result.error
    assert result.output == {"fan": [0, 2, 4, 3], "flaky": "ok", "sub": 10}
    assert observability.flush(20)
    spans = [s for s in exporter.get_finished_spans() if s.name != "request"]
    trace_id = request.get_span_context().trace_id
    assert {s.context.trace_id for s in spans} == {trace_id}

    [parent] = by_name(spans, "orchestration Parent")
    [child] = by_name(spans, "orchestration Child")
    assert parent.parent.span_id == request.get_span_context().span_id
    assert child.parent.span_id == parent.context.span_id
    assert parent.attributes["duroxide.instance_id"] == iid
    assert parent.attributes["duroxide.execution_id"] == 1
    assert parent.attributes["duroxide.orchestration.version"] == "1.0.0"
    assert parent.attributes["duroxide.orchestration.outcome"] == "completed"
    assert parent.attributes["duroxide.worker_id"]  # host:pid of the runtime that ended it
    assert child.attributes["duroxide.instance_id"] != iid
    assert parent.start_time <= child.start_time <= child.end_time <= parent.end_time

    work = by_name(spans, "activity Work")
    assert sorted(s.parent.span_id == parent.context.span_id for s in work) == [False, True, True, True]
    assert [s for s in work if s.parent.span_id == child.context.span_id]
    assert all(s.attributes["duroxide.worker_id"] and s.attributes["duroxide.activity.name"] == "Work" for s in work)

    # Spans the activities' own code opens hang under the activity's span.
    inside = by_name(spans, "inside work")
    assert len(inside) == 4 and {s.parent.span_id for s in inside} == {s.context.span_id for s in work}
    [inside_async] = by_name(spans, "inside async work")
    [work_async] = by_name(spans, "activity WorkAsync")
    assert inside_async.parent.span_id == work_async.context.span_id
    assert work_async.parent.span_id == parent.context.span_id

    flaky = sorted(by_name(spans, "activity Flaky"), key=lambda s: s.start_time)
    assert [s.attributes["duroxide.activity.attempt"] for s in flaky] == [1, 2]
    assert [s.status.status_code for s in flaky] == [StatusCode.ERROR, StatusCode.UNSET]
    assert "first attempt fails" in flaky[0].status.description
    assert all(s.attributes["duroxide.activity.retry_policy"] and s.parent.span_id == parent.context.span_id for s in flaky)

    from duroxide._views import instance_record

    assert instance_record(client, iid)["input"] == 5  # the trace mark is not shown as input
    assert client.export_history(iid)["executions"][0]["events"][0]["input"].startswith("duroxide-trace:00-")

    child_timers = [s for s in by_name(spans, "timer") if s.parent.span_id == child.context.span_id]
    assert len(child_timers) == 1 and child_timers[0].attributes["duroxide.timer.fired"]
    assert child_timers[0].end_time - child_timers[0].start_time >= 15_000_000  # the 20 ms timer


def test_failed_orchestration_span_has_error_status(otel, make_runtime, client):
    _, exporter, _ = otel
    runtime = make_runtime()

    def broken(ctx, _):
        yield ctx.schedule_timer(1)
        raise ValueError("bad order")

    runtime.register_orchestration("Broken", broken)
    runtime.start()
    iid = new_id("broken")
    client.start_orchestration(iid, "Broken", None)  # no current span: the instance is its own trace
    assert client.wait_for_orchestration(iid, 30_000).status == "Failed"
    assert observability.flush(20)
    [span] = [s for s in by_name(exporter.get_finished_spans(), "orchestration Broken")
              if s.attributes["duroxide.instance_id"] == iid]
    assert span.parent is None
    assert span.status.status_code == StatusCode.ERROR and "bad order" in span.status.description
    assert span.attributes["duroxide.orchestration.outcome"] == "failed"


def _points(reader: InMemoryMetricReader, name: str) -> List[Any]:
    data = reader.get_metrics_data()
    return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == name for p in m.data.data_points]


def test_metrics_after_a_known_workload(otel, make_runtime, client):
    _, _, reader = otel
    runtime = make_runtime()
    runtime.register_activity("Measured", lambda ctx, n: n)

    def pair(ctx, n):
        a = yield ctx.schedule_activity("Measured", n)
        b = yield ctx.schedule_activity("Measured", n + 1)
        return a + b

    runtime.register_orchestration("Pair", pair)
    runtime.start()
    ids = [new_id("metered") for _ in range(4)]
    for iid in ids:
        client.start_orchestration(iid, "Pair", 1)
    for iid in ids:
        assert client.wait_for_orchestration(iid, 30_000).output == 3
    durations = [p for p in _points(reader, "duroxide.activity.duration")
                 if p.attributes["duroxide.activity.name"] == "Measured"]
    assert [(p.attributes["outcome"], p.count) for p in durations] == [("completed", 8)]
    assert durations[0].sum > 0
    turns = sum(p.value for p in _points(reader, "duroxide.orchestration.turns"))
    assert turns >= 4 * 3  # each Pair takes at least three turns
    stats = runtime.driver_stats()
    hits = [p.value for p in _points(reader, "duroxide.replay_cache.hits")]
    assert hits == [stats["cache_hits"]]  # the runtime's own counter, read when collected
    assert {p.attributes["queue"] for p in _points(reader, "duroxide.queue.depth")} == {"orchestrator", "worker", "timer"}


def test_prometheus_endpoint_serves_parseable_metrics(make_runtime, client):
    runtime = make_runtime()
    runtime.register_activity("Scraped", lambda ctx, n: n)

    def once(ctx, n):
        return (yield ctx.schedule_activity("Scraped", n))

    runtime.register_orchestration("Once", once)
    runtime.start()
    with observability.serve_prometheus(0) as server:
        ids = [new_id("scraped") for _ in range(3)]
        for iid in ids:
            client.start_orchestration(iid, "Once", 7)
        for iid in ids:
            assert client.wait_for_orchestration(iid, 30_000).output == 7
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
            assert response.status == 200
            text = response.read().decode("utf-8")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    histogram = families["duroxide_activity_duration_seconds"]
    counts = [s.value for s in histogram.samples
              if s.name.endswith("_count") and s.labels.get("activity") == "Scraped"]
    assert counts == [3.0]
    turns = [s.value for s in families["duroxide_orchestration_turns"].samples if s.name.endswith("_total")]
    assert turns and max(turns) >= 6
    assert {s.labels["queue"] for s in families["duroxide_queue_depth"].samples} == {"orchestrator", "timer", "worker"}


def test_serve_prometheus_refuses_a_bad_port_and_a_taken_one():
    with pytest.raises(ValueError, match="port must be an integer"):
        observability.serve_prometheus(70000)
    with observability.serve_prometheus(0) as server:
        with pytest.raises(OSError):
            observability.serve_prometheus(server.port)
    assert _observe.observer is None  # nothing left recording once the last server closed


def test_trace_id_reaches_a_worker_in_another_process(otel, tmp_path, fresh_pg_schema):
    tracer_provider, _, _ = otel
    url, schema = fresh_pg_schema  # its tables exist before the worker starts
    iid, out = new_id("remote"), tmp_path / "spans.json"
    worker = subprocess.Popen([sys.executable, str(WORKER), url, schema, iid, str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        client = Client(PostgresProvider.connect_with_schema(url, schema))
        with tracer_provider.get_tracer("test").start_as_current_span("caller") as caller:
            client.start_orchestration(iid, "Traced", 21)  # no runtime in this process
        assert client.wait_for_orchestration(iid, 60_000).output == 42
        assert worker.wait(timeout=60) == 0, worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
    spans = json.loads(out.read_text())
    [orchestration] = [s for s in spans if s["name"] == "orchestration Traced"]
    [activity] = [s for s in spans if s["name"] == "activity Work"]
    context = caller.get_span_context()
    assert orchestration["trace_id"] == activity["trace_id"] == context.trace_id
    assert orchestration["parent_id"] == context.span_id
    assert activity["parent_id"] == orchestration["span_id"]
    assert orchestration["attributes"]["duroxide.instance_id"] == iid
