"""Cancellation: cooperative cancellation of activities (race losers, cancelled
instances) and client.cancel_instance."""

import threading

from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status


def _cooperative_activity(runtime, name, started: threading.Event, observed: threading.Event):
    @runtime.register_activity(name)
    def long_running(ctx, input):
        started.set()
        for _ in range(1200):  # ~60 s upper bound
            if ctx.is_cancelled():
                ctx.trace_info("cancelled, cleaning up")
                observed.set()
                return "cancelled"
            threading.Event().wait(0.05)
        return "done"


def test_race_loser_activity_observes_cancellation(make_runtime, client):
    """The race is lost only once the activity runs: the engine does not promise that a
    race loser ever starts (a loser still queued when the race ends is simply dropped,
    which is why racing it against a 100 ms timer failed now and then on a loaded
    machine), so the winner is an event the test raises after the activity started."""
    runtime = make_runtime(worker_lock_timeout_ms=2000)
    started, observed = threading.Event(), threading.Event()
    _cooperative_activity(runtime, "LongRunning", started, observed)

    @runtime.register_orchestration("RaceLoser")
    def race_loser(ctx, input):
        return (yield ctx.race(ctx.schedule_activity("LongRunning", None), ctx.wait_for_event("stop")))

    runtime.start()
    iid = new_id("raceloser")
    client.start_orchestration(iid, "RaceLoser", None)
    assert started.wait(30), "the activity never started"
    client.raise_event(iid, "stop", "now")
    assert_completed(client.wait_for_orchestration(iid, 30_000), {"index": 1, "value": {"ok": "now"}})
    assert observed.wait(30), "the loser activity never saw ctx.is_cancelled() become True"


def test_is_cancelled_is_false_for_a_normal_activity(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_activity("Check")
    def check(ctx, input):
        return ctx.is_cancelled()

    @runtime.register_orchestration("CheckOrch")
    def check_orch(ctx, input):
        return (yield ctx.schedule_activity("Check", None))

    runtime.start()
    assert_completed(run_orchestration("CheckOrch"), False)


def test_cancel_instance_fails_it_with_reason(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("WaitsForever")
    def waits_forever(ctx, input):
        ctx.set_custom_status("waiting")
        yield ctx.wait_for_event("never")
        return "unreachable"

    runtime.start()
    iid = new_id("cancel")
    client.start_orchestration(iid, "WaitsForever")
    wait_until_custom_status(client, iid, "waiting")
    client.cancel_instance(iid, "user asked to stop")
    result = client.wait_for_orchestration(iid, 30000)
    assert result.status == "Failed"
    assert "canceled" in result.error.lower()
    assert "user asked to stop" in result.error


def test_cancel_instance_default_reason(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("WaitsForever")
    def waits_forever(ctx, input):
        ctx.set_custom_status("waiting")
        yield ctx.wait_for_event("never")

    runtime.start()
    iid = new_id("cancel-default")
    client.start_orchestration(iid, "WaitsForever")
    wait_until_custom_status(client, iid, "waiting")
    client.cancel_instance(iid)
    result = client.wait_for_orchestration(iid, 30000)
    assert result.status == "Failed"
    assert "canceled" in result.error.lower()


def test_cancel_instance_cancels_running_activity(make_runtime, client):
    runtime = make_runtime(worker_lock_timeout_ms=2000)
    started, observed = threading.Event(), threading.Event()
    _cooperative_activity(runtime, "LongRunning", started, observed)

    @runtime.register_orchestration("RunsActivity")
    def runs_activity(ctx, input):
        return (yield ctx.schedule_activity("LongRunning", None))

    runtime.start()
    iid = new_id("cancel-act")
    client.start_orchestration(iid, "RunsActivity")
    assert started.wait(30), "activity never started"
    client.cancel_instance(iid, "shutting down job")
    assert_failed(client.wait_for_orchestration(iid, 30000), "shutting down job")
    assert observed.wait(30), "the running activity never saw ctx.is_cancelled() become True"


def test_cancel_propagates_to_sub_orchestration(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("WaitingChild")
    def waiting_child(ctx, input):
        ctx.set_custom_status("child-waiting")
        yield ctx.wait_for_event("never")

    @runtime.register_orchestration("ParentOfWaiting")
    def parent(ctx, input):
        return (yield ctx.schedule_sub_orchestration_with_id("WaitingChild", input, None))

    runtime.start()
    parent_id, child_id = new_id("cparent"), new_id("cchild")
    client.start_orchestration(parent_id, "ParentOfWaiting", child_id)
    wait_until_custom_status(client, child_id, "child-waiting")
    client.cancel_instance(parent_id, "tree cancel")
    assert_failed(client.wait_for_orchestration(parent_id, 30000), "tree cancel")
    child = client.wait_for_orchestration(child_id, 30000)
    assert child.status == "Failed"
    assert "canceled" in child.error.lower()
