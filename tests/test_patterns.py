"""The user guide's orchestration patterns, end to end: sequential steps, fan-out/fan-in,
durable timers, external events, error handling, continue-as-new."""

import threading

import pytest

import duroxide

from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status


def test_sequential_pipeline_passes_each_result_to_the_next_step(make_runtime, run_orchestration):
    runtime = make_runtime()
    calls = []

    @runtime.register_activity("Extract")
    def extract(ctx, input):
        calls.append(("Extract", input))
        return {"rows": [input["seed"], input["seed"] + 1]}

    @runtime.register_activity("Transform")
    def transform(ctx, data):
        calls.append(("Transform", data))
        return {"rows": [r * 10 for r in data["rows"]]}

    @runtime.register_activity("Load")
    def load(ctx, data):
        calls.append(("Load", data))
        return {"loaded": sum(data["rows"])}

    @runtime.register_orchestration("Pipeline")
    def pipeline(ctx, input):
        step1 = yield ctx.schedule_activity("Extract", input)
        step2 = yield ctx.schedule_activity("Transform", step1)
        step3 = yield ctx.schedule_activity("Load", step2)
        return step3

    runtime.start()
    assert_completed(run_orchestration("Pipeline", {"seed": 4}), {"loaded": 90})
    assert calls == [
        ("Extract", {"seed": 4}),
        ("Transform", {"rows": [4, 5]}),
        ("Load", {"rows": [40, 50]}),
    ]


def test_fan_out_fan_in_returns_results_in_task_order(make_runtime, run_orchestration):
    runtime = make_runtime(worker_concurrency=4)
    processed = []
    lock = threading.Lock()

    @runtime.register_activity("ProcessItem")
    def process_item(ctx, item):
        with lock:
            processed.append(item)
        return {"item": item, "square": item * item}

    @runtime.register_orchestration("FanOut")
    def fan_out(ctx, input):
        tasks = [ctx.schedule_activity("ProcessItem", item) for item in input["items"]]
        results = yield ctx.all(tasks)
        return results

    runtime.start()
    items = [3, 1, 4, 1, 5, 9, 2, 6]
    result = run_orchestration("FanOut", {"items": items})
    assert_completed(result, [{"item": i, "square": i * i} for i in items])
    assert sorted(processed) == sorted(items)


