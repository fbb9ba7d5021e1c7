"""The user guide's larger examples, run as written (the test's provider and instance
ids aside): the Copilot chat bot (tests/helpers/chat_bot.py), the multi-queue orchestration, retry on session, and
the continue-as-new Monitor under versioning."""

import json
import threading

from conftest import assert_completed, new_id
from helpers.chat_bot import register_chat_bot


def test_copilot_chat_bot(make_runtime, client):
    runtime = make_runtime()
    register_chat_bot(runtime)

    runtime.start()
    chat = new_id("chat")

    # --- Client side ---

    # Start the chat bot
    client.start_orchestration(chat, "ChatBot", "")

    # Send a message
    client.enqueue_event(chat, "inbox", json.dumps({"seq": 1, "text": "Hello!"}))

    # Wait for the response
    status = client.wait_for_status_change(chat, 0, 50, 10000)
    assert status is not None, "no reply within 10 s"
    reply = json.loads(status.custom_status)
    assert reply["response"] == "Echo: Hello!"
    assert reply == {"state": "replied", "response": "Echo: Hello!", "seq": 1}

    # End the conversation
    client.enqueue_event(chat, "inbox", json.dumps({"seq": 2, "text": "Bye!"}))
    result = client.wait_for_orchestration(chat, 30000)
    assert_completed(result, "Done after 2 msgs")
    assert json.loads(result.custom_status) == {"state": "replied", "response": "Echo: Bye!", "seq": 2}
    assert result.custom_status_version > status.custom_status_version


def test_multi_queue(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("MultiQueueSpec")
    def multi_queue(ctx, input):
        # Each queue is independent — FIFO within each queue
        command = yield ctx.dequeue_event("commands")
        config = yield ctx.dequeue_event("config")
        return {"command": command, "config": config}

    runtime.start()
    iid = new_id("multiq-spec")
    client.start_orchestration(iid, "MultiQueueSpec", None)
    # The config queue gets its messages first; the orchestration reads "commands" first
    # anyway, and each queue hands out its oldest message.
    client.enqueue_event(iid, "config", "config-1")
    client.enqueue_event(iid, "config", "config-2")
    client.enqueue_event(iid, "commands", "command-1")
    client.enqueue_event(iid, "commands", "command-2")
    assert_completed(client.wait_for_orchestration(iid, 30000),
                     {"command": "command-1", "config": "config-1"})


def test_retry_session_workflow(make_runtime, client):
    runtime = make_runtime()
    attempts = []
    lock = threading.Lock()

    @runtime.register_activity("FlakeyGpuTask")
    def flakey_gpu_task(ctx, input):
        with lock:
            attempts.append({"session_id": ctx.session_id, "worker_id": ctx.worker_id})
            n = len(attempts)
        if n < 3:
            raise RuntimeError(f"CUDA error on attempt {n}")
        return {"model": input, "attempt": n}

    @runtime.register_orchestration("RetrySessionWorkflow")
    def retry_session_workflow(ctx, input):
        result = yield ctx.schedule_activity_with_retry_on_session(
            "FlakeyGpuTask",
            input,
            {"max_attempts": 3, "backoff_strategy": "none"},
            "gpu-session-1",
        )
        return result

    runtime.start()
    iid = new_id("retry-session")
    client.start_orchestration(iid, "RetrySessionWorkflow", "llama")
    assert_completed(client.wait_for_orchestration(iid, 60000), {"model": "llama", "attempt": 3})
    assert [a["session_id"] for a in attempts] == ["gpu-session-1"] * 3
    assert len({a["worker_id"] for a in attempts}) == 1, attempts


def test_versioned_monitor_with_continue_as_new(make_runtime, client):
    runtime = make_runtime()
    checks = []  # (execution_id, version, target) per CheckHealth run
    states_seen = {}  # execution_id -> check_count that execution started with
    lock = threading.Lock()

    @runtime.register_activity("CheckHealth")
    def check_health(ctx, target):
        with lock:
            checks.append((ctx.execution_id, ctx.orchestration_version, target))
        return {"status": "healthy"}

    # v1.0.0: the guide's "Continue-as-New" Monitor, as written. New instances never
    # run it once 1.0.1 is registered.
    @runtime.register_orchestration("Monitor")
    def monitor(ctx, input):
        state = input.get("state", {"check_count": 0})

        # Do periodic work
        health = yield ctx.schedule_activity("CheckHealth", input["target"])
        ctx.trace_info(f"health check #{state['check_count']}: {health['status']}")

        # Wait before next check
        yield ctx.schedule_timer(30000)  # 30 seconds

        # Restart with updated state (keeps history from growing unbounded)
        yield ctx.continue_as_new({
            "target": input["target"],
            "state": {"check_count": state["check_count"] + 1},
        })

    # v1.0.1: the same monitor, adapted minimally so the test ends: it returns once
    # check_count reaches 3, and the timer is 10 ms instead of 30 s.
    @runtime.register_orchestration_versioned("Monitor", "1.0.1")
    def monitor_v2(ctx, input):
        state = input.get("state", {"check_count": 0})
        states_seen[ctx.execution_id] = state["check_count"]  # test instrumentation
        if state["check_count"] >= 3:  # adaptation: stop after three checks
            return {"target": input["target"], "checks": state["check_count"],
                    "version": ctx.orchestration_version, "execution_id": ctx.execution_id}

        # Do periodic work
        health = yield ctx.schedule_activity("CheckHealth", input["target"])
        ctx.trace_info(f"health check #{state['check_count']}: {health['status']}")

        # Wait before next check
        yield ctx.schedule_timer(10)  # adaptation: 10 ms instead of 30 seconds

        # Restart with updated state (keeps history from growing unbounded)
        yield ctx.continue_as_new({
            "target": input["target"],
            "state": {"check_count": state["check_count"] + 1},
        })

    runtime.start()
    iid = new_id("monitor")
    client.start_orchestration(iid, "Monitor", {"target": "db-primary"})
    assert_completed(client.wait_for_orchestration(iid, 60000), {
        "target": "db-primary", "checks": 3, "version": "1.0.1", "execution_id": 4,
    })
    # Each execution started with the previous one's check_count + 1.
    assert states_seen == {1: 0, 2: 1, 3: 2, 4: 3}
    # One health check per execution before the last, all on 1.0.1 (never on 1.0.0).
    assert sorted(checks) == [(1, "1.0.1", "db-primary"), (2, "1.0.1", "db-primary"),
                              (3, "1.0.1", "db-primary")]
