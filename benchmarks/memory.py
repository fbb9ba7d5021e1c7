"""Memory over many orchestrations run one after another (issue 5: must stay flat).

    python benchmarks/memory.py [--count 10000] [--provider sqlite|postgres]

Each orchestration runs two activities and a timer-free race, so every kind of object
the SDK creates per instance (generators, contexts, task futures, callback handles,
activity jobs) is exercised. Prints the resident set size every 10% and the growth
from the first checkpoint to the last.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import uuid

from duroxide import Client, PostgresProvider, Runtime, RuntimeOptions, SqliteProvider


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--provider", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    if args.provider == "sqlite":
        provider = SqliteProvider.open(os.path.join(tempfile.mkdtemp(prefix="duroxide-mem-"), "mem.db"))
    else:
        url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        provider = PostgresProvider.connect_with_schema(url, f"mem_{uuid.uuid4().hex[:8]}")
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=1, log_level="error"))
    runtime.register_activity("Echo", lambda ctx, x: x)

    @runtime.register_orchestration("Work")
    def work(ctx, i):
        a = yield ctx.schedule_activity("Echo", i)
        both = yield ctx.all([ctx.schedule_activity("Echo", a), ctx.schedule_activity("Echo", a + 1)])
        ctx.set_custom_status(f"step {i}")
        return sum(both)

    runtime.start()
    client = Client(provider)
    checkpoints = []
    step = max(1, args.count // 10)
    for i in range(args.count):
        instance_id = f"mem-{i}"
        client.start_orchestration(instance_id, "Work", i)
        result = client.wait_for_orchestration(instance_id, 60_000)
        assert result.output == 2 * i + 1, result
        if (i + 1) % step == 0:
            gc.collect()
            checkpoints.append(rss_mb())
            print(f"{i + 1:6d} orchestrations  rss {checkpoints[-1]:7.1f} MB", flush=True)
    runtime.shutdown()
    print(f"growth from first to last checkpoint: {checkpoints[-1] - checkpoints[0]:+.1f} MB")


if __name__ == "__main__":
    main()
