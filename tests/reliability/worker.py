"""The crash-loop worker: one duroxide Runtime on a store, running until killed.

Usage: python tests/reliability/worker.py SPEC_JSON LEDGER_PATH

SPEC_JSON describes the store, as ``ProviderHandle.spec()`` in tests/conftest.py does:
``{"kind": "sqlite", "path": ...}`` or ``{"kind": "postgres", "url": ..., "schema": ...}``.

Every activity appends ``<instance>|<key>|start|<time>`` to LEDGER_PATH before its work
and ``<instance>|<key>|end|<time>`` after it (``<time>``: Unix seconds; each line written,
flushed and fsync'ed, so a SIGKILL loses no line that was written). ``<key>`` comes from the activity's input and names
the logical call (the step of its instance), so a re-execution of the same call writes
the same key again.

The module also describes the workload, for the harness (crash_loop.py) to import: the
shapes, the input of each instance, and -- computed independently of the
orchestration code, by plain arithmetic -- each instance's expected output, the
activity keys it must run, the child instances it starts and the external events the
harness must raise. Importing it starts nothing.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import zlib
from typing import Any, Dict, List, Optional

# --------------------------------------------------------------------------- the workload

#: Far longer than any run: a race's losing timer, never meant to fire.
NEVER_MS = 10 * 60 * 1000

#: How many instances of each shape make up the default 50.
SHAPE_MIX = [
    ("chain", 8),
    ("fanout", 8),
    ("timer", 7),
    ("sub", 7),
    ("event", 7),
    ("can", 7),
    ("race", 6),
]


def _h(text: str) -> int:
    """A hash that is the same in every process (``hash()`` is salted per process)."""
    return zlib.crc32(text.encode("utf-8"))


def activity_sleep_ms(instance_id: str, key: str) -> int:
    """How long the activity ``key`` of ``instance_id`` works: 20 to 100 ms."""
    return 20 + _h(f"{instance_id}|{key}") % 81


def event_payload(instance_id: str, name: str) -> Dict[str, Any]:
    """The data the harness sends with event ``name`` to ``instance_id``."""
    return {"event": name, "n": _h(f"{instance_id}#{name}") % 1000}


def waiting_status(name: str) -> str:
    """The custom status an orchestration sets right before it waits for event ``name``."""
    return f"wait:{name}"


def instance_plan(count: int = 50, spread_ms: int = 0) -> List[Dict[str, Any]]:
    """The instances to start: ``[{"id", "shape", "name", "input"}]``, ``count`` of them
    spread over the shapes in the proportions of SHAPE_MIX.

    Each instance begins with a durable timer of ``delay_ms`` (its input), between 0 and
    ``spread_ms``, so that the work of the instances is spread over that span instead of
    all being done in the first seconds (the harness sets it to the expected length of
    its kill loop, so kills land on work throughout). The delays do not change any
    output."""
    total = sum(n for _, n in SHAPE_MIX)
    shapes: List[str] = []
    for shape, n in SHAPE_MIX:
        shapes += [shape] * max(1, round(n * count / total))
    # Trim or pad (cycling the shapes) to exactly `count`.
    while len(shapes) > count:
        shapes.pop()
    i = 0
    while len(shapes) < count:
        shapes.append(SHAPE_MIX[i % len(SHAPE_MIX)][0])
        i += 1
    plan = []
    seen: Dict[str, int] = {}
    for n, shape in enumerate(shapes):
        idx = seen.get(shape, 0)
        seen[shape] = idx + 1
        iid = f"{shape}-{idx:02d}"
        inp = shape_input(shape, idx)
        # A permutation of 0..count-1 (7919 is prime), so every shape spans the window.
        inp["delay_ms"] = int(spread_ms * ((n * 7919) % count) / count) if count else 0
        plan.append({"id": iid, "shape": shape, "name": ORCHESTRATION_OF_SHAPE[shape], "input": inp})
    return plan


def shape_input(shape: str, idx: int) -> Dict[str, Any]:
    seed = 3 + 7 * idx
    if shape == "chain":
        return {"x": seed, "n": 3 + idx % 4}
    if shape == "fanout":
        return {"items": [seed + j for j in range(4 + idx % 5)]}
    if shape == "timer":
        return {"x": seed, "ms": 300 + 150 * (idx % 5)}
    if shape == "sub":
        return {"x": seed, "children": 2 + idx % 3}
    if shape == "event":
        return {"x": seed}
    if shape == "can":
        return {"i": 0, "n": 3 + idx % 4, "acc": seed}
    if shape == "race":
        return {"x": seed, "ms": 200 + 100 * (idx % 3)}
    raise ValueError(shape)


ORCHESTRATION_OF_SHAPE = {
    "chain": "Chain",
    "fanout": "FanOut",
    "timer": "Timers",
    "sub": "Parent",
    "event": "Approval",
    "can": "Loop",
    "race": "Races",
}


def _chain_expected(x: int, n: int) -> int:
    for i in range(n):
        x = x + (i + 1) if i % 2 == 0 else x * 2
    return x


def expected(item: Dict[str, Any]) -> Dict[str, Any]:
    """What instance ``item`` (from instance_plan) must produce, computed without the
    orchestration code: ``{"output", "activities": {instance: [keys]}, "children":
    {child_id: expected_output}, "events": [names, in order], "executions": n}``."""
    iid, shape, inp = item["id"], item["shape"], item["input"]
    acts: Dict[str, List[str]] = {iid: []}
    children: Dict[str, Any] = {}
    events: List[str] = []
    executions = 1
    if shape == "chain":
        out = {"x": _chain_expected(inp["x"], inp["n"]), "steps": inp["n"]}
        acts[iid] = [f"step{i}" for i in range(inp["n"])]
    elif shape == "fanout":
        tripled = [v * 3 for v in inp["items"]]
        out = {"tripled": tripled, "total": sum(tripled)}
        acts[iid] = [f"triple{j}" for j in range(len(inp["items"]))] + ["sum"]
    elif shape == "timer":
        a = inp["x"] + 1
        b = a * 2
        out = {"before": a, "parallel": [{"ok": None}, b], "after": b + 10}
        acts[iid] = ["before", "parallel", "after"]
    elif shape == "sub":
        outs = []
        for j in range(inp["children"]):
            cid = f"{iid}.c{j}"
            cx = inp["x"] + j
            cout = {"child": j, "x": _chain_expected(cx, 2)}
            children[cid] = cout
            acts[cid] = ["step0", "step1"]
            outs.append(cout)
        out = {"children": outs, "total": sum(c["x"] for c in outs)}
        acts[iid] = ["sum"]
    elif shape == "event":
        prep = inp["x"] + 1
        approval = event_payload(iid, "approval")
        applied = prep + approval["n"]
        confirm = event_payload(iid, "confirm")
        out = {"prep": prep, "applied": applied, "confirm": confirm, "final": applied * 2}
        acts[iid] = ["prep", "apply", "final"]
        events = ["approval", "confirm"]
    elif shape == "can":
        acc = inp["acc"]
        for i in range(inp["n"]):
            acc = acc + i
        out = {"acc": acc, "iterations": inp["n"]}
        acts[iid] = [f"iter{i}" for i in range(inp["n"])]
        executions = inp["n"]
    elif shape == "race":
        out = {
            "activity_beats_timer": {"index": 0, "value": inp["x"] + 5},
            "timer_beats_event": {"index": 0, "value": {"ok": None}},
            "event_beats_timer": {"index": 0, "value": {"ok": event_payload(iid, "go")}},
        }
        acts[iid] = ["winner"]
        events = ["go"]
    else:
        raise ValueError(shape)
    return {"output": out, "activities": acts, "children": children, "events": events, "executions": executions}


# --------------------------------------------------------------------------- orchestrations


def _work(ctx, activity: str, key: str, **fields: Any):
    return ctx.schedule_activity(activity, dict(fields, k=key))


def _start_delay(ctx, inp):
    if inp.get("delay_ms"):
        yield ctx.schedule_timer(inp["delay_ms"])


def chain(ctx, inp):
    yield from _start_delay(ctx, inp)
    x = inp["x"]
    for i in range(inp["n"]):
        if i % 2 == 0:
            x = yield _work(ctx, "Add", f"step{i}", x=x, d=i + 1)
        else:
            x = yield _work(ctx, "Mul", f"step{i}", x=x, m=2)
    return {"x": x, "steps": inp["n"]}


def child_chain(ctx, inp):
    # Two steps with a durable timer between them.
    x = yield _work(ctx, "Add", "step0", x=inp["x"], d=1)
    yield ctx.schedule_timer(inp["ms"])
    x = yield _work(ctx, "Mul", "step1", x=x, m=2)
    return {"child": inp["child"], "x": x}


def fan_out(ctx, inp):
    yield from _start_delay(ctx, inp)
    tasks = [_work(ctx, "Mul", f"triple{j}", x=v, m=3) for j, v in enumerate(inp["items"])]
    tripled = yield ctx.all(tasks)
    total = yield _work(ctx, "Sum", "sum", xs=tripled)
    return {"tripled": tripled, "total": total}


def timers(ctx, inp):
    yield from _start_delay(ctx, inp)
    a = yield _work(ctx, "Add", "before", x=inp["x"], d=1)
    yield ctx.schedule_timer(inp["ms"])
    parallel = yield ctx.all([ctx.schedule_timer(inp["ms"] // 2), _work(ctx, "Mul", "parallel", x=a, m=2)])
    after = yield _work(ctx, "Add", "after", x=parallel[1], d=10)
    return {"before": a, "parallel": parallel, "after": after}


def parent(ctx, inp):
    yield from _start_delay(ctx, inp)
    subs = [
        ctx.schedule_sub_orchestration_with_id(
            "ChildChain", f"{ctx.instance_id}.c{j}", {"x": inp["x"] + j, "child": j, "ms": 150 + 50 * j}
        )
        for j in range(inp["children"])
    ]
    outs = yield ctx.all(subs)
    total = yield _work(ctx, "Sum", "sum", xs=[o["x"] for o in outs])
    return {"children": outs, "total": total}


def approval(ctx, inp):
    yield from _start_delay(ctx, inp)
    prep = yield _work(ctx, "Add", "prep", x=inp["x"], d=1)
    ctx.set_custom_status(waiting_status("approval"))
    decision = yield ctx.wait_for_event("approval")
    applied = yield _work(ctx, "Add", "apply", x=prep, d=decision["n"])
    ctx.set_custom_status(waiting_status("confirm"))
    confirm = yield ctx.wait_for_event("confirm")
    ctx.set_custom_status("confirmed")
    final = yield _work(ctx, "Mul", "final", x=applied, m=2)
    return {"prep": prep, "applied": applied, "confirm": confirm, "final": final}


def loop(ctx, inp):
    yield from _start_delay(ctx, inp)  # the first execution only: later inputs have none
    i = inp["i"]
    acc = yield _work(ctx, "Add", f"iter{i}", x=inp["acc"], d=i)
    if i % 2 == 1:
        yield ctx.schedule_timer(100)
    if i + 1 < inp["n"]:
        yield ctx.continue_as_new({"i": i + 1, "n": inp["n"], "acc": acc})
        return None  # not reached: continue_as_new ends the execution
    return {"acc": acc, "iterations": inp["n"]}


def races(ctx, inp):
    yield from _start_delay(ctx, inp)
    first = yield ctx.race(_work(ctx, "Add", "winner", x=inp["x"], d=5), ctx.schedule_timer(NEVER_MS))
    second = yield ctx.race(ctx.schedule_timer(inp["ms"]), ctx.wait_for_event("never-raised"))
    ctx.set_custom_status(waiting_status("go"))
    third = yield ctx.race(ctx.wait_for_event("go"), ctx.schedule_timer(NEVER_MS))
    ctx.set_custom_status("raced")
    return {"activity_beats_timer": first, "timer_beats_event": second, "event_beats_timer": third}


ORCHESTRATIONS = {
    "Chain": chain,
    "ChildChain": child_chain,
    "FanOut": fan_out,
    "Timers": timers,
    "Parent": parent,
    "Approval": approval,
    "Loop": loop,
    "Races": races,
}


# --------------------------------------------------------------------------- activities


class Ledger:
    """Append-only record of activity starts and ends; every line is durable once written."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def record(self, instance_id: str, key: str, what: str) -> None:
        # The wall-clock time lets the chaos harness order attempts made in several workers.
        line = f"{instance_id}|{key}|{what}|{time.time():.6f}\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())


