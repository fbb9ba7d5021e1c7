"""Hostile input, end to end, on SQLite and PostgreSQL.

The promise under test: no input, however bad, crashes the process, hangs it or loses
data. Each bad input gives either a clear Python exception at the call, or a cleanly
Failed instance whose message names the problem, and the process keeps serving other
instances. Every test ends with ``assert_still_serving``, which runs a known-good
orchestration (an activity round trip) on the same runtime and checks its output.

Cases already covered elsewhere (referenced, not repeated): unencodable client input
(object/set/bytes) and event data -> TypeError, orchestration/activity results that are
not JSON, unregistered activity, ``yield 42`` (tests/test_errors.py); oversized and
too many KV values, bad KV keys (tests/test_kv.py); bad PostgreSQL URLs and schema names
(tests/test_postgres_bad_input.py).

The table of cases and the behaviour seen is in docs/reliability.md.
"""

from __future__ import annotations

import json
import random
import string
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import duroxide
from duroxide import (
    ActivityFailedError,
    Client,
    ClosedError,
    InvalidArgumentError,
    NotRegisteredError,
    RuntimeOptions,
    RuntimeStateError,
    TaskFailedError,
)
from duroxide.tasks import Task

from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status


# =========================================================================== helpers

GOOD_ORCH = "HostileKnownGood"
GOOD_ACT = "HostileKnownGoodAct"
GOOD_PAYLOAD = {"n": 42, "text": "still serving é 😀"}


def _good_act(ctx, x):
    return {"echo": x, "activity": ctx.activity_name}


def _good_orch(ctx, x):
    r = yield ctx.schedule_activity(GOOD_ACT, x)
    return {"result": r, "instance": ctx.instance_id}


def assert_still_serving(runtime, client, timeout_ms: int = 30_000):
    """The runtime still completes a known-good orchestration (with an activity)."""
    assert runtime.is_running, "the runtime is no longer running"
    iid = new_id("still-serving")
    client.start_orchestration(iid, GOOD_ORCH, GOOD_PAYLOAD)
    result = client.wait_for_orchestration(iid, timeout_ms)
    assert_completed(result, {"result": {"echo": GOOD_PAYLOAD, "activity": GOOD_ACT}, "instance": iid})


@pytest.fixture
def new_runtime(make_runtime):
    """new_runtime(**options) -> an unstarted runtime with the known-good pair registered."""

    def _new(**options):
        rt = make_runtime(**options)
        rt.register_activity(GOOD_ACT, _good_act)
        rt.register_orchestration(GOOD_ORCH, _good_orch)
        return rt

    return _new


@pytest.fixture
def leftovers(provider):
    """Instance ids a failing test may leave running; force-deleted at teardown so they
    do not wander into later tests sharing the PostgreSQL schema."""
    ids = []
    yield ids
    if not ids:
        return
    c = Client(provider)
    try:
        for iid in ids:
            try:
                if c.get_status(iid).status == "Running":
                    c.delete_instance(iid, force=True)
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
    finally:
        c.close()


