"""Key-value state: ctx.*kv* inside orchestrations (across turns and continue_as_new),
the client's reads and waits, reads of another instance's state, pruning by age, and
the engine's limits (MAX_KV_KEYS, MAX_KV_VALUE_BYTES)."""

import time

import pytest

import duroxide
from duroxide import DuroxideTimeoutError, InstanceNotFoundError, InvalidArgumentError
from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status


def _snapshot(ctx, *keys):
    """Everything the ctx reports about the KV state, as plain JSON-able values."""
    return {
        "values": {k: ctx.get_kv_value(k) for k in keys},
        "all": ctx.get_kv_all_values(),
        "keys": ctx.get_kv_all_keys(),
        "len": ctx.get_kv_length(),
    }


# --------------------------------------------------------------------------- ctx operations


def test_kv_operations_read_back_across_turns(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("KvNoop", lambda ctx, x: x)

    @runtime.register_orchestration("KvOpsAcrossTurns")
    def kv_ops(ctx, input):
        initial = _snapshot(ctx, "a")
        ctx.set_kv_value("b", "2")
        ctx.set_kv_value("a", "1")
        ctx.set_kv_value("c", "3")
        same_turn = _snapshot(ctx, "a", "b", "c", "missing")
        yield ctx.schedule_activity("KvNoop", None)
        after_activity = _snapshot(ctx, "a", "b", "c", "missing")
        ctx.set_kv_value("a", "one")  # overwrite: same key count
        ctx.clear_kv_value("b")
        ctx.clear_kv_value("never-set")  # clearing an unset key does nothing
        yield ctx.schedule_timer(10)
        after_clear = _snapshot(ctx, "a", "b", "c")
        ctx.clear_all_kv_values()
        yield ctx.schedule_activity("KvNoop", None)
        after_clear_all = _snapshot(ctx, "a", "c")
        return {
            "initial": initial,
            "same_turn": same_turn,
            "after_activity": after_activity,
            "after_clear": after_clear,
            "after_clear_all": after_clear_all,
        }

    runtime.start()
    iid = new_id("kvops")
    out = assert_completed(run_orchestration("KvOpsAcrossTurns", instance_id=iid))
    assert out["initial"] == {"values": {"a": None}, "all": {}, "keys": [], "len": 0}
    three = {
        "values": {"a": "1", "b": "2", "c": "3", "missing": None},
        "all": {"a": "1", "b": "2", "c": "3"},
        "keys": ["a", "b", "c"],  # sorted, not insertion order
        "len": 3,
    }
    assert out["same_turn"] == three
    assert out["after_activity"] == three
    assert out["after_clear"] == {
        "values": {"a": "one", "b": None, "c": "3"},
        "all": {"a": "one", "c": "3"},
        "keys": ["a", "c"],
        "len": 2,
    }
    assert out["after_clear_all"] == {"values": {"a": None, "c": None}, "all": {}, "keys": [], "len": 0}


def test_kv_state_is_visible_to_client_after_completion(make_runtime, client, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("KvVisibleToClient")
    def kv_visible(ctx, input):
        ctx.set_kv_value("gone", "x")
        ctx.set_kv_value("kept", "v1")
        yield ctx.schedule_timer(5)
        ctx.set_kv_value("kept", "v2")
        ctx.clear_kv_value("gone")
        ctx.set_kv_value("late", "L")
        return "done"

    runtime.start()
    iid = new_id("kvclient")
    assert_completed(run_orchestration("KvVisibleToClient", instance_id=iid), "done")
    assert client.get_kv_all_values(iid) == {"kept": "v2", "late": "L"}
    assert client.get_kv_value(iid, "kept") == "v2"
    assert client.get_kv_value(iid, "gone") is None
    assert client.get_kv_value(iid, "never-set") is None


def test_non_str_values_are_stored_as_json_text(make_runtime, client, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("KvJsonValues")
    def kv_json(ctx, input):
        ctx.set_kv_value("dict", {"a": 1})
        ctx.set_kv_value("list", [1, "two", None])
        ctx.set_kv_value("int", 5)
        ctx.set_kv_value("bool", True)
        ctx.set_kv_value("none", None)
        ctx.set_kv_value("str", 'plain "text"')  # a str is stored as is, not JSON-quoted
        ctx.set_kv_value("empty", "")
        same_turn = ctx.get_kv_all_values()
        yield ctx.schedule_timer(5)
        return {"same_turn": same_turn, "next_turn": ctx.get_kv_all_values()}

    runtime.start()
    iid = new_id("kvjson")
    expected = {
        "dict": '{"a":1}',
        "list": '[1,"two",null]',
        "int": "5",
        "bool": "true",
        "none": "null",
        "str": 'plain "text"',
        "empty": "",
    }
    assert_completed(run_orchestration("KvJsonValues", instance_id=iid),
                     {"same_turn": expected, "next_turn": expected})
    assert client.get_kv_value(iid, "dict") == '{"a":1}'
    assert client.get_kv_all_values(iid) == expected
    # The typed reads decode the JSON text.
    assert client.get_kv_value_typed(iid, "dict") == {"a": 1}
    assert client.get_kv_value_typed(iid, "list") == [1, "two", None]
    assert client.get_kv_value_typed(iid, "int") == 5
    assert client.get_kv_value_typed(iid, "bool") is True
    assert client.wait_for_kv_value_typed(iid, "dict", 5000) == {"a": 1}


def test_kv_state_survives_continue_as_new(make_runtime, client, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("KvCarryCan")
    def kv_carry(ctx, input):
        if input == 0:
            ctx.set_kv_value("from-exec-1", "hello")
            ctx.set_kv_value("counter", 1)
            ctx.set_kv_value("cleared-before-can", "x")
            yield ctx.schedule_timer(5)
            ctx.clear_kv_value("cleared-before-can")
            yield ctx.continue_as_new(1)
        seen = {
            "exec": ctx.execution_id,
            "all": ctx.get_kv_all_values(),
            "keys": ctx.get_kv_all_keys(),
            "len": ctx.get_kv_length(),
        }
        ctx.set_kv_value("counter", int(ctx.get_kv_value("counter")) + 1)
        yield ctx.schedule_timer(5)
        seen["counter_after"] = ctx.get_kv_value("counter")
        return seen

    runtime.start()
    iid = new_id("kvcan")
    assert_completed(run_orchestration("KvCarryCan", 0, instance_id=iid), {
        "exec": 2,
        "all": {"from-exec-1": "hello", "counter": "1"},
        "keys": ["counter", "from-exec-1"],
        "len": 2,
        "counter_after": "2",
    })
    assert client.get_kv_all_values(iid) == {"from-exec-1": "hello", "counter": "2"}


# --------------------------------------------------------------------------- client reads and waits


def test_client_reads_kv_of_running_instance(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("KvClientReadsRunning")
    def kv_running(ctx, input):
        ctx.set_kv_value("progress", {"step": 1})
        ctx.set_kv_value("name", "alpha")
        ctx.set_custom_status("waiting")
        yield ctx.wait_for_event("go")
        return "ok"

    runtime.start()
    iid = new_id("kvrun")
    client.start_orchestration(iid, "KvClientReadsRunning")
    wait_until_custom_status(client, iid, "waiting")
    assert client.get_status(iid).status == "Running"
    assert client.get_kv_value(iid, "progress") == '{"step":1}'
    assert client.get_kv_value(iid, "name") == "alpha"
    assert client.get_kv_value(iid, "unset") is None
    assert client.get_kv_value_typed(iid, "unset") is None
    assert client.get_kv_all_values(iid) == {"progress": '{"step":1}', "name": "alpha"}
    client.raise_event(iid, "go", None)
    assert_completed(client.wait_for_orchestration(iid, 30000), "ok")


def test_wait_for_kv_value_returns_once_set_while_instance_waits(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("KvWaitSet")
    def kv_wait_set(ctx, input):
        yield ctx.schedule_timer(100)
        ctx.set_kv_value("ready", {"port": 8080})
        data = yield ctx.wait_for_event("go")
        return data

    runtime.start()
    iid = new_id("kvwait")
    client.start_orchestration(iid, "KvWaitSet")
    value = client.wait_for_kv_value(iid, "ready", 30000)
    assert value == '{"port":8080}'
    # The instance cannot finish before the event below, so the wait returned while it ran.
    assert client.get_status(iid).status == "Running"
    assert client.wait_for_kv_value_typed(iid, "ready", 30000) == {"port": 8080}
    client.raise_event(iid, "go", "went")
    assert_completed(client.wait_for_orchestration(iid, 30000), "went")


def test_wait_for_kv_value_times_out_when_never_set(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("KvWaitNever")
    def kv_wait_never(ctx, input):
        ctx.set_kv_value("other", "x")
        ctx.set_custom_status("waiting")
        yield ctx.wait_for_event("go")
        return "ok"

    runtime.start()
    iid = new_id("kvnever")
    client.start_orchestration(iid, "KvWaitNever")
    wait_until_custom_status(client, iid, "waiting")
    with pytest.raises(DuroxideTimeoutError) as info:
        client.wait_for_kv_value(iid, "missing", 300)
    assert isinstance(info.value, TimeoutError)
    with pytest.raises(DuroxideTimeoutError):
        client.wait_for_kv_value_typed(iid, "missing", 300)
    client.raise_event(iid, "go", None)
    assert_completed(client.wait_for_orchestration(iid, 30000), "ok")


def test_wait_for_kv_value_raises_not_found_promptly_when_instance_ended_without_it(
    make_runtime, client
):
    runtime = make_runtime()

    @runtime.register_orchestration("KvEndsWithoutKey")
    def kv_ends(ctx, input):
        ctx.set_kv_value("other", "x")
        yield ctx.schedule_timer(200)
        return "finished"

    runtime.start()
    iid = new_id("kvend")
    client.start_orchestration(iid, "KvEndsWithoutKey")

    # The instance ends while the client waits.
    started = time.monotonic()
    with pytest.raises(InstanceNotFoundError) as info:
        client.wait_for_kv_value(iid, "never", 20000)
    assert time.monotonic() - started < 10, "the wait should give up as soon as the instance ended"
    assert isinstance(info.value, LookupError)
    assert "never" in str(info.value)
    assert_completed(client.wait_for_orchestration(iid, 30000), "finished")

    # Already ended before the wait starts.
    started = time.monotonic()
    with pytest.raises(InstanceNotFoundError):
        client.wait_for_kv_value(iid, "never", 20000)
    with pytest.raises(InstanceNotFoundError):
        client.wait_for_kv_value_typed(iid, "never", 20000)
    assert time.monotonic() - started < 10
    # A key it did set is still returned after the end.
    assert client.wait_for_kv_value(iid, "other", 20000) == "x"


def test_wait_for_kv_value_returns_key_set_in_final_turn(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("KvSetInLastTurn")
    def kv_last(ctx, input):
        yield ctx.schedule_timer(50)
        ctx.set_kv_value("result", [1, 2, 3])
        return "done"

    runtime.start()
    iid = new_id("kvlast")
    client.start_orchestration(iid, "KvSetInLastTurn")
    assert client.wait_for_kv_value_typed(iid, "result", 30000) == [1, 2, 3]
    assert_completed(client.wait_for_orchestration(iid, 30000), "done")


# --------------------------------------------------------------------------- other instances


def test_get_kv_value_from_instance_reads_another_instance(make_runtime, client, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("KvSource")
    def kv_source(ctx, input):
        ctx.set_kv_value("color", "blue")
        ctx.set_kv_value("config", {"replicas": 3})
        ctx.set_custom_status("published")
        yield ctx.wait_for_event("done")
        return "source-done"

    @runtime.register_orchestration("KvReader")
    def kv_reader(ctx, source_id):
        color = yield ctx.get_kv_value_from_instance(source_id, "color")
        config = yield ctx.get_kv_value_from_instance(source_id, "config")
        missing = yield ctx.get_kv_value_from_instance(source_id, "missing")
        yield ctx.schedule_timer(5)  # the recorded reads replay identically
        return {"color": color, "config": config, "missing": missing}

    runtime.start()
    source = new_id("kvsrc")
    client.start_orchestration(source, "KvSource")
    wait_until_custom_status(client, source, "published")
    assert_completed(run_orchestration("KvReader", source),
                     {"color": "blue", "config": '{"replicas":3}', "missing": None})
    client.raise_event(source, "done", None)
    assert_completed(client.wait_for_orchestration(source, 30000), "source-done")


# --------------------------------------------------------------------------- pruning


def test_prune_counts_keys_of_the_current_execution_as_just_written(make_runtime, client, run_orchestration):
    """duroxide 0.1.32 re-stamps a key written earlier in the current execution with the
    replay's clock, so prune only removes keys written before the last continue_as_new
    (documented in docs/user-guide.md, "Key-value state"); this pins that behaviour."""
    runtime = make_runtime()

    @runtime.register_orchestration("KvPrune")
    def kv_prune(ctx, input):
        ctx.set_kv_value("old1", "a")
        ctx.set_kv_value("old2", "b")
        yield ctx.schedule_timer(50)
        now = yield ctx.utc_now()
        removed = ctx.prune_kv_values_updated_before(now)
        yield ctx.schedule_timer(5)
        return {"removed": removed, "keys": ctx.get_kv_all_keys()}

    runtime.start()
    iid = new_id("kvprune")
    assert_completed(run_orchestration("KvPrune", instance_id=iid), {"removed": 0, "keys": ["old1", "old2"]})
    assert client.get_kv_all_values(iid) == {"old1": "a", "old2": "b"}


def test_prune_removes_keys_written_before_continue_as_new(make_runtime, client, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("KvPruneAfterCan")
    def kv_prune_after_can(ctx, input):
        if input == 0:
            ctx.set_kv_value("old1", "a")
            ctx.set_kv_value("old2", "b")
            yield ctx.continue_as_new(1)
        yield ctx.schedule_timer(50)
        now = yield ctx.utc_now()
        ctx.set_kv_value("fresh", "c")
        removed = ctx.prune_kv_values_updated_before(now)
        same_turn = ctx.get_kv_all_keys()
        yield ctx.schedule_timer(5)
        return {"removed": removed, "keys": same_turn, "next_turn": ctx.get_kv_all_values()}

    runtime.start()
    iid = new_id("kvprunecan")
    assert_completed(run_orchestration("KvPruneAfterCan", 0, instance_id=iid),
                     {"removed": 2, "keys": ["fresh"], "next_turn": {"fresh": "c"}})
    assert client.get_kv_all_values(iid) == {"fresh": "c"}


def test_prune_with_cutoff_zero_removes_nothing(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("KvPruneZero")
    def kv_prune_zero(ctx, input):
        ctx.set_kv_value("k", "v")
        yield ctx.schedule_timer(5)
        removed = ctx.prune_kv_values_updated_before(0)
        return {"removed": removed, "all": ctx.get_kv_all_values()}

    runtime.start()
    assert_completed(run_orchestration("KvPruneZero"), {"removed": 0, "all": {"k": "v"}})


# --------------------------------------------------------------------------- limits


def test_kv_limits_are_exported_ints():
    assert type(duroxide.MAX_KV_KEYS) is int
    assert type(duroxide.MAX_KV_VALUE_BYTES) is int
    assert duroxide.MAX_KV_KEYS == 150
    assert duroxide.MAX_KV_VALUE_BYTES == 65536
    assert issubclass(InvalidArgumentError, ValueError)


def test_oversized_kv_value_raises_at_set_and_can_be_caught(make_runtime, client, run_orchestration):
    runtime = make_runtime()
    limit = duroxide.MAX_KV_VALUE_BYTES

    @runtime.register_orchestration("KvValueTooBigCaught")
    def kv_too_big(ctx, input):
        ctx.set_kv_value("at-limit", "x" * limit)  # exactly the limit is fine
        errors = []
        for key, value in (
            ("ascii", "x" * (limit + 1)),
            # Fewer characters than the limit but more bytes: the limit counts UTF-8 bytes.
            ("multibyte", "\u00e9" * (limit // 2 + 1)),
        ):
            try:
                ctx.set_kv_value(key, value)
            except InvalidArgumentError as e:
                errors.append({"key": key, "message": str(e), "value_error": isinstance(e, ValueError)})
        yield ctx.schedule_timer(5)
        return {
            "errors": errors,
            "keys": ctx.get_kv_all_keys(),
            "at_limit_len": len(ctx.get_kv_value("at-limit")),
        }

    runtime.start()
    iid = new_id("kvbig")
    out = assert_completed(run_orchestration("KvValueTooBigCaught", instance_id=iid))
    assert out["keys"] == ["at-limit"], "the rejected values were not stored"
    assert out["at_limit_len"] == limit
    assert [e["key"] for e in out["errors"]] == ["ascii", "multibyte"]
    for err in out["errors"]:
        assert err["value_error"] is True
        assert str(limit) in err["message"]
        assert "MAX_KV_VALUE_BYTES" in err["message"]
        assert err["key"] in err["message"]
    assert len(client.get_kv_value(iid, "at-limit")) == limit
    assert client.get_kv_value(iid, "ascii") is None


def test_uncaught_oversized_kv_value_fails_instance(make_runtime, client, run_orchestration):
    runtime = make_runtime()
    limit = duroxide.MAX_KV_VALUE_BYTES

    @runtime.register_orchestration("KvValueTooBigUncaught")
    def kv_too_big_uncaught(ctx, input):
        ctx.set_kv_value("small", "ok")
        yield ctx.schedule_timer(5)
        ctx.set_kv_value("huge", "y" * (limit + 10))
        return "unreachable"

    runtime.start()
    iid = new_id("kvbigfail")
    assert_failed(run_orchestration("KvValueTooBigUncaught", instance_id=iid),
                  "huge", str(limit), "MAX_KV_VALUE_BYTES")
    assert client.get_kv_value(iid, "huge") is None
    assert client.get_kv_value(iid, "small") == "ok"


def test_adding_key_past_max_kv_keys_raises(make_runtime, client, run_orchestration):
    runtime = make_runtime()
    max_keys = duroxide.MAX_KV_KEYS

    def try_set(ctx, key, value):
        try:
            ctx.set_kv_value(key, value)
            return None
        except InvalidArgumentError as e:
            return {"message": str(e), "value_error": isinstance(e, ValueError)}

    @runtime.register_orchestration("KvTooManyKeys")
    def kv_too_many(ctx, input):
        for i in range(max_keys):
            ctx.set_kv_value(f"k{i:03d}", str(i))
        same_turn = try_set(ctx, "one-too-many", "x")
        yield ctx.schedule_timer(5)
        next_turn = try_set(ctx, "one-too-many", "x")
        overwrite = try_set(ctx, "k000", "overwritten")  # an existing key is not a new key
        ctx.clear_kv_value("k149")
        after_clear = try_set(ctx, "replacement", "r")  # room again after a clear
        full_again = try_set(ctx, "another", "x")
        return {
            "same_turn": same_turn,
            "next_turn": next_turn,
            "overwrite": overwrite,
            "after_clear": after_clear,
            "full_again": full_again,
            "len": ctx.get_kv_length(),
        }

    runtime.start()
    iid = new_id("kvkeys")
    out = assert_completed(run_orchestration("KvTooManyKeys", instance_id=iid))
    for case in ("same_turn", "next_turn", "full_again"):
        err = out[case]
        assert err is not None, f"{case}: adding key {max_keys + 1} did not raise"
        assert err["value_error"] is True
        assert "MAX_KV_KEYS" in err["message"]
        assert str(max_keys) in err["message"]
    assert out["overwrite"] is None
    assert out["after_clear"] is None
    assert out["len"] == max_keys
    stored = client.get_kv_all_values(iid)
    assert len(stored) == max_keys
    assert stored["k000"] == "overwritten"
    assert stored["replacement"] == "r"
    assert "k149" not in stored and "one-too-many" not in stored and "another" not in stored


def test_uncaught_key_count_overflow_fails_instance(make_runtime, run_orchestration):
    runtime = make_runtime()
    max_keys = duroxide.MAX_KV_KEYS

    @runtime.register_orchestration("KvTooManyKeysUncaught")
    def kv_too_many_uncaught(ctx, input):
        for i in range(max_keys + 1):
            ctx.set_kv_value(f"key-{i}", "v")
        yield ctx.schedule_timer(5)
        return "unreachable"

    runtime.start()
    assert_failed(run_orchestration("KvTooManyKeysUncaught"), "MAX_KV_KEYS", str(max_keys))


def test_invalid_kv_keys_raise_value_error(make_runtime, client, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("KvBadKeys")
    def kv_bad_keys(ctx, input):
        errors = {}
        for label, key in (("empty", ""), ("nul", "a\x00b")):
            try:
                ctx.set_kv_value(key, "v")
                errors[label] = None
            except ValueError as e:
                errors[label] = str(e)
        try:
            ctx.set_kv_value("good", "bad\x00value")
            errors["nul_value"] = None
        except ValueError as e:
            errors["nul_value"] = str(e)
        yield ctx.schedule_timer(5)
        return {"errors": errors, "all": ctx.get_kv_all_values()}

    runtime.start()
    iid = new_id("kvbadkey")
    out = assert_completed(run_orchestration("KvBadKeys", instance_id=iid))
    assert out["all"] == {}, "nothing was stored for the rejected calls"
    assert out["errors"]["empty"] and "empty" in out["errors"]["empty"]
    assert out["errors"]["nul"] and "NUL" in out["errors"]["nul"]
    assert out["errors"]["nul_value"] and "NUL" in out["errors"]["nul_value"]
    assert client.get_kv_all_values(iid) == {}
