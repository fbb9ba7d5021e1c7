"""Async vs sync for I/O-bound work: wall time, threads and memory.

    python benchmarks/async_io.py [--runs 3] [--activities 500] [--waits 1000] [--json FILE]

* fan-out: one orchestration runs N activities that each wait 50 ms on "I/O"
  (``await asyncio.sleep(0.05)`` in an ``async def`` activity, ``time.sleep(0.05)`` in a
  sync one) at the same ``worker_concurrency``.
* waits: W instances are awaited at once, by ``duroxide.aio.Client`` on one event loop,
  or by the blocking ``Client`` from one thread per wait.

Every figure comes from a fresh interpreter (so peak memory is that scenario's own), the
styles alternate, and the median of ``--runs`` is reported. Threads are the process's OS
threads (``/proc/self/task``), sampled every 10 ms. Needs a release build
(``maturin develop --release`` or ``pip install .``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List

CONCURRENCY = 100


class PeakThreads:
    """Samples the OS thread count of this process in the background."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, len(os.listdir("/proc/self/task")) - 1)  # minus the sampler
            time.sleep(0.01)

    def __enter__(self) -> "PeakThreads":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _runtime(db: str) -> Any:
    from duroxide import Runtime, RuntimeOptions, SqliteProvider

    provider = SqliteProvider.open(db)
    options = RuntimeOptions(worker_concurrency=CONCURRENCY, orchestration_concurrency=4, dispatcher_poll_interval_ms=5)
    return provider, Runtime(provider, options)


def fanout(style: str, activities: int, db: str) -> Dict[str, float]:
    import asyncio

    from duroxide import Client

    provider, runtime = _runtime(db)
    if style == "async":

        @runtime.register_activity("Io")
        async def io_async(ctx: Any, x: int) -> int:
            await asyncio.sleep(0.05)
            return x

    else:

        @runtime.register_activity("Io")
        def io_sync(ctx: Any, x: int) -> int:
            time.sleep(0.05)
            return x

    @runtime.register_orchestration("FanOut")
    def fan_out(ctx: Any, n: int) -> Any:
        results = yield ctx.all([ctx.schedule_activity("Io", i) for i in range(n)])
        return sum(results)

    runtime.start()
    client = Client(provider)
    with PeakThreads() as threads:
        start = time.perf_counter()
        client.start_orchestration("fanout", "FanOut", activities)
        result = client.wait_for_orchestration("fanout", 600_000)
        wall = time.perf_counter() - start
    assert result.output == sum(range(activities)), result
    runtime.shutdown(2000)
    return {"wall_s": wall, "peak_threads": threads.peak, "peak_rss_mb": _rss_mb()}


def waits(style: str, count: int, db: str) -> Dict[str, float]:
    import asyncio

    from duroxide import Client

    provider, runtime = _runtime(db)

    @runtime.register_orchestration("Wait")
    def wait_a_bit(ctx: Any, x: int) -> Any:
        yield ctx.schedule_timer(2000)
        return x

    runtime.start()
    ids = [f"w{i}" for i in range(count)]
    blocking = Client(provider)
    with PeakThreads() as threads:
        start = time.perf_counter()
        if style == "aio":
            from duroxide.aio import Client as AsyncClient

            async def all_waits() -> List[Any]:
                aio = AsyncClient(provider)
                await asyncio.gather(*(aio.start_orchestration(i, "Wait", n) for n, i in enumerate(ids)))
                return await asyncio.gather(*(aio.wait_for_orchestration(i, 600_000) for i in ids))

            results = asyncio.run(all_waits())
        else:
            for n, i in enumerate(ids):
                blocking.start_orchestration(i, "Wait", n)
            results = [None] * count

            def wait_one(n: int) -> None:
                results[n] = blocking.wait_for_orchestration(ids[n], 600_000)

            waiters = [threading.Thread(target=wait_one, args=(n,)) for n in range(count)]
            for t in waiters:
                t.start()
            for t in waiters:
                t.join()
        wall = time.perf_counter() - start
    assert [r.output for r in results] == list(range(count))
    runtime.shutdown(2000)
    return {"wall_s": wall, "peak_threads": threads.peak, "peak_rss_mb": _rss_mb()}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


SCENARIOS: Dict[str, Callable[[str, int, str], Dict[str, float]]] = {"fanout": fanout, "waits": waits}


def _one(scenario: str, style: str, n: int) -> Dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        cmd = [sys.executable, __file__, "--child", scenario, style, str(n), os.path.join(tmp, "b.db"), out]
        subprocess.run(cmd, check=True)
        with open(out) as f:
            return json.load(f)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        scenario, style, n, db, out = sys.argv[2:7]
        with open(out, "w") as f:
            json.dump(SCENARIOS[scenario](style, int(n), db), f)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--activities", type=int, default=500)
    parser.add_argument("--waits", type=int, default=1000)
    parser.add_argument("--json", help="write the medians here")
    args = parser.parse_args()
    plan = [("fanout", ("async", "sync"), args.activities), ("waits", ("aio", "threads"), args.waits)]
    report: Dict[str, Dict[str, Dict[str, float]]] = {}
    for scenario, styles, n in plan:
        runs: Dict[str, List[Dict[str, float]]] = {s: [] for s in styles}
        for r in range(args.runs):
            for style in styles:  # alternate: the machine is noisy
                print(f"{scenario} {style} run {r + 1}/{args.runs} ...", file=sys.stderr, flush=True)
                runs[style].append(_one(scenario, style, n))
        report[scenario] = {
            s: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for s, ms in runs.items()
        }
    print(f"\n{'scenario':<34}{'wall s':>10}{'peak threads':>14}{'peak RSS MB':>13}")
    for scenario, styles, n in plan:
        for style in styles:
            m = report[scenario][style]
            label = f"{scenario} x{n} ({style})"
            print(f"{label:<34}{m['wall_s']:>10.2f}{m['peak_threads']:>14.0f}{m['peak_rss_mb']:>13.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
