"""Custom status: set/reset/get in orchestrations, visible via get_status and
wait_for_status_change (DECISIONS.md 3)."""

import json

from conftest import assert_completed, new_id


def test_custom_status_progress_via_wait_for_status_change(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("Phases")
    def phases(ctx, input):
        ctx.set_custom_status("phase-1")
        a = yield ctx.wait_for_event("advance1")
        ctx.set_custom_status("phase-2")
        b = yield ctx.wait_for_event("advance2")
        ctx.reset_custom_status()
        return {"a": a, "b": b, "status_after_reset": ctx.get_custom_status()}

    runtime.start()
    iid = new_id("phases")
    client.start_orchestration(iid, "Phases")

    r1 = client.wait_for_status_change(iid, 0, 20, 30000)
    assert r1 is not None
    assert r1.custom_status == "phase-1"
    assert r1.custom_status_version >= 1
    assert r1.status == "Running"

    # No change yet: a short wait times out and returns None (it does not raise).
    assert client.wait_for_status_change(iid, r1.custom_status_version, 20, 200) is None

    client.raise_event(iid, "advance1", "A")
    r2 = client.wait_for_status_change(iid, r1.custom_status_version, 20, 30000)
    assert r2 is not None
    assert r2.custom_status == "phase-2"
    assert r2.custom_status_version > r1.custom_status_version

    client.raise_event(iid, "advance2", "B")
    final = client.wait_for_orchestration(iid, 30000)
    assert_completed(final, {"a": "A", "b": "B", "status_after_reset": None})
    assert final.custom_status is None
    assert final.custom_status_version > r2.custom_status_version

    # Terminal, nothing newer: returns None at once rather than waiting it out.
    assert client.wait_for_status_change(iid, final.custom_status_version, 20, 30000) is None


def test_user_guide_polling_loop_ends(make_runtime, client):
    runtime = make_runtime()
    runtime.register_activity("Step", lambda ctx, x: x)

    @runtime.register_orchestration("ProvisionServer")
    def provision_server(ctx, input):
        ctx.set_custom_status("validating configuration")
        yield ctx.schedule_activity("Step", 1)
        ctx.set_custom_status("creating VM")
        vm = yield ctx.schedule_activity("Step", {"id": "vm-1"})
        ctx.set_custom_status("installing software")
        yield ctx.schedule_activity("Step", 3)
        ctx.reset_custom_status()
        return {"vm_id": vm["id"]}

    runtime.start()
    iid = new_id("prov")
    client.start_orchestration(iid, "ProvisionServer", {"size": "s"})
    seen = []
    last_version = 0
    for _ in range(50):  # the loop must end long before this bound
        result = client.wait_for_status_change(iid, last_version, 20, 10000)
        if result is None:
            break
        assert result.custom_status_version > last_version
        seen.append(result.custom_status)
        last_version = result.custom_status_version
    else:
        raise AssertionError("wait_for_status_change never returned None")
    final = client.wait_for_orchestration(iid, 30000)
    assert_completed(final, {"vm_id": "vm-1"})
    # Polling may skip intermediate values, but what it saw is in order and ends cleared.
    order = ["validating configuration", "creating VM", "installing software", None]
    assert seen, "no status change observed"
    assert all(s in order for s in seen), seen
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    assert final.custom_status is None


def test_get_status_shows_custom_status_and_json_payload(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("JsonStatus")
    def json_status(ctx, input):
        ctx.set_custom_status(json.dumps({"state": "replied", "seq": input}))
        yield ctx.wait_for_event("done")
        return ctx.get_custom_status()

    runtime.start()
    iid = new_id("jstatus")
    client.start_orchestration(iid, "JsonStatus", 7)
    r = client.wait_for_status_change(iid, 0, 20, 30000)
    assert r is not None
    assert json.loads(r.custom_status) == {"state": "replied", "seq": 7}
    snapshot = client.get_status(iid)
    assert snapshot.status == "Running"
    assert json.loads(snapshot.custom_status) == {"state": "replied", "seq": 7}
    assert snapshot.custom_status_version == r.custom_status_version

    client.raise_event(iid, "done", None)
    final = client.wait_for_orchestration(iid, 30000)
    assert_completed(final)
    assert json.loads(final.output) == {"state": "replied", "seq": 7}
    assert json.loads(final.custom_status) == {"state": "replied", "seq": 7}


def test_get_custom_status_reflects_calls_in_same_and_later_turns(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Noop", lambda ctx, x: x)

    @runtime.register_orchestration("GetStatus")
    def get_status(ctx, input):
        initial = ctx.get_custom_status()
        ctx.set_custom_status("one")
        same_turn = ctx.get_custom_status()
        yield ctx.schedule_activity("Noop", None)
        later_turn = ctx.get_custom_status()
        ctx.reset_custom_status()
        after_reset = ctx.get_custom_status()
        return [initial, same_turn, later_turn, after_reset]

    runtime.start()
    assert_completed(run_orchestration("GetStatus"), [None, "one", "one", None])


def test_custom_status_is_none_when_never_set(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("NoStatus")
    def no_status(ctx, input):
        return "fine"

    runtime.start()
    result = run_orchestration("NoStatus")
    assert_completed(result, "fine")
    assert result.custom_status is None
    assert result.custom_status_version == 0


def test_custom_status_carries_across_continue_as_new(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("CarryStatus")
    def carry_status(ctx, input):
        if input == 0:
            ctx.set_custom_status("set-in-exec-1")
            yield ctx.continue_as_new(1)
        return {"exec": ctx.execution_id, "status": ctx.get_custom_status()}

    runtime.start()
    result = run_orchestration("CarryStatus", 0)
    assert_completed(result, {"exec": 2, "status": "set-in-exec-1"})
    assert result.custom_status == "set-in-exec-1"
