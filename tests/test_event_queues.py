"""Event queues: ctx.dequeue_event / client.enqueue_event, FIFO order, independent
queues, messages surviving continue-as-new (the user guide's chat bot)."""

import json

from conftest import assert_completed, new_id, wait_until_custom_status


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

    @runtime.register_activity("Generate")
    def generate(ctx, text):
        return f"Echo: {text}"

    @runtime.register_orchestration("ChatBot")
    def chat_bot(ctx, input):
        msg_json = yield ctx.dequeue_event("inbox")
        msg = json.loads(msg_json)
        response = yield ctx.schedule_activity("Generate", msg["text"])
        ctx.set_custom_status(json.dumps({"state": "replied", "response": response, "seq": msg["seq"]}))
        if "bye" in msg["text"].lower():
            return f"Done after {msg['seq']} msgs"
        return (yield ctx.continue_as_new(""))

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
