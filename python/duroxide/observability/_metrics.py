"""Metrics: the core's counters, the drivers' own (turns, replay cache, determinism
checks, SQLite lock errors absorbed), queue depths and activity durations, read from
every running runtime of this process when a reader asks (nothing is counted twice or
during replay: the counters are the runtimes' own, and durations are recorded for real
activity executions only).

Two outlets share these readings: OpenTelemetry instruments (:class:`OtelMetrics`) and a
``prometheus_client`` collector (:class:`PrometheusCollector`).
"""

from __future__ import annotations

import bisect
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .. import _observe

#: driver_stats() key -> (metric name, description); all monotonic counters.
DRIVER_COUNTERS = {
    "python_steps": ("duroxide.orchestration.python_steps", "Orchestration generator steps run in Python"),
    "replayed_steps": ("duroxide.orchestration.replayed_steps", "Steps of cached generators re-issued from Rust"),
    "cache_hits": ("duroxide.replay_cache.hits", "Turns that found their generator in the replay cache"),
    "cache_misses": ("duroxide.replay_cache.misses", "Turns that replayed their generator from history"),
    "cache_evictions": ("duroxide.replay_cache.evictions", "Generators evicted from the replay cache"),
    "catch_ups": ("duroxide.replay_cache.catch_ups", "Cached generators brought up to date from history"),
    "determinism_checks": ("duroxide.determinism.checks", "Verify-only re-runs under the replay cache"),
    "divergences": ("duroxide.determinism.divergences", "Nondeterminism found by the checks"),
    "lock_retries": ("duroxide.store.lock_retries", "SQLite lock errors absorbed by retrying"),
}
TURNS = ("duroxide.orchestration.turns", "Orchestration turns begun")
CACHED = ("duroxide.replay_cache.generators", "Generators held in the replay cache")
QUEUE_DEPTH = ("duroxide.queue.depth", "Messages waiting in a queue of the store")
CORE_PREFIX = "duroxide.core."
ACTIVITY_DURATION = ("duroxide.activity.duration", "Activity execution time, seconds")
#: Histogram bucket bounds, seconds.
BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _runtime_label(runtime: Any) -> str:
    return f"{id(runtime):x}"


def readings() -> Iterator[Tuple[Any, Dict[str, int], Optional[Dict[str, int]]]]:
    """(runtime, driver_stats, core counters or None) for each running runtime."""
    for runtime in list(_observe.runtimes):
        stats = runtime.driver_stats()
        if stats:
            core = runtime.metrics_snapshot()
            yield runtime, stats, None if core is None else dict(core)


def queue_depths() -> List[Tuple[str, int]]:
    """(queue, depth) summed over the stores of the running runtimes (each store once)."""
    seen: Dict[int, Any] = {}
    for runtime in list(_observe.runtimes):
        seen.setdefault(id(runtime._provider._native), runtime)
    totals = {"orchestrator": 0, "worker": 0, "timer": 0}
    for runtime in seen.values():
        try:
            depths = runtime._metrics_client().get_queue_depths()
        except Exception:  # noqa: BLE001 - a store that does not answer: no reading this time
            continue
        totals["orchestrator"] += depths.orchestrator_queue
        totals["worker"] += depths.worker_queue
        totals["timer"] += depths.timer_queue
    return sorted(totals.items())