def within(seconds: float, fn, *args):
    """fn(*args) on a fresh thread; fails the test (instead of hanging it) after ``seconds``."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not return within {seconds} s (hang)")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run(client, name, input=None, instance_id=None, timeout_ms=30_000):
    iid = instance_id or new_id(name.lower()[:20])
    client.start_orchestration(iid, name, input)
    return client.wait_for_orchestration(iid, timeout_ms)


def nested(depth: int):
    v: list = []
    for _ in range(depth):
        v = [v]
    return v


def depth_of(v) -> int:
    d = 0
    while isinstance(v, list) and v:
        v = v[0]
        d += 1
    return d


def _at_stack_depth(frames: int, fn):
    if frames <= 0:
        return fn()
    return _at_stack_depth(frames - 1, fn)


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as e:  # noqa: BLE001 - inspected by the caller
        return ("error", e)


DEEP = 10_000

# =========================================================================== 10 MB payloads

BIG_TEXT = "0123456789abcdef" * (10 * 1024 * 1024 // 16)
BIG = {"blob": BIG_TEXT, "tail": "é😀\u202e\x00\ud800"}


def _register_big(rt):
    @rt.register_activity("Big10Check")
    def check(ctx, x):
        return {"same": x == BIG, "size": len(x["blob"]) if isinstance(x, dict) and "blob" in x else None}

    @rt.register_activity("Big10Make")
    def make(ctx, x):
        return BIG

    @rt.register_orchestration("Big10Input")
    def big_input(ctx, x):
        return x

    @rt.register_orchestration("Big10ActivityInput")
    def big_activity_input(ctx, x):
        return (yield ctx.schedule_activity("Big10Check", BIG))

    @rt.register_orchestration("Big10ActivityResult")
    def big_activity_result(ctx, x):
        r = yield ctx.schedule_activity("Big10Make", None)
        return {"same": r == BIG, "size": len(r["blob"])}

    @rt.register_orchestration("Big10Events")
    def big_events(ctx, x):
        ctx.set_custom_status("waiting")
        e = yield ctx.wait_for_event("big")
        q = yield ctx.dequeue_event("big")
        return {"same": e == BIG and q == BIG, "size": len(e["blob"]) + len(q["blob"])}


@pytest.mark.parametrize(
    "site", ["orchestration-input-and-output", "activity-input", "activity-result", "raise_event-and-enqueue_event-data"]
)
def test_10mb_payload_round_trips_exactly(site, new_runtime, client):
    rt = new_runtime()
    _register_big(rt)
    rt.start()
    iid = new_id("big10")
    expected = {"same": True, "size": len(BIG_TEXT)}
    if site == "orchestration-input-and-output":
        within(60, client.start_orchestration, iid, "Big10Input", BIG)
        result = client.wait_for_orchestration(iid, 60_000)
        assert result.status == "Completed", result.error
        assert result.output == BIG, "the 10 MB input did not come back exactly"
    else:
        name = {
            "activity-input": "Big10ActivityInput",
            "activity-result": "Big10ActivityResult",
            "raise_event-and-enqueue_event-data": "Big10Events",
        }[site]
        client.start_orchestration(iid, name, None)
        if name == "Big10Events":
            wait_until_custom_status(client, iid, "waiting")
            within(60, client.raise_event, iid, "big", BIG)
            within(60, client.enqueue_event, iid, "big", BIG)
            expected = {"same": True, "size": 2 * len(BIG_TEXT)}
        assert_completed(client.wait_for_orchestration(iid, 60_000), expected)
    assert_still_serving(rt, client)


# =========================================================================== deep nesting, NaN, huge ints

BAD_VALUES = {
    "nan": (lambda: float("nan"), "Out of range float values are not JSON compliant"),
    "infinity": (lambda: {"x": [1, -float("inf")]}, "Out of range float values are not JSON compliant"),
    "nested-10000": (lambda: nested(DEEP), "nested too deeply to encode as JSON"),
    "int-5000-digits": (lambda: 10**5000, "integer string conversion"),
}


@pytest.mark.parametrize("site", ["start_orchestration", "start_orchestration_versioned", "raise_event", "enqueue_event"])
def test_unencodable_client_payload_raises_value_error(site, new_runtime, client):
    """NaN, -Infinity, 10,000-level nesting and a 5,000-digit int, at each client call."""
    rt = new_runtime()

    @rt.register_orchestration("BadPayloadWaiter")
    def waiter(ctx, x):
        ctx.set_custom_status("waiting")
        e = yield ctx.wait_for_event("e")
        q = yield ctx.dequeue_event("q")
        return [e, q]

    rt.start()
    waiter = new_id("badpayload-waiter")
    if not site.startswith("start"):
        client.start_orchestration(waiter, "BadPayloadWaiter", None)
        wait_until_custom_status(client, waiter, "waiting")
    for kind, (make, problem) in BAD_VALUES.items():
        value = make()
        iid = new_id("badpayload")
        with pytest.raises(ValueError) as info:
            if site == "start_orchestration":
                client.start_orchestration(iid, GOOD_ORCH, value)
            elif site == "start_orchestration_versioned":
                client.start_orchestration_versioned(iid, GOOD_ORCH, value, "1.0.0")
            elif site == "raise_event":
                client.raise_event(waiter, "e", value)
            else:
                client.enqueue_event(waiter, "q", value)
        what = {
            "raise_event": "data of event 'e'",
            "enqueue_event": "data for queue 'q'",
        }.get(site, f"input of orchestration {GOOD_ORCH!r}")
        assert what in str(info.value) and problem in str(info.value), f"{kind}: {info.value}"
        assert client.get_status(iid).status == "NotFound", "nothing may be stored"
    if not site.startswith("start"):
        iid = waiter
        # The instance saw nothing and still accepts valid messages.
        client.raise_event(iid, "e", "fine")
        client.enqueue_event(iid, "q", "fine")
        assert_completed(client.wait_for_orchestration(iid, 30_000), ["fine", "fine"])
    assert_still_serving(rt, client)


INSIDE_SITES = {
    # site: (how the value is used, fragment naming it in the message)
    "activity-input": (lambda ctx, v: ctx.schedule_activity(GOOD_ACT, v), f"input of activity {GOOD_ACT!r}"),
    "retry-input": (lambda ctx, v: ctx.schedule_activity_with_retry(GOOD_ACT, v, {}), f"input of activity {GOOD_ACT!r}"),
    "sub-orchestration-input": (lambda ctx, v: ctx.schedule_sub_orchestration(GOOD_ORCH, v), "input of sub-orchestration"),
    "start-orchestration-input": (
        lambda ctx, v: ctx.start_orchestration(GOOD_ORCH, ctx.instance_id + "-child", v),
        "input of orchestration",
    ),
    "continue-as-new-input": (lambda ctx, v: ctx.continue_as_new(v), "continue_as_new input"),
    "custom-status": (lambda ctx, v: ctx.set_custom_status(v), "custom status"),
    "kv-value": (lambda ctx, v: ctx.set_kv_value("k", v), "KV value for 'k'"),
    "orchestration-result": (None, "the result of orchestration 'BadValueInside@1.0.0'"),
    "activity-result": (None, "the result of activity 'BadValueMake'"),
}


@pytest.mark.parametrize("site", list(INSIDE_SITES))
def test_unencodable_value_inside_orchestration_is_clear(site, new_runtime, client):
    """NaN, -Infinity, 10,000-level nesting and a 5,000-digit int, at each place an
    orchestration hands a value to the engine."""
    rt = new_runtime()

    @rt.register_activity("BadValueMake")
    def bad_make(ctx, kind):
        return BAD_VALUES[kind][0]()

    @rt.register_orchestration("BadValueInside")
    def inside(ctx, arg):
        site, kinds = arg["site"], arg["kinds"]
        use, _ = INSIDE_SITES[site]
        if site == "orchestration-result":
            yield ctx.schedule_timer(1)
            return BAD_VALUES[kinds[0]][0]()
        seen = {}
        for kind in kinds:
            if site == "activity-result":
                try:
                    yield ctx.schedule_activity("BadValueMake", kind)
                    seen[kind] = {"type": None}
                except TaskFailedError as e:
                    seen[kind] = {"type": type(e).__name__, "is_value_error": False, "message": str(e)}
                continue
            try:
                use(ctx, BAD_VALUES[kind][0]())
                seen[kind] = {"type": None}
            except Exception as e:  # noqa: BLE001 - reported to the test
                seen[kind] = {"type": type(e).__name__, "is_value_error": isinstance(e, ValueError), "message": str(e)}
        yield ctx.schedule_timer(1)
        return seen

    rt.start()
    _, what = INSIDE_SITES[site]
    if site == "orchestration-result":
        ids = {kind: new_id("badvalue") for kind in BAD_VALUES}
        for kind, iid in ids.items():
            client.start_orchestration(iid, "BadValueInside", {"site": site, "kinds": [kind]})
        for kind, iid in ids.items():
            assert_failed(client.wait_for_orchestration(iid, 30_000), what, BAD_VALUES[kind][1])
    else:
        iid = new_id("badvalue")
        out = assert_completed(run(client, "BadValueInside", {"site": site, "kinds": list(BAD_VALUES)}, instance_id=iid))
        for kind, (_, problem) in BAD_VALUES.items():
            seen = out[kind]
            if site == "activity-result":
                assert seen["type"] == "ActivityFailedError", f"{kind}: {seen}"
            else:
                assert seen.get("is_value_error"), f"{kind}: expected a ValueError at the call, got {seen}"
            assert what in seen["message"] and problem in seen["message"], f"{kind}: {seen['message']}"
        assert client.get_kv_all_values(iid) == {}
        assert client.get_status(iid).custom_status is None
    assert_still_serving(rt, client)


def test_deep_but_encodable_output_is_not_silently_turned_into_text(new_runtime, client):
    """An orchestration (shallow stack) returns a list nested 900 levels; a client whose
    stack is already 200 frames deep reads it. Either the exact list or a clear
    ValueError -- never the JSON text in place of the value."""
    rt = new_runtime()

    @rt.register_orchestration("DeepOutput")
    def deep_output(ctx, depth):
        yield ctx.schedule_timer(1)
        return nested(depth)

    rt.start()
    iid = new_id("deep-output")
    client.start_orchestration(iid, "DeepOutput", 900)
    assert client.wait_for_orchestration(iid, 30_000).status == "Completed"
    for label, read in (
        ("wait_for_orchestration", lambda: client.wait_for_orchestration(iid, 30_000)),
        ("get_status", lambda: client.get_status(iid)),
    ):
        kind, value = within(60, _at_stack_depth, 200, lambda: _outcome(read))
        if kind == "error":
            assert isinstance(value, ValueError), f"{label}: {type(value).__name__}: {value}"
            assert "nest" in str(value).lower() or "deep" in str(value).lower(), str(value)
        else:
            out = value.output
            assert isinstance(out, list), (
                f"{label}: output is a {type(out).__name__} ({str(out)[:40]!r}...) -- the JSON text "
                "was returned in place of the value"
            )
            assert depth_of(out) == 900
    assert_still_serving(rt, client)


@pytest.mark.parametrize("depth", [100, 1000])
def test_deeply_nested_composite_tasks_fail_cleanly(depth, new_runtime, client):
    rt = new_runtime()

    @rt.register_orchestration("NestedAll")
    def nested_all(ctx, depth):
        task = ctx.schedule_timer(1)
        try:
            for _ in range(depth):
                task = ctx.all([task])
        except ValueError as e:
            return {"rejected": str(e)}
        yield task
        return "ran"

    rt.start()
    result = run(client, "NestedAll", depth)
    if result.status == "Completed":
        assert result.output == "ran" or "nest" in result.output["rejected"].lower(), result.output
    else:
        error = assert_failed(result)
        assert "recursion" in error.lower() or "nest" in error.lower(), error
        assert "foreign callback" not in error and "RecursionError(" not in error, (
            f"a RecursionError escaped the Python driver callback: {error[:300]}"
        )
    assert_still_serving(rt, client)


def test_big_ints_and_json_key_semantics(new_runtime, client):
    rt = new_runtime()
    rt.register_orchestration("EchoJson", lambda ctx, x: x)
    rt.start()
    big = 10**400
    assert_completed(run(client, "EchoJson", {"big": big, "neg": -big}), {"big": big, "neg": -big})
    # JSON semantics, documented ("every payload is encoded as JSON"): int keys become
    # strings, tuples become lists.
    assert_completed(run(client, "EchoJson", {1: "a", "t": (1, 2)}), {"1": "a", "t": [1, 2]})
    with pytest.raises(TypeError) as info:
        client.start_orchestration(new_id("tuplekey"), "EchoJson", {(1, 2): "x"})
    assert "keys must be str" in str(info.value)
    assert_still_serving(rt, client)


# =========================================================================== bad text in names and ids

BAD_TEXT = {
    "lone-surrogate": ("x\ud800", "lone surrogate"),
    "nul": ("a\x00b", "NUL"),
}

CLIENT_TEXT_SITES = {
    "start_orchestration(instance_id)": (lambda c, bad: c.start_orchestration(bad, GOOD_ORCH, 1), "instance_id"),
    "start_orchestration(name)": (lambda c, bad: c.start_orchestration(new_id(), bad, 1), "name"),
    "start_orchestration_versioned(version)": (
        lambda c, bad: c.start_orchestration_versioned(new_id(), GOOD_ORCH, 1, bad),
        "version",
    ),
    "raise_event(instance_id)": (lambda c, bad: c.raise_event(bad, "e", 1), "instance_id"),
    "raise_event(event_name)": (lambda c, bad: c.raise_event(new_id(), bad, 1), "event_name"),
    "enqueue_event(queue)": (lambda c, bad: c.enqueue_event(new_id(), bad, 1), "queue"),
    "get_status(instance_id)": (lambda c, bad: c.get_status(bad), "instance_id"),
    "wait_for_orchestration(instance_id)": (lambda c, bad: c.wait_for_orchestration(bad, 100), "instance_id"),
    "cancel_instance(instance_id)": (lambda c, bad: c.cancel_instance(bad, "r"), "instance_id"),
    "cancel_instance(reason)": (lambda c, bad: c.cancel_instance(new_id(), bad), "reason"),
    "get_kv_value(key)": (lambda c, bad: c.get_kv_value(new_id(), bad), "key"),
    "wait_for_kv_value(key)": (lambda c, bad: c.wait_for_kv_value(new_id(), bad, 100), "key"),
    "wait_for_status_change(instance_id)": (lambda c, bad: c.wait_for_status_change(bad, 0, 10, 100), "instance_id"),
}


def test_bad_text_in_client_arguments_raises_value_error(new_runtime, client):
    """A lone surrogate and a NUL in every string argument of the Client."""
    rt = new_runtime()
    rt.start()
    wrong = []
    for site, (call, field) in CLIENT_TEXT_SITES.items():
        for label, (bad, problem) in BAD_TEXT.items():
            kind, value = within(30, _outcome, call, client, bad)
            if kind == "ok":
                wrong.append(f"{site} {label}: accepted")
            elif not isinstance(value, ValueError) or field not in str(value) or problem not in str(value):
                wrong.append(f"{site} {label}: {type(value).__name__}: {value}")
    assert not wrong, "\n".join(wrong)
    assert_still_serving(rt, client)


def test_bad_text_in_registration_names_raises_value_error(new_runtime, client):
    rt = new_runtime()
    for kind, register in (("orchestration", rt.register_orchestration), ("activity", rt.register_activity)):
        for bad, problem in BAD_TEXT.values():
            with pytest.raises(ValueError) as info:
                register(bad, _good_orch)
            assert f"{kind} name" in str(info.value) and problem in str(info.value), str(info.value)
    rt.start()
    assert_still_serving(rt, client)


CTX_TEXT_SITES = {
    "schedule_activity(name)": (lambda ctx, bad: ctx.schedule_activity(bad, 1), "activity name"),
    "schedule_activity(session_id)": (lambda ctx, bad: ctx.schedule_activity(GOOD_ACT, 1, session_id=bad), "session_id"),
    "schedule_activity_with_retry(name)": (lambda ctx, bad: ctx.schedule_activity_with_retry(bad, 1, {}), "activity name"),
    "wait_for_event(name)": (lambda ctx, bad: ctx.wait_for_event(bad), "event name"),
    "dequeue_event(queue)": (lambda ctx, bad: ctx.dequeue_event(bad), "queue name"),
    "set_custom_status(str)": (lambda ctx, bad: ctx.set_custom_status(bad), "custom status"),
    "set_kv_value(key)": (lambda ctx, bad: ctx.set_kv_value(bad, "v"), "KV key"),
    "set_kv_value(value)": (lambda ctx, bad: ctx.set_kv_value("k", bad), "KV value"),
    "get_kv_value(key)": (lambda ctx, bad: ctx.get_kv_value(bad), "KV key"),
    "schedule_sub_orchestration(name)": (lambda ctx, bad: ctx.schedule_sub_orchestration(bad, 1), "orchestration name"),
    "schedule_sub_orchestration_with_id(instance_id)": (
        lambda ctx, bad: ctx.schedule_sub_orchestration_with_id(GOOD_ORCH, bad, 1),
        "instance_id",
    ),
    "start_orchestration(instance_id)": (lambda ctx, bad: ctx.start_orchestration(GOOD_ORCH, bad, 1), "instance_id"),
    "continue_as_new_versioned(version)": (lambda ctx, bad: ctx.continue_as_new_versioned(1, bad), "version"),
    "get_kv_value_from_instance(instance_id)": (
        lambda ctx, bad: ctx.get_kv_value_from_instance(bad, "k"),
        "instance_id",
    ),
}


def test_bad_text_in_orchestration_calls_raises_value_error(new_runtime, client):
    """A lone surrogate and a NUL in every string argument of the orchestration context."""
    rt = new_runtime()

    @rt.register_orchestration("CtxBadText")
    def ctx_bad_text(ctx, x):
        seen = {}
        for site, (call, _) in CTX_TEXT_SITES.items():
            for label, (bad, _) in BAD_TEXT.items():
                try:
                    call(ctx, bad)  # a returned task is not yielded: nothing is scheduled
                    seen[f"{site} {label}"] = {"value_error": False, "message": "accepted"}
                except Exception as e:  # noqa: BLE001 - reported to the test
                    seen[f"{site} {label}"] = {"value_error": isinstance(e, ValueError), "message": f"{type(e).__name__}: {e}"}
        yield ctx.schedule_timer(1)
        return {"seen": seen, "kv": ctx.get_kv_all_values(), "status": ctx.get_custom_status()}

    rt.start()
    out = assert_completed(run(client, "CtxBadText"))
    wrong = []
    for site, (_, field) in CTX_TEXT_SITES.items():
        for label, (_, problem) in BAD_TEXT.items():
            seen = out["seen"][f"{site} {label}"]
            # A version is refused for not being semver, which covers both.
            explained = problem in seen["message"] or "semantic version" in seen["message"]
            if not seen["value_error"] or field not in seen["message"] or not explained:
                wrong.append(f"{site} {label}: {seen['message']}")
    assert not wrong, "no clear ValueError at the call:\n" + "\n".join(wrong)
    assert out["kv"] == {} and out["status"] is None, "nothing may be stored for rejected calls"
    assert_still_serving(rt, client)


@pytest.mark.parametrize("label", list(BAD_TEXT))
def test_bad_text_in_activity_tag_is_rejected_at_the_call(label, new_runtime, client):
    """``with_tag`` checks the tag's size only; yielding the task shows what the engine
    makes of the text."""
    bad, problem = BAD_TEXT[label]
    rt = new_runtime(worker_tag_filter=duroxide.TagFilter.any())

    @rt.register_orchestration("BadTag")
    def bad_tag(ctx, bad):
        try:
            task = ctx.schedule_activity(GOOD_ACT, 1).with_tag(bad)
        except ValueError as e:
            return {"rejected": str(e)}
        return {"accepted": (yield task)}

    rt.start()
    result = run(client, "BadTag", bad)
    assert result.status == "Completed", f"with_tag({bad!r}) was accepted; the instance {result.status}: {result.error}"
    assert "rejected" in result.output, f"with_tag({bad!r}) was accepted: {result.output}"
    assert "tag" in result.output["rejected"] and problem in result.output["rejected"], result.output
    assert_still_serving(rt, client)


def test_uncaught_bad_name_in_orchestration_fails_the_instance(new_runtime, client):
    rt = new_runtime()

    @rt.register_orchestration("UncaughtBadName")
    def uncaught(ctx, x):
        yield ctx.schedule_activity(GOOD_ACT, 1)
        return (yield ctx.wait_for_event("ev\x00ent"))

    rt.start()
    assert_failed(run(client, "UncaughtBadName"), "event name", "NUL")
    assert_still_serving(rt, client)


PAYLOAD_STRINGS = {
    "lone-high-surrogate": "\ud800",
    "lone-low-surrogate": "x\udfffy",
    "reversed-pair": "\udc00\ud800",
    "nul": "a\x00b\x00",
    "c0-controls-and-separators": "".join(chr(i) for i in range(32)) + "\x7f\u2028\u2029",
    "bom-and-noncharacters": "\ufeff\ufffe\uffff\U0010ffff",
    "in-dict-keys": {"\x00": "\ud800", "k\udfff": ["\x00", {"\ud83d": "\ude00"}]},
}


def test_odd_text_inside_payloads_round_trips_exactly(new_runtime, client):
    """Each value goes through orchestration input and output, activity input and result,
    raise_event and enqueue_event data, a JSON custom status and a JSON KV value."""
    rt = new_runtime()
    rt.register_activity("TourEcho", lambda ctx, x: x)

    @rt.register_orchestration("PayloadTour")
    def payload_tour(ctx, value):
        echoed = yield ctx.schedule_activity("TourEcho", value)
        ctx.set_custom_status("waiting")
        event = yield ctx.wait_for_event("tour-event")
        queued = yield ctx.dequeue_event("tour-queue")
        ctx.set_custom_status({"v": value})
        ctx.set_kv_value("tour", {"v": value})
        return {"input": value, "activity": echoed, "event": event, "queue": queued}

    rt.start()
    ids = {label: new_id("tour") for label in PAYLOAD_STRINGS}
    for label, iid in ids.items():
        client.start_orchestration(iid, "PayloadTour", PAYLOAD_STRINGS[label])
    for label, iid in ids.items():
        value = PAYLOAD_STRINGS[label]
        wait_until_custom_status(client, iid, "waiting")
        client.raise_event(iid, "tour-event", value)
        client.enqueue_event(iid, "tour-queue", value)
    for label, iid in ids.items():
        value = PAYLOAD_STRINGS[label]
        result = client.wait_for_orchestration(iid, 30_000)
        assert result.status == "Completed", f"{label}: {result.error}"
        assert result.output == {"input": value, "activity": value, "event": value, "queue": value}, label
        assert json.loads(result.custom_status) == {"v": value}, label
        assert json.loads(client.get_kv_value(iid, "tour")) == {"v": value}, label
    assert_still_serving(rt, client)


# =========================================================================== long, empty, blank, odd names

_rng = random.Random(20240607)


def _long(prefix: str) -> str:
    return prefix + "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(10 * 1024))


LONG = {k: _long(k[:1].upper()) for k in ("instance", "orchestration", "activity", "event", "queue", "kv", "session", "tag")}


@pytest.mark.parametrize(
    "site", ["instance_id", "orchestration-name", "activity-name", "event-name", "queue-name", "kv-key", "session-id"]
)
def test_10kb_names_work_or_are_rejected_at_the_call(site, new_runtime, client, leftovers):
    """10 KB of random text (incompressible) as an id or name: it works, or the call
    raises ValueError naming the argument -- not a storage error, not a failed turn."""
    rt = new_runtime()
    rt.register_orchestration(LONG["orchestration"], lambda ctx, x: {"echo": x})
    rt.register_activity(LONG["activity"], lambda ctx, x: {"act": x})

    @rt.register_orchestration("LongNames")
    def long_names(ctx, site):
        ctx.set_custom_status("waiting")
        if site == "activity-name":
            return (yield ctx.schedule_activity(LONG["activity"], 1))
        if site == "event-name":
            return (yield ctx.wait_for_event(LONG["event"]))
        if site == "queue-name":
            return (yield ctx.dequeue_event(LONG["queue"]))
        if site == "kv-key":
            try:  # ids are limited to 1 KB of UTF-8 (the stores index them)
                ctx.set_kv_value(LONG["kv"], "v")
            except ValueError as e:
                return {"rejected": str(e)}
            raise AssertionError("a 10 KB KV key was accepted")
        if site == "session-id":
            try:
                ctx.schedule_activity_on_session(GOOD_ACT, 1, LONG["session"])
            except ValueError as e:
                return {"rejected": str(e)}
            raise AssertionError("a 10 KB session id was accepted")
        raise AssertionError(site)

    rt.start()

    def start_or_clear_error(iid, name, input):
        try:
            client.start_orchestration(iid, name, input)
        except ValueError as e:
            field = {"instance_id": "instance_id", "orchestration-name": "name"}[site]
            assert field in str(e), f"rejected without naming {field}: {e}"
            return False
        return True

    if site == "instance_id":
        iid = LONG["instance"]
        if start_or_clear_error(iid, GOOD_ORCH, 7):
            leftovers.append(iid)
            assert_completed(client.wait_for_orchestration(iid, 30_000), {"result": {"echo": 7, "activity": GOOD_ACT}, "instance": iid})
    elif site == "orchestration-name":
        iid = new_id("longname")
        if start_or_clear_error(iid, LONG["orchestration"], 7):
            assert_completed(client.wait_for_orchestration(iid, 30_000), {"echo": 7})
    else:
        iid = new_id("longnames")
        leftovers.append(iid)
        client.start_orchestration(iid, "LongNames", site)
        if site == "event-name":
            wait_until_custom_status(client, iid, "waiting")
            client.raise_event(iid, LONG["event"], "ev")
        elif site == "queue-name":
            wait_until_custom_status(client, iid, "waiting")
            client.enqueue_event(iid, LONG["queue"], "qq")
        result = client.wait_for_orchestration(iid, 30_000)
        if site in ("kv-key", "session-id"):
            message = assert_completed(result)["rejected"]
            field = {"kv-key": "KV key", "session-id": "session_id"}[site]
            assert field in message and "1024 bytes" in message, message
        else:
            expected = {"activity-name": {"act": 1}, "event-name": "ev", "queue-name": "qq"}[site]
            assert_completed(result, expected)
    assert_still_serving(rt, client)


def test_10kb_activity_tag_is_rejected_with_the_limit(new_runtime, client):
    rt = new_runtime()

    @rt.register_orchestration("LongTag")
    def long_tag(ctx, x):
        try:
            ctx.schedule_activity(GOOD_ACT, 1).with_tag(LONG["tag"])
        except ValueError as e:
            return str(e)
        return "accepted"
        yield  # noqa: unreachable - makes this a generator

    rt.start()
    out = assert_completed(run(client, "LongTag"))
    assert "MAX_TAG_NAME_BYTES" in out, out
    assert_still_serving(rt, client)


def test_empty_and_blank_names_are_rejected(new_runtime, client):
    rt = new_runtime()
    for bad in ("", "   ", "\t\n"):
        problem = "non-empty" if not bad else "must not be blank"
        with pytest.raises(ValueError, match="orchestration name") as info:
            rt.register_orchestration(bad, _good_orch)
        assert problem in str(info.value)
        with pytest.raises(ValueError, match="activity name") as info:
            rt.register_activity(bad, _good_act)
        assert problem in str(info.value)

    @rt.register_orchestration("EmptyNamesInside")
    def inside(ctx, x):
        seen = []
        for call in (
            lambda: ctx.schedule_activity("", 1),
            lambda: ctx.wait_for_event(""),
            lambda: ctx.dequeue_event(""),
            lambda: ctx.set_kv_value("", "v"),
            lambda: ctx.schedule_sub_orchestration("", 1),
            lambda: ctx.start_orchestration(GOOD_ORCH, "", 1),
        ):
            try:
                call()
                seen.append("accepted")
            except ValueError as e:
                seen.append(str(e))
        yield ctx.schedule_timer(1)
        return seen

    rt.start()
    for call, field in (
        (lambda: client.start_orchestration("", GOOD_ORCH, 1), "instance_id"),
        (lambda: client.start_orchestration(new_id(), "", 1), "name"),
        (lambda: client.raise_event(new_id(), "", 1), "event_name"),
        (lambda: client.enqueue_event(new_id(), "", 1), "queue"),
        (lambda: client.get_status(""), "instance_id"),
        (lambda: client.get_kv_value(new_id(), ""), "key"),
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert f"{field} must be a non-empty string" in str(info.value), str(info.value)
    with pytest.raises(NotRegisteredError):
        client.start_orchestration(new_id(), "   ", 1)
    out = assert_completed(run(client, "EmptyNamesInside"))
    assert all("must be a non-empty string" in s for s in out), out
    assert_still_serving(rt, client)


def test_whitespace_only_ids_and_event_names_work(new_runtime, client):
    rt = new_runtime()

    @rt.register_orchestration("Blank Waiter")
    def blank_waiter(ctx, x):
        ctx.set_custom_status(" ")
        e = yield ctx.wait_for_event("   ")
        q = yield ctx.dequeue_event("\t")
        return [e, q, ctx.instance_id]

    rt.start()
    iid = " " * 3 + new_id("blank") + "\t"
    client.start_orchestration(iid, "Blank Waiter", None)
    wait_until_custom_status(client, iid, " ")
    client.raise_event(iid, "   ", "spaces")
    client.enqueue_event(iid, "\t", "tab")
    assert_completed(client.wait_for_orchestration(iid, 30_000), ["spaces", "tab", iid])
    assert_still_serving(rt, client)


ODD_NAMES = {
    "emoji": "🚀📦✅",
    "rtl": "עברית-مرحبا",
    "combining-marks": "e\u0301\u0302\u0323",
    "zwj-sequence": "👩\u200d👩\u200d👧",
    "bidi-controls": "\u202eabc\u202c\u2066x\u2069",
    "zero-width": "a\u200bb\u2060c\ufeff",
    "cjk-fullwidth": "订单Ｆｕｌｌ",
}


def test_odd_but_valid_unicode_names_work_everywhere(new_runtime, client):
    """Each odd name as orchestration name, activity name, instance id, session id, event
    name, queue name, KV key and value and custom status."""
    rt = new_runtime()

    def register(s):
        session = f"{s}-{new_id('s')}"
        rt.register_activity(f"Act-{s}", lambda ctx, x: {"activity": ctx.activity_name, "x": x, "session": ctx.session_id})

        @rt.register_orchestration(f"Orch-{s}")
        def odd(ctx, x):
            a = yield ctx.schedule_activity(f"Act-{s}", s)
            b = yield ctx.schedule_activity_on_session(f"Act-{s}", s, session)
            ctx.set_kv_value(s, s)
            ctx.set_custom_status(s)
            e = yield ctx.wait_for_event(s)
            q = yield ctx.dequeue_event(s)
            return {"a": a, "b": b, "e": e, "q": q, "id": ctx.instance_id, "name": ctx.orchestration_name}

        return session

    sessions = {label: register(s) for label, s in ODD_NAMES.items()}
    rt.start()
    ids = {label: f"{s}-{new_id('odd')}" for label, s in ODD_NAMES.items()}
    for label, s in ODD_NAMES.items():
        client.start_orchestration(ids[label], f"Orch-{s}", None)
    for label, s in ODD_NAMES.items():
        wait_until_custom_status(client, ids[label], s)
        client.raise_event(ids[label], s, s)
        client.enqueue_event(ids[label], s, s)
    listed = set(client.list_all_instances())
    for label, s in ODD_NAMES.items():
        iid = ids[label]
        result = client.wait_for_orchestration(iid, 30_000)
        assert result.status == "Completed", f"{label}: {result.error}"
        assert result.output == {
            "a": {"activity": f"Act-{s}", "x": s, "session": None},
            "b": {"activity": f"Act-{s}", "x": s, "session": sessions[label]},
            "e": s,
            "q": s,
            "id": iid,
            "name": f"Orch-{s}",
        }, label
        assert result.custom_status == s, label
        assert client.get_kv_value(iid, s) == s, label
        assert iid in listed, label
    assert_still_serving(rt, client)


def test_canonically_equivalent_and_near_identical_ids_are_distinct(new_runtime, client):
    rt = new_runtime()
    rt.start()
    base = new_id("eq")
    suffixes = ["é", "e\u0301", "x", "x ", "X", "ﬁ", "fi"]
    ids = [f"{base}-{s}" for s in suffixes]
    for i, iid in enumerate(ids):
        client.start_orchestration(iid, GOOD_ORCH, i)
    for i, iid in enumerate(ids):
        assert_completed(
            client.wait_for_orchestration(iid, 30_000),
            {"result": {"echo": i, "activity": GOOD_ACT}, "instance": iid},
        )
    assert_still_serving(rt, client)


# =========================================================================== misbehaving generators


def _exhausted():
    return
    yield  # noqa: unreachable


def _exhausted_generator():
    g = _exhausted()
    list(g)
    return g


def _closed_generator():
    g = _exhausted()
    g.close()
    return g


YIELDS = {
    "int": (lambda ctx: 42, "(int)"),
    "dict": (lambda ctx: {"t": "activity", "name": GOOD_ACT}, "(dict)"),
    "none": (lambda ctx: None, "(NoneType)"),
    "str": (lambda ctx: "schedule_activity", "(str)"),
    "list-of-tasks-without-ctx.all": (
        lambda ctx: [ctx.schedule_activity(GOOD_ACT, 1), ctx.schedule_activity(GOOD_ACT, 2)],
        "(list)",
    ),
    "exhausted-generator": (lambda ctx: _exhausted_generator(), "(generator)"),
    "closed-generator": (lambda ctx: _closed_generator(), "(generator)"),
    "the-Task-class": (lambda ctx: Task, "(type)"),
}


def test_yielding_something_that_is_not_a_task_fails_the_instance(new_runtime, client):
    rt = new_runtime()

    @rt.register_orchestration("YieldsJunk")
    def yields_junk(ctx, label):
        yield ctx.schedule_activity(GOOD_ACT, 0)
        yield YIELDS[label][0](ctx)
        return "unreachable"

    rt.start()
    ids = {label: new_id("junk") for label in YIELDS}
    for label, iid in ids.items():
        client.start_orchestration(iid, "YieldsJunk", label)
    for label, iid in ids.items():
        result = client.wait_for_orchestration(iid, 30_000)
        assert result.status == "Failed", f"{label}: {result.status} {result.output!r}"
        for fragment in ("'YieldsJunk@1.0.0' yielded", "which is not a task", YIELDS[label][1]):
            assert fragment in result.error, f"{label}: {fragment!r} not in {result.error!r}"
    assert_still_serving(rt, client)


def _inner_generator(ctx):
    r = yield ctx.schedule_activity(GOOD_ACT, "delegated")
    return {"delegated": r["echo"]}


async def _coroutine():
    return 1


def _gen_returns_generator(ctx, x):
    yield ctx.schedule_activity(GOOD_ACT, 1)
    return _exhausted()


def _gen_returns_coroutine(ctx, x):
    yield ctx.schedule_activity(GOOD_ACT, 1)
    return _coroutine()


def _plain_returns_coroutine(ctx, x):
    return _coroutine()


def _raises_stop_iteration(ctx, x):
    yield ctx.schedule_activity(GOOD_ACT, 1)
    raise StopIteration("manual")


def _plain_returns_value(ctx, x):
    return {"plain": x}


def _plain_returns_generator(ctx, x):
    return _inner_generator(ctx)


RETURNS = {
    "generator-returns-a-generator": (_gen_returns_generator, ("Failed", "returned a generator")),
    "generator-returns-a-coroutine": (_gen_returns_coroutine, ("Failed", "returned a coroutine")),
    # A function that returns a coroutine is an async orchestration, as one returning a
    # generator is a generator orchestration.
    "plain-function-returns-a-coroutine": (_plain_returns_coroutine, ("Completed", 1)),
    "generator-raises-StopIteration": (_raises_stop_iteration, ("Failed", "StopIteration")),
    "plain-function-returns-a-value": (_plain_returns_value, ("Completed", {"plain": 5})),
    "plain-function-returns-a-generator": (_plain_returns_generator, ("Completed", {"delegated": "delegated"})),
    "lambda": (lambda ctx, x: [x, ctx.instance_id is not None], ("Completed", [5, True])),
}


def test_orchestration_return_shapes(new_runtime, client):
    rt = new_runtime()
    for label, (fn, _) in RETURNS.items():
        rt.register_orchestration(f"Return-{label}", fn)
    rt.start()
    ids = {label: new_id("ret") for label in RETURNS}
    for label, iid in ids.items():
        client.start_orchestration(iid, f"Return-{label}", 5)
    for label, (_, (status, expected)) in RETURNS.items():
        result = client.wait_for_orchestration(ids[label], 30_000)
        assert result.status == status, f"{label}: {result.status} {result.output!r} {result.error!r}"
        if status == "Failed":
            assert expected in result.error, f"{label}: {expected!r} not in {result.error!r}"
        else:
            assert result.output == expected, label
    assert_still_serving(rt, client)


def _stubborn(ctx, x):
    """Ignores GeneratorExit and yields again."""
    got = []
    while len(got) < 3:
        try:
            ctx.set_custom_status(f"w{len(got)}")
            got.append((yield ctx.wait_for_event("e")))
        except GeneratorExit:
            pass
    return got


def test_generator_that_swallows_generator_exit_survives_cache_eviction(new_runtime, client):
    rt = new_runtime(replay_cache_size=1)
    rt.register_orchestration("Stubborn", _stubborn)
    rt.start()
    a, b = new_id("stubborn-a"), new_id("stubborn-b")
    client.start_orchestration(a, "Stubborn", None)
    client.start_orchestration(b, "Stubborn", None)
    for k in range(3):
        for iid, tag in ((a, "a"), (b, "b")):
            wait_until_custom_status(client, iid, f"w{k}")
            client.raise_event(iid, "e", f"{tag}{k}")
    assert_completed(client.wait_for_orchestration(a, 30_000), ["a0", "a1", "a2"])
    assert_completed(client.wait_for_orchestration(b, 30_000), ["b0", "b1", "b2"])
    assert_still_serving(rt, client)


def test_generator_that_swallows_generator_exit_can_be_cancelled(new_runtime, client):
    rt = new_runtime()
    rt.register_orchestration("Stubborn", _stubborn)
    rt.start()
    iid = new_id("stubborn")
    client.start_orchestration(iid, "Stubborn", None)
    wait_until_custom_status(client, iid, "w0")
    client.cancel_instance(iid, "stop it")
    assert_failed(client.wait_for_orchestration(iid, 30_000), "canceled: stop it")
    assert_still_serving(rt, client)


FORGED = {
    "unknown-command": ({"t": "bogus"}, "unknown variant `bogus`"),
    "negative-timer": ({"t": "timer", "ms": -5}, "-5"),
    "empty-command": ({}, "missing field `t`"),
}


def test_forged_task_fails_the_instance(new_runtime, client):
    rt = new_runtime()

    @rt.register_orchestration("Forged")
    def forged(ctx, label):
        yield ctx.schedule_activity(GOOD_ACT, 1)
        return (yield Task("activity", dict(FORGED[label][0])))

    rt.start()
    for label, (_, fragment) in FORGED.items():
        assert_failed(run(client, "Forged", label), fragment)
    assert_still_serving(rt, client)


def test_orchestration_context_used_outside_its_turn(new_runtime, client):
    saved = {}
    rt = new_runtime()

    @rt.register_orchestration("SavesCtx")
    def saves_ctx(ctx, x):
        saved["ctx"] = ctx
        yield ctx.schedule_timer(1)
        return "saved"

    @rt.register_activity("UsesSavedCtx")
    def uses_saved_ctx(ctx, x):
        out = []
        for call in (
            lambda: saved["ctx"].set_custom_status("late"),
            lambda: saved["ctx"].set_kv_value("k", "v"),
            lambda: saved["ctx"].get_custom_status(),
            lambda: saved["ctx"].get_kv_all_values(),
        ):
            try:
                call()
                out.append("accepted")
            except ClosedError as e:
                out.append(f"ClosedError: {e}")
        return out

    @rt.register_orchestration("ActivityUsesSavedCtx")
    def activity_uses(ctx, x):
        return (yield ctx.schedule_activity("UsesSavedCtx", None))

    @rt.register_orchestration("OrchestrationUsesSavedCtx")
    def orch_uses(ctx, x):
        saved["ctx"].set_custom_status("via another instance's ctx")
        yield ctx.schedule_timer(1)

    rt.start()
    saver = new_id("saver")
    assert_completed(run(client, "SavesCtx", instance_id=saver), "saved")
    out = assert_completed(run(client, "ActivityUsesSavedCtx"))
    assert all(o.startswith("ClosedError: the orchestration context is not active") for o in out), out
    assert_failed(run(client, "OrchestrationUsesSavedCtx"), "the orchestration context is not active")
    assert client.get_status(saver).custom_status is None
    assert client.get_kv_all_values(saver) == {}
    assert_still_serving(rt, client)


# =========================================================================== misbehaving activities and orchestrations


def _raise_keyboard_interrupt():
    raise KeyboardInterrupt()


def _raise_system_exit():
    raise SystemExit(3)


def _raise_generator_exit():
    raise GeneratorExit()


def _recurse_forever():
    def f(n):
        return f(n + 1)

    return f(0)


FAILURES = {
    "KeyboardInterrupt": (_raise_keyboard_interrupt, "KeyboardInterrupt"),
    "SystemExit(3)": (_raise_system_exit, "SystemExit"),
    "GeneratorExit": (_raise_generator_exit, "GeneratorExit"),
    "infinite-recursion": (_recurse_forever, "maximum recursion depth exceeded"),
}


@pytest.mark.parametrize("where", ["activity", "orchestration"])
def test_base_exceptions_and_stack_overflow_fail_cleanly(where, new_runtime, client):
    """KeyboardInterrupt, SystemExit(3), GeneratorExit and infinite recursion in user
    code: the activity / instance fails with a message that says which."""
    rt = new_runtime()

    @rt.register_activity("Misbehaves")
    def misbehaves(ctx, kind):
        return FAILURES[kind][0]()

    @rt.register_orchestration("CatchesMisbehaving")
    def catches(ctx, kind):
        try:
            yield ctx.schedule_activity("Misbehaves", kind)
        except TaskFailedError as e:
            return {"type": type(e).__name__, "message": str(e)}
        return "no exception"

    @rt.register_orchestration("MisbehavingOrchestration")
    def misbehaving_orchestration(ctx, kind):
        yield ctx.schedule_activity(GOOD_ACT, 1)
        FAILURES[kind][0]()

    rt.start()
    name = "CatchesMisbehaving" if where == "activity" else "MisbehavingOrchestration"
    ids = {kind: new_id("misbehaves") for kind in FAILURES}
    for kind, iid in ids.items():
        client.start_orchestration(iid, name, kind)
    wrong = []
    for kind, (_, fragment) in FAILURES.items():
        result = client.wait_for_orchestration(ids[kind], 30_000)
        if where == "activity":
            if result.status != "Completed" or result.output.get("type") != "ActivityFailedError":
                wrong.append(f"{kind}: {result.status} {result.output!r} {result.error!r}")
            elif fragment not in result.output["message"]:
                wrong.append(f"{kind}: message {result.output['message']!r} does not say {fragment!r}")
        elif result.status != "Failed" or fragment not in (result.error or ""):
            wrong.append(f"{kind}: {result.status}, error {result.error!r} does not say {fragment!r}")
    assert not wrong, "\n".join(wrong)
    assert_still_serving(rt, client)


ODD_ACTIVITIES = {
    "wrong-signature": (lambda: 1, "takes 0 positional arguments but 2 were given"),
    "returns-an-object": (lambda ctx, x: object(), "the result of activity 'Odd-returns-an-object' cannot be encoded as JSON"),
    "returns-a-generator": (lambda ctx, x: _exhausted(), "cannot be encoded as JSON"),
}


def test_odd_activity_functions_fail_cleanly(new_runtime, client):
    rt = new_runtime()
    for label, (fn, _) in ODD_ACTIVITIES.items():
        rt.register_activity(f"Odd-{label}", fn)

    @rt.register_orchestration("CallsOdd")
    def calls_odd(ctx, label):
        return (yield ctx.schedule_activity(f"Odd-{label}", 1))

    rt.start()
    for label, (_, fragment) in ODD_ACTIVITIES.items():
        assert_failed(run(client, "CallsOdd", label), fragment)
    assert_still_serving(rt, client)


def test_activity_that_never_returns_times_out_under_retry_policy(new_runtime, client):
    release = threading.Event()
    started = threading.Event()
    rt = new_runtime(worker_lock_timeout_ms=2000, activity_cancellation_grace_period_ms=500)

    @rt.register_activity("NeverReturns")
    def never_returns(ctx, x):
        started.set()
        release.wait(60)  # ignores ctx.is_cancelled(): never returns on its own
        return "late"

    @rt.register_orchestration("WaitsForNever")
    def waits(ctx, x):
        try:
            r = yield ctx.schedule_activity_with_retry("NeverReturns", None, {"timeout_ms": 500, "max_attempts": 3})
            return {"result": r}
        except ActivityFailedError as e:
            return {"error": str(e)}

    rt.start()
    try:
        started_at = time.monotonic()
        out = assert_completed(run(client, "WaitsForNever", timeout_ms=20_000))
        elapsed = time.monotonic() - started_at
        assert "error" in out, out
        assert "timeout" in out["error"] or "timed out" in out["error"], out["error"]
        assert elapsed < 10, f"the 500 ms timeout took {elapsed:.1f} s"
        assert started.is_set()
        assert_still_serving(rt, client)
    finally:
        release.set()
    # The late result arrives after the orchestration moved on: ignored, nothing breaks.
    time.sleep(0.3)
    assert_still_serving(rt, client)


# =========================================================================== events, cancel, duplicates


def _register_waiter(rt, name="HostileWaiter"):
    @rt.register_orchestration(name)
    def waiter(ctx, x):
        ctx.set_custom_status("waiting")
        e = yield ctx.wait_for_event("go")
        q = yield ctx.dequeue_event("q")
        return [e, q]


def _orchestrator_queue_settles(client, baseline: int, timeout_s: float = 3.0) -> bool:
    """True once the orchestrator queue is back to ``baseline`` messages (the runtime
    dealt with what was sent to an unknown instance); False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get_queue_depths().orchestrator_queue <= baseline:
            return True
        time.sleep(0.05)
    return False


