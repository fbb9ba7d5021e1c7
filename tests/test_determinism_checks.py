"""Determinism checks that survive the replay cache.

With the replay cache on, a suspended generator is resumed instead of re-run, so code
that yields differently when re-run would complete untouched and break only at the next
replay from history (a restart, an eviction, another worker). The runtime therefore
re-runs a fresh generator over the cached one's record in a verify-only mode
(``RuntimeOptions.determinism_checks``): the specification's nondeterminism cases must
fail in-process with the cache on, exactly as they do without it, and pass with the
checks off. Every runtime here sets ``replay_cache_size`` itself, so these tests mean the
same in the suite's cache-off run.
"""

from __future__ import annotations

import inspect
from collections import defaultdict

import pytest

from conftest import assert_completed, assert_failed, new_id
from duroxide import InvalidArgumentError, RuntimeOptions

CACHE_ON = {"replay_cache_size": 1000}

# How often each instance's generator was created: the first run sees 0.
RUNS: "defaultdict[str, int]" = defaultdict(int)


def echo_then_other(ctx, input):
    """Schedules Echo on its first run and Other on every replay (a spec case)."""
    first = RUNS[ctx.instance_id] == 0
    RUNS[ctx.instance_id] += 1
    name = "Echo" if first else "Other"
    a = yield ctx.schedule_activity(name, input)  # the divergent yield
    b = yield ctx.schedule_activity("Echo", a)
    return b


def activity_then_timer(ctx, input):
    """Waits on an activity on its first run and on a timer on a replay (a spec case)."""
    first = RUNS[ctx.instance_id] == 0
    RUNS[ctx.instance_id] += 1
    if first:
        yield ctx.schedule_activity("Echo", input)
    else:
        yield ctx.schedule_timer(10)  # the divergent yield
    out = yield ctx.schedule_activity("Echo", "done")
    return out


def line_of(fn, marker: str) -> int:
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, text in enumerate(lines) if marker in text)


def register(runtime):
    runtime.register_activity("Echo", lambda ctx, x: x)
    runtime.register_activity("Other", lambda ctx, x: f"other:{x}")
    runtime.register_orchestration("EchoThenOther", echo_then_other)
    runtime.register_orchestration("ActivityThenTimer", activity_then_timer)
    return runtime


@pytest.mark.parametrize("checks", ["sampled", "every_turn"])
def test_yield_that_changes_on_rerun_fails_in_process_with_the_cache_on(make_runtime, client, checks):
    runtime = register(make_runtime(determinism_checks=checks, **CACHE_ON))
    runtime.start()
    iid = new_id("echo-other")
    client.start_orchestration(iid, "EchoThenOther", "x")
    error = assert_failed(client.wait_for_orchestration(iid, 30_000))
    print(f"\n{checks}: {error}")
    assert "EchoThenOther@1.0.0" in error, error
    assert "diverged from its history at step 1" in error, error
    assert "schedule_activity(\"Other\"" in error, error  # what the code yields now
    assert 'ActivityScheduled { name: "Echo" }' in error, error  # what history holds
    assert f"{__file__}:{line_of(echo_then_other, 'the divergent yield')}" in error, error
    assert runtime.driver_stats()["divergences"] >= 1


@pytest.mark.parametrize("checks", ["sampled", "every_turn"])
def test_activity_turned_into_a_timer_fails_in_process(make_runtime, client, checks):
    runtime = register(make_runtime(determinism_checks=checks, **CACHE_ON))
    runtime.start()
    iid = new_id("act-timer")
    client.start_orchestration(iid, "ActivityThenTimer", "x")
    error = assert_failed(client.wait_for_orchestration(iid, 30_000))
    assert "diverged from its history at step 1" in error, error
    assert "schedule_timer(10)" in error, error
    assert 'ActivityScheduled { name: "Echo" }' in error, error
    assert f"{__file__}:{line_of(activity_then_timer, 'the divergent yield')}" in error, error


@pytest.mark.parametrize("orchestration", ["EchoThenOther", "ActivityThenTimer"])
def test_the_same_cases_complete_with_checks_off(make_runtime, client, orchestration):
    runtime = register(make_runtime(determinism_checks="off", **CACHE_ON))
    runtime.start()
    iid = new_id("unchecked")
    client.start_orchestration(iid, orchestration, "x")
    assert_completed(client.wait_for_orchestration(iid, 30_000))
    stats = runtime.driver_stats()
    assert stats["determinism_checks"] == 0 and stats["cache_hits"] >= 1, stats


