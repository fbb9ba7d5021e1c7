"""``async def`` orchestrations and activities, end to end on SQLite and PostgreSQL.

Generator orchestrations are covered by the rest of the suite; here every ``ctx`` call is
awaited from an ``async def`` orchestration, async activities run on the runtime's event
loop (and see ``asyncio.CancelledError`` when cancelled), the two styles call each other,
and the mistakes an asyncio programmer makes fail with a message that says what to write.
"""

from __future__ import annotations

import asyncio
import inspect
import threading

from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status
from duroxide import ActivityFailedError, TagFilter
from duroxide.replay import Replayer


def _register_activities(runtime, calls):
    @runtime.register_activity("Double")
    async def double(ctx, x):
        await asyncio.sleep(0.01)
        return x * 2

    @runtime.register_activity("SyncUpper")
    def sync_upper(ctx, x):
        return str(x).upper()

    @runtime.register_activity("FlakyOnce")
    async def flaky_once(ctx, key):
        calls[key] = calls.get(key, 0) + 1
        if calls[key] == 1:
            raise RuntimeError("first attempt fails")
        return f"ok after {calls[key]}"

    @runtime.register_activity("Session")
    async def session(ctx, x):
        return {"session": ctx.session_id, "x": x}

    @runtime.register_activity("Tagged")
    async def tagged(ctx, x):
        return ctx.tag


async def child(ctx, x):
    return {"child": x, "id": ctx.instance_id}


async def every_call(ctx, x):
    out = {}
    out["activity"] = await ctx.schedule_activity("Double", x)
    out["sync_activity"] = await ctx.schedule_activity("SyncUpper", "abc")
    out["typed"] = await ctx.schedule_activity_typed("Double", 4)
    out["session"] = await ctx.schedule_activity_on_session("Session", 1, "s-1")
    out["retry"] = await ctx.schedule_activity_with_retry(
        "FlakyOnce", ctx.instance_id + "/r", {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10}
    )
    out["retry_session"] = await ctx.schedule_activity_with_retry_on_session(
        "FlakyOnce", ctx.instance_id + "/rs", {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10}, "s-2"
    )
    out["tag"] = await ctx.schedule_activity("Tagged", None).with_tag("fast")
    out["timer"] = await ctx.schedule_timer(20)
    now = await ctx.utc_now()
    guid = await ctx.new_guid()
    out["now_is_ms"] = isinstance(now, int) and now > 1_600_000_000_000
    out["guid_len"] = len(guid)
    ctx.set_custom_status("waiting for go")
    out["status_seen"] = ctx.get_custom_status()
    out["event"] = await ctx.wait_for_event("go")
    out["queued"] = await ctx.dequeue_event("inbox")
    ctx.reset_custom_status()
    ctx.set_kv_value("stage", "subs")
    out["kv"] = ctx.get_kv_value("stage")
    out["sub"] = await ctx.schedule_sub_orchestration("Child", 1)
    out["sub_id"] = await ctx.schedule_sub_orchestration_with_id("Child", ctx.instance_id + "-c2", 2)
    out["sub_v"] = await ctx.schedule_sub_orchestration_versioned("Child", "1.0.0", 3)
    out["sub_v_id"] = await ctx.schedule_sub_orchestration_versioned_with_id("Child", None, ctx.instance_id + "-c4", 4)
    out["started"] = await ctx.start_orchestration("Child", ctx.instance_id + "-free", 5)
    out["kv_other"] = await ctx.get_kv_value_from_instance(ctx.instance_id + "-c2", "missing")
    out["all"] = await ctx.all([ctx.schedule_activity("Double", 1), ctx.schedule_timer(5), ctx.schedule_sub_orchestration("Child", 6)])
    out["all_typed"] = await ctx.all_typed([ctx.schedule_activity("Double", 2)])
    out["race3"] = await ctx.race(ctx.schedule_timer(60_000), ctx.schedule_activity("Double", 7), ctx.wait_for_event("never"))
    out["nested"] = await ctx.race(ctx.all([ctx.schedule_activity("Double", 8), ctx.schedule_timer(1)]), ctx.schedule_timer(60_000))
    out["race_typed"] = await ctx.race_typed(ctx.schedule_activity("Double", 9), ctx.schedule_timer(60_000))
    ctx.trace_info(f"replaying={ctx.is_replaying}")
    return out


