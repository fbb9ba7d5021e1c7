"""Versioned orchestrations: latest by default, pinned starts, continue_as_new_versioned."""

from conftest import assert_completed, new_id


def _register_two_versions(runtime, calls):
    @runtime.register_activity("Work")
    def work(ctx, input):
        calls.append(("Work", ctx.orchestration_version))
        return f"work({input})"

    @runtime.register_activity("Validate")
    def validate(ctx, input):
        calls.append(("Validate", ctx.orchestration_version))
        return True

    @runtime.register_orchestration("MyWorkflow")
    def my_workflow_v1(ctx, input):
        ctx.trace_info("[v1.0.0] starting")
        r = yield ctx.schedule_activity("Work", input)
        return {"version": ctx.orchestration_version, "r": r}

    @runtime.register_orchestration_versioned("MyWorkflow", "1.0.1")
    def my_workflow_v2(ctx, input):
        ctx.trace_info("[v1.0.1] starting")
        yield ctx.schedule_activity("Validate", input)
        r = yield ctx.schedule_activity("Work", input)
        return {"version": ctx.orchestration_version, "r": r}


def test_new_instance_runs_latest_version(make_runtime, run_orchestration):
    runtime = make_runtime()
    calls = []
    _register_two_versions(runtime, calls)
    runtime.start()
    assert_completed(run_orchestration("MyWorkflow", "a"), {"version": "1.0.1", "r": "work(a)"})
    assert calls == [("Validate", "1.0.1"), ("Work", "1.0.1")]


def test_start_orchestration_versioned_pins_old_version(make_runtime, client):
    runtime = make_runtime()
    calls = []
    _register_two_versions(runtime, calls)
    runtime.start()
    iid = new_id("pinned")
    client.start_orchestration_versioned(iid, "MyWorkflow", "b", "1.0.0")
    assert_completed(client.wait_for_orchestration(iid, 30000), {"version": "1.0.0", "r": "work(b)"})
    assert calls == [("Work", "1.0.0")]


def test_start_orchestration_versioned_explicit_latest(make_runtime, client):
    runtime = make_runtime()
    calls = []
    _register_two_versions(runtime, calls)
    runtime.start()
    iid = new_id("explicit")
    client.start_orchestration_versioned(iid, "MyWorkflow", {"k": 1}, "1.0.1")
    assert_completed(client.wait_for_orchestration(iid, 30000),
                     {"version": "1.0.1", "r": "work({'k': 1})"})


def test_versioned_registration_as_plain_call(make_runtime, client):
    runtime = make_runtime()

    def v2(ctx, input):
        return f"two:{input}"

    def v3(ctx, input):
        return f"three:{input}"

    runtime.register_orchestration_versioned("Plainly", "2.0.0", v2)
    runtime.register_orchestration_versioned("Plainly", "3.0.0", v3)
    runtime.start()
    a, b = new_id("plain"), new_id("plain")
    client.start_orchestration(a, "Plainly", "x")
    client.start_orchestration_versioned(b, "Plainly", "y", "2.0.0")
    assert_completed(client.wait_for_orchestration(a, 30000), "three:x")
    assert_completed(client.wait_for_orchestration(b, 30000), "two:y")


def _register_eternal(runtime):
    def make():
        def eternal(ctx, input):
            seen = input["seen"] + [f"{ctx.orchestration_version}@exec{ctx.execution_id}"]
            if input["next"]:
                target = input["next"][0]
                rest = input["next"][1:]
                if target == "latest":
                    yield ctx.continue_as_new({"seen": seen, "next": rest})
                else:
                    yield ctx.continue_as_new_versioned({"seen": seen, "next": rest}, target)
                return "unreachable"
            return seen
        return eternal

    runtime.register_orchestration("Eternal", make())  # 1.0.0
    runtime.register_orchestration_versioned("Eternal", "2.0.0", make())
    runtime.register_orchestration_versioned("Eternal", "3.0.0", make())


def test_continue_as_new_versioned_moves_to_requested_version(make_runtime, client):
    runtime = make_runtime()
    _register_eternal(runtime)
    runtime.start()
    iid = new_id("eternal")
    # Pinned to 1.0.0, then asks for 1.0.0 again, then 2.0.0 (not the latest 3.0.0).
    client.start_orchestration_versioned(iid, "Eternal", {"seen": [], "next": ["1.0.0", "2.0.0"]}, "1.0.0")
    assert_completed(client.wait_for_orchestration(iid, 30000),
                     ["1.0.0@exec1", "1.0.0@exec2", "2.0.0@exec3"])


def test_plain_continue_as_new_picks_up_latest_version(make_runtime, client):
    # "Running orchestrations stay on their original version until they complete or
    # call continue_as_new" (user guide, Versioning).
    runtime = make_runtime()
    _register_eternal(runtime)
    runtime.start()
    iid = new_id("eternal")
    client.start_orchestration_versioned(iid, "Eternal", {"seen": [], "next": ["latest"]}, "1.0.0")
    assert_completed(client.wait_for_orchestration(iid, 30000), ["1.0.0@exec1", "3.0.0@exec2"])
