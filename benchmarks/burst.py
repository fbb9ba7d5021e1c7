"""A burst of orchestrations: how the SDK holds up when far more work arrives than it can
do at once.

    python benchmarks/burst.py [--provider sqlite|postgres] [--count 10000] [--json FILE]

Starts ``--count`` one-activity orchestrations (bench.py's "One") as fast as the client
can, on one runtime in this process (bench.py's options: 1 ms poll), and waits for all.
Reports the sustained rate (completions per second between the first start and the last
completion), the start rate, the p50/p99/max start->complete latency (from each
instance's terminal event in its history), CPU seconds per orchestration (every thread of
the process) and RSS over time (sampled every 0.5 s, with the number completed). A live
line on stderr shows progress. Release build only: see docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import build_runtime, make_provider  # noqa: E402

from duroxide import Client  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    """Every ``interval`` s: (seconds since start, RSS MB, orchestrations completed);
    prints a live progress line."""

    def __init__(self, runtime: Any, count: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.runtime, self.count, self.interval = runtime, count, interval
        self.samples: List[List[float]] = []
        self.stop = threading.Event()
        self.t0 = time.perf_counter()

    def completed(self) -> int:
        snapshot = self.runtime.metrics_snapshot() or {}
        return int(snapshot.get("orch_completions", 0))

    def run(self) -> None:
        while not self.stop.is_set():
            t, done = time.perf_counter() - self.t0, self.completed()
            self.samples.append([round(t, 2), round(rss_mb(), 1), done])
            rate = done / t if t > 0 else 0.0
            print(f"\r  {t:6.1f} s  completed {done:6d}/{self.count}  {rate:6.1f}/s  RSS {rss_mb():6.1f} MB",
                  end="", file=sys.stderr, flush=True)
            self.stop.wait(self.interval)
        print(file=sys.stderr)


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def burst(kind: str, count: int) -> Dict[str, Any]:
    provider = make_provider(kind)
    runtime = build_runtime(provider)
    runtime.start()
    client = Client(provider)
    ids = [uuid.uuid4().hex for _ in range(count)]
    started_ms: Dict[str, float] = {}
    sampler = Sampler(runtime, count)
    cpu0, rss0 = time.process_time(), rss_mb()
    try:
        sampler.start()
        t0 = time.time()
        for i, iid in enumerate(ids):
            started_ms[iid] = time.time() * 1000
            client.start_orchestration(iid, "One", i)
        start_s = time.time() - t0
        for iid in ids:
            result = client.wait_for_orchestration(iid, 1_800_000)
            assert result.status == "Completed", (iid, result.error)
        wall = time.time() - t0
        cpu = time.process_time() - cpu0
        sampler.stop.set()
        sampler.join()
        latencies, last_end = [], 0.0
        for iid in ids:
            end = client.read_execution_history(iid, 1)[-1].timestamp_ms
            latencies.append(end - started_ms[iid])
            last_end = max(last_end, end)
    finally:
        sampler.stop.set()
        runtime.shutdown()
    sustained = count / ((last_end / 1000) - t0)
    return {
        "count": count,
        "start_rate_per_s": round(count / start_s, 1),
        "sustained_rate_per_s": round(sustained, 1),
        "wall_s": round(wall, 2),
        "latency_ms": {"p50": round(percentile(latencies, 0.5)), "p99": round(percentile(latencies, 0.99)),
                       "max": round(max(latencies)), "mean": round(statistics.mean(latencies))},
        "cpu_ms_per_orchestration": round(cpu * 1000 / count, 2),
        "rss_mb": {"before": round(rss0, 1), "peak": max(s[1] for s in sampler.samples),
                   "end": sampler.samples[-1][1]},
        "samples": sampler.samples,  # [seconds, RSS MB, completed]
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--json", help="write the figures (and the samples) here")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    result = burst(args.provider, args.count)
    shown = {k: v for k, v in result.items() if k != "samples"}
    print(f"{args.provider}: " + json.dumps(shown))
    if args.json:
        Path(args.json).write_text(json.dumps({args.provider: result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
