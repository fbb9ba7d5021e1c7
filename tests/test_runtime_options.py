"""RuntimeOptions: defaults, validation (ValueError naming the option), and options
that reach the running runtime."""

import threading

import pytest

from duroxide import PyRuntimeOptions, Runtime, RuntimeOptions, SqliteProvider

from conftest import assert_completed, new_id

DEFAULTS = {
    "dispatcher_poll_interval_ms": 100,
    "orchestration_concurrency": 4,
    "worker_concurrency": 2,
    "orchestrator_lock_timeout_ms": 5000,
    "worker_lock_timeout_ms": 30000,
    "activity_cancellation_grace_period_ms": 10000,
    "max_attempts": 10,
    "max_sessions_per_runtime": 10,
    "session_idle_timeout_ms": 300000,
    "worker_node_id": None,
    "log_level": "info",
    "log_format": "pretty",
    "service_name": "duroxide",
    "service_version": None,
}


def test_defaults():
    options = RuntimeOptions()
    assert {k: getattr(options, k) for k in DEFAULTS} == DEFAULTS


def test_keyword_values_are_kept():
    values = {
        "dispatcher_poll_interval_ms": 25,
        "orchestration_concurrency": 4,
        "worker_concurrency": 8,
        "orchestrator_lock_timeout_ms": 7000,
        "worker_lock_timeout_ms": 20000,
        "activity_cancellation_grace_period_ms": 500,
        "max_attempts": 3,
        "max_sessions_per_runtime": 5,
        "session_idle_timeout_ms": 60000,
        "worker_node_id": "pod-1",
        "log_level": "warn",
        "log_format": "json",
        "service_name": "my-service",
        "service_version": "1.0.0",
    }
    options = PyRuntimeOptions(**values)
    assert {k: getattr(options, k) for k in values} == values


@pytest.mark.parametrize(
    "option, value",
    [
        ("dispatcher_poll_interval_ms", -1),
        ("orchestration_concurrency", 0),
        ("worker_concurrency", 0),
        ("orchestration_concurrency", -2),
        ("orchestrator_lock_timeout_ms", -5),
        ("worker_lock_timeout_ms", -1),
        ("activity_cancellation_grace_period_ms", -1),
        ("max_attempts", -1),
        ("max_sessions_per_runtime", -1),
        ("session_idle_timeout_ms", -1),
        ("log_format", "xml"),
    ],
)
def test_invalid_option_raises_value_error_naming_it(option, value):
    with pytest.raises(ValueError) as info:
        Runtime(SqliteProvider.in_memory(), RuntimeOptions(**{option: value}))
    assert option in str(info.value)


def test_session_idle_timeout_shorter_than_lock_renewal_is_rejected():
    # The core would panic on this combination (DECISIONS.md 5): it must be a ValueError.
    with pytest.raises(ValueError) as info:
        Runtime(SqliteProvider.in_memory(),
                RuntimeOptions(worker_lock_timeout_ms=60000, session_idle_timeout_ms=1000))
    assert "session_idle_timeout_ms" in str(info.value)


def test_unknown_keyword_is_rejected():
    with pytest.raises(TypeError):
        RuntimeOptions(no_such_option=1)


def test_runtime_with_all_options_runs_work(provider, make_runtime, client):
    runtime = make_runtime(
        dispatcher_poll_interval_ms=20,
        orchestration_concurrency=3,
        worker_concurrency=3,
        orchestrator_lock_timeout_ms=6000,
        worker_lock_timeout_ms=20000,
        activity_cancellation_grace_period_ms=2000,
        max_attempts=5,
        max_sessions_per_runtime=4,
        session_idle_timeout_ms=120000,
        worker_node_id="node-options",
        log_level="warn",
        log_format="json",
        service_name="options-test",
        service_version="9.9.9",
    )
    runtime.register_activity("Square", lambda ctx, x: x * x)

    @runtime.register_orchestration("Squares")
    def squares(ctx, n):
        return (yield ctx.all([ctx.schedule_activity("Square", i) for i in range(n)]))

    runtime.start()
    iid = new_id("squares")
    client.start_orchestration(iid, "Squares", 6)
    assert_completed(client.wait_for_orchestration(iid, 30000), [0, 1, 4, 9, 16, 25])


def test_concurrency_of_one_still_completes_fan_out(make_runtime, client):
    runtime = make_runtime(orchestration_concurrency=1, worker_concurrency=1)
    active = []
    peak = []
    lock = threading.Lock()

    @runtime.register_activity("Track")
    def track(ctx, x):
        with lock:
            active.append(x)
            peak.append(len(active))
        threading.Event().wait(0.02)
        with lock:
            active.remove(x)
        return x

    @runtime.register_orchestration("Serial")
    def serial(ctx, n):
        return (yield ctx.all([ctx.schedule_activity("Track", i) for i in range(n)]))

    runtime.start()
    iid = new_id("serial")
    client.start_orchestration(iid, "Serial", 4)
    assert_completed(client.wait_for_orchestration(iid, 30000), [0, 1, 2, 3])
    # worker_concurrency=1: never two activities at once.
    assert max(peak) == 1


def test_default_options_runtime_works(provider, client):
    runtime = Runtime(provider)
    try:
        runtime.register_orchestration("Defaults", lambda ctx, x: {"got": x})
        runtime.start()
        iid = new_id("defaults")
        client.start_orchestration(iid, "Defaults", "d")
        assert_completed(client.wait_for_orchestration(iid, 30000), {"got": "d"})
    finally:
        runtime.shutdown(1000)
