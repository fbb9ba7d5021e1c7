"""OrchestrationContext properties, ActivityContext fields, tracing calls, and
ActivityContext.get_client()."""

import duroxide

from conftest import assert_completed, new_id, wait_until_custom_status


def test_orchestration_context_properties(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("Props")
    def props(ctx, input):
        before = {
            "instance_id": ctx.instance_id,
            "execution_id": ctx.execution_id,
            "orchestration_name": ctx.orchestration_name,
            "orchestration_version": ctx.orchestration_version,
        }
        yield ctx.schedule_timer(5)
        after = {
            "instance_id": ctx.instance_id,
            "execution_id": ctx.execution_id,
            "orchestration_name": ctx.orchestration_name,
            "orchestration_version": ctx.orchestration_version,
        }
        return {"before": before, "after": after}

    @runtime.register_orchestration_versioned("PropsV", "2.3.4")
    def props_v(ctx, input):
        return [ctx.orchestration_name, ctx.orchestration_version]

    runtime.start()
    iid = new_id("props")
    client.start_orchestration(iid, "Props")
    expected = {
        "instance_id": iid,
        "execution_id": 1,
        "orchestration_name": "Props",
        "orchestration_version": "1.0.0",
    }
    assert_completed(client.wait_for_orchestration(iid, 30000), {"before": expected, "after": expected})

    vid = new_id("propsv")
    client.start_orchestration(vid, "PropsV")
    assert_completed(client.wait_for_orchestration(vid, 30000), ["PropsV", "2.3.4"])


def test_execution_id_increments_with_continue_as_new(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_activity("WhichExecution")
    def which(ctx, input):
        return ctx.execution_id

    @runtime.register_orchestration("Exec")
    def exec_orch(ctx, input):
        from_activity = yield ctx.schedule_activity("WhichExecution", None)
        pairs = input + [[ctx.execution_id, from_activity]]
        if len(pairs) < 3:
            yield ctx.continue_as_new(pairs)
        return pairs

    runtime.start()
    assert_completed(run_orchestration("Exec", []), [[1, 1], [2, 2], [3, 3]])


def test_activity_context_fields(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("Inspect")
    def inspect(ctx, input):
        ctx.trace_info(f"inspecting {input}")
        ctx.trace_warn("warn line")
        ctx.trace_error("error line")
        ctx.trace_debug("debug line")
        return {
            "instance_id": ctx.instance_id,
            "execution_id": ctx.execution_id,
            "orchestration_name": ctx.orchestration_name,
            "orchestration_version": ctx.orchestration_version,
            "activity_name": ctx.activity_name,
            "worker_id": ctx.worker_id,
            "session_id": ctx.session_id,
            "is_cancelled": ctx.is_cancelled(),
        }

    @runtime.register_orchestration_versioned("Inspector", "1.2.0")
    def inspector(ctx, input):
        return (yield ctx.schedule_activity("Inspect", input))

    runtime.start()
    iid = new_id("inspect")
    client.start_orchestration(iid, "Inspector", "payload")
    out = assert_completed(client.wait_for_orchestration(iid, 30000))
    worker_id = out.pop("worker_id")
    assert isinstance(worker_id, str) and worker_id
    assert out == {
        "instance_id": iid,
        "execution_id": 1,
        "orchestration_name": "Inspector",
        "orchestration_version": "1.2.0",
        "activity_name": "Inspect",
        "session_id": None,
        "is_cancelled": False,
    }


def test_worker_id_reflects_worker_node_id_option(make_runtime, run_orchestration):
    runtime = make_runtime(worker_node_id="pod-abc-123")

    @runtime.register_activity("WhoAmI")
    def who(ctx, input):
        return ctx.worker_id

    @runtime.register_orchestration("WhoOrch")
    def who_orch(ctx, input):
        return (yield ctx.schedule_activity("WhoAmI", None))

    runtime.start()
    out = assert_completed(run_orchestration("WhoOrch"))
    assert "pod-abc-123" in out


def test_orchestration_tracing_calls_do_not_disturb_execution(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Work", lambda ctx, x: x + 1)

    @runtime.register_orchestration("Traced")
    def traced(ctx, input):
        ctx.trace_info("[v1.0.0] starting workflow")
        ctx.trace_debug(f"input: {input}")
        result = yield ctx.schedule_activity("Work", input)
        ctx.trace_warn("about to finish")
        ctx.trace_error("not really an error")
        ctx.trace_info(f"[v1.0.0] completed: {result}")
        return result

    runtime.start()
    assert_completed(run_orchestration("Traced", 1), 2)


def test_activity_get_client_starts_another_orchestration(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("TriggerCleanup")
    def trigger_cleanup(ctx, input):
        c = ctx.get_client()
        c.start_orchestration(f"cleanup-{input['id']}", "CleanupWorkflow", {"resource_id": input["id"]})
        return {"triggered": True, "client_is_client": isinstance(c, duroxide.Client)}

    @runtime.register_activity("DeleteResource")
    def delete_resource(ctx, input):
        return f"deleted {input}"

    @runtime.register_orchestration("CleanupWorkflow")
    def cleanup_workflow(ctx, input):
        return (yield ctx.schedule_activity("DeleteResource", input["resource_id"]))

    @runtime.register_orchestration("Trigger")
    def trigger(ctx, input):
        return (yield ctx.schedule_activity("TriggerCleanup", input))

    runtime.start()
    rid = new_id("res")
    parent = new_id("trigger")
    client.start_orchestration(parent, "Trigger", {"id": rid})
    assert_completed(client.wait_for_orchestration(parent, 30000),
                     {"triggered": True, "client_is_client": True})
    assert_completed(client.wait_for_orchestration(f"cleanup-{rid}", 30000), f"deleted {rid}")


def test_activity_get_client_raises_event_to_another_instance(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("Notify")
    def notify(ctx, input):
        ctx.get_client().raise_event(input["target"], "ping", {"from": ctx.instance_id})
        return "sent"

    @runtime.register_orchestration("Listener")
    def listener(ctx, input):
        ctx.set_custom_status("listening")
        return (yield ctx.wait_for_event("ping"))

    @runtime.register_orchestration("Notifier")
    def notifier(ctx, input):
        return (yield ctx.schedule_activity("Notify", input))

    runtime.start()
    listener_id, notifier_id = new_id("listener"), new_id("notifier")
    client.start_orchestration(listener_id, "Listener")
    wait_until_custom_status(client, listener_id, "listening")
    client.start_orchestration(notifier_id, "Notifier", {"target": listener_id})
    assert_completed(client.wait_for_orchestration(notifier_id, 30000), "sent")
    assert_completed(client.wait_for_orchestration(listener_id, 30000), {"from": notifier_id})


def test_activities_describe_their_own_execution_across_versions(make_runtime, client):
    # The runtime answers the activity's descriptor from memory (src/store/runtime_view.rs):
    # each execution's activities must still see that execution's name and version, also
    # after a continue-as-new onto another version, and in a fan-out.
    runtime = make_runtime()

    @runtime.register_activity("Describe")
    def describe(ctx, i):
        return [ctx.execution_id, ctx.orchestration_name, ctx.orchestration_version, i]

    def body(ctx, n):
        described = yield ctx.all([ctx.schedule_activity("Describe", i) for i in range(4)])
        if n == 0:
            yield ctx.continue_as_new_versioned(1, "2.0.0")
        return described

    runtime.register_orchestration_versioned("Evolving", "1.0.0")(body)
    runtime.register_orchestration_versioned("Evolving", "2.0.0")(body)
    runtime.start()
    iid = new_id("evolving")
    client.start_orchestration_versioned(iid, "Evolving", 0, "1.0.0")
    out = assert_completed(client.wait_for_orchestration(iid, 30000))
    assert out == [[2, "Evolving", "2.0.0", i] for i in range(4)]
    first = client.read_execution_history(iid, 1)
    completed = [e for e in first if e.kind == "ActivityCompleted"]
    assert len(completed) == 4
    assert all('"1.0.0"' in (e.data or "") for e in completed), [e.data for e in completed]


def test_an_activity_client_reads_the_store_while_its_siblings_run(make_runtime, client):
    # An activity's client is built on the store, not on the runtime's view of it
    # (src/activity.rs): with six sibling activities fetched at once, it sees its own
    # instance running and the history it has. (The view's one-event answer is covered by
    # the unit tests in src/store/runtime_view.rs; get_status alone could not tell it apart.)
    runtime = make_runtime()

    @runtime.register_activity("CountEvents")
    def count_events(ctx, i):
        status = ctx.get_client().get_status(ctx.instance_id)
        return [status.status, len(ctx.get_client().read_execution_history(ctx.instance_id, 1))]

    @runtime.register_orchestration("Counting")
    def counting(ctx, n):
        return (yield ctx.all([ctx.schedule_activity("CountEvents", i) for i in range(n)]))

    runtime.start()
    iid = new_id("counting")
    client.start_orchestration(iid, "Counting", 6)
    out = assert_completed(client.wait_for_orchestration(iid, 30000))
    # OrchestrationStarted and six ActivityScheduled at least: never a single event.
    assert all(status == "Running" and length >= 7 for status, length in out), out
