"""``Runtime``: registers orchestrations and activities and runs them."""

from __future__ import annotations

import atexit
import inspect
import os
import socket
import threading
import weakref
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar, overload

from . import _callbacks, _observe, _signatures, _validate
from .converter import DEFAULT_CONVERTER, DataConverter
from ._native import gen, translate_errors
from .errors import ClosedError, InvalidArgumentError, RuntimeStateError
from .options import RuntimeOptions
from .providers import Provider

__all__ = ["Runtime"]

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT_VERSION = "1.0.0"
_RESERVED_PREFIX = "__duroxide"


def _check_name(what: str, name: object) -> str:
    name = _validate.name(f"{what} name", name)
    if name.startswith(_RESERVED_PREFIX):
        raise InvalidArgumentError(f"{what} name {name!r} uses the reserved prefix {_RESERVED_PREFIX!r}")
    return name


class MetricsSnapshot(Dict[str, int]):
    """The core's counters: a dict (``snap["orch_starts"]``) that also reads as
    attributes (``snap.orch_starts``), as the original SDK's snapshot does."""

    __slots__ = ()

    def __getattr__(self, name: str) -> int:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no counter {name!r}; the snapshot has {', '.join(sorted(self))}") from None


def _client_of(runtime: "Runtime") -> Callable[[], Any]:
    """``runtime._metrics_client`` through a weak reference: the native runtime holds the
    Stepper, so a strong one would be a cycle the garbage collector cannot see."""
    ref = weakref.ref(runtime)

    def client() -> Any:
        alive = ref()
        if alive is None:
            raise ClosedError("the runtime is gone")
        return alive._metrics_client()

    return client


