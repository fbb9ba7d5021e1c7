"""Fuzzing the Client API with random arguments.

Run the long version (thousands of examples) with

    HYPOTHESIS_PROFILE=long python -m pytest tests/fuzz -q

Every public ``Client`` method (start, events, status, waits with small timeouts,
cancellation, KV reads, and the admin calls with ``InstanceFilter``/``PruneOptions`` built
from random values) is called with random arguments: plausible ones (ids of instances that
exist -- running, completed, failed, continued-as-new), hostile text (NUL, lone
surrogates, huge), and any Python value at all (bytes, NaN, huge and negative ints,
objects, types). Properties:

* each call returns, or raises ``duroxide.DuroxideError`` / ``ValueError`` /
  ``TypeError`` / ``TimeoutError`` / ``LookupError`` -- never another exception type, and
  never ``InternalError`` (a panic in the Rust core);
* each call returns within its own timeout (for waits) plus a margin -- a call still
  running after that is reported as a hang;
* a start that was accepted runs: its output is the input, through JSON (or through the
  typed encoding);
* afterwards the runtime is still running and a known-good orchestration completes.

Runs on a SQLite file and, with fewer examples, on PostgreSQL.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

import duroxide
from duroxide import (
    Client,
    DuroxideError,
    InstanceFilter,
    InternalError,
    PruneOptions,
    Runtime,
    RuntimeOptions,
    SqliteProvider,
)

from conftest import new_id

from .values import (
    any_value,
    big_ints,
    budget,
    encodable,
    hostile_text,
    payloads,
    roundtrip,
    weighted,
)

ALLOWED = (DuroxideError, ValueError, TypeError, TimeoutError, LookupError)
MARGIN_S = 15.0  # what a call may take beyond its own timeout
VERBOSE = os.environ.get("DUROXIDE_FUZZ_VERBOSE") == "1"
STATUSES = ("Running", "Completed", "Failed", "ContinuedAsNew")


# --------------------------------------------------------------------------- the environment


class ClientEnv:
    def __init__(self, backend: str, provider):
        self.backend = backend
        self.provider = provider
        self.runtime = Runtime(
            provider,
            RuntimeOptions(dispatcher_poll_interval_ms=5, orchestration_concurrency=4, worker_concurrency=4, log_level="error"),
        )
        register(self.runtime)
        self.runtime.start()
        self.client = Client(provider)
        self.pool: List[str] = []
        self.calls = 0
        for name, arg in [("Quick", {"a": 1}), ("Failer", "boom"), ("Looper", 3), ("Quick", None)]:
            iid = new_id(name.lower())
            self.client.start_orchestration(iid, name, arg)
            self.client.wait_for_orchestration(iid, 30_000)
            self.pool.append(iid)
        for _ in range(4):
            self.pool.append(self.start_waiter())

    def start_waiter(self) -> str:
        iid = new_id("waiter")
        self.client.start_orchestration(iid, "Waiter", None)
        deadline = time.monotonic() + 30
        while self.client.get_status(iid).custom_status is None:
            assert time.monotonic() < deadline, "a Waiter did not start"
            time.sleep(0.01)
        return iid

    def assert_healthy(self):
        assert self.runtime.is_running, "the runtime stopped"
        iid = new_id("good")
        self.client.start_orchestration(iid, "Quick", ["still", "fine"])
        started = time.monotonic()
        try:
            result = self.client.wait_for_orchestration(iid, 30_000)
        except duroxide.DuroxideTimeoutError:
            raise AssertionError(f"a known-good orchestration did not complete in 30 s; {self.diagnostics(iid)}") from None
        if VERBOSE:
            sys.stderr.write(f"FUZZCALL canary {result.status} in {time.monotonic() - started:.3f}s\n")
        assert result.status == "Completed" and result.output == ["still", "fine"], result

    def diagnostics(self, iid: str) -> str:
        parts = []
        for what, fn in [
            ("canary", lambda: self.client.get_status(iid)),
            ("queues", self.client.get_queue_depths),
            ("metrics", self.client.get_system_metrics),
            ("running", lambda: self.client.list_instances_by_status("Running")),
            ("driver", self.runtime.driver_stats),
            ("core", self.runtime.metrics_snapshot),
        ]:
            try:
                parts.append(f"{what}: {fn()!r:.1500}")
            except Exception as e:  # noqa: BLE001 - diagnostics only
                parts.append(f"{what}: {type(e).__name__}: {e}")
        return "; ".join(parts)

    def close(self):
        self.runtime.shutdown(2000)
        self.client.close()


def register(runtime: Runtime) -> None:
    @runtime.register_orchestration("Quick")
    def quick(ctx, x):
        return x
        yield  # a generator

    @runtime.register_orchestration("Failer")
    def failer(ctx, x):
        raise ValueError(f"failer: {x!r}")
        yield

    @runtime.register_orchestration("Looper")
    def looper(ctx, n):
        ctx.set_kv_value("n", str(n))
        if isinstance(n, int) and n > 0:
            yield ctx.continue_as_new(n - 1)
        return n

    @runtime.register_orchestration_versioned("Versioned", "1.0.0")
    def versioned1(ctx, x):
        return {"v1": x}
        yield

    @runtime.register_orchestration_versioned("Versioned", "2.0.0")
    def versioned2(ctx, x):
        return {"v2": x}
        yield

    @runtime.register_orchestration("Waiter")
    def waiter(ctx, _):
        n = 0
        ctx.set_custom_status("waiting")
        ctx.set_kv_value("k", "v")
        while True:
            got = yield ctx.race(ctx.wait_for_event("go"), ctx.dequeue_event("q"))
            n += 1
            ctx.set_custom_status(f"got {n}")
            ctx.set_kv_value("last", json.dumps(got["index"]))
            if got["value"] == "stop" or n >= 10:
                yield ctx.continue_as_new(None)


@pytest.fixture(scope="module")
def sqlite_client_env(tmp_path_factory):
    env = ClientEnv("sqlite", SqliteProvider.open(str(tmp_path_factory.mktemp("fuzzclient") / "client.db")))
    yield env
    env.close()


@pytest.fixture(scope="module")
def pg_client_env(_pg_module_store):
    env = ClientEnv("postgres", _pg_module_store.provider)
    yield env
    env.close()


# --------------------------------------------------------------------------- argument strategies


def ids(env_pool_index: st.SearchStrategy[int]):
    return weighted((4, env_pool_index.map(lambda i: ("pool", i))), (2, hostile_text), (1, any_value))


names = weighted((3, st.sampled_from(["Quick", "Waiter", "Failer", "Looper", "Versioned"])), (2, hostile_text), (1, any_value))
versions = weighted((2, st.sampled_from(["1.0.0", "2.0.0", "0.0.1"])), (1, hostile_text), (1, any_value))
invalid_ms = st.sampled_from([-1, -0.1, math.nan, math.inf, -math.inf, 2**64, 10**30, True, None, "100", [], b"1"])
def _short_or_invalid(value: Any) -> bool:
    """Valid timeouts stay short: a wait on a running instance may use all of it."""
    valid = not isinstance(value, bool) and isinstance(value, (int, float)) and value == value and 0 <= value <= 2**63 - 1
    return not valid or value <= 1000


timeouts = weighted((4, st.integers(0, 300)), (1, st.floats(0, 300)), (2, invalid_ms), (1, any_value.filter(_short_or_invalid)))
polls = weighted((3, st.integers(0, 100)), (1, st.sampled_from([2**63 - 1, 10**12, 0.5])), (1, invalid_ms))
versions_seen = weighted((3, st.integers(0, 5)), (1, big_ints), (1, any_value))
execution_ids = weighted((3, st.integers(1, 4)), (1, big_ints), (1, any_value))
event_names = weighted((3, st.sampled_from(["go", "q", "other"])), (2, hostile_text), (1, any_value))
keys = weighted((2, st.sampled_from(["k", "n", "last", "missing"])), (2, hostile_text), (1, any_value))
statuses = weighted((3, st.sampled_from(STATUSES)), (1, hostile_text), (1, any_value))
data = weighted((3, payloads), (1, st.sampled_from(["stop", "go"])), (1, any_value))
maybe_int = weighted((2, st.none()), (3, st.integers(0, 2000)), (1, big_ints), (1, any_value))
id_lists = weighted(
    (2, st.none()),
    (1, st.just([])),
    (3, st.lists(weighted((3, st.integers(0, 7).map(lambda i: ("pool", i))), (1, hostile_text)), max_size=4)),
    (1, any_value),
)


def filters():
    return st.builds(lambda ids_, before, limit: ("filter", ids_, before, limit), id_lists, maybe_int.map(
        lambda v: v if not isinstance(v, int) or isinstance(v, bool) or v > 2000 else int(time.time() * 1000) + v * 10
    ), maybe_int)


def prune_options():
    return st.builds(lambda keep, before: ("prune", keep, before), maybe_int, maybe_int)


def call(method: str, *arg_strategies) -> st.SearchStrategy:
    return st.tuples(st.just(method), st.tuples(*arg_strategies))


def calls(pool_index):
    i = ids(pool_index)
    return st.one_of(
        call("start_orchestration", i, names, data),
        call("start_orchestration_versioned", i, names, data, versions),
        call("start_orchestration_typed", i, names, data),
        call("start_orchestration_versioned_typed", i, names, data, versions),
        call("roundtrip", hostile_text, data, st.booleans()),
        call("raise_event", i, event_names, data),
        call("raise_event_typed", i, event_names, data),
        call("enqueue_event", i, event_names, data),
        call("enqueue_event_typed", i, event_names, data),
        call("get_status", i),
        call("wait_for_orchestration", i, timeouts),
        call("wait_for_orchestration_typed", i, timeouts),
        call("wait_for_status_change", i, versions_seen, polls, timeouts),
        call("cancel_instance", i, weighted((2, hostile_text), (1, any_value))),
        call("get_kv_value", i, keys),
        call("get_kv_value_typed", i, keys),
        call("get_kv_all_values", i),
        call("wait_for_kv_value", i, keys, timeouts),
        call("wait_for_kv_value_typed", i, keys, timeouts),
        call("get_system_metrics"),
        call("get_queue_depths"),
        call("list_all_instances"),
        call("list_instances_by_status", statuses),
        call("get_instance_info", i),
        call("get_execution_info", i, execution_ids),
        call("get_instance_tree", i),
        call("list_executions", i),
        call("read_execution_history", i, execution_ids),
        call("get_orchestration_stats", i),
        call("delete_instance", i, weighted((3, st.booleans()), (1, any_value))),
        call("delete_instance_bulk", weighted((4, filters()), (1, any_value))),
        call("prune_executions", i, weighted((4, prune_options()), (1, any_value))),
        call("prune_executions_bulk", weighted((4, filters()), (1, any_value)), weighted((4, prune_options()), (1, any_value))),
        call("closed_client", names),
        call("start_waiter"),
    )


# --------------------------------------------------------------------------- running a call


def resolve(env: ClientEnv, value: Any) -> Any:
    """Pool references become the ids of the instances the environment created."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "pool" and isinstance(value[1], int):
        return env.pool[value[1] % len(env.pool)]
    if isinstance(value, tuple) and value and value[0] == "filter":
        _, ids_, before, limit = value
        if isinstance(ids_, list):
            ids_ = [resolve(env, v) for v in ids_]
        return InstanceFilter(instance_ids=ids_, completed_before=before, limit=limit)
    if isinstance(value, tuple) and value and value[0] == "prune":
        return PruneOptions(keep_last=value[1], completed_before=value[2])
    return value


