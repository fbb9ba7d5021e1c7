"""OpenTelemetry traces and metrics, and a Prometheus endpoint (docs/observability.md).

    from duroxide import observability

    observability.instrument()                  # spans and metrics via the global providers
    server = observability.serve_prometheus(9464)  # and/or: /metrics for Prometheus

``instrument`` needs the ``otel`` extra (``pip install 'duroxide[otel]'``),
``serve_prometheus`` the ``prometheus`` extra. Until one of them is called the SDK does
no observability work at all. Trace context crosses processes with the instance (see
``duroxide._trace_mark``), so a worker on another machine continues the caller's trace.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Optional

from .. import _observe
from .._trace_mark import TraceMark

__all__ = ["instrument", "uninstrument", "flush", "serve_prometheus", "PrometheusServer", "MissingExtraError"]


class MissingExtraError(ImportError):
    """An optional dependency of this feature is not installed."""


def _require(module: str, extra: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise MissingExtraError(
            f"this needs the {module.split('.')[0]!r} package: pip install 'duroxide[{extra}]'"
        ) from None


class _Observer(_observe.Observer):
    """Spans (when instrumented), OpenTelemetry metrics (when instrumented), activity
    durations for Prometheus (when serving)."""

    def __init__(self) -> None:
        self.spans: Any = None
        self.otel_metrics: Any = None
        self.durations: Any = None

    def caller_mark(self) -> Optional[TraceMark]:
        return None if self.spans is None else self.spans.caller_mark()

    def execution_ended(self, client: Any, info: Any, mark: Optional[TraceMark], worker: str) -> None:
        if self.spans is not None:
            self.spans.execution_ended(client, info, mark, worker)

    def activity_started(self, info: Any, mark: Optional[TraceMark], client: Any, raw_input: str) -> Any:
        span = None if self.spans is None else self.spans.activity_started(info, mark, client, raw_input)
        return (span, info.activity_name, time.perf_counter())

    def activity_scope(self, token: Any) -> Any:
        span = token[0]
        if span is None:
            return contextlib.nullcontext()
        from opentelemetry import trace

        return trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)

    def activity_ended(self, token: Any, error: Optional[str]) -> None:
        span, activity, started = token
        seconds = time.perf_counter() - started
        outcome = "failed" if error is not None else "completed"
        if span is not None:
            self.spans.activity_ended(span, error)
        if self.otel_metrics is not None:
            self.otel_metrics.record_activity(activity, outcome, seconds)
        if self.durations is not None:
            self.durations.record(activity, outcome, seconds)


_lock = threading.Lock()


def _observer() -> _Observer:
    current = _observe.observer
    if isinstance(current, _Observer):
        return current
    fresh = _Observer()
    _observe.observer = fresh
    return fresh


def instrument(tracer_provider: Any = None, meter_provider: Any = None, *, traces: bool = True, metrics: bool = True) -> None:
    """Emit spans and metrics through OpenTelemetry, from now on, for every runtime and
    client of this process. ``tracer_provider`` / ``meter_provider``: None uses the
    global ones (``opentelemetry.trace.set_tracer_provider``...). Calling it again
    replaces the providers. Raises :class:`MissingExtraError` without OpenTelemetry."""
    _require("opentelemetry.trace", "otel")
    from ._metrics import OtelMetrics
    from ._spans import Spans

    with _lock:
        observer = _observer()
        if observer.spans is not None:
            observer.spans.close()
        observer.spans = Spans(tracer_provider) if traces else None
        observer.otel_metrics = OtelMetrics(meter_provider) if metrics else None


def uninstrument() -> None:
    """Stop emitting OpenTelemetry spans and metrics (a Prometheus server keeps serving)."""
    with _lock:
        observer = _observe.observer
        if not isinstance(observer, _Observer):
            return
        if observer.spans is not None:
            observer.spans.flush(5.0)
            observer.spans.close()
        observer.spans = observer.otel_metrics = None
        if observer.durations is None:  # no Prometheus server either
            _observe.observer = None


def flush(timeout_s: float = 10.0) -> bool:
    """Wait until the spans of executions that ended so far are handed to the tracer
    provider (they are built in the background once each end is committed). False when
    ``timeout_s`` passed first. Flushing the provider's exporters is the provider's job."""
    observer = _observe.observer
    spans = getattr(observer, "spans", None)
    return True if spans is None else bool(spans.flush(timeout_s))


class PrometheusServer:
    """A running ``/metrics`` endpoint; :meth:`close` stops it."""

    def __init__(self, httpd: Any, thread: Any) -> None:
        self._httpd = httpd
        self._thread = thread
        #: The port it listens on (useful with ``port=0``).
        self.port: int = int(httpd.server_address[1])

    def close(self) -> None:
        """Stop serving and release the port (the last server to close stops recording
        activity durations for Prometheus). Closing twice does nothing."""
        if self._httpd is None:
            return
        httpd, self._httpd = self._httpd, None
        httpd.shutdown()
        httpd.server_close()
        self._thread.join(5)
        _server_closed()

    def __enter__(self) -> "PrometheusServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_collector: Any = None
_servers = 0


def _server_closed() -> None:
    global _collector, _servers
    with _lock:
        _servers -= 1
        observer = _observe.observer
        if _servers == 0 and isinstance(observer, _Observer):
            observer.durations = _collector = None
            if observer.spans is None and observer.otel_metrics is None:
                _observe.observer = None


def serve_prometheus(port: int = 9464, addr: str = "127.0.0.1") -> PrometheusServer:
    """Serve this process's duroxide metrics for Prometheus at ``http://addr:port/metrics``
    (``port=0``: any free port, see ``.port``). Bound to loopback unless ``addr`` says
    otherwise. Raises :class:`MissingExtraError` without ``prometheus_client``, and
    ``OSError`` when the port is taken."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535, got {port!r}")
    _require("prometheus_client", "prometheus")
    from prometheus_client import CollectorRegistry, start_http_server

    from ._metrics import Durations, PrometheusCollector

    global _collector, _servers
    with _lock:
        observer = _observer()
        if observer.durations is None:
            observer.durations = Durations()
        if _collector is None:
            _collector = PrometheusCollector(observer.durations)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_collector)
        _servers += 1
    try:
        httpd, thread = start_http_server(port, addr=addr, registry=registry)
    except BaseException:
        _server_closed()
        raise
    return PrometheusServer(httpd, thread)
