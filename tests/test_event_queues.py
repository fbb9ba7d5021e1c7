"""Event queues: ctx.dequeue_event / client.enqueue_event, FIFO order, independent
queues, messages surviving continue-as-new (the user guide's chat bot)."""

import json

from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status
from helpers.chat_bot import register_chat_bot


def test_request_processor_dequeues_one_message(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("ProcessRequest")
    def process_request(ctx, request):
        return {"processed": request["data"]["id"], "action": request["action"]}

    @runtime.register_orchestration("RequestProcessor")
    def request_processor(ctx, input):
        ctx.set_custom_status("ready")
        request_json = yield ctx.dequeue_event("requests")
        request = json.loads(request_json)
        return (yield ctx.schedule_activity("ProcessRequest", request))

    runtime.start()
    iid = new_id("proc")
    client.start_orchestration(iid, "RequestProcessor")
    wait_until_custom_status(client, iid, "ready")
    client.enqueue_event(iid, "requests", json.dumps({"action": "process", "data": {"id": 42}}))
    assert_completed(client.wait_for_orchestration(iid, 30000), {"processed": 42, "action": "process"})


def test_queue_is_fifo(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("Slowish")
    def slowish(ctx, x):
        return x

    @runtime.register_orchestration("Drain")
    def drain(ctx, input):
        got = []
        ctx.set_custom_status("ready")
        for _ in range(input):
            msg = yield ctx.dequeue_event("inbox")
            # An activity between dequeues, so later messages arrive before the next dequeue.
            got.append((yield ctx.schedule_activity("Slowish", msg)))
        return got

    runtime.start()
    iid = new_id("fifo")
    client.start_orchestration(iid, "Drain", 5)
    wait_until_custom_status(client, iid, "ready")
    for i in range(5):
        client.enqueue_event(iid, "inbox", f"msg-{i}")
    assert_completed(client.wait_for_orchestration(iid, 30000), [f"msg-{i}" for i in range(5)])


def test_multiple_queues_are_independent(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("MultiQueue")
    def multi_queue(ctx, input):
        ctx.set_custom_status("ready")
        command = yield ctx.dequeue_event("commands")
        config = yield ctx.dequeue_event("config")
        command2 = yield ctx.dequeue_event("commands")
        return {"command": command, "config": config, "command2": command2}

    runtime.start()
    iid = new_id("multiq")
    client.start_orchestration(iid, "MultiQueue")
    wait_until_custom_status(client, iid, "ready")
    # The config message goes first, but "commands" is dequeued first: each queue is separate.
    client.enqueue_event(iid, "config", "cfg-1")
    client.enqueue_event(iid, "commands", "cmd-1")
    client.enqueue_event(iid, "commands", "cmd-2")
    assert_completed(client.wait_for_orchestration(iid, 30000),
                     {"command": "cmd-1", "config": "cfg-1", "command2": "cmd-2"})


def test_queue_message_structured_data_round_trips(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("Structured")
    def structured(ctx, input):
        ctx.set_custom_status("ready")
        return (yield ctx.dequeue_event("q"))

    runtime.start()
    iid = new_id("structq")
    client.start_orchestration(iid, "Structured")
    wait_until_custom_status(client, iid, "ready")
    payload = {"seq": 3, "items": [1, "two", None], "ok": True}
    client.enqueue_event(iid, "q", payload)
    assert_completed(client.wait_for_orchestration(iid, 30000), payload)


def test_chat_bot_messages_survive_continue_as_new(make_runtime, client):
    runtime = make_runtime()
    register_chat_bot(runtime)

    runtime.start()
    iid = new_id("chat")
    client.start_orchestration(iid, "ChatBot", "")
    client.enqueue_event(iid, "inbox", json.dumps({"seq": 1, "text": "Hello!"}))
    status = client.wait_for_status_change(iid, 0, 20, 30000)
    assert status is not None
    reply = json.loads(status.custom_status)
    assert reply == {"state": "replied", "response": "Echo: Hello!", "seq": 1}

    # Two messages at once: the second is still queued when the first one's
    # execution continues-as-new, and must be carried into the next execution.
    client.enqueue_event(iid, "inbox", json.dumps({"seq": 2, "text": "How are you?"}))
    client.enqueue_event(iid, "inbox", json.dumps({"seq": 3, "text": "Bye!"}))
    result = client.wait_for_orchestration(iid, 30000)
    assert_completed(result, "Done after 3 msgs")
    assert json.loads(result.custom_status) == {"state": "replied", "response": "Echo: Bye!", "seq": 3}


def test_unread_messages_carry_over_several_continue_as_new(make_runtime, client):
    # Five messages arrive while execution 1 waits for an event; it continues-as-new
    # without reading any. Execution 2 reads two and continues-as-new again; execution
    # 3 reads the rest. Nothing is lost and the queue order holds across executions.
    runtime = make_runtime()

    @runtime.register_orchestration("CarryOver")
    def carry_over(ctx, input):
        if ctx.execution_id == 1:
            ctx.set_custom_status("ready")
            yield ctx.wait_for_event("go")
            return (yield ctx.continue_as_new([]))
        got = list(input)
        for _ in range(2 if ctx.execution_id == 2 else 3):
            got.append([ctx.execution_id, (yield ctx.dequeue_event("inbox"))])
        if ctx.execution_id == 2:
            return (yield ctx.continue_as_new(got))
        return got

    runtime.start()
    iid = new_id("carry")
    client.start_orchestration(iid, "CarryOver")
    wait_until_custom_status(client, iid, "ready")
    for i in range(5):
        client.enqueue_event(iid, "inbox", {"n": i})
    client.raise_event(iid, "go", None)
    assert_completed(client.wait_for_orchestration(iid, 30000), [
        [2, {"n": 0}], [2, {"n": 1}], [3, {"n": 2}], [3, {"n": 3}], [3, {"n": 4}],
    ])


BACKLOG = 150


def _wait_then_backlog(client, iid):
    """Waits until the instance waits for "go", queues BACKLOG messages, then raises "go"."""
    wait_until_custom_status(client, iid, "ready")
    for i in range(1, BACKLOG + 1):
        client.enqueue_event(iid, "work", i)
    client.raise_event(iid, "go", None)


def test_draining_a_large_backlog_in_one_turn_fails_with_advice(make_runtime, client):
    # All 150 messages are already queued when the loop starts, so every dequeue
    # completes at once: more than the ~100 steps one turn may take. The instance fails
    # and the error says what to do instead.
    runtime = make_runtime()

    @runtime.register_orchestration("DrainAllAtOnce")
    def drain_all(ctx, input):
        ctx.set_custom_status("ready")
        yield ctx.wait_for_event("go")
        total = 0
        for _ in range(BACKLOG):
            total += yield ctx.dequeue_event("work")
        return total

    runtime.start()
    iid = new_id("drain-all")
    client.start_orchestration(iid, "DrainAllAtOnce")
    _wait_then_backlog(client, iid)
    result = client.wait_for_orchestration(iid, 60000)
    assert_failed(result, "continue_as_new", "dequeue_event")


def test_draining_a_large_backlog_in_batches_with_continue_as_new(make_runtime, client):
    # The documented fix: dequeue at most about 90 messages per execution, then
    # continue_as_new; unread messages carry over to the next execution.
    runtime = make_runtime()

    @runtime.register_orchestration("DrainInBatches")
    def drain_in_batches(ctx, state):
        if state is None:
            ctx.set_custom_status("ready")
            yield ctx.wait_for_event("go")
            state = {"count": 0, "sum": 0, "in_order": True, "batches": []}
        batch = 0
        while state["count"] < BACKLOG and batch < 90:
            msg = yield ctx.dequeue_event("work")
            state["in_order"] = state["in_order"] and msg == state["count"] + 1
            state["count"] += 1
            state["sum"] += msg
            batch += 1
        state["batches"].append(batch)
        if state["count"] < BACKLOG:
            return (yield ctx.continue_as_new(state))
        state["execution_id"] = ctx.execution_id
        return state

    runtime.start()
    iid = new_id("drain-batches")
    client.start_orchestration(iid, "DrainInBatches")
    _wait_then_backlog(client, iid)
    assert_completed(client.wait_for_orchestration(iid, 60000), {
        "count": BACKLOG,
        "sum": BACKLOG * (BACKLOG + 1) // 2,
        "in_order": True,
        "batches": [90, 60],
        "execution_id": 2,
    })
