"""How the rate grows with worker processes on one PostgreSQL.

    python benchmarks/workers.py [--workers 1,2,4] [--count 2000] [--json FILE]

For each worker count: a fresh schema, that many worker processes (this file with
``--serve``: one runtime each, bench.py's options and "One" orchestration), then this
process starts ``--count`` orchestrations and waits for all. Reports the rate (from the
first start to the last completion) and CPU per orchestration: the workers' CPU
(user+system, every thread, from /proc) and the PostgreSQL server's (every postgres
process of the machine, so run it on an otherwise idle server). A live line shows
progress. Release build only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import build_runtime  # noqa: E402
from procstat import cpu_seconds, postgres_cpu  # noqa: E402

from duroxide import Client, PostgresProvider  # noqa: E402

URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def serve(schema: str) -> None:
    """A worker process: one runtime on ``schema``, until killed."""
    runtime = build_runtime(PostgresProvider.connect_with_schema(URL, schema))
    runtime.start()
    print("ready", flush=True)
    while True:
        time.sleep(1)


def one_count(workers: int, count: int) -> Dict[str, Any]:
    schema = f"bench_workers_{uuid.uuid4().hex[:8]}"
    client = Client(PostgresProvider.connect_with_schema(URL, schema))  # creates the tables
    procs: List[subprocess.Popen] = []
    try:
        for _ in range(workers):
            proc = subprocess.Popen([sys.executable, __file__, "--serve", schema], stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            procs.append(proc)
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        pg0 = postgres_cpu()
        ids = [uuid.uuid4().hex for _ in range(count)]
        t0 = time.time()
        for i, iid in enumerate(ids):
            client.start_orchestration(iid, "One", i)
        for n, iid in enumerate(ids):
            result = client.wait_for_orchestration(iid, 1_800_000)
            assert result.status == "Completed", (iid, result.error)
            if n % 100 == 0:
                print(f"\r  {workers} worker(s): {n}/{count} done, {time.time() - t0:5.1f} s",
                      end="", file=sys.stderr, flush=True)
        last_end = max(client.read_execution_history(iid, 1)[-1].timestamp_ms for iid in ids) / 1000
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        pg = postgres_cpu() - pg0
        print(file=sys.stderr)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        client.close()
        subprocess.run(["psql", URL, "-qc", f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'], capture_output=True)
    return {
        "workers": workers,
        "rate_per_s": round(count / (last_end - t0), 1),
        "worker_cpu_ms_per_orchestration": round(cpu * 1000 / count, 2),
        "postgres_cpu_ms_per_orchestration": round(pg * 1000 / count, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--serve", metavar="SCHEMA", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    try:
        counts = [int(n) for n in args.workers.split(",")]
    except ValueError:
        parser.error(f"--workers must be comma-separated numbers, not {args.workers!r}")
    results = []
    for workers in counts:
        results.append(one_count(workers, args.count))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
