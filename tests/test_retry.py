"""schedule_activity_with_retry: success after failures, exhaustion, per-attempt and
total timeouts."""

import threading
from collections import defaultdict

import pytest

import duroxide

from conftest import assert_completed, assert_failed, new_id

# Attempts per instance id (each test instance has a unique id).
ATTEMPTS = defaultdict(int)
ATTEMPTS_LOCK = threading.Lock()


def _count(ctx) -> int:
    with ATTEMPTS_LOCK:
        ATTEMPTS[ctx.instance_id] += 1
        return ATTEMPTS[ctx.instance_id]


def _flaky_until(n_ok):
    def flaky(ctx, input):
        n = _count(ctx)
        if n < n_ok:
            raise Exception(f"flaky attempt {n}")
        return {"ok_after": n, "input": input}

    return flaky


@pytest.mark.parametrize("backoff", ["none", "fixed", "linear", "exponential"])
def test_retry_succeeds_on_third_attempt(backoff, make_runtime, client):
    runtime = make_runtime()
    runtime.register_activity("FlakeyApi", _flaky_until(3))

    @runtime.register_orchestration("RetryOk")
    def retry_ok(ctx, input):
        result = yield ctx.schedule_activity_with_retry("FlakeyApi", input, {
            "max_attempts": 5,
            "backoff": backoff,
        })
        return result

    runtime.start()
    iid = new_id("retry-ok")
    client.start_orchestration(iid, "RetryOk", {"q": backoff})
    assert_completed(client.wait_for_orchestration(iid, 60000), {"ok_after": 3, "input": {"q": backoff}})
    assert ATTEMPTS[iid] == 3


def test_retry_exhaustion_raises_last_error(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("AlwaysFails")
    def always_fails(ctx, input):
        n = _count(ctx)
        raise Exception(f"failure number {n}")

    @runtime.register_orchestration("RetryExhaust")
    def retry_exhaust(ctx, input):
        try:
            yield ctx.schedule_activity_with_retry("AlwaysFails", input, {
                "max_attempts": 3,
                "backoff": "none",
            })
        except duroxide.TaskFailedError as e:
            return {"error": str(e)}
        return "no exception"

    runtime.start()
    iid = new_id("retry-exhaust")
    client.start_orchestration(iid, "RetryExhaust", None)
    out = assert_completed(client.wait_for_orchestration(iid, 60000))
    assert "failure number 3" in out["error"]
    assert ATTEMPTS[iid] == 3


def test_retry_exhaustion_uncaught_fails_instance(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("AlwaysFails")
    def always_fails(ctx, input):
        n = _count(ctx)
        raise Exception(f"still broken #{n}")

    @runtime.register_orchestration("RetryUncaught")
    def retry_uncaught(ctx, input):
        return (yield ctx.schedule_activity_with_retry("AlwaysFails", input, {"max_attempts": 2, "backoff": "fixed"}))

    runtime.start()
    iid = new_id("retry-uncaught")
    client.start_orchestration(iid, "RetryUncaught", None)
    assert_failed(client.wait_for_orchestration(iid, 60000), "still broken #2")
    assert ATTEMPTS[iid] == 2


def run_retry_of_a_hanging_activity(make_runtime, client, policy: dict) -> dict:
    """Runs a retried activity that hangs until cancelled (or 30 s) under ``policy``;
    returns the orchestration's output, ``{"error": ...}`` when the retry loop failed."""
    runtime = make_runtime()
    release = threading.Event()

    @runtime.register_activity("Hangs")
    def hangs(ctx, input):
        _count(ctx)
        for _ in range(600):
            if release.wait(0.05) or ctx.is_cancelled():
                break
        return "late"

    @runtime.register_orchestration("RetryHanging")
    def retry_hanging(ctx, input):
        try:
            return {"result": (yield ctx.schedule_activity_with_retry("Hangs", input, policy))}
        except duroxide.TaskFailedError as e:
            return {"error": str(e)}

    runtime.start()
    iid = new_id("retry-hanging")
    try:
        client.start_orchestration(iid, "RetryHanging", None)
        out = assert_completed(client.wait_for_orchestration(iid, 60000))
    finally:
        release.set()
    assert "error" in out, out
    assert "timeout" in out["error"].lower() or "timed out" in out["error"].lower()
    out["attempts"] = ATTEMPTS[iid]
    return out


def test_retry_per_attempt_timeout_is_not_retried(make_runtime, client):
    out = run_retry_of_a_hanging_activity(
        make_runtime, client, {"max_attempts": 3, "backoff": "none", "timeout_ms": 2000}
    )
    # A timed-out attempt ends the retry loop: one attempt only.
    assert out["attempts"] == 1


def test_retry_per_attempt_timeout_not_hit_when_activity_is_fast(make_runtime, client):
    runtime = make_runtime()
    runtime.register_activity("Fast", lambda ctx, x: x + 1)

    @runtime.register_orchestration("RetryFast")
    def retry_fast(ctx, input):
        return (yield ctx.schedule_activity_with_retry("Fast", input, {
            "max_attempts": 2, "backoff": "exponential", "timeout_ms": 20000, "total_timeout_ms": 60000,
        }))

    runtime.start()
    iid = new_id("retry-fast")
    client.start_orchestration(iid, "RetryFast", 41)
    assert_completed(client.wait_for_orchestration(iid, 60000), 42)


def test_retry_total_timeout_ends_the_whole_loop(make_runtime, client):
    out = run_retry_of_a_hanging_activity(
        make_runtime, client, {"max_attempts": 5, "backoff": "none", "total_timeout_ms": 500}
    )