def timeout_of(method: str, args: Tuple[Any, ...]) -> float:
    """Seconds the call may legitimately wait (its own timeout, when it has a valid one)."""
    if not method.startswith("wait_for"):
        return 0.0
    t = args[-1]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or t != t or t < 0 or t > 2**63 - 1:
        return 0.0
    return t / 1000


def expected_typed_output(value: Any) -> Tuple[bool, Any]:
    """(completes, output) for an orchestration that returns its typed input."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)  # the SDK decodes the raw text; NaN/Infinity included
        except (ValueError, RecursionError):
            decoded = value
    else:
        decoded = roundtrip(value)
    return encodable(decoded), (roundtrip(decoded) if encodable(decoded) else None)


def perform(env: ClientEnv, method: str, args: Tuple[Any, ...]) -> Any:
    client = env.client
    if method == "roundtrip":
        suffix, value, typed = args
        iid = new_id("rt") + suffix if isinstance(suffix, str) else suffix
        if typed:
            client.start_orchestration_typed(iid, "Quick", value)
        else:
            client.start_orchestration(iid, "Quick", value)
        result = client.wait_for_orchestration(iid, 30_000)
        completes, want = expected_typed_output(value) if typed else (True, roundtrip(value))
        if completes:
            assert result.status == "Completed", f"start of {iid!r:.80} with {value!r:.200} -> {result!r:.500}"
            assert result.output == want, f"input {value!r:.200} came back as {result.output!r:.200}"
        else:
            assert result.status == "Failed" and result.error, result
        return f"roundtrip {'typed' if typed else 'json'} {result.status}"
    if method == "closed_client":
        other = Client(env.provider)
        other.close()
        try:
            other.start_orchestration(new_id("closed"), args[0], None)
        except duroxide.ClosedError:
            return "closed"
        except (ValueError, TypeError):
            return "rejected before the closed check"
        raise AssertionError("a closed client started an orchestration")
    if method == "start_waiter":
        env.pool.append(env.start_waiter())
        return None
    return getattr(client, method)(*args)


def is_storable(text: str) -> bool:
    return "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def run_call(env: ClientEnv, method: str, raw_args: Tuple[Any, ...]) -> None:
    outcome: Dict[str, Any] = {}

    def target():
        started = time.monotonic()
        try:
            args = tuple(resolve(env, a) for a in raw_args)
            outcome["args"] = args
            outcome["value"] = perform(env, method, args)
        except BaseException as e:  # noqa: BLE001 - judged below
            outcome["error"] = e
        outcome["elapsed"] = time.monotonic() - started

    bound = timeout_of(method, raw_args) + MARGIN_S
    if method == "roundtrip":
        bound += 30
    thread = threading.Thread(target=target, name=f"fuzz-{method}", daemon=True)
    thread.start()
    thread.join(bound + 5)
    assert not thread.is_alive(), f"HANG: {method}{raw_args!r:.500} still running after {bound + 5:.0f} s"
    env.calls += 1
    error = outcome.get("error")
    if VERBOSE:
        sys.stderr.write(
            f"FUZZCALL {time.strftime('%H:%M:%S')} {method}{outcome.get('args', raw_args)!r:.300} -> "
            f"{type(error).__name__ + ': ' + str(error)[:200] if error else repr(outcome.get('value'))[:200]} "
            f"in {outcome['elapsed']:.3f}s\n"
        )
    note(f"{method}{outcome.get('args', raw_args)!r:.300} -> "
         f"{type(error).__name__ + ': ' + str(error)[:200] if error else repr(outcome.get('value'))[:200]} "
         f"in {outcome['elapsed']:.3f}s")
    event(f"{method}: {type(error).__name__ if error else 'ok'}")  # note/event only in the test's thread
    if method == "roundtrip" and error is None:
        event(outcome["value"])
    if error is not None:
        if isinstance(error, AssertionError):
            raise error
        assert isinstance(error, ALLOWED), (
            f"{method} raised {type(error).__module__}.{type(error).__name__}: {error!r:.500}"
        )
        assert not isinstance(error, InternalError), f"{method}: a panic in the core: {error}"
        assert str(error), f"{method} raised {type(error).__name__} without a message"
    assert outcome["elapsed"] <= bound, f"{method} took {outcome['elapsed']:.1f} s (bound {bound:.1f} s)"


# --------------------------------------------------------------------------- the tests


def _session(env: ClientEnv, data_) -> None:
    pool_index = st.integers(0, 10_000)
    for _ in range(data_.draw(st.integers(1, 6), label="calls")):
        method, args = data_.draw(calls(pool_index), label="call")
        run_call(env, method, args)
    env.assert_healthy()


@settings(max_examples=budget(ci=60, long=4000))
@given(data_=st.data())
def test_client_api_with_random_arguments_sqlite(sqlite_client_env, data_):
    _session(sqlite_client_env, data_)


@settings(max_examples=budget(ci=20, long=1000))
@given(data_=st.data())
def test_client_api_with_random_arguments_postgres(pg_client_env, data_):
    _session(pg_client_env, data_)


@settings(max_examples=budget(ci=40, long=3000))
@given(
    ids_=st.one_of(st.none(), any_value, st.lists(any_value, max_size=3)),
    before=st.one_of(st.none(), big_ints, any_value),
    limit=st.one_of(st.none(), big_ints, any_value),
    keep=st.one_of(st.none(), big_ints, any_value),
)
def test_admin_records_from_random_values(ids_, before, limit, keep):
    """InstanceFilter / PruneOptions either build or raise ValueError/TypeError."""
    for build in (
        lambda: InstanceFilter(instance_ids=ids_, completed_before=before, limit=limit),
        lambda: PruneOptions(keep_last=keep, completed_before=before),
    ):
        try:
            record = build()
        except (ValueError, TypeError):
            continue
        record._to_native()


# --------------------------------------------------------------------------- regressions: bugs fuzzing found (fixed)


@pytest.mark.parametrize("call", ["raise_event", "cancel_instance"])
def test_fixed_k8_sqlite_event_to_unknown_instance_does_not_wedge_the_runtime(tmp_path, call):
    """``raise_event`` or ``cancel_instance`` of an id that does not exist (a typo, or an
    instance deleted meanwhile) -- ``enqueue_event`` is fine. The core's SQLite provider keeps selecting the orphan event's instance ("Work items
    without orchestration context; releasing for retry", ~500 times a second) ahead of
    every other instance: no instance starts or progresses any more, also after a restart
    (the message stays queued). PostgreSQL drops the event ("completion messages for
    unstarted instance")."""
    provider = SqliteProvider.open(str(tmp_path / "k8.db"))
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10, log_level="error"))
    register(runtime)
    runtime.start()
    client = Client(provider)
    try:
        if call == "raise_event":
            client.raise_event(new_id("nosuch"), "go", None)
        else:
            client.cancel_instance(new_id("nosuch"), "why")
        iid = new_id("after")
        client.start_orchestration(iid, "Quick", 1)
        try:
            result = client.wait_for_orchestration(iid, 10_000)
        except duroxide.DuroxideTimeoutError:
            raise AssertionError(
                f"K8: a new instance did not start within 10 s (queues: {client.get_queue_depths()})"
            ) from None
        assert result.status == "Completed"
    finally:
        runtime.shutdown(500)
