"""Benchmarks of the Python SDK over its public API.

    python benchmarks/bench.py [--provider sqlite|postgres|both] [--json out.json] [--quick] [--only a,b]
                               [--determinism-checks sampled|every_turn|off] [--observe none|otel|prometheus]
                               [--orchestration-concurrency N] [--worker-concurrency N]

Scenarios (each asserts its outputs; none is a timed test in CI):
  latency      start -> wait_for_orchestration of a one-activity orchestration, median of 20
  throughput   300 orchestrations x 1 activity, started together
  fanout       1 orchestration x 500 activities with ctx.all
  chain-N      one orchestration running N activities in sequence (N = 100, 200, 400;
               --chains 100,200,400,800 for others)
  timers       200 orchestrations each waiting on a 10 ms durable timer

All runtimes use a 1 ms dispatcher poll. PostgreSQL uses DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/postgres) and a throwaway schema.
benchmarks/native runs the same scenarios in Rust; benchmarks/compare.py prints both
and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from typing import Callable, Dict, List, Optional

from duroxide import Client, PostgresProvider, Runtime, RuntimeOptions, SqliteProvider

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import postgres_cpu  # noqa: E402


#: --orchestration-concurrency / --worker-concurrency when given (else each SDK's default).
CONCURRENCY: Dict[str, int] = {}


def options(determinism_checks: str = "sampled") -> RuntimeOptions:
    # determinism_checks only when asked for: the original SDK (compare.py --with-original
    # runs this file on it) has no such option, and "sampled" is our default.
    extra: Dict[str, object] = {} if determinism_checks == "sampled" else {"determinism_checks": determinism_checks}
    return RuntimeOptions(dispatcher_poll_interval_ms=1, log_level="error", **CONCURRENCY, **extra)


def make_provider(kind: str):
    if kind == "sqlite":
        return SqliteProvider.open(os.path.join(tempfile.mkdtemp(prefix="duroxide-bench-"), "bench.db"))
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return PostgresProvider.connect_with_schema(url, f"bench_{uuid.uuid4().hex[:8]}")


def build_runtime(provider, determinism_checks: str = "sampled") -> Runtime:
    runtime = Runtime(provider, options(determinism_checks))
    runtime.register_activity("Echo", lambda ctx, x: x)

    @runtime.register_orchestration("One")
    def one(ctx, x):
        return (yield ctx.schedule_activity("Echo", x))

    @runtime.register_orchestration("Fan")
    def fan(ctx, n):
        results = yield ctx.all([ctx.schedule_activity("Echo", i) for i in range(n)])
        # The original SDK's ctx.all gives {"ok": value} per task; ours the values.
        return sum(r["ok"] if isinstance(r, dict) else r for r in results)

    @runtime.register_orchestration("Chain")
    def chain(ctx, n):
        total = 0
        for i in range(n):
            total += yield ctx.schedule_activity("Echo", i)
        return total

    @runtime.register_orchestration("Timer")
    def timer(ctx, ms):
        yield ctx.schedule_timer(ms)
        return ms

    return runtime


def run_many(client: Client, name: str, inputs: list, timeout_ms: int = 600_000) -> float:
    ids = [uuid.uuid4().hex for _ in inputs]
    started = time.perf_counter()
    for instance_id, value in zip(ids, inputs):
        client.start_orchestration(instance_id, name, value)
    results = [client.wait_for_orchestration(i, timeout_ms) for i in ids]
    elapsed = time.perf_counter() - started
    bad = [r for r in results if r.status != "Completed"]
    assert not bad, f"{name}: {len(bad)} failed, first: {bad[0].error}"
    return elapsed


def scenarios(quick: bool, chains: Optional[List[int]] = None) -> Dict[str, Callable[[Client], Dict[str, float]]]:
    chain_sizes = chains or ([100] if quick else [100, 200, 400])

    def latency(client):
        samples = []
        for i in range(20):
            samples.append(run_many(client, "One", [i]) * 1000)
        return {"median_ms": statistics.median(samples), "units": 20}

    def throughput(client):
        n = 100 if quick else 300
        elapsed = run_many(client, "One", list(range(n)))
        return {"orchestrations_per_s": n / elapsed, "seconds": elapsed, "units": n}

    def fanout(client):
        n = 100 if quick else 500
        instance_id = uuid.uuid4().hex
        started = time.perf_counter()
        client.start_orchestration(instance_id, "Fan", n)
        result = client.wait_for_orchestration(instance_id, 600_000)
        assert result.output == sum(range(n)), result
        elapsed = time.perf_counter() - started
        return {"activities_per_s": n / elapsed, "seconds": elapsed, "units": n}

    def chain(n):
        def run(client):
            instance_id = uuid.uuid4().hex
            started = time.perf_counter()
            client.start_orchestration(instance_id, "Chain", n)
            result = client.wait_for_orchestration(instance_id, 600_000)
            assert result.output == sum(range(n)), result
            elapsed = time.perf_counter() - started
            return {"ms_per_step": elapsed * 1000 / n, "seconds": elapsed, "units": n}

        return run

    def timers(client):
        n = 50 if quick else 200
        elapsed = run_many(client, "Timer", [10] * n)
        return {"orchestrations_per_s": n / elapsed, "seconds": elapsed, "units": n}

    out = {"latency": latency, "throughput": throughput, "fanout": fanout, "timers": timers}
    for n in chain_sizes:
        out[f"chain-{n}"] = chain(n)
    return out


def observe(mode: str) -> None:
    """Turn observability on for the whole run (its cost, not its exporters', is measured)."""
    if mode == "none":
        return
    from duroxide import observability

    if mode == "prometheus":
        observability.serve_prometheus(0)
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Drop()))
    observability.instrument(tracer_provider=tracer_provider, meter_provider=MeterProvider())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", help="comma-separated scenarios to run (e.g. throughput,fanout)")
    parser.add_argument("--chains", help="comma-separated chain lengths (default 100,200,400)")
    parser.add_argument(
        "--determinism-checks", choices=["sampled", "every_turn", "off"], default="sampled",
        help="RuntimeOptions.determinism_checks (default: the library's default, sampled)",
    )
    parser.add_argument(
        "--observe", choices=["none", "otel", "prometheus"], default="none",
        help="otel: instrument() with an SDK tracer and meter that drop what they get; "
        "prometheus: serve_prometheus(0) (benchmarks/observability_overhead.py)",
    )
    for option in ("orchestration_concurrency", "worker_concurrency"):
        parser.add_argument(
            "--" + option.replace("_", "-"), type=int, metavar="N",
            help=f"RuntimeOptions.{option} (default: the SDK's own default)",
        )
    args = parser.parse_args()
    for option in ("orchestration_concurrency", "worker_concurrency"):
        if getattr(args, option) is not None:
            if getattr(args, option) < 1:
                parser.error(f"--{option.replace('_', '-')} must be at least 1")
            CONCURRENCY[option] = getattr(args, option)
    observe(args.observe)
    kinds = ["sqlite", "postgres"] if args.provider == "both" else [args.provider]
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    for kind in kinds:
        provider = make_provider(kind)
        runtime = build_runtime(provider, args.determinism_checks)
        runtime.start()
        client = Client(provider)
        try:
            wanted = set(args.only.split(",")) if args.only else None
            chains = [int(n) for n in args.chains.split(",")] if args.chains else None
            for name, scenario in scenarios(args.quick, chains).items():
                if wanted is not None and name not in wanted:
                    continue
                stats = getattr(runtime, "driver_stats", dict)  # not in the original SDK
                before, cpu_before = stats(), time.process_time()
                server_before = postgres_cpu() if kind == "postgres" else 0.0
                results.setdefault(kind, {})[name] = figures = scenario(client)
                # CPU of every thread of the process (Python, Rust, SQLite) per unit of work,
                # and on PostgreSQL the server's (a local server nothing else uses).
                units = figures.pop("units")
                figures["cpu_ms"] = (time.process_time() - cpu_before) * 1000 / units
                if kind == "postgres":
                    figures["server_cpu_ms"] = (postgres_cpu() - server_before) * 1000 / units
                after = stats()
                for key, label in (("python_steps", "python_steps"), ("determinism_check_steps", "check_steps")):
                    results[kind][name][label] = after.get(key, 0) - before.get(key, 0)
                metrics = ", ".join(f"{k}={v:.2f}" for k, v in results[kind][name].items())
                print(f"{kind:9} {name:11} {metrics}", flush=True)
        finally:
            runtime.shutdown()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
