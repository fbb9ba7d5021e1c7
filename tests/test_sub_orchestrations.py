"""Sub-orchestrations (auto id, explicit id, versioned) and fire-and-forget starts."""

import duroxide

from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status


def _register_child_versions(runtime):
    runtime.register_activity("DoWork", lambda ctx, x: {"worked": x})

    @runtime.register_orchestration("Child")
    def child_v1(ctx, input):
        r = yield ctx.schedule_activity("DoWork", input)
        return {"v": ctx.orchestration_version, "r": r, "id": ctx.instance_id}

    @runtime.register_orchestration_versioned("Child", "1.0.1")
    def child_v2(ctx, input):
        r = yield ctx.schedule_activity("DoWork", input)
        return {"v": ctx.orchestration_version, "r": r, "id": ctx.instance_id}


def test_sub_orchestration_with_generated_id(make_runtime, run_orchestration):
    runtime = make_runtime()
    _register_child_versions(runtime)

    @runtime.register_orchestration("Parent")
    def parent(ctx, input):
        child_result = yield ctx.schedule_sub_orchestration("Child", input)
        return {"parent_result": child_result, "parent_id": ctx.instance_id}

    runtime.start()
    out = assert_completed(run_orchestration("Parent", {"job": 1}))
    assert out["parent_result"]["r"] == {"worked": {"job": 1}}
    assert out["parent_result"]["v"] == "1.0.1"  # latest version
    # The child ran as its own instance, with an id different from the parent's.
    assert out["parent_result"]["id"] != out["parent_id"]


def test_sub_orchestration_with_explicit_id(make_runtime, client):
    runtime = make_runtime()
    _register_child_versions(runtime)

    @runtime.register_orchestration("ParentWithId")
    def parent(ctx, input):
        result = yield ctx.schedule_sub_orchestration_with_id("Child", f"child-{input['id']}", input)
        return result

    runtime.start()
    parent_id = new_id("parent")
    key = new_id("k")
    client.start_orchestration(parent_id, "ParentWithId", {"id": key})
    out = assert_completed(client.wait_for_orchestration(parent_id, 30000))
    assert out == {"v": "1.0.1", "r": {"worked": {"id": key}}, "id": f"child-{key}"}
    # The child exists under the id the parent chose, with the same result.
    child = client.get_status(f"child-{key}")
    assert_completed(child, out)


def test_sub_orchestration_versioned_pins_old_version(make_runtime, run_orchestration):
    runtime = make_runtime()
    _register_child_versions(runtime)

    @runtime.register_orchestration("ParentPinned")
    def parent(ctx, input):
        old = yield ctx.schedule_sub_orchestration_versioned("Child", "1.0.0", input)
        new = yield ctx.schedule_sub_orchestration_versioned("Child", "1.0.1", input)
        latest = yield ctx.schedule_sub_orchestration("Child", input)
        return [old["v"], new["v"], latest["v"], old["r"]]

    runtime.start()
    assert_completed(run_orchestration("ParentPinned", "p"),
                     ["1.0.0", "1.0.1", "1.0.1", {"worked": "p"}])


def test_sub_orchestration_versioned_with_id(make_runtime, client):
    runtime = make_runtime()
    _register_child_versions(runtime)

    @runtime.register_orchestration("ParentPinnedId")
    def parent(ctx, input):
        return (yield ctx.schedule_sub_orchestration_versioned_with_id("Child", "1.0.0", input["child"], input))

    runtime.start()
    parent_id = new_id("parent")
    child_id = new_id("pinned-child")
    client.start_orchestration(parent_id, "ParentPinnedId", {"child": child_id})
    out = assert_completed(client.wait_for_orchestration(parent_id, 30000))
    assert out == {"v": "1.0.0", "r": {"worked": {"child": child_id}}, "id": child_id}
    assert_completed(client.get_status(child_id), out)