def test_every_ctx_call_awaited_from_an_async_orchestration(make_runtime, client):
    calls: dict = {}
    runtime = make_runtime(worker_tag_filter=TagFilter.default_and("fast"))
    _register_activities(runtime, calls)
    runtime.register_orchestration("Child", child)
    runtime.register_orchestration("EveryCall", every_call)
    runtime.start()

    iid = new_id("every")
    client.start_orchestration(iid, "EveryCall", 21)
    wait_until_custom_status(client, iid, "waiting for go")
    client.enqueue_event(iid, "inbox", {"n": 1})
    client.raise_event(iid, "go", "now")
    out = assert_completed(client.wait_for_orchestration(iid, 60_000))

    assert out["activity"] == 42 and out["sync_activity"] == "ABC" and out["typed"] == 8
    assert out["session"] == {"session": "s-1", "x": 1}
    assert out["retry"] == out["retry_session"] == "ok after 2"
    assert out["tag"] == "fast"
    assert out["timer"] is None and out["now_is_ms"] and out["guid_len"] == 36
    assert out["status_seen"] == "waiting for go"
    assert out["event"] == "now" and out["queued"] == {"n": 1}
    assert out["kv"] == "subs" and out["kv_other"] is None
    assert out["sub"] == {"child": 1, "id": out["sub"]["id"]}
    assert out["sub_id"] == {"child": 2, "id": iid + "-c2"}
    assert out["sub_v"]["child"] == 3 and out["sub_v_id"] == {"child": 4, "id": iid + "-c4"}
    assert out["started"] is None
    assert out["all"] == [2, {"ok": None}, {"child": 6, "id": out["all"][2]["id"]}]
    assert out["all_typed"] == [4]
    assert out["race3"] == {"index": 1, "value": 14}
    assert out["nested"] == {"index": 0, "value": [16, {"ok": None}]}
    assert out["race_typed"] == {"index": 0, "value": 18}
    assert_completed(client.wait_for_orchestration(iid + "-free", 30_000), {"child": 5, "id": iid + "-free"})
    state = client.get_status(iid)
    assert state.custom_status is None  # reset before the end
    assert client.get_kv_value(iid, "stage") == "subs"


async def counter(ctx, n):
    if n >= 3:
        return {"done": n, "execution": ctx.execution_id}
    await ctx.schedule_timer(1)
    if n == 1:
        return await ctx.continue_as_new_versioned(n + 1, "1.0.0")
    return await ctx.continue_as_new(n + 1)