class Runtime:
    """Runs orchestrations and activities against a provider's store.

    Register every orchestration and activity, then :meth:`start`. Several runtimes
    (in this process or others) may share one store; work is spread among them.
    A runtime still running when the interpreter exits is shut down then.

    ``data_converter`` turns payloads into values and back (default:
    :data:`duroxide.converter.DEFAULT_CONVERTER`: JSON, plus dataclasses, pydantic models,
    enums, datetimes, ...); functions' annotations say what their inputs and results are.
    Give the clients of the same store the same converter.
    """

    def __init__(
        self, provider: Provider, options: Optional[RuntimeOptions] = None, *, data_converter: Optional[DataConverter] = None
    ) -> None:
        if not isinstance(provider, Provider):
            raise TypeError(f"Runtime needs a SqliteProvider or PostgresProvider, got {type(provider).__name__}")
        if options is None:
            options = RuntimeOptions()
        elif not isinstance(options, RuntimeOptions):
            raise TypeError(f"options must be a RuntimeOptions, got {type(options).__name__}")
        if data_converter is not None and not isinstance(data_converter, DataConverter):
            raise TypeError(f"data_converter must be a duroxide.converter.DataConverter, got {type(data_converter).__name__}")
        self._provider = provider
        self._options = options
        self._converter = data_converter or DEFAULT_CONVERTER
        self._orchestrations: Dict[Tuple[str, str], _callbacks.Registered] = {}
        self._activities: Dict[str, _callbacks.Registered] = {}
        self._native: Optional[Any] = None
        self._invoker: Optional[_callbacks.Invoker] = None
        self._client: Optional[Any] = None  # see _metrics_client
        self._stopped = False
        self._lock = threading.Lock()

    # -- registration ---------------------------------------------------------------------

    def _check_open(self, action: str) -> None:
        if self._stopped:
            raise ClosedError(f"cannot {action}: the runtime was shut down; create a new Runtime")
        if self._native is not None:
            raise RuntimeStateError(f"cannot {action} after start(); register everything before start()")

    @overload
    def register_activity(self, name: str) -> Callable[[F], F]: ...
    @overload
    def register_activity(self, name: str, fn: F) -> F: ...

    def register_activity(self, name: str, fn: Optional[F] = None) -> Any:
        """Register ``fn(ctx, input)`` as activity ``name``.

        Use as a decorator (``@runtime.register_activity("Name")``) or call it with the
        function. Sync activities run on worker threads and may block; ``async def``
        activities run as tasks of one event loop the runtime owns (they must not block)
        and see ``asyncio.CancelledError`` when the activity is cancelled.
        """
        return self._register_activity(name, fn, typed=False)

    @overload
    def register_activity_typed(self, name: str) -> Callable[[F], F]: ...
    @overload
    def register_activity_typed(self, name: str, fn: F) -> F: ...

    def register_activity_typed(self, name: str, fn: Optional[F] = None) -> Any:
        """``register_activity`` whose ``str`` result is sent as is (the typed encoding,
        see :mod:`duroxide._context_typed`); its input is JSON-decoded as always."""
        return self._register_activity(name, fn, typed=True)

    def _register_activity(self, name: str, fn: Optional[F], typed: bool) -> Any:
        _check_name("activity", name)

        def register(f: F) -> F:
            if not callable(f):
                raise TypeError(f"activity {name!r}: {f!r} is not callable")
            with self._lock:
                self._check_open(f"register activity {name!r}")
                if name in self._activities:
                    raise InvalidArgumentError(f"activity {name!r} is already registered")
                self._activities[name] = _callbacks.Registered(f, typed)
            _signatures.mark(f, "activity", name)
            return f

        return register if fn is None else register(fn)

    @overload
    def register_orchestration(self, name: str) -> Callable[[F], F]: ...
    @overload
    def register_orchestration(self, name: str, fn: F) -> F: ...

    def register_orchestration(self, name: str, fn: Optional[F] = None) -> Any:
        """Register ``fn(ctx, input)`` as orchestration ``name``: a generator function
        (``yield ctx.*``) or an ``async def`` (``await ctx.*``),
        version 1.0.0. Use as a decorator or call it with the function."""
        return self._register_orchestration(name, _DEFAULT_VERSION, fn, typed=False)

    @overload
    def register_orchestration_typed(self, name: str) -> Callable[[F], F]: ...
    @overload
    def register_orchestration_typed(self, name: str, fn: F) -> F: ...

    def register_orchestration_typed(self, name: str, fn: Optional[F] = None) -> Any:
        """``register_orchestration`` whose ``str`` result is sent as is (typed encoding)."""
        return self._register_orchestration(name, _DEFAULT_VERSION, fn, typed=True)

    @overload
    def register_orchestration_versioned_typed(self, name: str, version: str) -> Callable[[F], F]: ...
    @overload
    def register_orchestration_versioned_typed(self, name: str, version: str, fn: F) -> F: ...

    def register_orchestration_versioned_typed(self, name: str, version: str, fn: Optional[F] = None) -> Any:
        """``register_orchestration_versioned`` with the typed result encoding."""
        return self._register_orchestration(name, version, fn, typed=True)

    @overload
    def register_orchestration_versioned(self, name: str, version: str) -> Callable[[F], F]: ...
    @overload
    def register_orchestration_versioned(self, name: str, version: str, fn: F) -> F: ...

    def register_orchestration_versioned(self, name: str, version: str, fn: Optional[F] = None) -> Any:
        """Register ``fn`` as ``version`` (semver, e.g. "1.0.1") of orchestration ``name``.

        New instances run the highest version; running instances keep the version they
        started with, so keep old versions registered while their instances run.
        """
        return self._register_orchestration(name, version, fn, typed=False)

    def _register_orchestration(self, name: str, version: str, fn: Optional[F], typed: bool) -> Any:
        _check_name("orchestration", name)
        _validate.version(f"orchestration {name!r}: version", version)

        def register(f: F) -> F:
            if not callable(f):
                raise TypeError(f"orchestration {name!r}: {f!r} is not callable")
            if inspect.isasyncgenfunction(f):
                raise TypeError(
                    f"orchestration {name!r}: {getattr(f, '__qualname__', f)!r} is an async generator (an `async def` "
                    "with `yield`); write a generator (`def` ... `yield ctx.*`) or a coroutine (`async def` ... "
                    "`await ctx.*`)"
                )
            with self._lock:
                self._check_open(f"register orchestration {name!r}")
                if (name, version) in self._orchestrations:
                    raise InvalidArgumentError(f"orchestration {name!r} version {version} is already registered")
                self._orchestrations[(name, version)] = _callbacks.Registered(f, typed)
            _signatures.mark(f, "orchestration", name)
            return f

        return register if fn is None else register(fn)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start processing instances. Raises RuntimeStateError when already started."""
        with self._lock:
            if self._stopped:
                raise ClosedError("cannot start: the runtime was shut down; create a new Runtime")
            if self._native is not None:
                raise RuntimeStateError("the runtime is already started")
            orchestrations = dict(self._orchestrations)
            activities = dict(self._activities)
            invoker = _callbacks.Invoker(activities.get, self._converter)
            native = gen.Runtime(
                self._provider._native,
                self._options._to_native(),
                _callbacks.Stepper(
                    lambda n, v: orchestrations.get((n, v)), self._converter, _client_of(self), self._worker_name()
                ),
                invoker,
            )
            registrations = [gen.OrchestrationRegistration(name=n, version=v) for (n, v) in orchestrations]
            with translate_errors():
                native.start(registrations, list(activities))
            self._native, self._invoker = native, invoker
        _observe.runtimes.add(self)

    def shutdown(self, timeout_ms: Optional[int] = None) -> None:
        """Stop the runtime, letting in-flight work finish for up to ``timeout_ms``
        (default 1000). Returns as soon as everything stopped. Calling it again does nothing."""
        if timeout_ms is not None and (isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms < 0):
            raise InvalidArgumentError(f"timeout_ms must be an integer >= 0 or None, got {timeout_ms!r}")
        with self._lock:
            native, self._native, self._stopped = self._native, None, True
            invoker, self._invoker = self._invoker, None
        _observe.runtimes.discard(self)
        if native is not None:
            native.shutdown(timeout_ms)
        if invoker is not None:
            invoker.close()

    def _worker_name(self) -> str:
        """This runtime in spans: its ``worker_node_id``, else host and process."""
        return self._options.worker_node_id or f"{socket.gethostname()}:{os.getpid()}"

    def _metrics_client(self) -> Any:
        """A client on this runtime's store, made on first use: observability reads
        histories and queue depths through it."""
        if self._client is None:
            from .client import Client

            self._client = Client(self._provider, data_converter=self._converter)
        return self._client

    @property
    def is_running(self) -> bool:
        """True between start() and shutdown()."""
        native = self._native
        return native is not None and native.is_running()

    def metrics_snapshot(self) -> Optional["MetricsSnapshot"]:
        """The core's counters (``orch_starts``, ``orch_completions``, ``activity_success``,
        ...) as a dict, or None when the runtime is not running.

        They are the core's own diagnostics: ``orch_starts`` counts turns, not instances,
        and failures are counted twice (see docs/user-guide.md).
        """
        native = self._native
        counters = None if native is None else native.metrics_snapshot()
        return None if counters is None else MetricsSnapshot(counters)

    def driver_stats(self) -> Dict[str, int]:
        """What this runtime's orchestration drivers did (empty when not running):
        ``turns`` (orchestration turns begun), ``python_steps`` (generator steps run in Python), ``replayed_steps`` (steps of
        cached generators re-issued from Rust), ``cache_hits`` / ``cache_misses`` (turns
        that found / did not find their generator cached), ``catch_ups``,
        ``cache_evictions``, ``cached_generators``, ``lock_retries`` (SQLite lock errors
        absorbed), ``determinism_checks`` / ``determinism_check_steps`` / ``divergences``
        (verify-only re-runs under the replay cache, the generator steps they took, and
        the nondeterminism they found). For diagnostics and benchmarks."""
        native = self._native
        if native is None:
            return {}
        # The core counts steps of any foreign language as "foreign_steps".
        return {("python_steps" if k == "foreign_steps" else k): v for k, v in native.driver_stats().items()}

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


@atexit.register
def _stop_all_at_exit() -> None:
    # Rust threads must not call into a finalising interpreter: stop every runtime first.
    gen.shutdown_all(1000)
