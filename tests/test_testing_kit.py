"""``duroxide.testing``: a test kit whose durable timers skip ahead.

Under the kit a 30-day timer, a retry with a 1-hour back-off and a race of an event
against a 1-day timeout complete in well under a second of real time, ``ctx.utc_now()``
follows the virtual clock, activities can be mocked and determinism is checked every
turn. Every case runs on in-memory SQLite (the kit's default) and on PostgreSQL (any
provider is allowed).
"""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from conftest import new_id
from duroxide import ActivityFailedError, RuntimeStateError
from duroxide.testing import TestEnvironment

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


@pytest.fixture(params=["memory", "postgres"])
def env(request):
    """A kit on in-memory SQLite, or on its own provider object over the module's
    PostgreSQL schema (its clock must not hold other tests' timers)."""
    if request.param == "memory":
        kit = TestEnvironment()
    else:
        store = request.getfixturevalue("_pg_module_store")
        from duroxide import PostgresProvider

        kit = TestEnvironment(PostgresProvider.connect_with_schema(store.url, store.schema))
    with kit:
        yield kit


def reminder(ctx, days):
    start = yield ctx.utc_now()
    yield ctx.schedule_timer(days * DAY_MS)
    end = yield ctx.utc_now()
    sent = yield ctx.schedule_activity("Send", days)
    return {"waited_ms": end - start, "sent": sent}


def run(env, name, input, timeout_ms=20_000):
    iid = new_id(name.lower())
    started = time.monotonic()
    env.client.start_orchestration(iid, name, input)
    result = env.client.wait_for_orchestration(iid, timeout_ms)
    return iid, result, time.monotonic() - started


def wait_for_timer(env, count=1):
    deadline = time.monotonic() + 10
    while env.pending_timers < count and time.monotonic() < deadline:
        time.sleep(0.005)
    assert env.pending_timers == count


def test_a_30_day_timer_completes_at_once_and_utc_now_follows_the_clock(env):
    env.runtime.register_orchestration("Reminder", reminder)
    env.runtime.register_activity("Send", lambda ctx, days: f"sent after {days} days")
    before = env.now_ms()
    _, result, wall = run(env, "Reminder", 30)
    print(f"\n30-day timer: {wall * 1000:.0f} ms of real time")
    assert result.status == "Completed", result
    assert result.output["sent"] == "sent after 30 days"
    assert result.output["waited_ms"] >= 30 * DAY_MS
    assert env.now_ms() - before >= 30 * DAY_MS
    assert wall < 10, wall  # the timer itself would take 30 days
    assert env.pending_timers == 0


def flaky_checkout(ctx, order):
    return (yield ctx.schedule_activity_with_retry(
        "Charge", order, {"max_attempts": 3, "backoff": "fixed", "delay_ms": HOUR_MS}
    ))


def test_a_retry_with_a_one_hour_backoff_skips_the_backoff(env):
    attempts = defaultdict(int)

    def charge(ctx, order):
        attempts[order] += 1
        if attempts[order] < 3:
            raise RuntimeError(f"card declined (attempt {attempts[order]})")
        return f"charged {order}"

    env.runtime.register_orchestration("Checkout", flaky_checkout)
    env.runtime.register_activity("Charge", charge)
    before = env.now_ms()
    _, result, wall = run(env, "Checkout", "order-7")
    print(f"\nretry with two 1-hour back-offs: {wall * 1000:.0f} ms of real time")
    assert result.status == "Completed", result
    assert result.output == "charged order-7"
    assert attempts["order-7"] == 3
    assert env.now_ms() - before >= 2 * HOUR_MS  # two back-offs
    assert wall < 10, wall


def event_or_timeout(ctx, _):
    winner = yield ctx.race(ctx.wait_for_event("approved"), ctx.schedule_timer(DAY_MS))
    return "approved" if winner["index"] == 0 else "timed out"