def test_events_to_an_unknown_instance_are_harmless(new_runtime, client):
    """Documented: events and queue messages sent to an id with no instance (and no pending
    start) are dropped, on both providers; a later instance with that id starts clean."""
    rt = new_runtime()
    _register_waiter(rt)
    rt.start()
    baseline = client.get_queue_depths().orchestrator_queue
    iid = new_id("unknown")
    client.raise_event(iid, "go", "stale")
    client.enqueue_event(iid, "q", "stale")
    settled = _orchestrator_queue_settles(client, baseline)
    assert client.get_status(iid).status == "NotFound", "an event must not create an instance"
    client.start_orchestration(iid, "HostileWaiter", None)
    wait_until_custom_status(client, iid, "waiting")
    client.raise_event(iid, "go", "fresh")
    client.enqueue_event(iid, "q", "fresh")
    assert_completed(client.wait_for_orchestration(iid, 30_000), ["fresh", "fresh"])
    assert settled, "messages sent to an unknown instance stayed in the orchestrator queue"
    assert_still_serving(rt, client)


def test_cancel_of_an_unknown_instance_does_nothing(new_runtime, client):
    """Documented: "Cancelling a finished or unknown instance does nothing"."""
    rt = new_runtime()
    rt.start()
    baseline = client.get_queue_depths().orchestrator_queue
    iid = new_id("cancel-unknown")
    client.cancel_instance(iid, "stale cancel")
    settled = _orchestrator_queue_settles(client, baseline)
    assert client.get_status(iid).status == "NotFound"
    client.start_orchestration(iid, GOOD_ORCH, "later")
    assert_completed(
        client.wait_for_orchestration(iid, 30_000),
        {"result": {"echo": "later", "activity": GOOD_ACT}, "instance": iid},
    )
    assert settled, "the cancel request for an unknown instance stayed in the orchestrator queue"
    assert_still_serving(rt, client)