class Durations:
    """Activity durations as histogram buckets, per (activity, outcome)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: Dict[Tuple[str, str], List[float]] = {}  # bucket counts..., count, sum

    def record(self, activity: str, outcome: str, seconds: float) -> None:
        with self._lock:
            series = self._series.setdefault((activity, outcome), [0.0] * (len(BUCKETS) + 3))
            series[bisect.bisect_left(BUCKETS, seconds)] += 1
            series[-2] += 1
            series[-1] += seconds

    def snapshot(self) -> Dict[Tuple[str, str], List[float]]:
        with self._lock:
            return {key: list(values) for key, values in self._series.items()}


class OtelMetrics:
    """The readings as OpenTelemetry instruments of ``meter_provider`` (None: global)."""

    def __init__(self, meter_provider: Any = None) -> None:
        from opentelemetry import metrics
        from opentelemetry.metrics import CallbackOptions, Observation

        from .. import __version__

        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter("duroxide", __version__)
        self._duration = meter.create_histogram(ACTIVITY_DURATION[0], unit="s", description=ACTIVITY_DURATION[1])

        def driver(key: str) -> Any:
            def observe(options: CallbackOptions) -> List[Observation]:
                return [Observation(stats.get(key, 0), {"duroxide.runtime": _runtime_label(rt)}) for rt, stats, _ in readings()]
            return observe

        for key, (name, description) in DRIVER_COUNTERS.items():
            meter.create_observable_counter(name, [driver(key)], description=description)

        def turns(options: CallbackOptions) -> List[Observation]:
            return [Observation(s.get("turns", 0), {"duroxide.runtime": _runtime_label(rt)}) for rt, s, _ in readings()]

        def cached(options: CallbackOptions) -> List[Observation]:
            return [Observation(s.get("cached_generators", 0), {"duroxide.runtime": _runtime_label(rt)}) for rt, s, _ in readings()]

        def core(options: CallbackOptions) -> List[Observation]:
            return [Observation(value, {"duroxide.runtime": _runtime_label(rt), "counter": name})
                    for rt, _, counters in readings() if counters for name, value in sorted(counters.items())]

        def depths(options: CallbackOptions) -> List[Observation]:
            return [Observation(depth, {"queue": queue}) for queue, depth in queue_depths()]

        meter.create_observable_counter(TURNS[0], [turns], description=TURNS[1])
        meter.create_observable_gauge(CACHED[0], [cached], description=CACHED[1])
        meter.create_observable_counter(CORE_PREFIX + "counters", [core], description="The core's own counters, by name")
        meter.create_observable_gauge(QUEUE_DEPTH[0], [depths], description=QUEUE_DEPTH[1])

    def record_activity(self, activity: str, outcome: str, seconds: float) -> None:
        self._duration.record(seconds, {"duroxide.activity.name": activity, "outcome": outcome})


def _prom(name: str) -> str:
    return name.replace(".", "_")


class PrometheusCollector:
    """The readings in Prometheus's model, for a ``prometheus_client`` registry."""

    def __init__(self, durations: Durations) -> None:
        self._durations = durations

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        rows = list(readings())
        for key, (name, description) in DRIVER_COUNTERS.items():
            family = CounterMetricFamily(_prom(name), description, labels=["runtime"])
            for runtime, stats, _ in rows:
                family.add_metric([_runtime_label(runtime)], stats.get(key, 0))
            yield family
        turns = CounterMetricFamily(_prom(TURNS[0]), TURNS[1], labels=["runtime"])
        cached = GaugeMetricFamily(_prom(CACHED[0]), CACHED[1], labels=["runtime"])
        core = CounterMetricFamily(_prom(CORE_PREFIX + "counters"), "The core's own counters, by name", labels=["runtime", "counter"])
        for runtime, stats, counters in rows:
            label = _runtime_label(runtime)
            turns.add_metric([label], stats.get("turns", 0))
            cached.add_metric([label], stats.get("cached_generators", 0))
            for counter, value in sorted((counters or {}).items()):
                core.add_metric([label, counter], value)
        yield from (turns, cached, core)
        depth = GaugeMetricFamily(_prom(QUEUE_DEPTH[0]), QUEUE_DEPTH[1], labels=["queue"])
        for queue, value in queue_depths():
            depth.add_metric([queue], value)
        yield depth
        histogram = HistogramMetricFamily(_prom(ACTIVITY_DURATION[0]) + "_seconds", ACTIVITY_DURATION[1],
                                          labels=["activity", "outcome"])
        for (activity, outcome), series in sorted(self._durations.snapshot().items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip(BUCKETS + (float("inf"),), series[: len(BUCKETS) + 1]):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            histogram.add_metric([activity, outcome], buckets, series[-1])
        yield histogram
