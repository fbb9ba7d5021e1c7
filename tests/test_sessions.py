"""Sessions (activity affinity): the user guide's complete example, the two ways of
scheduling a session activity, ActivityContext.session_id / .tag, retry on session, and
validation of the session options."""

import threading
from collections import defaultdict

import pytest

from duroxide import Client, PyRuntimeOptions, Runtime, RuntimeOptions, SqliteProvider

from conftest import assert_completed, new_id


def test_user_guide_complete_example(provider):
    # The user guide's "Complete Example", as written, on the test's provider instead of
    # SqliteProvider.in_memory().
    client = Client(provider)
    runtime = Runtime(provider, PyRuntimeOptions(
        max_sessions_per_runtime=5,
        session_idle_timeout_ms=60000,
        worker_node_id="worker-1",
    ))

    # Stateful activity — shares in-memory state within a session
    session_state = {}

    @runtime.register_activity("Accumulate")
    def accumulate(ctx, input):
        sid = ctx.session_id
        if sid not in session_state:
            session_state[sid] = []
        session_state[sid].append(input)
        return session_state[sid]

    @runtime.register_orchestration("BatchProcess")
    def batch_process(ctx, input):
        for item in input["items"]:
            result = yield ctx.schedule_activity_on_session(
                "Accumulate", item, f"batch-{input['batch_id']}"
            )
        return result  # All items accumulated in order

    runtime.start()
    try:
        client.start_orchestration("batch-1", "BatchProcess", {
            "batch_id": "001",
            "items": ["a", "b", "c"],
        })
        result = client.wait_for_orchestration("batch-1")
        assert_completed(result, ["a", "b", "c"])
        assert session_state == {"batch-001": ["a", "b", "c"]}
    finally:
        runtime.shutdown()
        client.close()


def test_session_keyword_and_on_session_method_are_equivalent(make_runtime, client):
    runtime = make_runtime()
    calls = []

    @runtime.register_activity("ProcessData")
    def process_data(ctx, input):
        calls.append((ctx.session_id, ctx.worker_id))
        return {"input": input, "session_id": ctx.session_id, "tag": ctx.tag}

    @runtime.register_orchestration("SessionEquivalence")
    def session_workflow(ctx, input):
        session = input["session"]
        r1 = yield ctx.schedule_activity_on_session("ProcessData", input["x"], session)
        r2 = yield ctx.schedule_activity("ProcessData", input["x"], session_id=session)
        return [r1, r2]

    runtime.start()
    iid = new_id("sess-eq")
    session = f"my-session-{iid}"
    client.start_orchestration(iid, "SessionEquivalence", {"session": session, "x": 7})
    r1, r2 = assert_completed(client.wait_for_orchestration(iid, 30000))
    expected = {"input": 7, "session_id": session, "tag": None}
    assert r1 == expected
    assert r2 == expected
    # Both ran on the session's worker slot (no worker_node_id: one slot owns it).
    assert len(calls) == 2
    assert calls[0] == calls[1]


def test_regular_activity_sees_no_session_and_no_tag(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("MyActivity")
    def my_activity(ctx, input):
        return {"session_id": ctx.session_id, "tag": ctx.tag, "input": input}

    @runtime.register_orchestration("SessionVsRegular")
    def orch(ctx, input):
        regular = yield ctx.schedule_activity("MyActivity", "r")
        on_session = yield ctx.schedule_activity("MyActivity", "s", session_id=input)
        return {"regular": regular, "on_session": on_session}

    runtime.start()
    iid = new_id("sess-reg")
    session = f"s-{iid}"
    client.start_orchestration(iid, "SessionVsRegular", session)
    assert_completed(client.wait_for_orchestration(iid, 30000), {
        "regular": {"session_id": None, "tag": None, "input": "r"},
        "on_session": {"session_id": session, "tag": None, "input": "s"},
    })


def test_retry_on_session_keeps_every_attempt_on_the_session(make_runtime, client):
    runtime = make_runtime()
    attempts = defaultdict(list)
    lock = threading.Lock()

    @runtime.register_activity("FlakeyGpuTaskSess")
    def flakey(ctx, input):
        with lock:
            attempts[ctx.instance_id].append((ctx.session_id, ctx.worker_id))
            n = len(attempts[ctx.instance_id])
        if n < 3:
            raise RuntimeError(f"gpu hiccup {n}")
        return {"ok_on_attempt": n, "input": input, "session_id": ctx.session_id}

    @runtime.register_orchestration("RetryOnSession")
    def retry_on_session(ctx, input):
        return (yield ctx.schedule_activity_with_retry_on_session(
            "FlakeyGpuTaskSess",
            input["x"],
            {"max_attempts": 3, "backoff_strategy": "none"},
            input["session"],
        ))

    runtime.start()
    iid = new_id("retry-sess")
    session = f"gpu-session-{iid}"
    client.start_orchestration(iid, "RetryOnSession", {"x": "model-A", "session": session})
    assert_completed(client.wait_for_orchestration(iid, 60000),
                     {"ok_on_attempt": 3, "input": "model-A", "session_id": session})
    seen = attempts[iid]
    assert len(seen) == 3
    assert {sid for sid, _ in seen} == {session}
    worker_ids = {wid for _, wid in seen}
    assert len(worker_ids) == 1, f"attempts ran on different workers: {seen}"


@pytest.mark.parametrize("option, value", [
    ("max_sessions_per_runtime", 0),
    ("session_idle_timeout_ms", -1),
    ("worker_node_id", ""),
])
def test_invalid_session_options_raise_value_error(option, value):
    with pytest.raises(ValueError) as info:
        RuntimeOptions(**{option: value})
    assert option in str(info.value)
    # The same through the runtime constructor the guide uses.
    with pytest.raises(ValueError):
        Runtime(SqliteProvider.in_memory(), PyRuntimeOptions(**{option: value}))
