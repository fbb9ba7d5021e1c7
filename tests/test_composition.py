"""ctx.all() and ctx.race(): result shapes (DECISIONS.md 1-2), failures,
return_exceptions, 3-way races and nesting."""

import threading

import duroxide

from conftest import assert_completed, new_id, wait_until_custom_status


def _blocking_activity(runtime, name, release: threading.Event, started: threading.Event = None,
                       result="slow"):
    """Registers an activity that blocks until `release` is set (or it is cancelled)."""

    def body(ctx, input):
        if started is not None:
            started.set()
        for _ in range(600):  # at most ~30 s
            if release.wait(0.05) or ctx.is_cancelled():
                break
        return result

    runtime.register_activity(name, body)


def test_mixed_all_activity_timer_and_event(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("Work")
    def work(ctx, input):
        return f"worked on {input}"

    @runtime.register_orchestration("MixedAll")
    def mixed_all(ctx, input):
        ctx.set_custom_status("joined")
        act_result, timer_item, event_item = yield ctx.all([
            ctx.schedule_activity("Work", input),
            ctx.schedule_timer(50),
            ctx.wait_for_event("approval"),
        ])
        return {"act": act_result, "timer": timer_item, "event": event_item}

    runtime.start()
    iid = new_id("mixed")
    client.start_orchestration(iid, "MixedAll", "job-7")
    wait_until_custom_status(client, iid, "joined")
    client.raise_event(iid, "approval", {"ok_by": "ops"})
    result = client.wait_for_orchestration(iid, 30000)
    assert_completed(result, {
        "act": "worked on job-7",
        "timer": {"ok": None},
        "event": {"ok": {"ok_by": "ops"}},
    })


def test_all_with_sub_orchestrations_returns_their_values(make_runtime, run_orchestration):
    # The user guide's "Multi-Step Parallel Blocks" example, literally.
    runtime = make_runtime()

    @runtime.register_activity("Step")
    def step(ctx, input):
        return f"step-{input}"

    @runtime.register_orchestration("BlockA")
    def block_a(ctx, input):
        first = yield ctx.schedule_activity("Step", "A1")
        if "step" in first:
            second = yield ctx.schedule_activity("Step", "A2")
            return f"A:[{first},{second}]"
        return "A:fallback"

    @runtime.register_orchestration("BlockB")
    def block_b(ctx, input):
        yield ctx.schedule_timer(5)
        result = yield ctx.schedule_activity("Step", "B1")
        return f"B:[timer,{result}]"

    @runtime.register_orchestration("Parent")
    def parent(ctx, input):
        a, b = yield ctx.all([
            ctx.schedule_sub_orchestration("BlockA", ""),
            ctx.schedule_sub_orchestration("BlockB", ""),
        ])
        return f"{a},{b}"

    runtime.start()
    assert_completed(run_orchestration("Parent"), "A:[step-A1,step-A2],B:[timer,step-B1]")


def test_all_raises_first_failure_in_task_order_after_all_finished(make_runtime, run_orchestration):
    runtime = make_runtime(worker_concurrency=4)
    finished = []

    @runtime.register_activity("SlowOk")
    def slow_ok(ctx, input):
        threading.Event().wait(0.3)
        finished.append(("SlowOk", ctx.instance_id))
        return "ok"

    @runtime.register_activity("FailLate")
    def fail_late(ctx, input):
        threading.Event().wait(0.2)
        raise Exception("boom-first-in-order")

    @runtime.register_activity("FailEarly")
    def fail_early(ctx, input):
        raise Exception("boom-second-in-order")

    @runtime.register_activity("Probe")
    def probe(ctx, input):
        return ("SlowOk", ctx.instance_id) in finished

    @runtime.register_orchestration("AllFails")
    def all_fails(ctx, input):
        try:
            yield ctx.all([
                ctx.schedule_activity("SlowOk", None),
                ctx.schedule_activity("FailLate", None),
                ctx.schedule_activity("FailEarly", None),
            ])
        except duroxide.TaskFailedError as e:
            slow_done = yield ctx.schedule_activity("Probe", None)
            return {"error": str(e), "slow_finished_before_raise": slow_done}
        return "no exception"

    runtime.start()
    out = assert_completed(run_orchestration("AllFails"))
    assert "boom-first-in-order" in out["error"]
    assert "boom-second-in-order" not in out["error"]
    assert out["slow_finished_before_raise"] is True


def test_all_return_exceptions_puts_exception_in_place(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Ok", lambda ctx, x: f"ok:{x}")

    @runtime.register_activity("Fail")
    def fail(ctx, x):
        raise ValueError(f"bad item {x}")

    @runtime.register_orchestration("Gather")
    def gather(ctx, input):
        results = yield ctx.all([
            ctx.schedule_activity("Ok", 1),
            ctx.schedule_activity("Fail", 2),
            ctx.schedule_timer(10),
            ctx.schedule_activity("Ok", 3),
        ], return_exceptions=True)
        err = results[1]
        return {
            "first": results[0],
            "err_is_task_failed": isinstance(err, duroxide.TaskFailedError),
            "err_is_exception": isinstance(err, BaseException),
            "err_text": str(err),
            "timer": results[2],
            "last": results[3],
            "length": len(results),
        }

    runtime.start()
    out = assert_completed(run_orchestration("Gather"))
    assert out["first"] == "ok:1"
    assert out["err_is_task_failed"] is True
    assert out["err_is_exception"] is True
    assert "bad item 2" in out["err_text"]
    assert out["timer"] == {"ok": None}
    assert out["last"] == "ok:3"
    assert out["length"] == 4


def test_uncaught_all_failure_fails_instance(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Ok", lambda ctx, x: x)

    @runtime.register_activity("Fail")
    def fail(ctx, x):
        raise Exception("fan-out member crashed")

    @runtime.register_orchestration("AllUncaught")
    def all_uncaught(ctx, input):
        yield ctx.all([ctx.schedule_activity("Ok", 1), ctx.schedule_activity("Fail", 2)])
        return "unreachable"

    runtime.start()
    result = run_orchestration("AllUncaught")
    assert result.status == "Failed"
    assert "fan-out member crashed" in result.error


def test_race_activity_beats_timer(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_activity("FastService")
    def fast(ctx, input):
        return {"served": input}

    @runtime.register_orchestration("RaceExample")
    def race_example(ctx, input):
        winner = yield ctx.race(
            ctx.schedule_activity("FastService", input),
            ctx.schedule_timer(20000),
        )
        if winner["index"] == 0:
            return {"winner": winner}
        return "timed out"

    runtime.start()
    result = run_orchestration("RaceExample", "req-1")
    assert_completed(result, {"winner": {"index": 0, "value": {"served": "req-1"}}})


def test_race_timer_beats_slow_activity(make_runtime, run_orchestration):
    runtime = make_runtime()
    release = threading.Event()
    _blocking_activity(runtime, "SlowService", release)

    @runtime.register_orchestration("RaceTimeout")
    def race_timeout(ctx, input):
        winner = yield ctx.race(
            ctx.schedule_activity("SlowService", input),
            ctx.schedule_timer(100),
        )
        if winner["index"] == 1:
            ctx.trace_warn("operation timed out")
            return {"status": "timeout", "winner": winner}
        return {"status": "ok", "result": winner["value"]}

    runtime.start()
    try:
        result = run_orchestration("RaceTimeout", "x")
    finally:
        release.set()
    assert_completed(result, {"status": "timeout", "winner": {"index": 1, "value": {"ok": None}}})


def test_race_event_beats_timer(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("RaceEvent")
    def race_event(ctx, input):
        ctx.set_custom_status("racing")
        return (yield ctx.race(ctx.schedule_timer(30000), ctx.wait_for_event("go")))

    runtime.start()
    iid = new_id("race-event")
    client.start_orchestration(iid, "RaceEvent")
    wait_until_custom_status(client, iid, "racing")
    client.raise_event(iid, "go", {"n": 1})
    assert_completed(client.wait_for_orchestration(iid, 30000), {"index": 1, "value": {"ok": {"n": 1}}})


def test_three_way_race_event_wins(make_runtime, client):
    runtime = make_runtime()
    release = threading.Event()
    _blocking_activity(runtime, "Never", release)

    @runtime.register_orchestration("Race3")
    def race3(ctx, input):
        ctx.set_custom_status("racing")
        winner = yield ctx.race(
            ctx.schedule_activity("Never", None),
            ctx.schedule_timer(30000),
            ctx.wait_for_event("go"),
        )
        return winner

    runtime.start()
    iid = new_id("race3")
    try:
        client.start_orchestration(iid, "Race3")
        wait_until_custom_status(client, iid, "racing")
        client.raise_event(iid, "go", "third wins")
        result = client.wait_for_orchestration(iid, 30000)
    finally:
        release.set()
    assert_completed(result, {"index": 2, "value": {"ok": "third wins"}})


def test_three_way_race_middle_activity_wins(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Quick", lambda ctx, x: f"quick {x}")

    @runtime.register_orchestration("Race3Middle")
    def race3(ctx, input):
        return (yield ctx.race(
            ctx.schedule_timer(20000),
            ctx.schedule_activity("Quick", input),
            ctx.schedule_timer(25000),
        ))

    runtime.start()
    assert_completed(run_orchestration("Race3Middle", 9), {"index": 1, "value": "quick 9"})


def test_four_way_race_of_timers_shortest_wins(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("Race4")
    def race4(ctx, input):
        return (yield ctx.race(
            ctx.schedule_timer(20000),
            ctx.schedule_timer(15000),
            ctx.schedule_timer(30),
            ctx.schedule_timer(25000),
        ))

    runtime.start()
    assert_completed(run_orchestration("Race4"), {"index": 2, "value": {"ok": None}})


def test_race_raises_when_first_finisher_fails(make_runtime, run_orchestration):
    runtime = make_runtime()
    release = threading.Event()
    _blocking_activity(runtime, "SlowOk", release, result="slow-ok")

    @runtime.register_activity("FailFast")
    def fail_fast(ctx, x):
        raise Exception("fast failure")

    @runtime.register_orchestration("RaceFailure")
    def race_failure(ctx, input):
        try:
            w = yield ctx.race(ctx.schedule_activity("FailFast", None), ctx.schedule_activity("SlowOk", None))
            return {"winner": w}
        except duroxide.TaskFailedError as e:
            return {"raised": str(e)}

    runtime.start()
    try:
        result = run_orchestration("RaceFailure")
    finally:
        release.set()
    # The first task to finish decides the race: here it failed, so the yield raises it.
    out = assert_completed(result)
    assert "raised" in out, out
    assert "fast failure" in out["raised"]


def test_all_nested_in_race(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Add", lambda ctx, x: x["a"] + x["b"])

    @runtime.register_orchestration("AllInRace")
    def all_in_race(ctx, input):
        return (yield ctx.race(
            ctx.all([
                ctx.schedule_activity("Add", {"a": 1, "b": 2}),
                ctx.schedule_activity("Add", {"a": 10, "b": 20}),
                ctx.schedule_timer(10),
            ]),
            ctx.schedule_timer(20000),
        ))

    runtime.start()
    assert_completed(run_orchestration("AllInRace"), {"index": 0, "value": [3, 30, {"ok": None}]})


def test_timer_beats_nested_all_in_race(make_runtime, run_orchestration):
    runtime = make_runtime()
    release = threading.Event()
    _blocking_activity(runtime, "Slow", release)
    runtime.register_activity("Fast", lambda ctx, x: x)

    @runtime.register_orchestration("TimerBeatsAll")
    def timer_beats_all(ctx, input):
        return (yield ctx.race(
            ctx.all([ctx.schedule_activity("Fast", 1), ctx.schedule_activity("Slow", 2)]),
            ctx.schedule_timer(100),
        ))

    runtime.start()
    try:
        result = run_orchestration("TimerBeatsAll")
    finally:
        release.set()
    assert_completed(result, {"index": 1, "value": {"ok": None}})


def test_race_nested_in_all(make_runtime, run_orchestration):
    runtime = make_runtime()
    release = threading.Event()
    _blocking_activity(runtime, "Slow", release)
    runtime.register_activity("Echo", lambda ctx, x: x)

    @runtime.register_orchestration("RaceInAll")
    def race_in_all(ctx, input):
        results = yield ctx.all([
            ctx.race(ctx.schedule_activity("Echo", "fast"), ctx.schedule_timer(20000)),
            ctx.race(ctx.schedule_activity("Slow", None), ctx.schedule_timer(50)),
            ctx.schedule_activity("Echo", "plain"),
        ])
        return results

    runtime.start()
    try:
        result = run_orchestration("RaceInAll")
    finally:
        release.set()
    assert_completed(result, [
        {"index": 0, "value": "fast"},
        {"index": 1, "value": {"ok": None}},
        "plain",
    ])


def test_all_nested_in_all(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Echo", lambda ctx, x: x)

    @runtime.register_orchestration("AllInAll")
    def all_in_all(ctx, input):
        return (yield ctx.all([
            ctx.all([ctx.schedule_activity("Echo", "a"), ctx.schedule_activity("Echo", "b")]),
            ctx.schedule_activity("Echo", "c"),
            ctx.all([ctx.schedule_timer(5)]),
        ]))

    runtime.start()
    assert_completed(run_orchestration("AllInAll"), [["a", "b"], "c", [{"ok": None}]])


def test_race_of_sub_orchestration_and_timer(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("ChildFast")
    def child(ctx, input):
        return {"child_got": input}

    @runtime.register_orchestration("RaceSub")
    def race_sub(ctx, input):
        return (yield ctx.race(ctx.schedule_sub_orchestration("ChildFast", input), ctx.schedule_timer(20000)))

    runtime.start()
    assert_completed(run_orchestration("RaceSub", [1, 2]), {"index": 0, "value": {"child_got": [1, 2]}})


def test_sequential_races_and_alls_in_one_orchestration(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Inc", lambda ctx, x: x + 1)

    @runtime.register_orchestration("Loop")
    def loop(ctx, input):
        total = 0
        for i in range(3):
            w = yield ctx.race(ctx.schedule_activity("Inc", i), ctx.schedule_timer(20000))
            total += w["value"]
            both = yield ctx.all([ctx.schedule_activity("Inc", i), ctx.schedule_activity("Inc", 10 * i)])
            total += sum(both)
        return total

    runtime.start()
    # race: 1+2+3 = 6; all: (1+1)+(2+11)+(3+21) = 39
    assert_completed(run_orchestration("Loop"), 45)