def make_activities(ledger: Ledger):
    def tracked(compute):
        def activity(ctx, inp):
            key = inp["k"]
            ledger.record(ctx.instance_id, key, "start")
            time.sleep(activity_sleep_ms(ctx.instance_id, key) / 1000)
            result = compute(inp)
            ledger.record(ctx.instance_id, key, "end")
            return result

        return activity

    return {
        "Add": tracked(lambda i: i["x"] + i["d"]),
        "Mul": tracked(lambda i: i["x"] * i["m"]),
        "Sum": tracked(lambda i: sum(i["xs"])),
    }


# --------------------------------------------------------------------------- main


def open_from_spec(spec: Dict[str, Any]):
    import duroxide

    if spec["kind"] == "sqlite":
        return duroxide.SqliteProvider.open(spec["path"])
    return duroxide.PostgresProvider.connect_with_schema(spec["url"], spec["schema"])


def runtime_options(node_id: Optional[str] = None):
    from duroxide import RuntimeOptions

    return RuntimeOptions(
        dispatcher_poll_interval_ms=10,
        # Short locks: what a killed worker held is free again soon after. Not shorter than
        # this: under CPU starvation a live worker would lose its locks (renewed at half
        # the timeout) and run work twice, which the harness reports as unexplained.
        orchestrator_lock_timeout_ms=4_000,
        worker_lock_timeout_ms=4_000,
        # PostgreSQL: notice work whose lock expired (a killed worker's) within a second.
        dispatcher_long_poll_timeout_ms=1_000,
        # The core counts every delivery of a message, including those lost with a killed
        # worker, and declares it poison after max_attempts: 20 kills may all catch the
        # same item in flight.
        max_attempts=50,
        orchestration_concurrency=4,
        worker_concurrency=8,
        worker_node_id=node_id,
        log_level=os.environ.get("CRASH_LOOP_LOG_LEVEL", "warn"),
    )


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write(__doc__ or "")
        return 2
    spec = json.loads(argv[1])
    ledger = Ledger(argv[2])

    from duroxide import Runtime

    provider = open_from_spec(spec)
    runtime = Runtime(provider, runtime_options(os.environ.get("CRASH_LOOP_NODE_ID")))
    for name, fn in ORCHESTRATIONS.items():
        runtime.register_orchestration(name, fn)
    for name, fn in make_activities(ledger).items():
        runtime.register_activity(name, fn)
    runtime.start()
    print(f"ready pid={os.getpid()}", flush=True)
    while True:  # until SIGKILL (or SIGTERM)
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