def chain(ctx, n):
    total = 0
    for i in range(n):
        ctx.set_custom_status(f"step {i}")
        ctx.set_kv_value("last", str(i))
        ctx.trace_info(f"step {i}")
        total += yield ctx.schedule_activity("Add", i)
    value = ctx.get_kv_value("last")
    return {"total": total, "last": value}


def expected_checks(checks: str, cache_hits: int) -> int:
    """Checks of a chain whose every cached turn steps the generator, the last one to its
    end: each due turn once, plus once before the end -- where the last turn is due too,
    the check before the end is its only one (it covers the same record and more)."""
    due = [checks == "every_turn" or k & (k - 1) == 0 for k in range(1, cache_hits + 1)]
    return sum(due) + 1 - (1 if due and due[-1] else 0)


@pytest.mark.parametrize("checks", ["sampled", "every_turn"])
def test_deterministic_code_passes_every_check_on_the_documented_schedule(make_runtime, client, checks):
    runtime = make_runtime(determinism_checks=checks, **CACHE_ON)
    runtime.register_activity("Add", lambda ctx, i: i)
    runtime.register_orchestration("Chain", chain)
    runtime.start()
    iid = new_id("chain")
    client.start_orchestration(iid, "Chain", 12)
    out = assert_completed(client.wait_for_orchestration(iid, 30_000))
    assert out == {"total": sum(range(12)), "last": "11"}
    # Effects were not applied twice by the verify-only runs.
    assert client.get_status(iid).custom_status == "step 11"
    assert client.get_kv_value(iid, "last") == "11"
    stats = runtime.driver_stats()
    assert stats["divergences"] == 0, stats
    assert stats["determinism_checks"] == expected_checks(checks, stats["cache_hits"]), stats
    assert stats["determinism_check_steps"] > 0


def continuing(ctx, n):
    yield ctx.schedule_activity("Add", n)
    if n < 3:
        yield ctx.continue_as_new(n + 1)
    return n


def run_adding(make_runtime, client, checks: str, name: str, fn, input):
    """Runs ``fn`` (which schedules the activity "Add") to its end under ``checks``."""
    runtime = make_runtime(determinism_checks=checks, **CACHE_ON)
    runtime.register_activity("Add", lambda ctx, i: i)
    runtime.register_orchestration(name, fn)
    runtime.start()
    iid = new_id(name.lower())
    client.start_orchestration(iid, name, input)
    return runtime, client.wait_for_orchestration(iid, 30_000)


def test_continue_as_new_is_checked_and_passes(make_runtime, client):
    runtime, result = run_adding(make_runtime, client, "every_turn", "Continuing", continuing, 0)
    assert assert_completed(result) == 3
    stats = runtime.driver_stats()
    assert stats["determinism_checks"] >= 4 and stats["divergences"] == 0, stats


def diverge_at_continue(ctx, n):
    first = RUNS[ctx.instance_id] == 0
    RUNS[ctx.instance_id] += 1
    yield ctx.schedule_activity("Add", n)
    if first:
        yield ctx.continue_as_new(n + 1)
    yield ctx.schedule_activity("Add", -1)  # a re-run takes another path
    return n


def test_a_divergence_before_continue_as_new_fails_the_instance(make_runtime, client):
    _, result = run_adding(make_runtime, client, "sampled", "DivergeAtContinue", diverge_at_continue, 0)
    error = assert_failed(result)
    assert "diverged from its history at step 2" in error, error
    assert "OrchestrationContinuedAsNew" in error, error


@pytest.mark.parametrize("bad", ["sometimes", "", None, 1, "EVERY_TURN"])
def test_determinism_checks_option_is_validated(bad):
    with pytest.raises(InvalidArgumentError, match="determinism_checks"):
        RuntimeOptions(determinism_checks=bad)


def fills_kv(ctx, _):
    from duroxide.limits import MAX_KV_KEYS

    for i in range(MAX_KV_KEYS):
        ctx.set_kv_value(f"k{i}", "v")
    refused = False
    try:
        ctx.set_kv_value("one-too-many", "v")  # refused by the live context only
    except ValueError:
        refused = True
    done = yield ctx.schedule_activity("Add", 1)
    done += yield ctx.schedule_activity("Add", 2)
    return {"refused": refused, "done": done}


def test_a_call_the_live_context_refused_is_refused_again_by_the_checks(make_runtime, client):
    # Found by fuzzing: the KV key limit is known only to the live context, so a
    # verify-only run used to see a SetKv where the record had none.
    runtime, result = run_adding(make_runtime, client, "every_turn", "FillsKv", fills_kv, None)
    assert assert_completed(result) == {"refused": True, "done": 3}
    assert runtime.driver_stats()["divergences"] == 0