def test_race_of_an_event_against_a_one_day_timeout(env):
    env.runtime.register_orchestration("Approval", event_or_timeout)
    before = env.now_ms()
    _, result, wall = run(env, "Approval", None)
    print(f"\nevent raced against a 1-day timeout: {wall * 1000:.0f} ms of real time")
    assert result.output == "timed out", result
    assert env.now_ms() - before >= DAY_MS
    assert wall < 10, wall

    # An event raised before the test waits wins: time skips only while waiting. (Raise
    # it once the instance subscribed -- its first turn, which also set the timer, is
    # committed: the core drops an event that arrives before its subscription.)
    iid = new_id("approval")
    env.client.start_orchestration(iid, "Approval", None)
    wait_for_timer(env)
    env.client.raise_event(iid, "approved", True)
    assert env.client.wait_for_orchestration(iid, 20_000).output == "approved"


def parent(ctx, n):
    child = yield ctx.schedule_sub_orchestration("Child", n)
    if n < 2:
        yield ctx.continue_as_new(n + 1)
    return child


def child(ctx, n):
    yield ctx.schedule_timer(7 * DAY_MS)
    return f"child {n} waited a week"


def test_timers_in_sub_orchestrations_and_across_continue_as_new(env):
    env.runtime.register_orchestration("Parent", parent)
    env.runtime.register_orchestration("Child", child)
    before = env.now_ms()
    _, result, wall = run(env, "Parent", 0)
    assert result.status == "Completed", result
    assert result.output == "child 2 waited a week"
    assert env.now_ms() - before >= 3 * 7 * DAY_MS
    assert wall < 20, wall


def test_advance_moves_the_clock_by_hand(env):
    env.runtime.register_orchestration("Reminder", reminder)
    env.runtime.register_activity("Send", lambda ctx, days: "sent")
    iid = new_id("manual")
    env.client.start_orchestration(iid, "Reminder", 1)
    wait_for_timer(env)
    deadline = time.monotonic() + 10
    time.sleep(0.2)  # without a wait or advance(), the timer stays put
    assert env.client.get_status(iid).status == "Running"
    env.advance(DAY_MS)
    while env.client.get_status(iid).status == "Running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert env.client.get_status(iid).status == "Completed"


def test_mock_activity_replaces_the_real_one(env):
    env.runtime.register_orchestration("Reminder", reminder)
    env.runtime.register_activity("Send", lambda ctx, days: "really sent an email")
    env.mock_activity("Send", lambda ctx, days: "mocked")
    _, result, _ = run(env, "Reminder", 2)
    assert result.output["sent"] == "mocked"
    with pytest.raises(RuntimeStateError, match="already started"):
        env.mock_activity("Send", lambda ctx, days: "too late")


RUNS: "defaultdict[str, int]" = defaultdict(int)


def nondeterministic(ctx, _):
    first_run = RUNS[ctx.instance_id] == 0
    RUNS[ctx.instance_id] += 1
    yield ctx.schedule_timer(HOUR_MS)
    yield ctx.schedule_activity("Send" if first_run else "Other", 1)
    return "done"


def test_the_kit_checks_determinism_every_turn(env):
    env.runtime.register_orchestration("Nondet", nondeterministic)
    env.runtime.register_activity("Send", lambda ctx, x: x)
    env.runtime.register_activity("Other", lambda ctx, x: x)
    _, result, _ = run(env, "Nondet", None)
    assert result.status == "Failed", result
    assert "diverged from its history" in result.error


def test_the_kit_reports_failures_like_any_runtime(env):
    def always_fails(ctx, _):
        raise ActivityFailedError("no")

    def wf(ctx, _):
        return (yield ctx.schedule_activity("Fails", None))

    env.runtime.register_orchestration("Wf", wf)
    env.runtime.register_activity("Fails", always_fails)
    _, result, _ = run(env, "Wf", None)
    assert result.status == "Failed" and "no" in result.error


def test_the_pytest_fixture_gives_a_working_environment(duroxide_env):
    duroxide_env.runtime.register_orchestration("Reminder", reminder)
    duroxide_env.runtime.register_activity("Send", lambda ctx, days: "sent")
    _, result, _ = run(duroxide_env, "Reminder", 365)
    assert result.output["waited_ms"] >= 365 * DAY_MS


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="provider"):
        TestEnvironment("memory")  # type: ignore[arg-type]
    with TestEnvironment() as env:
        with pytest.raises(ValueError, match="advance"):
            env.advance(-1)
        with pytest.raises(TypeError, match="callable"):
            env.mock_activity("X", "not a function")  # type: ignore[arg-type]
