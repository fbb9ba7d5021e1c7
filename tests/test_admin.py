"""The admin API end to end: metrics, listings, instance and execution records, history,
trees, stats, deletion and pruning.

The PostgreSQL schema is shared by every test of this module, so assertions look only at
the test's own instance ids (or at deltas of the store-wide counters).
"""

import json

import pytest

import duroxide
from duroxide import InstanceFilter, PruneOptions

from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status


def _register_echo(runtime, name):
    @runtime.register_activity(name)
    def echo(ctx, input):
        return input


def _register_waiter(runtime, name):
    """An orchestration that waits for event "go" (custom status "waiting" first)."""

    @runtime.register_orchestration(name)
    def waiter(ctx, input):
        ctx.set_custom_status("waiting")
        data = yield ctx.wait_for_event("go")
        return data


def _register_counter(runtime, name):
    """continue_as_new until input["n"] reaches input["stop"], then return n."""

    @runtime.register_orchestration(name)
    def counter(ctx, input):
        if input["n"] < input["stop"]:
            yield ctx.continue_as_new({"n": input["n"] + 1, "stop": input["stop"]})
        return input["n"]


def _start_waiting(client, name, prefix):
    iid = new_id(prefix)
    client.start_orchestration(iid, name)
    wait_until_custom_status(client, iid, "waiting")
    return iid


# --------------------------------------------------------------------------- metrics


def test_system_metrics_and_queue_depths_are_int_records_that_count_instances(make_runtime, client, uid):
    runtime = make_runtime()
    _register_echo(runtime, "MetricsEcho")

    @runtime.register_orchestration("MetricsOrch")
    def orch(ctx, input):
        return (yield ctx.schedule_activity("MetricsEcho", input))

    runtime.start()
    before = client.get_system_metrics()
    assert isinstance(before, duroxide.SystemMetrics)
    for field in ("total_instances", "total_executions", "running_instances",
                  "completed_instances", "failed_instances", "total_events"):
        value = getattr(before, field)
        assert isinstance(value, int) and not isinstance(value, bool), field
        assert value >= 0, field

    ids = [uid("metrics") for _ in range(3)]
    for i, iid in enumerate(ids):
        client.start_orchestration(iid, "MetricsOrch", i)
    for i, iid in enumerate(ids):
        assert_completed(client.wait_for_orchestration(iid, 30000), i)

    after = client.get_system_metrics()
    assert after.total_instances - before.total_instances == len(ids)
    assert after.completed_instances - before.completed_instances == len(ids)
    assert after.completed_instances >= len(ids)
    assert after.total_executions >= before.total_executions + len(ids)
    # Each instance records at least started, scheduled, completed, orchestration completed.
    assert after.total_events >= before.total_events + 4 * len(ids)

    depths = client.get_queue_depths()
    assert isinstance(depths, duroxide.QueueDepths)
    for field in ("orchestrator_queue", "worker_queue", "timer_queue"):
        value = getattr(depths, field)
        assert isinstance(value, int) and not isinstance(value, bool), field
        assert value >= 0, field


# --------------------------------------------------------------------------- listings


