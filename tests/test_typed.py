"""The ``*_typed`` variants end to end.

They differ from the plain methods in the encoding: a ``str`` crosses as is (``abc``), not
as a JSON string (``"abc"``); every other value is JSON; results are JSON-decoded with a
fallback to the raw text. ``all_typed``/``race_typed`` give plain values, not
``{"ok": ...}`` items. The raw encodings are checked in the stored history.
"""

import threading

import pytest

import duroxide

from conftest import assert_completed, new_id, wait_until_custom_status


def _history(client, iid, execution_id=1):
    return client.read_execution_history(iid, execution_id)


def _events(client, iid, kind, execution_id=1):
    """The events of ``kind`` as stored (their payloads as the raw strings on the wire:
    the export format keeps them; read_execution_history decodes them)."""
    export = client.export_history(iid)
    execution = next(x for x in export["executions"] if x["execution_id"] == execution_id)
    stored = {"QueueEventDelivered": "ExternalEventPersistent"}.get(kind, kind)  # the core's serialised name
    return [e for e in execution["events"] if e["type"] == stored]


def _register_echo(runtime, name, typed=False):
    register = runtime.register_activity_typed if typed else runtime.register_activity

    @register(name)
    def echo(ctx, input):
        return input


# --------------------------------------------------------------------------- registration


def test_register_activity_typed_sends_str_result_raw(make_runtime, client):
    runtime = make_runtime()
    seen = []

    @runtime.register_activity_typed("TypedHello")
    def typed_hello(ctx, input):
        seen.append(input)
        return "hello"

    @runtime.register_activity("PlainHello")
    def plain_hello(ctx, input):
        return "hello"

    @runtime.register_activity_typed("TypedDict")
    def typed_dict(ctx, input):
        return {"got": input}

    @runtime.register_orchestration("RegActTyped")
    def orch(ctx, input):
        a = yield ctx.schedule_activity("TypedHello", {"k": [1, 2]})
        b = yield ctx.schedule_activity("PlainHello", None)
        c = yield ctx.schedule_activity("TypedDict", {"x": 1})
        return {"a": a, "b": b, "c": c}

    runtime.start()
    iid = new_id("reg-act-typed")
    client.start_orchestration(iid, "RegActTyped")
    assert_completed(client.wait_for_orchestration(iid, 30000),
                     {"a": "hello", "b": "hello", "c": {"got": {"x": 1}}})
    assert seen == [{"k": [1, 2]}]
    results = [f["result"] for f in _events(client, iid, "ActivityCompleted")]
    assert results == ["hello", '"hello"', '{"got":{"x":1}}']


def test_register_orchestration_typed_sends_str_output_raw(make_runtime, client):
    runtime = make_runtime()
    inputs = []

    @runtime.register_orchestration_typed("RegOrchTyped")
    def typed(ctx, input):
        inputs.append(input)
        return "hello"

    @runtime.register_orchestration("RegOrchPlain")
    def plain(ctx, input):
        return "hello"

    runtime.start()
    t = new_id("reg-orch-typed")
    p = new_id("reg-orch-plain")
    client.start_orchestration(t, "RegOrchTyped", {"user": "ann", "n": 3})
    client.start_orchestration(p, "RegOrchPlain")
    assert_completed(client.wait_for_orchestration(t, 30000), "hello")
    assert_completed(client.wait_for_orchestration(p, 30000), "hello")
    assert inputs and all(i == {"user": "ann", "n": 3} for i in inputs)
    assert client.get_instance_info(t).output == "hello"
    assert client.get_instance_info(p).output == '"hello"'
    assert client.wait_for_orchestration_typed(t, 30000) == "hello"
    assert client.wait_for_orchestration_typed(p, 30000) == "hello"