def test_events_and_cancel_to_a_finished_instance_change_nothing(new_runtime, client):
    rt = new_runtime()
    rt.start()
    iid = new_id("finished")
    expected = {"result": {"echo": "first", "activity": GOOD_ACT}, "instance": iid}
    assert_completed(run(client, GOOD_ORCH, "first", instance_id=iid), expected)
    history = [e.kind for e in client.read_execution_history(iid, 1)]
    client.raise_event(iid, "go", 1)
    client.enqueue_event(iid, "q", 1)
    client.cancel_instance(iid, "too late")
    time.sleep(0.5)
    after = client.get_status(iid)
    assert (after.status, after.output, after.error) == ("Completed", expected, None)
    assert client.list_executions(iid) == [1]
    assert [e.kind for e in client.read_execution_history(iid, 1)] == history
    assert_still_serving(rt, client)


def test_starting_an_existing_instance_id_is_ignored(new_runtime, client):
    rt = new_runtime()

    @rt.register_orchestration("SlowEcho")
    def slow_echo(ctx, x):
        yield ctx.schedule_timer(300)
        return x

    rt.start()
    running = new_id("dup-running")
    client.start_orchestration(running, "SlowEcho", "A")
    client.start_orchestration(running, "SlowEcho", "B")  # same name, other input
    client.start_orchestration(running, GOOD_ORCH, "C")  # other orchestration
    assert_completed(client.wait_for_orchestration(running, 30_000), "A")
    finished = new_id("dup-finished")
    first = assert_completed(run(client, GOOD_ORCH, "first", instance_id=finished))
    client.start_orchestration(finished, "SlowEcho", "second")
    client.start_orchestration(finished, GOOD_ORCH, "third")
    time.sleep(0.6)
    for iid, output in ((running, "A"), (finished, first)):
        state = client.get_status(iid)
        assert (state.status, state.output) == ("Completed", output)
        assert client.list_executions(iid) == [1]
    assert_still_serving(rt, client)


