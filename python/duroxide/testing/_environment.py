"""``TestEnvironment``: a runtime and a client on one store with a virtual clock."""

from __future__ import annotations

import contextlib
import datetime as _dt
import threading
from typing import Any, Callable, Iterator, Optional

from ..client import Client, OrchestrationResult
from ..converter import DataConverter
from ..errors import InvalidArgumentError, RuntimeStateError
from ..options import RuntimeOptions
from ..providers import Provider, SqliteProvider
from ..runtime import Runtime

__all__ = ["TestEnvironment", "TestClient"]

# How long the store must see no work before the clock jumps to the next timer: well
# above the test runtime's 2 ms poll, so queued work is always picked up first.
_QUIET_MS = 25


def _test_options() -> RuntimeOptions:
    return RuntimeOptions(
        dispatcher_poll_interval_ms=2,
        orchestration_concurrency=2,
        worker_concurrency=4,
        determinism_checks="every_turn",
        replay_cache_size=1000,  # the checks re-run what the cache would hide: keep it on
        log_level="warn",
    )


class TestClient(Client):
    """The environment's :class:`~duroxide.Client`. Starting an instance starts the
    environment's runtime if needed, and while one of its ``wait_*`` calls waits, the
    clock skips to the next timer whenever nothing else is going on."""

    __test__ = False  # not a pytest test class

    def __init__(self, env: "TestEnvironment", data_converter: Optional[DataConverter] = None) -> None:
        super().__init__(env.provider, data_converter=data_converter)
        self._env = env

    def _start(self, instance_id: str, name: str, payload: str, version: Optional[str]) -> None:
        self._env.start()
        super()._start(instance_id, name, payload, version)

    def wait_for_orchestration(self, instance_id: str, timeout_ms: int = 30_000, *, result_type: Any = Any) -> OrchestrationResult[Any]:
        with self._env.skipping_time():
            return super().wait_for_orchestration(instance_id, timeout_ms, result_type=result_type)

    def wait_for_status_change(self, *args: Any, **kwargs: Any) -> Optional[OrchestrationResult[Any]]:
        with self._env.skipping_time():
            return super().wait_for_status_change(*args, **kwargs)

    def wait_for_kv_value(self, instance_id: str, key: str, timeout_ms: int = 30_000) -> str:
        with self._env.skipping_time():
            return super().wait_for_kv_value(instance_id, key, timeout_ms)


class TestEnvironment:
    """A runtime and a client on a private store (in-memory SQLite unless ``provider`` is
    given), with a virtual clock:

    - durable timers (``schedule_timer``, timeouts in races, retry back-offs) fire when
      the clock reaches them: while a ``client.wait_*`` call waits, the clock jumps to the
      next timer as soon as nothing else is going on (no turn or activity running or
      queued), so a 30-day timer takes milliseconds; :meth:`advance` moves it by hand;
    - ``ctx.utc_now()`` reads the virtual time (recorded in history like any result);
    - :meth:`mock_activity` replaces an activity's function;
    - determinism checks run on every turn (``determinism_checks="every_turn"``).

    Register orchestrations and activities on :attr:`runtime`; the runtime starts with
    the first ``client.start_orchestration*`` (or :meth:`start`). Use it as a context
    manager: leaving it shuts the runtime down.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        provider: Optional[Provider] = None,
        *,
        options: Optional[RuntimeOptions] = None,
        data_converter: Optional[DataConverter] = None,
    ) -> None:
        if provider is None:
            provider = SqliteProvider.in_memory()
        elif not isinstance(provider, Provider):
            raise TypeError(f"provider must be a SqliteProvider or PostgresProvider, got {type(provider).__name__}")
        if options is not None and not isinstance(options, RuntimeOptions):
            raise TypeError(f"options must be a RuntimeOptions, got {type(options).__name__}")
        self.provider = provider
        self._clock = provider._native.virtual_clock(_QUIET_MS)
        #: The runtime: register orchestrations and activities on it.
        self.runtime = Runtime(provider, options or _test_options(), data_converter=data_converter)
        #: A client on the same store (see :class:`TestClient`).
        self.client = TestClient(self, data_converter)
        self._lock = threading.Lock()

    # -- time -----------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The virtual time, ms since the epoch (what ``ctx.utc_now()`` returns)."""
        return int(self._clock.now_ms())

    def now(self) -> _dt.datetime:
        """The virtual time as an aware UTC datetime."""
        return _dt.datetime.fromtimestamp(self.now_ms() / 1000, tz=_dt.timezone.utc)

    def advance(self, ms: int) -> None:
        """Moves the clock forward by ``ms``: timers due by then fire at once."""
        if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
            raise InvalidArgumentError(f"advance(ms): ms must be an integer >= 0, got {ms!r}")
        self._clock.advance(ms)

    @property
    def pending_timers(self) -> int:
        """Durable timers waiting for the clock."""
        return int(self._clock.held_timers())

    @contextlib.contextmanager
    def skipping_time(self) -> Iterator[None]:
        """While inside, the clock jumps to the next timer whenever the store is idle
        (``client.wait_*`` calls do this for you)."""
        self._clock.skip(True)
        try:
            yield
        finally:
            self._clock.skip(False)

    # -- activities and lifecycle ---------------------------------------------------------

    def mock_activity(self, name: str, fn: Callable[..., Any]) -> None:
        """Runs ``fn(ctx, input)`` instead of activity ``name`` (registering it when the
        runtime has no such activity). Call it before the runtime starts."""
        if not callable(fn):
            raise TypeError(f"mock_activity({name!r}, fn): fn must be callable, got {type(fn).__name__}")
        with self._lock:
            if self.runtime.is_running:
                raise RuntimeStateError(
                    f"mock_activity({name!r}): the runtime already started; replace activities before the first "
                    "start_orchestration (or env.start())"
                )
            self.runtime._activities.pop(name, None)
            self.runtime.register_activity(name, fn)

    def start(self) -> None:
        """Starts the runtime (done by the first ``client.start_orchestration*``)."""
        with self._lock:
            if not self.runtime.is_running:
                self.runtime.start()

    def close(self) -> None:
        """Shuts the runtime down and closes the client."""
        self.runtime.shutdown(0)
        self.client.close()

    def __enter__(self) -> "TestEnvironment":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