def test_fan_out_of_zero_tasks_returns_empty_list(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("EmptyFanOut")
    def empty(ctx, input):
        results = yield ctx.all([])
        return {"results": results}

    runtime.start()
    assert_completed(run_orchestration("EmptyFanOut"), {"results": []})


def test_durable_timer_then_activity(make_runtime, run_orchestration):
    runtime = make_runtime()
    reminders = []

    @runtime.register_activity("SendReminder")
    def send_reminder(ctx, input):
        reminders.append(input)
        return "sent"

    @runtime.register_orchestration("DelayedNotification")
    def delayed_notification(ctx, input):
        before = yield ctx.utc_now()
        timer_value = yield ctx.schedule_timer(150)
        after = yield ctx.utc_now()
        sent = yield ctx.schedule_activity("SendReminder", input)
        return {"sent": sent, "timer_value": timer_value, "elapsed_ok": after - before >= 150}

    runtime.start()
    result = run_orchestration("DelayedNotification", {"user": "ann"})
    assert_completed(result, {"sent": "sent", "timer_value": None, "elapsed_ok": True})
    assert reminders == [{"user": "ann"}]


@pytest.mark.parametrize("approved", [True, False], ids=["approved", "rejected"])
def test_approval_workflow_waits_for_external_event(approved, make_runtime, client):
    runtime = make_runtime()
    executed = []

    @runtime.register_activity("RequestApproval")
    def request_approval(ctx, input):
        return f"requested {input['doc']}"

    @runtime.register_activity("Execute")
    def execute(ctx, input):
        executed.append(input)
        return "executed"

    @runtime.register_orchestration("ApprovalWorkflow")
    def approval_workflow(ctx, input):
        yield ctx.schedule_activity("RequestApproval", input)
        ctx.trace_info("waiting for approval...")
        ctx.set_custom_status("awaiting-approval")
        approval = yield ctx.wait_for_event("approval")
        if approval["approved"]:
            yield ctx.schedule_activity("Execute", input)
            return {"decision": "approved", "by": approval["by"]}
        return {"decision": "rejected", "by": approval["by"]}

    runtime.start()
    iid = new_id("approval")
    client.start_orchestration(iid, "ApprovalWorkflow", {"doc": "budget.xlsx"})
    wait_until_custom_status(client, iid, "awaiting-approval")
    assert client.get_status(iid).status == "Running"

    client.raise_event(iid, "approval", {"approved": approved, "by": "boss"})
    result = client.wait_for_orchestration(iid, 30000)
    assert_completed(result, {"decision": "approved" if approved else "rejected", "by": "boss"})
    assert executed == ([{"doc": "budget.xlsx"}] if approved else [])


def test_event_with_other_name_does_not_satisfy_wait(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("PickyWaiter")
    def picky(ctx, input):
        ctx.set_custom_status("waiting")
        data = yield ctx.wait_for_event("right")
        return data

    runtime.start()
    iid = new_id("picky")
    client.start_orchestration(iid, "PickyWaiter")
    wait_until_custom_status(client, iid, "waiting")
    client.raise_event(iid, "wrong", "nope")
    with pytest.raises(duroxide.DuroxideTimeoutError):
        client.wait_for_orchestration(iid, 300)
    assert client.get_status(iid).status == "Running"
    client.raise_event(iid, "right", ["yes", 1])
    assert_completed(client.wait_for_orchestration(iid, 30000), ["yes", 1])


def test_error_handling_try_except_runs_cleanup(make_runtime, run_orchestration):
    runtime = make_runtime()
    cleanups = []

    @runtime.register_activity("RiskyCall")
    def risky_call(ctx, input):
        if input.get("fail"):
            raise Exception("service unavailable (503)")
        return {"value": input["x"] * 2}

    @runtime.register_activity("Cleanup")
    def cleanup(ctx, input):
        cleanups.append(input)
        return None

    @runtime.register_orchestration("SafeWorkflow")
    def safe_workflow(ctx, input):
        try:
            result = yield ctx.schedule_activity("RiskyCall", input)
            return result
        except Exception as e:
            ctx.trace_error(f"activity failed: {e}")
            yield ctx.schedule_activity("Cleanup", {"error": str(e)})
            return {
                "status": "failed",
                "error": str(e),
                "is_task_failed": isinstance(e, duroxide.TaskFailedError),
                "is_duroxide_error": isinstance(e, duroxide.DuroxideError),
            }

    runtime.start()
    ok = run_orchestration("SafeWorkflow", {"x": 21})
    assert_completed(ok, {"value": 42})
    assert cleanups == []

    bad = run_orchestration("SafeWorkflow", {"fail": True})
    out = assert_completed(bad)
    assert out["status"] == "failed"
    assert "service unavailable (503)" in out["error"]
    assert out["is_task_failed"] is True
    assert out["is_duroxide_error"] is True
    assert cleanups == [{"error": out["error"]}]


def test_uncaught_activity_failure_fails_the_instance(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_activity("Explode")
    def explode(ctx, input):
        raise RuntimeError(f"disk {input} is full")

    @runtime.register_orchestration("NoCatch")
    def no_catch(ctx, input):
        yield ctx.schedule_activity("Explode", input)
        return "unreachable"

    runtime.start()
    assert_failed(run_orchestration("NoCatch", "sda1"), "disk sda1 is full")


def test_uncaught_orchestration_exception_fails_the_instance(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Ok", lambda ctx, x: x)

    @runtime.register_orchestration("Raises")
    def raises(ctx, input):
        v = yield ctx.schedule_activity("Ok", input)
        raise KeyError(f"missing key after {v}")

    runtime.start()
    assert_failed(run_orchestration("Raises", "step-1"), "missing key after step-1")


def test_continue_as_new_counts_across_executions(make_runtime, run_orchestration):
    runtime = make_runtime()
    ticks = []

    @runtime.register_activity("Tick")
    def tick(ctx, n):
        ticks.append((n, ctx.execution_id))
        return n + 1

    @runtime.register_orchestration("Counter")
    def counter(ctx, input):
        n = input["n"]
        if n >= input["target"]:
            return {"count": n, "execution_id": ctx.execution_id, "history": input["history"]}
        nxt = yield ctx.schedule_activity("Tick", n)
        yield ctx.continue_as_new({
            "n": nxt,
            "target": input["target"],
            "history": input["history"] + [ctx.execution_id],
        })

    runtime.start()
    result = run_orchestration("Counter", {"n": 0, "target": 5, "history": []})
    assert_completed(result, {"count": 5, "execution_id": 6, "history": [1, 2, 3, 4, 5]})
    assert ticks == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]


def test_monitor_pattern_with_timer_and_continue_as_new(make_runtime, run_orchestration):
    runtime = make_runtime()
    checks = []

    @runtime.register_activity("CheckHealth")
    def check_health(ctx, target):
        checks.append(target)
        return {"status": "healthy" if len(checks) % 2 else "degraded"}

    @runtime.register_orchestration("Monitor")
    def monitor(ctx, input):
        state = input.get("state", {"check_count": 0, "statuses": []})
        health = yield ctx.schedule_activity("CheckHealth", input["target"])
        ctx.trace_info(f"health check #{state['check_count']}: {health['status']}")
        statuses = state["statuses"] + [health["status"]]
        if state["check_count"] + 1 >= 3:
            return statuses
        yield ctx.schedule_timer(20)
        yield ctx.continue_as_new({
            "target": input["target"],
            "state": {"check_count": state["check_count"] + 1, "statuses": statuses},
        })

    runtime.start()
    result = run_orchestration("Monitor", {"target": "db-1"})
    assert_completed(result, ["healthy", "degraded", "healthy"])
    assert checks == ["db-1", "db-1", "db-1"]


def test_continue_as_new_returned_via_return_yield(make_runtime, run_orchestration):
    # The chat-bot example writes `return (yield ctx.continue_as_new(x))`.
    runtime = make_runtime()

    @runtime.register_orchestration("ReturnYieldCan")
    def orch(ctx, input):
        if input >= 2:
            return f"stopped at {input}"
        return (yield ctx.continue_as_new(input + 1))

    runtime.start()
    assert_completed(run_orchestration("ReturnYieldCan", 0), "stopped at 2")