# =========================================================================== numbers the engine cannot hold


@pytest.mark.parametrize("delay_ms", [2**63 - 1, 2**62], ids=["2**63-1", "2**62"])
def test_huge_timer_is_rejected_or_never_fires_early(delay_ms, new_runtime, client, leftovers):
    rt = new_runtime()

    @rt.register_orchestration("HugeTimer")
    def huge_timer(ctx, ms):
        try:
            timer = ctx.schedule_timer(ms)
        except ValueError as e:
            return {"rejected": str(e)}
        r = yield ctx.race(timer, ctx.schedule_timer(300))
        return {"winner": r["index"]}

    rt.start()
    iid = new_id("hugetimer")
    leftovers.append(iid)
    out = assert_completed(run(client, "HugeTimer", delay_ms, instance_id=iid))
    if "rejected" in out:
        assert "timer delay" in out["rejected"], out
    else:
        assert out == {"winner": 1}, f"a {delay_ms} ms timer fired before a 300 ms one: {out}"
    assert_still_serving(rt, client)


@pytest.mark.parametrize("key", ["timeout_ms", "total_timeout_ms"])
def test_huge_retry_timeouts_are_rejected_or_never_expire_early(key, new_runtime, client):
    rt = new_runtime()

    @rt.register_orchestration("HugeRetryTimeout")
    def huge_retry(ctx, key):
        try:
            task = ctx.schedule_activity_with_retry(GOOD_ACT, "v", {key: 2**63 - 1})
        except ValueError as e:
            return {"rejected": str(e)}
        try:
            return {"result": (yield task)}
        except ActivityFailedError as e:
            return {"failed": str(e)}

    rt.start()
    out = assert_completed(run(client, "HugeRetryTimeout", key))
    if "rejected" in out:
        assert key in out["rejected"], out
    else:
        assert out == {"result": {"echo": "v", "activity": GOOD_ACT}}, f"{key}=2**63-1: {out}"
    assert_still_serving(rt, client)