def test_async_continue_as_new_runs_the_next_execution(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_orchestration("Counter", counter)
    runtime.start()
    assert_completed(run_orchestration("Counter", 0), {"done": 3, "execution": 4})


def test_a_failed_activity_raises_at_the_await_and_can_be_caught(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_activity("Boom")
    async def boom(ctx, x):
        raise ValueError(f"bad input {x}")

    @runtime.register_orchestration("Catches")
    async def catches(ctx, x):
        try:
            await ctx.schedule_activity("Boom", x)
        except ActivityFailedError as e:
            caught = str(e)
        results = await ctx.all([ctx.schedule_activity("Boom", 2)], return_exceptions=True)
        return {"caught": caught, "gathered": type(results[0]).__name__}

    @runtime.register_orchestration("Propagates")
    async def propagates(ctx, x):
        return await ctx.schedule_activity("Boom", x)

    runtime.start()
    out = assert_completed(run_orchestration("Catches", 1))
    assert "bad input 1" in out["caught"] and out["gathered"] == "ActivityFailedError"
    assert_failed(run_orchestration("Propagates", 3), "bad input 3")


def generator_parent(ctx, x):
    return (yield ctx.schedule_sub_orchestration("AsyncChild", x))


async def async_child(ctx, x):
    return await ctx.schedule_sub_orchestration("GeneratorChild", x + 1)


def generator_child(ctx, x):
    doubled = yield ctx.schedule_activity("Double", x)
    return {"doubled": doubled}


def test_generator_and_async_orchestrations_call_each_other(make_runtime, run_orchestration):
    runtime = make_runtime()
    _register_activities(runtime, {})
    runtime.register_orchestration("GeneratorParent", generator_parent)
    runtime.register_orchestration("AsyncChild", async_child)
    runtime.register_orchestration("GeneratorChild", generator_child)
    runtime.start()
    assert_completed(run_orchestration("GeneratorParent", 4), {"doubled": 10})


async def _helper_coroutine(ctx):
    return await ctx.schedule_timer(1)


def test_asyncio_mistakes_fail_with_what_to_write_instead(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("Sleeps")
    async def sleeps(ctx, x):
        await asyncio.sleep(1)

    @runtime.register_orchestration("SleepsZero")
    async def sleeps_zero(ctx, x):
        await asyncio.sleep(0)

    @runtime.register_orchestration("AwaitsAFuture")
    async def awaits_a_future(ctx, x):
        await asyncio.Future(loop=asyncio.new_event_loop())

    @runtime.register_orchestration("CoroutineInAll")
    async def coroutine_in_all(ctx, x):
        await ctx.all([_helper_coroutine(ctx), ctx.schedule_timer(1)])

    @runtime.register_orchestration("FunctionInRace")
    async def function_in_race(ctx, x):
        await ctx.race(ctx.schedule_timer(1), _helper_coroutine)

    runtime.start()
    assert_failed(run_orchestration("Sleeps"), "no running event loop", "ctx.schedule_timer() instead of asyncio.sleep()")
    assert_failed(run_orchestration("SleepsZero"), "awaited None", "not a durable task", "ctx.schedule_timer()")
    assert_failed(run_orchestration("AwaitsAFuture"), "awaited <Future", "may only await what a ctx.* method returns")
    assert_failed(run_orchestration("CoroutineInAll"), "item 0 is a coroutine (_helper_coroutine)", "sub-orchestration")
    assert_failed(run_orchestration("FunctionInRace"), "item 1 is the function", "_helper_coroutine")


def test_an_async_generator_orchestration_fails_naming_both_styles(make_runtime, run_orchestration):
    runtime = make_runtime()

    async def async_gen(ctx, x):
        yield ctx.schedule_timer(1)

    # Registration refuses it; a function that returns one is caught when it runs.
    runtime.register_orchestration("ReturnsAsyncGen", lambda ctx, x: async_gen(ctx, x))
    runtime.start()
    assert_failed(run_orchestration("ReturnsAsyncGen"), "async generator", "`async def`, `result = await")


def test_async_activity_cancelled_mid_await_sees_cancelled_error(make_runtime, client):
    runtime = make_runtime(worker_lock_timeout_ms=2000)
    started, observed = threading.Event(), threading.Event()
    seen = {}

    @runtime.register_activity("Waits")
    async def waits(ctx, x):
        started.set()
        try:
            await asyncio.sleep(120)
        except asyncio.CancelledError:
            seen["is_cancelled"] = ctx.is_cancelled()
            observed.set()
            raise
        return "finished"

    @runtime.register_orchestration("RaceAgainstStop")
    async def race_against_stop(ctx, x):
        return await ctx.race(ctx.schedule_activity("Waits", None), ctx.wait_for_event("stop"))

    runtime.start()
    iid = new_id("async-cancel")
    client.start_orchestration(iid, "RaceAgainstStop")
    assert started.wait(30), "the activity never started"
    client.raise_event(iid, "stop", "now")
    assert_completed(client.wait_for_orchestration(iid, 30_000), {"index": 1, "value": {"ok": "now"}})
    assert observed.wait(60), "the losing async activity was never cancelled"
    assert seen["is_cancelled"] is True


def test_cancelling_the_instance_cancels_its_running_async_activity(make_runtime, client):
    runtime = make_runtime(worker_lock_timeout_ms=2000)
    started, observed = threading.Event(), threading.Event()

    @runtime.register_activity("Waits")
    async def waits(ctx, x):
        started.set()
        try:
            await asyncio.sleep(120)
        except asyncio.CancelledError:
            observed.set()
            raise

    @runtime.register_orchestration("CallsWaits")
    async def calls_waits(ctx, x):
        return await ctx.schedule_activity("Waits", None)

    runtime.start()
    iid = new_id("async-cancel-inst")
    client.start_orchestration(iid, "CallsWaits")
    assert started.wait(30), "the activity never started"
    client.cancel_instance(iid, "operator")
    assert_failed(client.wait_for_orchestration(iid, 30_000), "operator")
    assert observed.wait(60), "the async activity of the cancelled instance was never cancelled"


def test_async_activities_share_one_event_loop_and_overlap(make_runtime, run_orchestration):
    runtime = make_runtime(worker_concurrency=16)
    seen_threads, seen_loops = set(), set()
    active = {"now": 0, "max": 0}

    @runtime.register_activity("Io")
    async def io(ctx, x):
        seen_threads.add(threading.current_thread().name)
        seen_loops.add(id(asyncio.get_running_loop()))
        active["now"] += 1  # one loop thread: no lock needed
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0.3)
        active["now"] -= 1
        return x

    @runtime.register_orchestration("FanOut")
    async def fan_out(ctx, n):
        return sum(await ctx.all([ctx.schedule_activity("Io", i) for i in range(n)]))

    runtime.start()
    assert_completed(run_orchestration("FanOut", 16), sum(range(16)))
    assert seen_threads == {"duroxide-async-activities"}
    assert len(seen_loops) == 1
    assert active["max"] >= 2, f"the async activities never overlapped: {active}"


STEPS = {"second": "Double"}


async def switchable(ctx, x):
    a = await ctx.schedule_activity("Double", x)
    b = await ctx.schedule_activity(STEPS["second"], a)  # the awaited step that changes
    return b


def test_nondeterminism_in_an_async_orchestration_names_the_awaiting_line(make_runtime, client):
    runtime = make_runtime(replay_cache_size=1000)
    _register_activities(runtime, {})
    runtime.register_orchestration("Switchable", switchable)
    runtime.start()
    iid = new_id("switch")
    client.start_orchestration(iid, "Switchable", 1)
    assert_completed(client.wait_for_orchestration(iid, 30_000), 4)

    line = inspect.getsourcelines(switchable)[1] + 2
    STEPS["second"] = "SyncUpper"
    try:
        result = Replayer({"Switchable": switchable}).replay(client.export_history(iid))
    finally:
        STEPS["second"] = "Double"
    assert not result.ok
    assert "step 2" in result.message and f"{__file__}:{line}" in result.message, result.message
    assert Replayer({"Switchable": switchable}).replay(client.export_history(iid)).ok


RUNS: dict = {}


async def changes_on_rerun(ctx, x):
    first = RUNS.setdefault(ctx.instance_id, 0) == 0
    RUNS[ctx.instance_id] += 1
    await ctx.schedule_activity("Double" if first else "SyncUpper", x)
    return await ctx.schedule_activity("Double", 1)


def test_determinism_checks_catch_an_async_orchestration_under_the_replay_cache(make_runtime, client):
    runtime = make_runtime(replay_cache_size=1000, determinism_checks="every_turn")
    _register_activities(runtime, {})
    runtime.register_orchestration("ChangesOnRerun", changes_on_rerun)
    runtime.start()
    iid = new_id("rerun")
    client.start_orchestration(iid, "ChangesOnRerun", 1)
    assert_failed(client.wait_for_orchestration(iid, 30_000), "diverged from its history at step 1", "SyncUpper")


def test_a_slow_async_activity_does_not_hold_a_thread(make_runtime, run_orchestration):
    runtime = make_runtime(worker_concurrency=50)

    @runtime.register_activity("Sleep")
    async def sleep(ctx, x):
        await asyncio.sleep(0.2)
        return threading.active_count()

    @runtime.register_orchestration("Many")
    async def many(ctx, n):
        return max(await ctx.all([ctx.schedule_activity("Sleep", i) for i in range(n)]))

    runtime.start()
    before = threading.active_count()
    most_threads = assert_completed(run_orchestration("Many", 50))
    assert most_threads <= before + 2, f"{most_threads} Python threads for 50 async activities (had {before})"
