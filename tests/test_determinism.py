"""Deterministic values (new_guid, utc_now) are recorded once and re-delivered on
replay, including replay by a fresh runtime after a restart."""

import threading
import time
import uuid
from collections import defaultdict

from conftest import assert_completed, new_id, wait_until_custom_status

# Values each generator run observed, per instance: the orchestration re-executes on
# every turn, and every execution must see the same recorded values.
SEEN = defaultdict(list)
SEEN_LOCK = threading.Lock()


def _seen(instance_id, value):
    with SEEN_LOCK:
        SEEN[instance_id].append(value)


def test_new_guid_and_utc_now_are_stable_across_replays(make_runtime, client):
    runtime = make_runtime()
    recorded = {}

    @runtime.register_activity("Record")
    def record(ctx, input):
        recorded.setdefault(ctx.instance_id, []).append(input)
        return len(recorded[ctx.instance_id])

    @runtime.register_orchestration("Deterministic")
    def deterministic(ctx, input):
        guid = yield ctx.new_guid()
        now = yield ctx.utc_now()
        _seen(ctx.instance_id, (guid, now))  # once per (re)execution of this point
        yield ctx.schedule_activity("Record", {"guid": guid, "now": now})
        yield ctx.schedule_timer(30)
        guid2 = yield ctx.new_guid()
        yield ctx.schedule_activity("Record", {"guid": guid, "now": now, "guid2": guid2})
        return {"guid": guid, "now": now, "guid2": guid2}

    runtime.start()
    iid = new_id("det")
    wall_before = int(time.time() * 1000)
    client.start_orchestration(iid, "Deterministic")
    out = assert_completed(client.wait_for_orchestration(iid, 30000))

    guid, now, guid2 = out["guid"], out["now"], out["guid2"]
    uuid.UUID(guid)
    uuid.UUID(guid2)
    assert guid != guid2
    assert isinstance(now, int)
    # Milliseconds since the epoch (not seconds): within an hour of the wall clock.
    assert abs(now - wall_before) < 3_600_000

    # The activity scheduled after the timer (a later turn, so a replay) got the
    # values recorded before it.
    assert recorded[iid] == [
        {"guid": guid, "now": now},
        {"guid": guid, "now": now, "guid2": guid2},
    ]
    # Every execution of the generator past the first yields saw the same values.
    assert SEEN[iid], "the generator never got past new_guid/utc_now"
    assert set(SEEN[iid]) == {(guid, now)}


def test_replay_after_runtime_restart_reuses_recorded_values(make_runtime, provider, client):
    recorded = []

    def register(runtime):
        @runtime.register_activity("Record")
        def record(ctx, input):
            recorded.append(input)
            return None

        @runtime.register_orchestration("Restartable")
        def restartable(ctx, input):
            guid = yield ctx.new_guid()
            now = yield ctx.utc_now()
            yield ctx.schedule_activity("Record", {"phase": 1, "guid": guid, "now": now})
            ctx.set_custom_status("parked")
            resume = yield ctx.wait_for_event("resume")
            yield ctx.schedule_activity("Record", {"phase": 2, "guid": guid, "now": now})
            return {"guid": guid, "now": now, "resume": resume}

    first = make_runtime()
    register(first)
    first.start()
    iid = new_id("restart")
    client.start_orchestration(iid, "Restartable")
    wait_until_custom_status(client, iid, "parked")
    first.shutdown(1000)

    # A brand-new runtime (new generators, nothing cached) continues the instance
    # from its persisted history.
    second = make_runtime()
    register(second)
    second.start()
    client.raise_event(iid, "resume", "after-restart")
    out = assert_completed(client.wait_for_orchestration(iid, 30000))
    assert out["resume"] == "after-restart"
    assert recorded == [
        {"phase": 1, "guid": out["guid"], "now": out["now"]},
        {"phase": 2, "guid": out["guid"], "now": out["now"]},
    ]


def test_activity_runs_once_even_though_orchestration_replays(make_runtime, run_orchestration):
    runtime = make_runtime()
    runs = []

    @runtime.register_activity("SideEffect")
    def side_effect(ctx, n):
        runs.append(n)
        return n * 100

    @runtime.register_orchestration("ManyTurns")
    def many_turns(ctx, input):
        total = 0
        for i in range(5):
            total += yield ctx.schedule_activity("SideEffect", i)
            yield ctx.schedule_timer(5)
        return total

    runtime.start()
    assert_completed(run_orchestration("ManyTurns"), 1000)
    assert runs == [0, 1, 2, 3, 4]