OUT_OF_RANGE_POLICIES = {
    "max_attempts=2**32": {"max_attempts": 2**32},
    "delay_ms=2**64": {"delay_ms": 2**64},
    "max_delay_ms=2**64": {"max_delay_ms": 2**64},
    "timeout_ms=2**64": {"timeout_ms": 2**64},
}


def test_out_of_range_retry_policy_is_rejected_at_the_call(new_runtime, client):
    rt = new_runtime()

    @rt.register_orchestration("OutOfRangePolicy")
    def out_of_range(ctx, policy):
        try:
            task = ctx.schedule_activity_with_retry(GOOD_ACT, "v", policy)
        except ValueError as e:
            return {"rejected": str(e)}
        return {"accepted": (yield task)}

    rt.start()
    wrong = []
    for label, policy in OUT_OF_RANGE_POLICIES.items():
        result = run(client, "OutOfRangePolicy", policy)
        (key,) = policy
        if result.status != "Completed":
            wrong.append(f"{label}: not rejected at the call; the instance {result.status}: {(result.error or '')[:160]}")
        elif "rejected" not in result.output or key not in result.output["rejected"]:
            wrong.append(f"{label}: {result.output}")
    assert not wrong, "\n".join(wrong)
    assert_still_serving(rt, client)


VERSION_SITES = {
    "continue_as_new_versioned": lambda ctx, v: ctx.continue_as_new_versioned("x", v),
    "schedule_sub_orchestration_versioned": lambda ctx, v: ctx.schedule_sub_orchestration_versioned(GOOD_ORCH, v, 1),
    "start_orchestration_versioned": lambda ctx, v: ctx.start_orchestration_versioned(
        GOOD_ORCH, v, ctx.instance_id + "-child", 1
    ),
}