def test_list_all_instances_and_by_status(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("ListOk")
    def ok(ctx, input):
        return "ok"

    @runtime.register_orchestration("ListBad")
    def bad(ctx, input):
        raise RuntimeError("list-bad boom")
        yield  # pragma: no cover - makes this a generator

    _register_waiter(runtime, "ListWaiter")
    runtime.start()

    done = new_id("list-ok")
    client.start_orchestration(done, "ListOk")
    assert_completed(client.wait_for_orchestration(done, 30000), "ok")
    broken = new_id("list-bad")
    client.start_orchestration(broken, "ListBad")
    assert_failed(client.wait_for_orchestration(broken, 30000), "list-bad boom")
    running = _start_waiting(client, "ListWaiter", "list-running")

    all_ids = client.list_all_instances()
    assert isinstance(all_ids, list)
    assert {done, broken, running} <= set(all_ids)

    completed = client.list_instances_by_status("Completed")
    failed = client.list_instances_by_status("Failed")
    running_ids = client.list_instances_by_status("Running")
    assert done in completed and broken not in completed and running not in completed
    assert broken in failed and done not in failed and running not in failed
    assert running in running_ids and done not in running_ids and broken not in running_ids
    assert not {done, broken, running} & set(client.list_instances_by_status("ContinuedAsNew"))

    client.raise_event(running, "go", 1)
    assert_completed(client.wait_for_orchestration(running, 30000), 1)


@pytest.mark.parametrize("status", ["Done", "running", "COMPLETED", "", "NotFound"])
def test_list_instances_by_unknown_status_raises_value_error(client, status):
    with pytest.raises(ValueError):
        client.list_instances_by_status(status)


# --------------------------------------------------------------------------- instance info


def test_get_instance_info_of_completed_instance(make_runtime, client):
    runtime = make_runtime()
    _register_echo(runtime, "InfoEcho")

    @runtime.register_orchestration("InfoOrch")
    def orch(ctx, input):
        r = yield ctx.schedule_activity("InfoEcho", input)
        return {"echo": r, "list": [1, 2]}

    runtime.start()
    iid = new_id("info")
    client.start_orchestration(iid, "InfoOrch", "x")
    assert_completed(client.wait_for_orchestration(iid, 30000))

    info = client.get_instance_info(iid)
    assert isinstance(info, duroxide.InstanceInfo)
    assert info.instance_id == iid
    assert info.orchestration_name == "InfoOrch"
    assert info.orchestration_version == "1.0.0"
    assert info.status == "Completed"
    assert isinstance(info.output, str)
    assert json.loads(info.output) == {"echo": "x", "list": [1, 2]}
    assert info.current_execution_id == 1
    assert info.parent_instance_id is None
    for field in ("created_at", "updated_at"):
        value = getattr(info, field)
        assert isinstance(value, int) and value >= 0


def test_get_instance_info_of_failed_and_running_instances(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("InfoFails")
    def fails(ctx, input):
        raise ValueError("info-fail reason")
        yield  # pragma: no cover

    _register_waiter(runtime, "InfoWaiter")
    runtime.start()

    bad = new_id("info-bad")
    client.start_orchestration(bad, "InfoFails")
    assert_failed(client.wait_for_orchestration(bad, 30000), "info-fail reason")
    info = client.get_instance_info(bad)
    assert info.status == "Failed"
    assert info.orchestration_name == "InfoFails"
    assert info.output is not None and "info-fail reason" in info.output

    running = _start_waiting(client, "InfoWaiter", "info-running")
    info = client.get_instance_info(running)
    assert info.status == "Running"
    assert info.orchestration_name == "InfoWaiter"
    assert info.current_execution_id == 1
    client.raise_event(running, "go", None)
    assert_completed(client.wait_for_orchestration(running, 30000), None)


def test_get_instance_info_of_unknown_instance_raises_instance_not_found(client):
    with pytest.raises(duroxide.InstanceNotFoundError):
        client.get_instance_info(new_id("nope"))


def test_get_execution_info_of_unknown_instance_raises_instance_not_found(client):
    with pytest.raises(duroxide.InstanceNotFoundError):
        client.get_execution_info(new_id("nope"), 1)


# --------------------------------------------------------------------------- trees


def test_instance_tree_and_sub_orchestration_parent(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("TreeChild")
    def child(ctx, input):
        return input * 2

    @runtime.register_orchestration("TreeParent")
    def parent(ctx, input):
        a = yield ctx.schedule_sub_orchestration("TreeChild", 1)
        b = yield ctx.schedule_sub_orchestration("TreeChild", 2)
        return a + b

    @runtime.register_orchestration("TreeLeaf")
    def leaf(ctx, input):
        return "leaf"

    runtime.start()
    root = new_id("tree")
    client.start_orchestration(root, "TreeParent")
    assert_completed(client.wait_for_orchestration(root, 30000), 6)

    tree = client.get_instance_tree(root)
    assert isinstance(tree, duroxide.InstanceTree)
    assert tree.root_id == root
    assert root in tree.all_ids
    assert tree.size == 3 == len(tree.all_ids)
    assert not tree.is_root_only()

    children = [i for i in tree.all_ids if i != root]
    assert len(children) == 2
    for child_id in children:
        info = client.get_instance_info(child_id)
        assert info.parent_instance_id == root
        assert info.orchestration_name == "TreeChild"
        assert info.status == "Completed"
    assert sorted(json.loads(client.get_instance_info(c).output) for c in children) == [2, 4]
    assert client.get_instance_info(root).parent_instance_id is None

    lone = new_id("tree-leaf")
    client.start_orchestration(lone, "TreeLeaf")
    assert_completed(client.wait_for_orchestration(lone, 30000), "leaf")
    lone_tree = client.get_instance_tree(lone)
    assert lone_tree.root_id == lone
    assert lone_tree.all_ids == [lone]
    assert lone_tree.size == 1
    assert lone_tree.is_root_only()


# --------------------------------------------------------------------------- executions


def test_list_executions_and_execution_info_after_continue_as_new(make_runtime, client):
    runtime = make_runtime()
    _register_counter(runtime, "ExecCounter")
    runtime.start()

    iid = new_id("exec")
    client.start_orchestration(iid, "ExecCounter", {"n": 0, "stop": 2})
    assert_completed(client.wait_for_orchestration(iid, 30000), 2)

    assert client.list_executions(iid) == [1, 2, 3]
    assert client.get_instance_info(iid).current_execution_id == 3

    first = client.get_execution_info(iid, 1)
    assert isinstance(first, duroxide.ExecutionInfo)
    assert first.execution_id == 1
    assert first.status == "ContinuedAsNew"
    # A continued execution's output is the next execution's input.
    assert json.loads(first.output) == {"n": 1, "stop": 2}
    assert first.event_count > 0
    assert client.get_execution_info(iid, 2).status == "ContinuedAsNew"

    last = client.get_execution_info(iid, 3)
    assert last.execution_id == 3
    assert last.status == "Completed"
    assert json.loads(last.output) == 2
    assert isinstance(last.started_at, int)


def test_execution_id_must_be_a_positive_int(client):
    for bad in (0, -1, True, "1", 1.0):
        with pytest.raises(ValueError):
            client.get_execution_info("whatever", bad)
        with pytest.raises(ValueError):
            client.read_execution_history("whatever", bad)


# --------------------------------------------------------------------------- history


def test_read_execution_history_kinds_and_data(make_runtime, client):
    runtime = make_runtime()
    _register_echo(runtime, "HistEcho")

    @runtime.register_orchestration("HistOrch")
    def orch(ctx, input):
        r = yield ctx.schedule_activity("HistEcho", {"payload": input})
        return {"got": r}

    runtime.start()
    iid = new_id("hist")
    client.start_orchestration(iid, "HistOrch", "p-1")
    assert_completed(client.wait_for_orchestration(iid, 30000), {"got": {"payload": "p-1"}})

    events = client.read_execution_history(iid, 1)
    assert all(isinstance(e, duroxide.HistoryEvent) for e in events)
    kinds = [e.kind for e in events]
    assert kinds[0] == "OrchestrationStarted"
    assert kinds[-1] == "OrchestrationCompleted"
    assert kinds.count("ActivityScheduled") == 1
    assert kinds.count("ActivityCompleted") == 1
    assert kinds.index("ActivityScheduled") < kinds.index("ActivityCompleted")
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)
    assert all(e.execution_id == 1 for e in events)

    for e in events:
        assert isinstance(e.data, str)
        assert json.loads(e.data) == e.fields

    # Payloads come decoded (the original SDK's shape): no second json.loads.
    started = events[0].fields
    assert started["name"] == "HistOrch"
    assert started["version"] == "1.0.0"
    assert started["input"] == "p-1"

    scheduled = next(e for e in events if e.kind == "ActivityScheduled")
    assert scheduled.fields["name"] == "HistEcho"
    assert scheduled.fields["input"] == {"payload": "p-1"}

    completed = next(e for e in events if e.kind == "ActivityCompleted")
    assert completed.source_event_id == scheduled.event_id
    assert completed.fields == {"payload": "p-1"}  # a completion's data is its result

    assert events[-1].fields["output"] == {"got": {"payload": "p-1"}}


# --------------------------------------------------------------------------- stats


def test_get_orchestration_stats(make_runtime, client):
    runtime = make_runtime()
    _register_echo(runtime, "StatsEcho")

    @runtime.register_orchestration("StatsOrch")
    def orch(ctx, input):
        ctx.set_kv_value("k", "v")
        return (yield ctx.schedule_activity("StatsEcho", input))

    runtime.start()
    iid = new_id("stats")
    client.start_orchestration(iid, "StatsOrch", 5)
    assert_completed(client.wait_for_orchestration(iid, 30000), 5)

    stats = client.get_orchestration_stats(iid)
    assert isinstance(stats, duroxide.OrchestrationStats)
    assert stats.history_event_count > 0
    assert stats.history_event_count == len(client.read_execution_history(iid, 1))
    assert stats.history_size_bytes > 0
    assert stats.kv_user_key_count == 1
    for field in ("queue_pending_count", "kv_total_value_bytes"):
        assert isinstance(getattr(stats, field), int)

    assert client.get_orchestration_stats(new_id("nope")) is None


# --------------------------------------------------------------------------- deletion


def test_delete_completed_instance(make_runtime, client):
    runtime = make_runtime()
    _register_echo(runtime, "DelEcho")

    @runtime.register_orchestration("DelOrch")
    def orch(ctx, input):
        return (yield ctx.schedule_activity("DelEcho", input))

    runtime.start()
    iid = new_id("del")
    client.start_orchestration(iid, "DelOrch", "bye")
    assert_completed(client.wait_for_orchestration(iid, 30000), "bye")

    result = client.delete_instance(iid, force=False)
    assert isinstance(result, duroxide.DeleteInstanceResult)
    assert result.instances_deleted == 1
    assert result.executions_deleted >= 1
    assert result.events_deleted > 0
    assert client.get_status(iid).status == "NotFound"
    assert iid not in client.list_all_instances()
    with pytest.raises(duroxide.InstanceNotFoundError):
        client.get_instance_info(iid)


def test_delete_running_instance_needs_force(make_runtime, client):
    runtime = make_runtime()
    _register_waiter(runtime, "DelWaiter")
    runtime.start()

    iid = _start_waiting(client, "DelWaiter", "del-running")
    with pytest.raises(ValueError, match="force") as exc_info:
        client.delete_instance(iid, force=False)
    assert isinstance(exc_info.value, duroxide.InvalidArgumentError)
    assert client.get_status(iid).status == "Running"

    result = client.delete_instance(iid, force=True)
    assert result.instances_deleted == 1
    assert client.get_status(iid).status == "NotFound"
    assert iid not in client.list_all_instances()


def test_delete_sub_orchestration_child_is_refused_but_root_cascades(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("DelChild")
    def child(ctx, input):
        return "child"

    @runtime.register_orchestration("DelParent")
    def parent(ctx, input):
        return (yield ctx.schedule_sub_orchestration("DelChild", None))

    runtime.start()
    root = new_id("del-parent")
    client.start_orchestration(root, "DelParent")
    assert_completed(client.wait_for_orchestration(root, 30000), "child")
    (child_id,) = [i for i in client.get_instance_tree(root).all_ids if i != root]

    with pytest.raises(ValueError):
        client.delete_instance(child_id, force=False)
    with pytest.raises(ValueError):
        client.delete_instance(child_id, force=True)
    assert client.get_status(child_id).status == "Completed"

    result = client.delete_instance(root)
    assert result.instances_deleted == 2
    assert client.get_status(root).status == "NotFound"
    assert client.get_status(child_id).status == "NotFound"


def test_delete_unknown_instance_raises_instance_not_found(client):
    with pytest.raises(duroxide.InstanceNotFoundError):
        client.delete_instance(new_id("nope"))


def test_delete_instance_force_must_be_bool(client):
    with pytest.raises(TypeError):
        client.delete_instance("anything", force="yes")
    with pytest.raises(TypeError):
        client.delete_instance("anything", force=1)


def test_delete_instance_bulk_deletes_completed_and_skips_running(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("BulkDone")
    def done(ctx, input):
        return input

    _register_waiter(runtime, "BulkWaiter")
    runtime.start()

    finished = [new_id("bulk-done") for _ in range(2)]
    for i, iid in enumerate(finished):
        client.start_orchestration(iid, "BulkDone", i)
    for i, iid in enumerate(finished):
        assert_completed(client.wait_for_orchestration(iid, 30000), i)
    running = _start_waiting(client, "BulkWaiter", "bulk-running")
    bystander = new_id("bulk-bystander")
    client.start_orchestration(bystander, "BulkDone", "keep")
    assert_completed(client.wait_for_orchestration(bystander, 30000), "keep")

    result = client.delete_instance_bulk(InstanceFilter(instance_ids=[*finished, running]))
    assert isinstance(result, duroxide.DeleteInstanceResult)
    assert result.instances_deleted == 2
    for iid in finished:
        assert client.get_status(iid).status == "NotFound"
    assert client.get_status(running).status == "Running"
    assert client.get_status(bystander).status == "Completed"

    client.raise_event(running, "go", "late")
    assert_completed(client.wait_for_orchestration(running, 30000), "late")


def test_instance_filter_validation():
    with pytest.raises(ValueError):
        InstanceFilter(limit=-1)
    with pytest.raises(ValueError):
        InstanceFilter(instance_ids="abc")
    with pytest.raises(ValueError):
        InstanceFilter(completed_before=-5)
    f = InstanceFilter(instance_ids=("a", "b"), limit=10)
    assert f.instance_ids == ["a", "b"] and f.limit == 10


def test_delete_instance_bulk_rejects_non_filter(client):
    with pytest.raises(TypeError):
        client.delete_instance_bulk({"instance_ids": ["x"]})


# --------------------------------------------------------------------------- pruning


def test_prune_executions_keeps_only_current(make_runtime, client):
    runtime = make_runtime()
    _register_counter(runtime, "PruneCounter")
    runtime.start()

    iid = new_id("prune")
    client.start_orchestration(iid, "PruneCounter", {"n": 0, "stop": 3})
    assert_completed(client.wait_for_orchestration(iid, 30000), 3)
    assert client.list_executions(iid) == [1, 2, 3, 4]

    result = client.prune_executions(iid, PruneOptions(keep_last=1))
    assert isinstance(result, duroxide.PruneResult)
    assert result.executions_deleted == 3
    assert result.events_deleted > 0
    assert client.list_executions(iid) == [4]
    info = client.get_instance_info(iid)
    assert info.current_execution_id == 4
    assert info.status == "Completed"
    assert_completed(client.get_status(iid), 3)

    again = client.prune_executions(iid, PruneOptions(keep_last=1))
    assert again.executions_deleted == 0
    assert client.list_executions(iid) == [4]


def test_prune_executions_keep_last_two(make_runtime, client):
    runtime = make_runtime()
    _register_counter(runtime, "PruneKeep2")
    runtime.start()

    iid = new_id("prune-keep2")
    client.start_orchestration(iid, "PruneKeep2", {"n": 0, "stop": 3})
    assert_completed(client.wait_for_orchestration(iid, 30000), 3)

    result = client.prune_executions(iid, PruneOptions(keep_last=2))
    assert result.executions_deleted == 2
    assert client.list_executions(iid) == [3, 4]


def test_prune_executions_bulk(make_runtime, client):
    runtime = make_runtime()
    _register_counter(runtime, "PruneBulkCounter")
    runtime.start()

    target = new_id("prune-bulk")
    other = new_id("prune-bulk-other")
    for iid in (target, other):
        client.start_orchestration(iid, "PruneBulkCounter", {"n": 0, "stop": 2})
    for iid in (target, other):
        assert_completed(client.wait_for_orchestration(iid, 30000), 2)

    result = client.prune_executions_bulk(InstanceFilter(instance_ids=[target]), PruneOptions(keep_last=1))
    assert isinstance(result, duroxide.PruneResult)
    assert result.instances_processed == 1
    assert result.executions_deleted == 2
    assert client.list_executions(target) == [3]
    assert client.list_executions(other) == [1, 2, 3]


def test_prune_options_validation(client):
    with pytest.raises(ValueError):
        PruneOptions(keep_last=-1)
    with pytest.raises(ValueError):
        PruneOptions(completed_before=-1)
    with pytest.raises(TypeError):
        client.prune_executions("x", {"keep_last": 1})
    with pytest.raises(TypeError):
        client.prune_executions_bulk(InstanceFilter(), {"keep_last": 1})


# --------------------------------------------------------------------------- names


def test_records_importable_under_plain_and_py_prefixed_names():
    from duroxide import (
        DeleteInstanceResult,
        ExecutionInfo,
        HistoryEvent,
        InstanceInfo,
        InstanceTree,
        OrchestrationStats,
        PruneResult,
        PyDeleteInstanceResult,
        PyEvent,
        PyExecutionInfo,
        PyHistoryEvent,
        PyInstanceFilter,
        PyInstanceInfo,
        PyInstanceTree,
        PyOrchestrationStats,
        PyPruneOptions,
        PyPruneResult,
        PyQueueDepths,
        PySystemMetrics,
        QueueDepths,
        SystemMetrics,
    )

    assert PyPruneOptions is PruneOptions
    assert PyInstanceFilter is InstanceFilter
    assert PyInstanceInfo is InstanceInfo
    assert PyExecutionInfo is ExecutionInfo
    assert PyInstanceTree is InstanceTree
    assert PyHistoryEvent is HistoryEvent
    assert PyEvent is HistoryEvent
    assert PyOrchestrationStats is OrchestrationStats
    assert PySystemMetrics is SystemMetrics
    assert PyQueueDepths is QueueDepths
    assert PyDeleteInstanceResult is DeleteInstanceResult
    assert PyPruneResult is PruneResult
    assert PyPruneOptions(keep_last=3) == PruneOptions(keep_last=3)
