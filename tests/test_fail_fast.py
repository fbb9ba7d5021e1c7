"""Errors that come at once: a client call while PostgreSQL refuses connections raises
ProviderError within 1 s (not after the pool's 15 s), a wait's timeout is honoured within
250 ms while the database hangs, and the runtime resumes by itself when the server is back.

PostgreSQL is reached through a TCP proxy (tests/helpers/tcp_proxy.py): "refuse" stops
listening, as a stopped server does; "stall" accepts connections and lets nothing through,
as a partition does.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from duroxide import Client, DuroxideTimeoutError, PostgresProvider, ProviderError, Runtime, RuntimeOptions
from duroxide.aio import Client as AsyncClient
from helpers.tcp_proxy import TcpProxy
from test_db_outage import with_port

REFUSED = "refused the connection"


@pytest.fixture
def proxied(fresh_pg_schema):
    """(provider through a proxy, the proxy, the direct provider) on a fresh schema."""
    url, schema = fresh_pg_schema
    direct = PostgresProvider.connect_with_schema(url, schema)
    proxy = TcpProxy("127.0.0.1", 5432).start()
    try:
        yield PostgresProvider.connect_with_schema(with_port(url, proxy.port), schema), proxy, direct
    finally:
        proxy.close()


def timed(fn):
    started = time.monotonic()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - returned for the test to check
        return e, time.monotonic() - started
    return None, time.monotonic() - started


def test_calls_fail_within_a_second_while_the_server_refuses_and_work_resumes(proxied):
    provider, proxy, direct = proxied
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=20, log_level="error"))
    runtime.register_activity("Echo", lambda ctx, x: x)

    def two_steps(ctx, x):
        first = yield ctx.schedule_activity("Echo", x)
        yield ctx.schedule_timer(2_000)  # the outage comes while this runs
        return [first, (yield ctx.schedule_activity("Echo", x + 1))]

    runtime.register_orchestration("TwoSteps", two_steps)
    runtime.start()
    client = Client(provider)
    try:
        client.start_orchestration("ff-1", "TwoSteps", 1)
        deadline = time.monotonic() + 30
        while not any(e.kind == "TimerCreated" for e in client.read_execution_history("ff-1", 1)):
            assert time.monotonic() < deadline, "the instance never reached its timer"
            time.sleep(0.05)
        proxy.outage("refuse")
        calls = {
            "get_status": lambda: client.get_status("ff-1"),
            "start_orchestration": lambda: client.start_orchestration("ff-2", "TwoSteps", 10),
            "raise_event": lambda: client.raise_event("ff-1", "nobody", None),
            "get_instance_info": lambda: client.get_instance_info("ff-1"),
            "wait_for_orchestration": lambda: client.wait_for_orchestration("ff-1", timeout_ms=5_000),
        }
        for name, call in calls.items():
            error, elapsed = timed(call)
            assert isinstance(error, ProviderError), f"{name}: {error!r}"
            assert REFUSED in str(error) and f"127.0.0.1:{proxy.port}" in str(error), f"{name}: {error}"
            assert elapsed < 1.0, f"{name} took {elapsed:.2f} s"

        async def awaited() -> None:
            async with AsyncClient(provider) as aio:
                with pytest.raises(ProviderError, match=REFUSED):
                    await asyncio.wait_for(aio.get_status("ff-1"), 5)

        error, elapsed = timed(lambda: asyncio.run(awaited()))
        assert error is None and elapsed < 1.0, (error, elapsed)
        time.sleep(1.0)
        proxy.restore()
        # The runtime was retrying in the background: it finishes without help.
        result = Client(direct).wait_for_orchestration("ff-1", timeout_ms=60_000)
        assert (result.status, result.output) == ("Completed", [1, 2])
        client.start_orchestration("ff-3", "TwoSteps", 20)  # and this client works again
        assert client.wait_for_orchestration("ff-3", timeout_ms=60_000).output == [20, 21]
    finally:
        proxy.restore()
        runtime.shutdown(2000)


@pytest.mark.parametrize("timeout_ms", [0, 700, 2000])
def test_a_wait_honours_its_timeout_while_the_database_hangs(proxied, timeout_ms):
    provider, proxy, direct = proxied
    Client(direct).start_orchestration("hang-1", "NoSuchOrchestration", None)  # stays Pending
    client = Client(provider)
    client.get_status("hang-1")  # a pooled connection exists, then stops answering
    proxy.outage("stall")
    try:
        error, elapsed = timed(lambda: client.wait_for_orchestration("hang-1", timeout_ms=timeout_ms))
        assert isinstance(error, DuroxideTimeoutError), repr(error)
        assert elapsed < timeout_ms / 1000 + 0.25, f"timeout {timeout_ms} ms, returned after {elapsed:.3f} s"

        async def awaited() -> float:
            async with AsyncClient(provider) as aio:
                started = time.monotonic()
                with pytest.raises(DuroxideTimeoutError):
                    await aio.wait_for_orchestration("hang-1", timeout_ms=timeout_ms)
                return time.monotonic() - started

        elapsed = asyncio.run(awaited())
        assert elapsed < timeout_ms / 1000 + 0.25, f"aio: timeout {timeout_ms} ms, returned after {elapsed:.3f} s"
        error, elapsed = timed(lambda: client.wait_for_kv_value("hang-1", "k", timeout_ms=timeout_ms))
        assert isinstance(error, DuroxideTimeoutError), repr(error)
        assert elapsed < timeout_ms / 1000 + 0.25, f"kv: timeout {timeout_ms} ms, returned after {elapsed:.3f} s"
    finally:
        proxy.restore()