def test_non_semver_version_inside_an_orchestration_is_rejected_at_the_call(new_runtime, client):
    """Registering a non-semver version raises ValueError, so no runtime can ever run one."""
    rt = new_runtime()

    @rt.register_orchestration("BadVersion")
    def bad_version(ctx, x):
        seen = {}
        for site, call in VERSION_SITES.items():
            try:
                call(ctx, "garbage")  # the task is not yielded: nothing is scheduled
                seen[site] = "accepted"
            except ValueError as e:
                seen[site] = f"ValueError: {e}"
        return seen
        yield  # noqa: unreachable - makes this a generator

    rt.start()
    out = assert_completed(run(client, "BadVersion"))
    wrong = {site: msg for site, msg in out.items() if not (msg.startswith("ValueError") and "garbage" in msg)}
    assert not wrong, f"non-semver version 'garbage' not rejected at the call: {wrong}"
    assert_still_serving(rt, client)


def test_client_start_with_bad_version_raises_not_registered(new_runtime, client):
    rt = new_runtime()
    rt.start()
    for version in ("garbage", "9.9.9"):
        iid = new_id("badversion")
        with pytest.raises(NotRegisteredError) as info:
            client.start_orchestration_versioned(iid, GOOD_ORCH, 1, version)
        assert f"{GOOD_ORCH}@{version}" in str(info.value)
        assert client.get_status(iid).status == "NotFound"
    assert_still_serving(rt, client)


def test_continue_as_new_into_unregistered_version_fails_naming_it(new_runtime, client, leftovers):
    rt = new_runtime(unregistered_backoff_ms=50, max_attempts=3)

    @rt.register_orchestration("CanIntoNowhere")
    def can_into_nowhere(ctx, x):
        if ctx.execution_id == 1:
            yield ctx.continue_as_new_versioned("next", "9.9.9")
        return "unreachable"

    rt.start()
    iid = new_id("can-nowhere")
    leftovers.append(iid)
    client.start_orchestration(iid, "CanIntoNowhere", None)
    try:
        result = client.wait_for_orchestration(iid, 15_000)
    except duroxide.DuroxideTimeoutError:
        pytest.fail("continue_as_new into unregistered version 9.9.9: still Running after 15 s")
    assert_failed(result, "9.9.9")
    assert_still_serving(rt, client)


# =========================================================================== runtime options with bad text


@pytest.mark.parametrize("label", list(BAD_TEXT))
def test_bad_text_in_runtime_options_is_rejected_or_harmless(label, provider, client, make_runtime, leftovers):
    """worker_node_id, service_name and service_version with a lone surrogate / a NUL:
    rejected by RuntimeOptions (naming the option), or a runtime built with it serves."""
    from duroxide import Runtime

    bad, _ = BAD_TEXT[label]
    wrong = []
    for option in ("worker_node_id", "service_name", "service_version"):
        try:
            options = RuntimeOptions(dispatcher_poll_interval_ms=10, **{option: bad})
        except ValueError as e:
            if option not in str(e):
                wrong.append(f"{option}: RuntimeOptions raised without naming it: {e}")
            continue
        bad_rt = Runtime(provider, options)
        bad_rt.register_activity(GOOD_ACT, _good_act)
        bad_rt.register_orchestration(GOOD_ORCH, _good_orch)
        try:
            try:
                bad_rt.start()
            except Exception as e:  # noqa: BLE001 - judged below
                wrong.append(f"{option}: accepted by RuntimeOptions, then start() raised {type(e).__name__}: {e}")
                continue
            iid = new_id("badopts")
            leftovers.append(iid)
            client.start_orchestration(iid, GOOD_ORCH, 1)
            try:
                state = client.wait_for_orchestration(iid, 10_000)
                if state.status != "Completed":
                    wrong.append(f"{option}: instance {state.status}: {state.error}")
            except duroxide.DuroxideTimeoutError:
                wrong.append(f"{option}: the runtime started but its instance did not finish in 10 s (hang)")
        finally:
            bad_rt.shutdown(1000)
    rt = make_runtime()
    rt.register_activity(GOOD_ACT, _good_act)
    rt.register_orchestration(GOOD_ORCH, _good_orch)
    rt.start()
    assert_still_serving(rt, client)
    assert not wrong, "\n".join(wrong)