def test_failing_sub_orchestration_raises_in_parent(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("BadChild")
    def bad_child(ctx, input):
        raise RuntimeError(f"child cannot handle {input}")

    @runtime.register_orchestration("CatchingParent")
    def parent(ctx, input):
        try:
            yield ctx.schedule_sub_orchestration("BadChild", input)
        except duroxide.TaskFailedError as e:
            return {"caught": str(e)}
        return "no exception"

    runtime.start()
    out = assert_completed(run_orchestration("CatchingParent", "widget"))
    assert "child cannot handle widget" in out["caught"]


def test_nested_sub_orchestrations_three_levels(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Leaf", lambda ctx, x: x * 3)

    @runtime.register_orchestration("Level3")
    def level3(ctx, n):
        return (yield ctx.schedule_activity("Leaf", n))

    @runtime.register_orchestration("Level2")
    def level2(ctx, n):
        a = yield ctx.schedule_sub_orchestration("Level3", n)
        return a + 1

    @runtime.register_orchestration("Level1")
    def level1(ctx, n):
        parts = yield ctx.all([ctx.schedule_sub_orchestration("Level2", i) for i in range(n)])
        return parts

    runtime.start()
    assert_completed(run_orchestration("Level1", 4), [1, 4, 7, 10])


def test_fire_and_forget_start_orchestration(make_runtime, client):
    runtime = make_runtime()
    provisioned = []

    @runtime.register_activity("ProvisionVM")
    def provision(ctx, input):
        provisioned.append(input["instance_id"])
        return "vm-ok"

    @runtime.register_activity("Probe")
    def probe(ctx, input):
        return {"healthy": True, "target": input}

    @runtime.register_orchestration("InstanceMonitor")
    def instance_monitor(ctx, input):
        health = yield ctx.schedule_activity("Probe", input["instance_id"])
        return {"monitored": input["instance_id"], "health": health}

    @runtime.register_orchestration("CreateInstance")
    def create_instance(ctx, input):
        yield ctx.schedule_activity("ProvisionVM", input)
        started = yield ctx.start_orchestration(
            "InstanceMonitor",
            f"monitor-{input['instance_id']}",
            {"instance_id": input["instance_id"]},
        )
        return {"status": "provisioned", "start_returned": started}

    runtime.start()
    vm = new_id("vm")
    parent_id = new_id("create")
    client.start_orchestration(parent_id, "CreateInstance", {"instance_id": vm})
    assert_completed(client.wait_for_orchestration(parent_id, 30000),
                     {"status": "provisioned", "start_returned": None})
    monitor = client.wait_for_orchestration(f"monitor-{vm}", 30000)
    assert_completed(monitor, {"monitored": vm, "health": {"healthy": True, "target": vm}})
    assert provisioned == [vm]


def test_fire_and_forget_child_outlives_parent(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("Background")
    def background(ctx, input):
        ctx.set_custom_status("background-waiting")
        data = yield ctx.wait_for_event("finish")
        return {"background_got": data, "input": input}

    @runtime.register_orchestration("Launcher")
    def launcher(ctx, input):
        yield ctx.start_orchestration("Background", input["child"], "from-launcher")
        return "launched"

    runtime.start()
    parent_id = new_id("launcher")
    child_id = new_id("bg")
    client.start_orchestration(parent_id, "Launcher", {"child": child_id})
    assert_completed(client.wait_for_orchestration(parent_id, 30000), "launched")
    # The parent is done; the child still runs independently.
    wait_until_custom_status(client, child_id, "background-waiting")
    assert client.get_status(child_id).status == "Running"
    client.raise_event(child_id, "finish", 99)
    assert_completed(client.wait_for_orchestration(child_id, 30000),
                     {"background_got": 99, "input": "from-launcher"})


def test_fire_and_forget_versioned(make_runtime, client):
    runtime = make_runtime()
    _register_child_versions(runtime)

    @runtime.register_orchestration("VersionedLauncher")
    def launcher(ctx, input):
        yield ctx.start_orchestration_versioned("Child", "1.0.0", input["old"], "o")
        yield ctx.start_orchestration("Child", input["new"], "n")
        return "ok"

    runtime.start()
    parent_id = new_id("vlaunch")
    old_id, new_id_ = new_id("old"), new_id("new")
    client.start_orchestration(parent_id, "VersionedLauncher", {"old": old_id, "new": new_id_})
    assert_completed(client.wait_for_orchestration(parent_id, 30000), "ok")
    assert_completed(client.wait_for_orchestration(old_id, 30000),
                     {"v": "1.0.0", "r": {"worked": "o"}, "id": old_id})
    assert_completed(client.wait_for_orchestration(new_id_, 30000),
                     {"v": "1.0.1", "r": {"worked": "n"}, "id": new_id_})


def test_failed_child_status_is_failed(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("Crash")
    def crash(ctx, input):
        raise ValueError("crash in detached child")

    @runtime.register_orchestration("Detacher")
    def detacher(ctx, input):
        yield ctx.start_orchestration("Crash", input, None)
        return "parent fine"

    runtime.start()
    parent_id = new_id("detacher")
    child_id = new_id("crash")
    client.start_orchestration(parent_id, "Detacher", child_id)
    assert_completed(client.wait_for_orchestration(parent_id, 30000), "parent fine")
    assert_failed(client.wait_for_orchestration(child_id, 30000), "crash in detached child")