def test_register_orchestration_versioned_typed(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration_versioned_typed("RegVerTyped", "1.0.0")
    def v1(ctx, input):
        return f"v1:{input['who']}"

    @runtime.register_orchestration_versioned_typed("RegVerTyped", "2.0.0")
    def v2(ctx, input):
        return f"v2:{input['who']}"

    runtime.start()
    latest = new_id("reg-ver-latest")
    pinned = new_id("reg-ver-pinned")
    client.start_orchestration_typed(latest, "RegVerTyped", {"who": "a"})
    client.start_orchestration_versioned_typed(pinned, "RegVerTyped", {"who": "b"}, "1.0.0")
    assert client.wait_for_orchestration_typed(latest, 30000) == "v2:a"
    assert client.wait_for_orchestration_typed(pinned, 30000) == "v1:b"
    assert client.get_instance_info(latest).orchestration_version == "2.0.0"
    assert client.get_instance_info(pinned).orchestration_version == "1.0.0"
    assert client.get_instance_info(pinned).output == "v1:b"


# --------------------------------------------------------------------------- activities


def test_schedule_activity_typed_sends_str_input_raw(make_runtime, client):
    runtime = make_runtime()
    seen = []

    @runtime.register_activity("TEcho")
    def echo(ctx, input):
        seen.append(input)
        return input

    @runtime.register_orchestration("SchedActTyped")
    def orch(ctx, input):
        a = yield ctx.schedule_activity_typed("TEcho", "abc")
        b = yield ctx.schedule_activity("TEcho", "abc")
        c = yield ctx.schedule_activity_typed("TEcho", {"n": 1})
        d = yield ctx.schedule_activity_typed("TEcho")
        return [a, b, c, d]

    runtime.start()
    iid = new_id("sched-act-typed")
    client.start_orchestration(iid, "SchedActTyped")
    assert_completed(client.wait_for_orchestration(iid, 30000), ["abc", "abc", {"n": 1}, None])
    assert seen == ["abc", "abc", {"n": 1}, None]

    scheduled = _events(client, iid, "ActivityScheduled")
    assert [s["name"] for s in scheduled] == ["TEcho"] * 4
    assert scheduled[0]["input"] == "abc"
    assert scheduled[1]["input"] == '"abc"'
    assert scheduled[2]["input"] == '{"n":1}'
    assert scheduled[3]["input"] == "null"


def test_schedule_activity_on_session_typed(make_runtime, client):
    runtime = make_runtime()
    seen = []

    @runtime.register_activity("SessEcho")
    def echo(ctx, input):
        seen.append((ctx.session_id, input))
        return input

    @runtime.register_orchestration("SessTyped")
    def orch(ctx, input):
        a = yield ctx.schedule_activity_on_session_typed("SessEcho", "raw", "sess-1")
        b = yield ctx.schedule_activity_on_session_typed("SessEcho", [1, "two"], "sess-1")
        return [a, b]

    runtime.start()
    iid = new_id("sess-typed")
    client.start_orchestration(iid, "SessTyped")
    assert_completed(client.wait_for_orchestration(iid, 30000), ["raw", [1, "two"]])
    assert seen == [("sess-1", "raw"), ("sess-1", [1, "two"])]
    scheduled = _events(client, iid, "ActivityScheduled")
    assert [s["input"] for s in scheduled] == ["raw", '[1,"two"]']
    assert [s.get("session_id") for s in scheduled] == ["sess-1", "sess-1"]


def _flaky(runtime, name, failures):
    """An activity failing the first ``failures`` calls for each input, then echoing it."""
    calls = []
    lock = threading.Lock()

    @runtime.register_activity(name)
    def flaky(ctx, input):
        with lock:
            calls.append((ctx.session_id, input))
            n = sum(1 for _, i in calls if i == input)
        if n <= failures:
            raise RuntimeError(f"flaky attempt {n}")
        return input

    return calls


RETRY = {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10}


def test_schedule_activity_with_retry_typed(make_runtime, client):
    runtime = make_runtime()
    calls = _flaky(runtime, "RetryFlaky", failures=1)

    @runtime.register_orchestration("RetryTyped")
    def orch(ctx, input):
        return (yield ctx.schedule_activity_with_retry_typed("RetryFlaky", "abc", RETRY))

    runtime.start()
    iid = new_id("retry-typed")
    client.start_orchestration(iid, "RetryTyped")
    assert_completed(client.wait_for_orchestration(iid, 30000), "abc")
    assert calls == [(None, "abc"), (None, "abc")]
    scheduled = _events(client, iid, "ActivityScheduled")
    assert [s["input"] for s in scheduled] == ["abc", "abc"]


def test_schedule_activity_with_retry_on_session_typed(make_runtime, client):
    runtime = make_runtime()
    calls = _flaky(runtime, "RetrySessFlaky", failures=2)

    @runtime.register_orchestration("RetrySessTyped")
    def orch(ctx, input):
        return (yield ctx.schedule_activity_with_retry_on_session_typed(
            "RetrySessFlaky", {"doc": "d1"}, RETRY, "sess-r"))

    runtime.start()
    iid = new_id("retry-sess-typed")
    client.start_orchestration(iid, "RetrySessTyped")
    assert_completed(client.wait_for_orchestration(iid, 30000), {"doc": "d1"})
    assert calls == [("sess-r", {"doc": "d1"})] * 3
    scheduled = _events(client, iid, "ActivityScheduled")
    assert [s["input"] for s in scheduled] == ['{"doc":"d1"}'] * 3
    assert all(s.get("session_id") == "sess-r" for s in scheduled)


# --------------------------------------------------------------------------- other orchestrations


def test_schedule_sub_orchestration_typed_and_with_id(make_runtime, client):
    runtime = make_runtime()
    child_inputs = []

    @runtime.register_orchestration("SubTypedChild")
    def child(ctx, input):
        child_inputs.append(input)
        return {"child_got": input}

    @runtime.register_orchestration("SubTypedParent")
    def parent(ctx, input):
        a = yield ctx.schedule_sub_orchestration_typed("SubTypedChild", "abc")
        b = yield ctx.schedule_sub_orchestration_with_id_typed("SubTypedChild", input["child_id"], {"n": 2})
        return [a, b]

    runtime.start()
    iid = new_id("sub-typed")
    child_id = new_id("sub-typed-child")
    client.start_orchestration(iid, "SubTypedParent", {"child_id": child_id})
    assert_completed(client.wait_for_orchestration(iid, 30000),
                     [{"child_got": "abc"}, {"child_got": {"n": 2}}])
    assert "abc" in child_inputs and {"n": 2} in child_inputs

    scheduled = _events(client, iid, "SubOrchestrationScheduled")
    assert [s["input"] for s in scheduled] == ["abc", '{"n":2}']
    assert scheduled[1]["instance"] == child_id
    info = client.get_instance_info(child_id)
    assert info.parent_instance_id == iid
    assert info.status == "Completed"
    assert set(client.get_instance_tree(iid).all_ids) >= {iid, child_id}


def test_start_orchestration_typed_from_context_is_fire_and_forget(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("DetachedTarget")
    def target(ctx, input):
        return {"target_got": input}

    @runtime.register_orchestration("DetachedStarter")
    def starter(ctx, input):
        started = yield ctx.start_orchestration_typed("DetachedTarget", input["target"], "abc")
        return {"started": started}

    runtime.start()
    iid = new_id("detached-starter")
    target = new_id("detached-target")
    client.start_orchestration(iid, "DetachedStarter", {"target": target})
    assert_completed(client.wait_for_orchestration(iid, 30000), {"started": None})
    assert_completed(client.wait_for_orchestration(target, 30000), {"target_got": "abc"})

    chained = _events(client, iid, "OrchestrationChained")
    assert len(chained) == 1
    assert chained[0]["instance"] == target
    assert chained[0]["input"] == "abc"
    assert _events(client, target, "OrchestrationStarted")[0]["input"] == "abc"
    # Detached: not a child of the starter.
    assert client.get_instance_info(target).parent_instance_id is None


def test_start_orchestration_versioned_typed_from_context(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration_versioned("VerTarget", "1.0.0")
    def v1(ctx, input):
        return {"v": 1, "got": input}

    @runtime.register_orchestration_versioned("VerTarget", "2.0.0")
    def v2(ctx, input):
        return {"v": 2, "got": input}

    @runtime.register_orchestration("VerStarter")
    def starter(ctx, input):
        yield ctx.start_orchestration_versioned_typed("VerTarget", "1.0.0", input["old"], "raw-in")
        yield ctx.start_orchestration_versioned_typed("VerTarget", None, input["new"], {"k": "v"})
        return "started"

    runtime.start()
    iid = new_id("ver-starter")
    old, new = new_id("ver-old"), new_id("ver-new")
    client.start_orchestration(iid, "VerStarter", {"old": old, "new": new})
    assert_completed(client.wait_for_orchestration(iid, 30000), "started")
    assert_completed(client.wait_for_orchestration(old, 30000), {"v": 1, "got": "raw-in"})
    assert_completed(client.wait_for_orchestration(new, 30000), {"v": 2, "got": {"k": "v"}})
    assert client.get_instance_info(old).orchestration_version == "1.0.0"
    assert client.get_instance_info(new).orchestration_version == "2.0.0"
    assert [c["input"] for c in _events(client, iid, "OrchestrationChained")] == ["raw-in", '{"k":"v"}']


def test_continue_as_new_typed(make_runtime, client):
    runtime = make_runtime()
    inputs = []

    @runtime.register_orchestration("CanTyped")
    def orch(ctx, input):
        inputs.append((ctx.execution_id, input))
        if ctx.execution_id == 1:
            yield ctx.continue_as_new_typed("next-raw")
        if ctx.execution_id == 2:
            yield ctx.continue_as_new_typed({"k": 1})
        return {"final": input}

    runtime.start()
    iid = new_id("can-typed")
    client.start_orchestration(iid, "CanTyped")
    assert_completed(client.wait_for_orchestration(iid, 30000), {"final": {"k": 1}})
    assert client.list_executions(iid) == [1, 2, 3]
    assert dict(inputs) == {1: None, 2: "next-raw", 3: {"k": 1}}
    assert client.get_execution_info(iid, 1).output == "next-raw"
    assert client.get_execution_info(iid, 2).output == '{"k":1}'
    assert _events(client, iid, "OrchestrationStarted", 2)[0]["input"] == "next-raw"


# --------------------------------------------------------------------------- events


def test_wait_for_event_typed_with_raise_event_typed(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("EventTyped")
    def orch(ctx, input):
        ctx.set_custom_status("wait-1")
        first = yield ctx.wait_for_event_typed("e1")
        ctx.set_custom_status("wait-2")
        second = yield ctx.wait_for_event_typed("e2")
        ctx.set_custom_status("wait-3")
        third = yield ctx.wait_for_event_typed("e3")
        return [first, second, third]

    runtime.start()
    iid = new_id("event-typed")
    client.start_orchestration(iid, "EventTyped")
    wait_until_custom_status(client, iid, "wait-1")
    client.raise_event_typed(iid, "e1", "hi")
    wait_until_custom_status(client, iid, "wait-2")
    client.raise_event_typed(iid, "e2", {"a": [1, 2]})
    wait_until_custom_status(client, iid, "wait-3")
    client.raise_event(iid, "e3", "quoted")
    assert_completed(client.wait_for_orchestration(iid, 30000), ["hi", {"a": [1, 2]}, "quoted"])
    data = [e["data"] for e in _events(client, iid, "ExternalEvent")]
    assert data == ["hi", '{"a":[1,2]}', '"quoted"']


def test_raise_event_typed_str_that_looks_like_json_arrives_as_that_value(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("EventLooksJson")
    def orch(ctx, input):
        ctx.set_custom_status("waiting")
        return (yield ctx.wait_for_event_typed("n"))

    runtime.start()
    iid = new_id("event-json")
    client.start_orchestration(iid, "EventLooksJson")
    wait_until_custom_status(client, iid, "waiting")
    client.raise_event_typed(iid, "n", "42")
    assert_completed(client.wait_for_orchestration(iid, 30000), 42)


def test_dequeue_event_typed_with_enqueue_event_typed(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("QueueTyped")
    def orch(ctx, input):
        ctx.set_custom_status("ready")
        a = yield ctx.dequeue_event_typed("inbox")
        b = yield ctx.dequeue_event_typed("inbox")
        c = yield ctx.dequeue_event_typed("inbox")
        return [a, b, c]

    runtime.start()
    iid = new_id("queue-typed")
    client.start_orchestration(iid, "QueueTyped")
    wait_until_custom_status(client, iid, "ready")
    client.enqueue_event_typed(iid, "inbox", "plain text")
    client.enqueue_event_typed(iid, "inbox", {"seq": 2})
    client.enqueue_event(iid, "inbox", "json string")
    assert_completed(client.wait_for_orchestration(iid, 30000), ["plain text", {"seq": 2}, "json string"])
    delivered = _events(client, iid, "QueueEventDelivered")
    assert [d["name"] for d in delivered] == ["inbox"] * 3
    assert [d["data"] for d in delivered] == ["plain text", '{"seq":2}', '"json string"']


# --------------------------------------------------------------------------- composition


def test_all_typed_returns_plain_values(make_runtime, client):
    runtime = make_runtime()
    _register_echo(runtime, "AllEcho")

    @runtime.register_orchestration("AllTyped")
    def orch(ctx, input):
        ctx.set_custom_status("fanned-out")
        results = yield ctx.all_typed([
            ctx.schedule_activity_typed("AllEcho", "act"),
            ctx.schedule_timer(20),
            ctx.wait_for_event_typed("ev"),
            ctx.schedule_activity("AllEcho", {"d": 1}),
        ])
        return results

    runtime.start()
    iid = new_id("all-typed")
    client.start_orchestration(iid, "AllTyped")
    wait_until_custom_status(client, iid, "fanned-out")
    client.raise_event_typed(iid, "ev", {"approved": True})
    assert_completed(client.wait_for_orchestration(iid, 30000),
                     ["act", None, {"approved": True}, {"d": 1}])


def test_all_typed_return_exceptions(make_runtime, client):
    runtime = make_runtime()
    _register_echo(runtime, "AllExcEcho")

    @runtime.register_activity("AllExcFails")
    def fails(ctx, input):
        raise RuntimeError("all-typed boom")

    @runtime.register_orchestration("AllTypedExc")
    def orch(ctx, input):
        results = yield ctx.all_typed([
            ctx.schedule_activity_typed("AllExcEcho", "ok"),
            ctx.schedule_activity("AllExcFails", None),
        ], return_exceptions=True)
        return [r if not isinstance(r, Exception) else {"error": str(r), "type": type(r).__name__}
                for r in results]

    runtime.start()
    iid = new_id("all-typed-exc")
    client.start_orchestration(iid, "AllTypedExc")
    out = assert_completed(client.wait_for_orchestration(iid, 30000))
    assert out[0] == "ok"
    assert out[1]["type"] == "ActivityFailedError"
    assert "all-typed boom" in out[1]["error"]


def test_race_typed_returns_index_and_plain_value(make_runtime, client):
    runtime = make_runtime()
    _register_echo(runtime, "RaceEcho")

    @runtime.register_orchestration("RaceTyped")
    def orch(ctx, input):
        first = yield ctx.race_typed(
            ctx.schedule_timer(60_000),
            ctx.schedule_activity_typed("RaceEcho", "fast"),
        )
        ctx.set_custom_status("racing-event")
        second = yield ctx.race_typed([
            ctx.wait_for_event_typed("ev"),
            ctx.schedule_timer(60_000),
        ])
        third = yield ctx.race_typed(ctx.schedule_timer(10), ctx.wait_for_event_typed("never"))
        return {"first": first, "second": second, "third": third}

    runtime.start()
    iid = new_id("race-typed")
    client.start_orchestration(iid, "RaceTyped")
    wait_until_custom_status(client, iid, "racing-event")
    client.raise_event_typed(iid, "ev", "winner")
    assert_completed(client.wait_for_orchestration(iid, 30000), {
        "first": {"index": 1, "value": "fast"},
        "second": {"index": 0, "value": "winner"},
        "third": {"index": 0, "value": None},
    })


# --------------------------------------------------------------------------- client


def test_client_start_orchestration_typed_sends_str_input_raw(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("ClientStartTyped")
    def orch(ctx, input):
        return {"got": input}

    runtime.start()
    typed, plain, obj = new_id("cst-typed"), new_id("cst-plain"), new_id("cst-obj")
    client.start_orchestration_typed(typed, "ClientStartTyped", "abc")
    client.start_orchestration(plain, "ClientStartTyped", "abc")
    client.start_orchestration_typed(obj, "ClientStartTyped", {"a": 1})
    assert client.wait_for_orchestration_typed(typed, 30000) == {"got": "abc"}
    assert client.wait_for_orchestration_typed(plain, 30000) == {"got": "abc"}
    assert client.wait_for_orchestration_typed(obj, 30000) == {"got": {"a": 1}}
    assert _events(client, typed, "OrchestrationStarted")[0]["input"] == "abc"
    assert _events(client, plain, "OrchestrationStarted")[0]["input"] == '"abc"'
    assert _events(client, obj, "OrchestrationStarted")[0]["input"] == '{"a":1}'


def test_wait_for_orchestration_typed_raises_when_failed(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("TypedFails")
    def orch(ctx, input):
        raise ValueError("typed wait boom")
        yield  # pragma: no cover

    runtime.start()
    iid = new_id("typed-fails")
    client.start_orchestration(iid, "TypedFails")
    with pytest.raises(duroxide.OrchestrationFailedError) as exc_info:
        client.wait_for_orchestration_typed(iid, 30000)
    err = exc_info.value
    assert isinstance(err, duroxide.DuroxideError)
    assert err.instance_id == iid
    assert "typed wait boom" in err.message
    assert "typed wait boom" in str(err)
    assert client.get_status(iid).status == "Failed"


def test_wait_for_orchestration_typed_times_out(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("TypedNeverEnds")
    def orch(ctx, input):
        ctx.set_custom_status("waiting")
        return (yield ctx.wait_for_event("never"))

    runtime.start()
    iid = new_id("typed-timeout")
    client.start_orchestration(iid, "TypedNeverEnds")
    wait_until_custom_status(client, iid, "waiting")
    with pytest.raises(duroxide.DuroxideTimeoutError):
        client.wait_for_orchestration_typed(iid, 200)


def test_get_kv_value_typed_and_wait_for_kv_value_typed(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("KvTyped")
    def orch(ctx, input):
        ctx.set_kv_value("obj", {"a": [1, 2]})
        ctx.set_kv_value("text", "plain")
        ctx.set_kv_value("num", 7)
        yield ctx.schedule_timer(100)
        ctx.set_kv_value("late", {"done": True})
        ctx.set_custom_status("set-late")
        yield ctx.wait_for_event("finish")
        return "ok"

    runtime.start()
    iid = new_id("kv-typed")
    client.start_orchestration(iid, "KvTyped")
    assert client.wait_for_kv_value_typed(iid, "late", 30000) == {"done": True}
    assert client.get_kv_value_typed(iid, "obj") == {"a": [1, 2]}
    assert client.get_kv_value_typed(iid, "text") == "plain"
    assert client.get_kv_value_typed(iid, "num") == 7
    assert client.get_kv_value_typed(iid, "missing") is None
    assert client.wait_for_kv_value_typed(iid, "obj", 30000) == {"a": [1, 2]}
    assert client.get_kv_value(iid, "obj") == '{"a":[1,2]}'

    wait_until_custom_status(client, iid, "set-late")
    client.raise_event(iid, "finish", None)
    assert client.wait_for_orchestration_typed(iid, 30000) == "ok"
