"""Custom status: set/reset/get in orchestrations, visible via get_status and
wait_for_status_change (DECISIONS.md 3)."""

import json

import pytest

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


def test_user_guide_provision_server_polling_loop_runs_as_written(make_runtime, client):
    """The user guide's ProvisionServer example and its `while True` polling loop, verbatim
    apart from a unique instance id and recording what the loop prints."""
    runtime = make_runtime()

    @runtime.register_activity("ValidateConfig")
    def validate_config(ctx, config):
        return {"valid": True, "name": config["name"]}

    @runtime.register_activity("CreateVM")
    def create_vm(ctx, config):
        return {"id": f"vm-{config['name']}", "size": config["size"]}

    @runtime.register_activity("InstallSoftware")
    def install_software(ctx, vm):
        return f"installed on {vm['id']}"

    @runtime.register_orchestration("ProvisionServer")
    def provision_server(ctx, input):
        ctx.set_custom_status("validating configuration")
        yield ctx.schedule_activity("ValidateConfig", input)

        ctx.set_custom_status("creating VM")
        vm = yield ctx.schedule_activity("CreateVM", input)

        ctx.set_custom_status("installing software")
        yield ctx.schedule_activity("InstallSoftware", vm)

        ctx.reset_custom_status()  # clear status when done
        return {"vm_id": vm["id"]}

    runtime.start()
    instance_id = new_id("prov")
    config = {"name": "web-1", "size": "small"}

    # Start orchestration
    client.start_orchestration(instance_id, "ProvisionServer", config)

    # Poll for status changes
    seen = []
    versions = []
    last_version = 0
    while True:
        result = client.wait_for_status_change(instance_id, last_version, 50, 10000)
        if result is None:
            break  # timeout — orchestration may have completed
        seen.append(result.custom_status)  # the guide prints f"Status: {result.custom_status}"
        versions.append(result.custom_status_version)
        last_version = result.custom_status_version
        assert len(seen) < 100, f"the polling loop does not end: {seen}"

    final = client.wait_for_orchestration(instance_id, 30000)
    assert_completed(final, {"vm_id": "vm-web-1"})
    assert final.custom_status is None
    # Every change returned is newer than the last, and the loop ends only once nothing
    # newer exists: the last thing it saw is the final (reset) status.
    assert versions == sorted(set(versions)), versions
    assert last_version == final.custom_status_version
    assert seen[-1] is None, seen
    # Polling may skip intermediate values, but what it saw before the reset is a
    # subsequence, in order, of the three statuses the orchestration set.
    order = ["validating configuration", "creating VM", "installing software"]
    progress = seen[:-1]
    assert all(s in order for s in progress), seen
    assert [order.index(s) for s in progress] == sorted({order.index(s) for s in progress}), seen


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


def test_get_custom_status_reflects_overwrites_across_several_turns(make_runtime, client, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("StatusNoop", lambda ctx, x: x)

    @runtime.register_orchestration("StatusOverwrites")
    def status_overwrites(ctx, input):
        reads = []
        ctx.set_custom_status("a")
        ctx.set_custom_status("b")  # the last set in a turn wins
        yield ctx.schedule_activity("StatusNoop", None)
        reads.append(ctx.get_custom_status())
        ctx.set_custom_status("c")
        yield ctx.schedule_timer(10)
        reads.append(ctx.get_custom_status())
        ctx.reset_custom_status()
        yield ctx.schedule_activity("StatusNoop", None)
        reads.append(ctx.get_custom_status())
        ctx.set_custom_status("final")
        yield ctx.schedule_timer(5)
        reads.append(ctx.get_custom_status())
        return reads

    runtime.start()
    result = run_orchestration("StatusOverwrites")
    assert_completed(result, ["b", "c", None, "final"])
    assert result.custom_status == "final"


def test_custom_status_chains_through_several_continue_as_new(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("StatusChainCan")
    def status_chain(ctx, n):
        seen = ctx.get_custom_status()
        if n < 2:
            ctx.set_custom_status(f"{seen or ''}>{n}")
            yield ctx.schedule_timer(5)  # the status was persisted in an earlier turn
            yield ctx.continue_as_new(n + 1)
        return {"exec": ctx.execution_id, "seen_at_start": seen}

    runtime.start()
    result = run_orchestration("StatusChainCan", 0)
    assert_completed(result, {"exec": 3, "seen_at_start": ">0>1"})
    assert result.custom_status == ">0>1"


def test_status_set_after_continue_as_new_is_read_back_in_later_turns(make_runtime, run_orchestration):
    """An execution that inherited a status can replace and reset it; later turns of that
    execution read the new value, not the inherited one."""
    runtime = make_runtime()

    @runtime.register_orchestration("StatusSetAfterCan")
    def status_set_after_can(ctx, input):
        if input == 0:
            ctx.set_custom_status("from-exec-1")
            yield ctx.continue_as_new(1)
        reads = [ctx.get_custom_status()]
        ctx.set_custom_status("from-exec-2")
        reads.append(ctx.get_custom_status())
        yield ctx.schedule_timer(5)
        reads.append(ctx.get_custom_status())
        ctx.reset_custom_status()
        yield ctx.schedule_timer(5)
        reads.append(ctx.get_custom_status())
        return {"exec": ctx.execution_id, "reads": reads}

    runtime.start()
    result = run_orchestration("StatusSetAfterCan", 0)
    assert_completed(result, {"exec": 2, "reads": ["from-exec-1", "from-exec-2", "from-exec-2", None]})
    assert result.custom_status is None


def test_reset_before_continue_as_new_carries_no_status(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("StatusResetBeforeCan")
    def reset_before_can(ctx, input):
        if input == 0:
            ctx.set_custom_status("temporary")
            yield ctx.schedule_timer(5)
            ctx.reset_custom_status()
            yield ctx.continue_as_new(1)
        return {"exec": ctx.execution_id, "status": ctx.get_custom_status()}

    runtime.start()
    result = run_orchestration("StatusResetBeforeCan", 0)
    assert_completed(result, {"exec": 2, "status": None})
    assert result.custom_status is None


def test_wait_for_status_change_rejects_negative_arguments(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("StatusNegativeArgs")
    def status_negative_args(ctx, input):
        ctx.set_custom_status("waiting")
        yield ctx.wait_for_event("go")
        return "ok"

    runtime.start()
    iid = new_id("negargs")
    client.start_orchestration(iid, "StatusNegativeArgs")
    assert client.wait_for_status_change(iid, 0, 20, 30000).custom_status == "waiting"

    with pytest.raises(ValueError, match="timeout_ms"):
        client.wait_for_status_change(iid, 0, 50, -1)
    with pytest.raises(ValueError, match="last_seen_version"):
        client.wait_for_status_change(iid, -1, 50, 1000)
    with pytest.raises(ValueError, match="poll_interval_ms"):
        client.wait_for_status_change(iid, 0, -5, 1000)

    client.raise_event(iid, "go", None)
    assert_completed(client.wait_for_orchestration(iid, 30000), "ok")