# =========================================================================== concurrency


def test_one_client_from_32_threads_with_hostile_calls_mixed_in(new_runtime, client):
    rt = new_runtime(worker_concurrency=8, orchestration_concurrency=8)
    rt.start()

    def one(k):
        rejected = None
        if k % 2:
            try:
                client.start_orchestration(f"bad\x00{k}", GOOD_ORCH, 1)
            except ValueError as e:
                rejected = str(e)
            try:
                client.raise_event(new_id(), "e", float("nan"))
            except ValueError:
                pass
            else:
                rejected = "NaN accepted"
        iid = new_id(f"t{k}")
        client.start_orchestration(iid, GOOD_ORCH, k)
        return iid, client.wait_for_orchestration(iid, 60_000), rejected

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, range(32)))
    for k, (iid, result, rejected) in enumerate(results):
        assert_completed(result, {"result": {"echo": k, "activity": GOOD_ACT}, "instance": iid})
        if k % 2:
            assert rejected and "NUL" in rejected, rejected
    assert_still_serving(rt, client)


def test_wide_fan_out_completes(new_runtime, client):
    rt = new_runtime(worker_concurrency=8)

    @rt.register_orchestration("FanOut")
    def fan_out(ctx, n):
        results = yield ctx.all([ctx.schedule_activity(GOOD_ACT, i) for i in range(n)])
        return sum(r["echo"] for r in results)

    rt.start()
    started = time.monotonic()
    assert_completed(run(client, "FanOut", 200, timeout_ms=60_000), sum(range(200)))
    assert time.monotonic() - started < 30
    assert_still_serving(rt, client)


# =========================================================================== lifecycle


def test_start_twice_and_register_after_start_raise_runtime_state_error(new_runtime, client):
    rt = new_runtime()
    rt.start()
    with pytest.raises(RuntimeStateError, match="already started"):
        rt.start()
    with pytest.raises(RuntimeStateError, match="after start"):
        rt.register_activity("Late", _good_act)
    with pytest.raises(RuntimeStateError, match="after start"):
        rt.register_orchestration("LateOrch", _good_orch)
    assert_still_serving(rt, client)


def test_register_same_name_twice_raises_value_error_first_wins(new_runtime, client):
    rt = new_runtime()
    with pytest.raises(ValueError, match=f"activity {GOOD_ACT!r} is already registered"):
        rt.register_activity(GOOD_ACT, lambda ctx, x: "impostor")
    with pytest.raises(ValueError, match=f"orchestration {GOOD_ORCH!r} version 1.0.0 is already registered"):
        rt.register_orchestration(GOOD_ORCH, lambda ctx, x: "impostor")
    rt.start()
    assert_still_serving(rt, client)  # the first registrations run


def test_shutdown_twice_and_runtime_use_after_shutdown(new_runtime, client):
    rt = new_runtime()
    rt.start()
    assert_still_serving(rt, client)
    rt.shutdown(1000)
    rt.shutdown(1000)
    rt.shutdown()
    assert rt.is_running is False
    assert rt.metrics_snapshot() is None
    assert rt.driver_stats() == {}
    with pytest.raises(ClosedError, match="shut down"):
        rt.register_activity("After", _good_act)
    with pytest.raises(ClosedError, match="shut down"):
        rt.start()
    with pytest.raises(ValueError):
        rt.shutdown(-1)
    # An instance started while no runtime runs is kept, and a new runtime runs it.
    pending = new_id("pending")
    client.start_orchestration(pending, GOOD_ORCH, "queued")
    rt2 = new_runtime()
    rt2.start()
    assert_completed(
        client.wait_for_orchestration(pending, 30_000),
        {"result": {"echo": "queued", "activity": GOOD_ACT}, "instance": pending},
    )
    assert_still_serving(rt2, client)


def test_client_after_close_raises_closed_error_everywhere(new_runtime, client, provider):
    rt = new_runtime()
    rt.start()
    closed = Client(provider)
    closed.close()
    closed.close()  # twice: no error
    with Client(provider) as ctx_managed:
        pass
    for c in (closed, ctx_managed):
        for call in (
            lambda: c.start_orchestration(new_id(), GOOD_ORCH, 1),
            lambda: c.raise_event(new_id(), "e", 1),
            lambda: c.enqueue_event(new_id(), "q", 1),
            lambda: c.get_status(new_id()),
            lambda: c.wait_for_orchestration(new_id(), 100),
            lambda: c.wait_for_status_change(new_id(), 0, 10, 100),
            lambda: c.cancel_instance(new_id()),
            lambda: c.get_kv_value(new_id(), "k"),
            lambda: c.wait_for_kv_value(new_id(), "k", 100),
            lambda: c.list_all_instances(),
            lambda: c.get_queue_depths(),
        ):
            with pytest.raises(ClosedError, match="closed"):
                within(30, call)
    assert_still_serving(rt, client)


# =========================================================================== bad timeouts


BAD_MILLIS = {
    "negative": -1,
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    "10**30": 10**30,
    "str": "100",
    "None": None,
    "bool": True,
}


def test_bad_timeouts_raise_value_error(new_runtime, client):
    rt = new_runtime()
    rt.start()
    iid = new_id("timeouts")
    assert_completed(run(client, GOOD_ORCH, 1, instance_id=iid))
    wrong = []
    for label, value in BAD_MILLIS.items():
        for call, param in (
            (lambda: client.wait_for_orchestration(iid, value), "timeout_ms"),
            (lambda: client.wait_for_status_change(iid, 0, timeout_ms=value), "timeout_ms"),
            (lambda: client.wait_for_status_change(iid, 0, poll_interval_ms=value, timeout_ms=100), "poll_interval_ms"),
            (lambda: client.wait_for_kv_value(iid, "k", value), "timeout_ms"),
        ):
            kind, got = within(10, _outcome, call)
            if kind == "ok" or not isinstance(got, ValueError) or param not in str(got):
                wrong.append(f"{param}={label}: {got!r}")
    assert not wrong, "\n".join(wrong)
    # The largest accepted timeout (ten years) on a finished instance returns at once;
    # one millisecond more is refused.
    started = time.monotonic()
    assert client.wait_for_orchestration(iid, duroxide._validate.MAX_MILLIS).status == "Completed"
    with pytest.raises(ValueError, match="ten years"):
        client.wait_for_orchestration(iid, duroxide._validate.MAX_MILLIS + 1)
    assert time.monotonic() - started < 5
    assert_still_serving(rt, client)


def test_bad_last_seen_version_raises_value_error_naming_it(new_runtime, client):
    rt = new_runtime()
    rt.start()
    wrong = []
    for value in (-1, 2**64, "1", None, 1.5):
        kind, got = within(10, _outcome, client.wait_for_status_change, new_id(), value, 10, 100)
        if kind == "ok" or not isinstance(got, ValueError) or "last_seen_version" not in str(got):
            wrong.append(f"last_seen_version={value!r}: {type(got).__name__}: {got}")
    assert not wrong, "\n".join(wrong)
    assert_still_serving(rt, client)


def test_client_argument_rejections_are_invalid_argument_errors(new_runtime, client):
    """docs/user-guide.md (Errors): a rejected argument is InvalidArgumentError (a ValueError),
    and every SDK exception derives from DuroxideError."""
    rt = new_runtime()
    rt.start()
    not_sdk = []
    for label, call in (
        ("NUL instance_id", lambda: client.start_orchestration("a\x00", GOOD_ORCH, 1)),
        ("surrogate event_name", lambda: client.raise_event(new_id(), "\ud800", 1)),
        ("empty queue", lambda: client.enqueue_event(new_id(), "", 1)),
        ("negative timeout_ms", lambda: client.wait_for_orchestration(new_id(), -1)),
        ("NaN timeout_ms", lambda: client.wait_for_kv_value(new_id(), "k", float("nan"))),
    ):
        try:
            call()
        except InvalidArgumentError:
            continue
        except ValueError as e:
            not_sdk.append(f"{label}: {type(e).__module__}.{type(e).__name__}: {e}")
    assert not not_sdk, "rejections that are not InvalidArgumentError:\n" + "\n".join(not_sdk)
    assert_still_serving(rt, client)
