"""Fuzzing the step protocol: random orchestrations, and the Stepper called directly.

Run the long version (thousands of examples) with

    HYPOTHESIS_PROFILE=long python -m pytest tests/fuzz -q

Random orchestrations
    An orchestration is generated as *data*: a list of steps (schedule an activity with a
    random payload, a timer, ``all``/``race`` of random sub-tasks, ``set_custom_status``,
    KV set/get, a trace, ``new_guid``) ended by a terminal action (return a random value,
    raise a random exception, yield something that is not a task, or fall off the end).
    One registered generator, ``Fuzz``, interprets the program of its instance. Each step
    may be *guarded* (its exception is caught and the program goes on).

    The interpreter checks every result against an oracle computed from the program (an
    activity echoes its input through JSON, a failing activity's message arrives intact,
    ``all``/``race`` results have the documented shape, custom status and KV reads return
    what was written) and raises ``MISMATCH ...`` when one is wrong. It also records in
    test memory how the program ended, so the test knows the exact final state:

    * the instance ends Completed or Failed within ``WAIT_MS`` (never hangs);
    * Completed carries the program's return value; Failed carries a non-empty message,
      exactly the message of the exception that ended the program when that text is
      storable, and never a MISMATCH, a nondeterminism verdict or an SDK-internal error;
    * the runtime is still running and a known-good orchestration completes afterwards.

    Runs on a SQLite file (replay cache on and off) and, with fewer examples, PostgreSQL.

The Stepper called directly
    ``Stepper.start/resume/release`` with random generator ids, outcome kinds and payloads
    (malformed JSON included) and a fake context: every call returns a step JSON string.

Every bug found here was fixed and keeps a regular test that names it (``test_fixed_k*``,
K1-K8), and the generators produce the inputs that triggered it.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

import duroxide
from duroxide import (
    ActivityFailedError,
    Client,
    DuroxideError,
    DuroxideTimeoutError,
    PostgresProvider,
    Runtime,
    RuntimeOptions,
    SqliteProvider,
    TaskFailedError,
)
from duroxide import _callbacks, _validate
from duroxide._codec import storable

from conftest import drop_schema, new_id, postgres_url

from .values import (
    any_value,
    budget,
    encodable,
    is_clean,
    json_values,
    payloads,
    roundtrip,
    texts,
    weighted,
)

WAIT_MS = 20_000  # an instance not terminal by then "hangs"
MAX_MILLIS = getattr(_validate, "MAX_MILLIS", 2**63 - 1)  # longest timer the SDK accepts
MAX_ID_BYTES = getattr(_validate, "MAX_ID_BYTES", None)  # longest KV key, in UTF-8 bytes
SDK_INTERNAL_MARKERS = (
    "MISMATCH",
    "nondetermin",
    "diverged",
    "internal error",
    "malformed step",
    "foreign callback failed",
    "infrastructure:",
)

# --------------------------------------------------------------------------- the oracle


# The message a failure carries is the SDK's own rule (`_callbacks.describe`, whose
# documented cases test_errors.py pins down); the oracle uses it rather than a copy.
describe = _callbacks.describe


def valid_ms(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if value != value or value < 0 or value == math.inf:
        return False
    return value <= MAX_MILLIS


def sdk_json(value: Any) -> str:
    """The SDK's encoding of a non-str custom status / KV value."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def storable_text(value: Any, limit: int) -> Tuple[bool, Optional[str]]:
    """(accepted, stored text) for set_custom_status / set_kv_value values."""
    if isinstance(value, str):
        text = value
    elif encodable(value):
        text = sdk_json(value)
    else:
        return False, None
    if not is_clean(text) or len(text.encode("utf-8")) > limit:
        return False, None
    return True, text


def valid_kv_key(key: Any) -> bool:
    if not (isinstance(key, str) and key != "" and is_clean(key)):
        return False
    return MAX_ID_BYTES is None or len(key.encode("utf-8")) <= MAX_ID_BYTES


def fail_message(msg: str) -> str:
    """The message an activity raising RuntimeError(msg) fails with: what the stores
    cannot hold (NUL, lone surrogates) arrives escaped."""
    return storable(msg) if msg else "RuntimeError"


def can_create(node: Dict[str, Any]) -> bool:
    kind = node["k"]
    if kind == "echo":
        return encodable(node["payload"])
    if kind == "fail":
        return True
    if kind == "timer":
        return valid_ms(node["ms"])
    return all(can_create(c) for c in node["children"])


def check(node: Dict[str, Any], outcome: Tuple[str, Any], in_comp: bool) -> Optional[str]:
    """None when ``outcome`` ("ok", value) / ("err", exc) is a possible outcome of ``node``,
    else what is wrong."""
    kind, got = outcome
    k = node["k"]
    if k == "echo":
        if kind == "err":
            return f"echo failed: {got!r}"
        want = roundtrip(node["payload"])
        return None if got == want and type(got) is type(want) else f"echo returned {got!r:.200}, expected {want!r:.200}"
    if k == "fail":
        if kind == "ok":
            return f"failing activity returned {got!r:.200}"
        want = fail_message(node["msg"])
        if not isinstance(got, ActivityFailedError):
            return f"failing activity raised {type(got).__name__}, expected ActivityFailedError"
        return None if str(got) == want else f"activity failure message {str(got)!r:.300} != {want!r:.300}"
    if k == "timer":
        if kind == "err":
            return f"timer failed: {got!r}"
        want = {"ok": None} if in_comp else None
        return None if got == want else f"timer gave {got!r}, expected {want!r}"
    children = node["children"]
    if k == "all":
        if kind == "err":
            if node["rx"]:
                return f"all(return_exceptions=True) raised {got!r}"
            if any(check(c, outcome, True) is None for c in children):
                return None
            return f"all raised {got!r:.300}, which none of its children can raise"
        if not isinstance(got, list) or len(got) != len(children):
            return f"all gave {got!r:.300} for {len(children)} children"
        for i, (child, item) in enumerate(zip(children, got)):
            if isinstance(item, BaseException):
                if not node["rx"]:
                    return f"all item {i} is an exception without return_exceptions"
                problem = check(child, ("err", item), True)
            else:
                problem = check(child, ("ok", item), True)
            if problem:
                return f"all[{i}]: {problem}"
        return None
    # race
    if kind == "err":
        if any(check(c, outcome, True) is None for c in children):
            return None
        return f"race raised {got!r:.300}, which none of its children can raise"
    if not isinstance(got, dict) or set(got) != {"index", "value"}:
        return f"race gave {got!r:.300}"
    i = got["index"]
    if not isinstance(i, int) or not 0 <= i < len(children):
        return f"race winner index {i!r} out of range"
    problem = check(children[i], ("ok", got["value"]), True)
    return f"race[{i}]: {problem}" if problem else None


# --------------------------------------------------------------------------- exceptions


class FuzzError(Exception):
    pass


class BrokenStrError(Exception):
    """An exception whose str() fails."""

    def __str__(self) -> str:
        raise RuntimeError("str() of this exception fails")


class UnreprValue:
    def __repr__(self) -> str:
        raise ValueError("repr() of this value fails")


EXCEPTION_TYPES = {
    "ValueError": ValueError,
    "KeyError": KeyError,
    "RuntimeError": RuntimeError,
    "TypeError": TypeError,
    "Exception": Exception,
    "FuzzError": FuzzError,
    "ZeroDivisionError": ZeroDivisionError,
    "RecursionError": RecursionError,
    "MemoryError": MemoryError,
    "KeyboardInterrupt": KeyboardInterrupt,
    "SystemExit": SystemExit,
    "GeneratorExit": GeneratorExit,
    "StopIteration": StopIteration,
    "BaseException": BaseException,
    "TaskFailedError": TaskFailedError,
    "ActivityFailedError": ActivityFailedError,
    "DuroxideTimeoutError": DuroxideTimeoutError,
    "BrokenStrError": BrokenStrError,
}


def make_exception(type_name: str, args: Tuple[Any, ...]) -> BaseException:
    cls = EXCEPTION_TYPES[type_name]
    if issubclass(cls, TaskFailedError):
        return cls(*args[:1]) if args else cls("")
    return cls(*args)


def expected_raise_message(type_name: str, args: Tuple[Any, ...]) -> str:
    if type_name == "StopIteration":  # PEP 479: a generator turns it into RuntimeError
        return "generator raised StopIteration"
    return describe(make_exception(type_name, args))


# --------------------------------------------------------------------------- the interpreter

PROGRAMS: Dict[str, List[Dict[str, Any]]] = {}
ENDINGS: Dict[str, Tuple[Any, ...]] = {}  # how each program ended, as its code saw it


class Mismatch(AssertionError):
    pass


def _build(ctx, node: Dict[str, Any]):
    k = node["k"]
    if k == "echo":
        return ctx.schedule_activity("Echo", node["payload"])
    if k == "fail":
        return ctx.schedule_activity("Fail", node["msg"])
    if k == "timer":
        return ctx.schedule_timer(node["ms"])
    children = [_build(ctx, c) for c in node["children"]]
    if k == "all":
        return ctx.all(children, return_exceptions=node["rx"])
    return ctx.race(children) if node["as_list"] else ctx.race(*children)


def _create(ctx, node):
    expect = can_create(node)
    try:
        task = _build(ctx, node)
    except (ValueError, TypeError) as e:
        if expect:
            raise Mismatch(f"MISMATCH: creating {node['k']} raised {e!r:.300}, expected success") from None
        raise
    if not expect:
        raise Mismatch(f"MISMATCH: creating {node['k']} succeeded, expected ValueError/TypeError")
    return task


def _run_task(ctx, node):
    task = _create(ctx, node)
    try:
        value = yield task
    except TaskFailedError as e:
        problem = check(node, ("err", e), False)
        if problem:
            raise Mismatch(f"MISMATCH: {problem}") from None
        raise
    problem = check(node, ("ok", value), False)
    if problem:
        raise Mismatch(f"MISMATCH: {problem}")
    return value


def _run_step(ctx, step: Dict[str, Any], state: Dict[str, Any]):
    op = step["op"]
    if op == "task":
        yield from _run_task(ctx, step["node"])
    elif op == "status":
        ok, text = storable_text(step["value"], duroxide.MAX_CUSTOM_STATUS_BYTES)
        try:
            ctx.set_custom_status(step["value"])
        except (ValueError, TypeError) as e:
            if ok:
                raise Mismatch(f"MISMATCH: set_custom_status raised {e!r:.300} for a storable value") from None
            now = ctx.get_custom_status()
            if now != state["status"]:
                raise Mismatch(f"MISMATCH: a refused set_custom_status changed the status to {now!r:.200}") from None
            raise
        if not ok:
            raise Mismatch("MISMATCH: set_custom_status accepted a value it must refuse")
        state["status"] = text
        now = ctx.get_custom_status()
        if now != text:
            raise Mismatch(f"MISMATCH: get_custom_status() == {now!r:.200}, expected {text!r:.200}")
    elif op == "kv_set":
        key, value = step["key"], step["value"]
        ok, text = storable_text(value, duroxide.MAX_KV_VALUE_BYTES)
        ok = ok and valid_kv_key(key) and (key in state["kv"] or len(state["kv"]) < duroxide.MAX_KV_KEYS)
        try:
            ctx.set_kv_value(key, value)
        except (ValueError, TypeError) as e:
            if ok:
                raise Mismatch(f"MISMATCH: set_kv_value raised {e!r:.300} for a storable key/value") from None
            raise
        if not ok:
            raise Mismatch(f"MISMATCH: set_kv_value accepted key {key!r:.100} / value it must refuse")
        state["kv"][key] = text
        got = ctx.get_kv_value(key)
        if got != text:
            raise Mismatch(f"MISMATCH: get_kv_value({key!r:.100}) == {got!r:.200} right after setting {text!r:.200}")
    elif op == "kv_many":
        for i in range(step["n"]):
            key = f"{step['prefix']}{i}"
            fits = key in state["kv"] or len(state["kv"]) < duroxide.MAX_KV_KEYS
            try:
                ctx.set_kv_value(key, str(i))
            except duroxide.InvalidArgumentError:
                if fits:
                    raise Mismatch(f"MISMATCH: key {i} refused with {len(state['kv'])} keys held") from None
                raise
            if not fits:
                raise Mismatch(f"MISMATCH: key number {len(state['kv']) + 1} accepted (MAX_KV_KEYS {duroxide.MAX_KV_KEYS})")
            state["kv"][key] = str(i)
        if ctx.get_kv_length() != len(state["kv"]):
            raise Mismatch(f"MISMATCH: get_kv_length() {ctx.get_kv_length()} != {len(state['kv'])}")
    elif op == "kv_get":
        key = step["key"]
        try:
            got = ctx.get_kv_value(key)
        except (ValueError, TypeError) as e:
            if valid_kv_key(key):
                raise Mismatch(f"MISMATCH: get_kv_value({key!r:.100}) raised {e!r:.200}") from None
            raise
        if not valid_kv_key(key):
            raise Mismatch(f"MISMATCH: get_kv_value accepted key {key!r:.100}")
        if got != state["kv"].get(key):
            raise Mismatch(f"MISMATCH: get_kv_value({key!r:.100}) == {got!r:.200}, expected {state['kv'].get(key)!r:.200}")
    elif op == "trace":
        ctx.trace_info(step["value"])  # a lone surrogate raises UnicodeEncodeError (a ValueError)
    elif op == "guid":
        guid = yield ctx.new_guid()
        uuid.UUID(guid)
        if guid in state["guids"]:
            raise Mismatch(f"MISMATCH: new_guid repeated {guid}")
        state["guids"].add(guid)
    else:  # pragma: no cover
        raise AssertionError(op)


def fuzz_orchestration(ctx, _input):
    iid = ctx.instance_id
    program = PROGRAMS[iid]
    state: Dict[str, Any] = {"status": None, "kv": {}, "guids": set()}
    for step in program:
        op = step["op"]
        if op == "return":
            ENDINGS[iid] = ("return", step["value"])
            return {"ret": step["value"]}
        if op == "raise":
            ENDINGS[iid] = ("raise", expected_raise_message(step["type"], step["args"]))
            raise make_exception(step["type"], step["args"])
        if op == "yield_value":
            ENDINGS[iid] = ("yield", None)
            yield step["value"]
            raise Mismatch("MISMATCH: the generator was resumed after yielding a non-task")
        try:
            yield from _run_step(ctx, step, state)
        except GeneratorExit:
            raise  # the driver released the suspended generator
        except Mismatch as e:
            ENDINGS[iid] = ("raise", str(e))
            raise
        except (DuroxideError, ValueError, TypeError) as e:
            if step["guard"]:
                continue
            ENDINGS[iid] = ("raise", describe(e))
            raise
        except BaseException as e:
            ENDINGS[iid] = ("raise", f"MISMATCH: step {op} raised {e!r:.300}")
            raise Mismatch(ENDINGS[iid][1]) from None
    ENDINGS[iid] = ("return", None)
    return {"ret": None}


# --------------------------------------------------------------------------- program strategies


def fail_messages(backend: str):
    # Lone surrogates and NUL included: they once hung the instance (K1) and wedged
    # PostgreSQL's dispatcher (K2); failure messages are now escaped where needed.
    return texts(allow_surrogates=True, allow_nul=True)


def raise_args(backend: str):
    # Lone surrogates and NUL included (K3, K4, fixed).
    msg = texts(allow_surrogates=True, allow_nul=True)
    return st.one_of(
        st.tuples(),
        st.tuples(msg),
        st.tuples(msg, msg),
        st.tuples(st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=3))),
    )


small_ms = st.one_of(st.integers(0, 30), st.floats(0, 30))
invalid_ms = st.sampled_from([-1, -0.5, math.nan, math.inf, -math.inf, 2**63, 2**64, 1e30, "5", None, True, [1]])
def big_ms(backend: str):
    # Timers that lose their race: the longest one accepted, and longer ones (refused when
    # the task is created).
    return st.sampled_from([10**7, 2**34, MAX_MILLIS, MAX_MILLIS + 1, 2**53, 2**62, 2**63 - 1, 9.2e18])


def leaves(backend: str):
    return weighted(
        (3, st.builds(lambda p: {"k": "echo", "payload": p}, payloads)),
        (2, st.builds(lambda m: {"k": "fail", "msg": m}, fail_messages(backend))),
        (2, st.builds(lambda ms: {"k": "timer", "ms": ms}, weighted((5, small_ms), (1, invalid_ms)))),
    )


quick_leaf = st.builds(lambda p: {"k": "echo", "payload": p}, json_values)


def _race(children, quick, position, as_list):
    children = list(children)
    children.insert(position % (len(children) + 1), quick)  # a race always has a quick child
    return {"k": "race", "children": children, "as_list": as_list}


def trees(backend: str):
    big_timer_leaf = st.builds(lambda ms: {"k": "timer", "ms": ms}, big_ms(backend))

    def extend(inner):
        all_node = st.builds(
            lambda cs, rx: {"k": "all", "children": cs, "rx": rx}, st.lists(inner, max_size=4), st.booleans()
        )
        race_node = st.builds(
            _race, st.lists(st.one_of(inner, big_timer_leaf), max_size=3), quick_leaf, st.integers(0, 3), st.booleans()
        )
        return st.one_of(all_node, race_node)

    return st.recursive(leaves(backend), extend, max_leaves=8)


kv_keys = st.one_of(st.sampled_from(["a", "b", "k", "é"]), texts(allow_huge=False), st.integers(), st.none())
status_values = st.one_of(payloads, texts(), st.builds(lambda n: "s" * n, st.sampled_from([262_144, 262_145])))
kv_values = st.one_of(payloads, texts(), st.builds(lambda n: "v" * n, st.sampled_from([65_536, 65_537])))


def steps(backend: str):
    guard = st.booleans()
    task_step = st.builds(lambda n, g: {"op": "task", "node": n, "guard": g}, trees(backend), guard)
    return weighted(
        (6, task_step),
        (2, st.builds(lambda v, g: {"op": "status", "value": v, "guard": g}, status_values, guard)),
        (2, st.builds(lambda k, v, g: {"op": "kv_set", "key": k, "value": v, "guard": g}, kv_keys, kv_values, guard)),
        (1, st.builds(lambda k, g: {"op": "kv_get", "key": k, "guard": g}, kv_keys, guard)),
        (1, st.builds(lambda n, p, g: {"op": "kv_many", "n": n, "prefix": p, "guard": g},
                      st.sampled_from([0, 5, 149, 150, 151, 160]), st.sampled_from(["m", "é"]), guard)),
        (1, st.builds(lambda v, g: {"op": "trace", "value": v, "guard": g}, st.one_of(texts(), payloads), guard)),
        (1, st.builds(lambda g: {"op": "guid", "guard": g}, guard)),
    )


# Values whose repr() fails included (K5b, fixed: it was blamed on the driver).
non_tasks = st.one_of(any_value, st.builds(UnreprValue))


def terminals(backend: str):
    return st.one_of(
        st.builds(lambda v: [{"op": "return", "value": v}], payloads),
        st.builds(lambda t, a: [{"op": "raise", "type": t, "args": a}], st.sampled_from(sorted(EXCEPTION_TYPES)), raise_args(backend)),
        st.builds(lambda v: [{"op": "yield_value", "value": v}], non_tasks),
        st.just([]),  # falls off the end
    )


def programs(backend: str):
    return st.builds(lambda body, end: body + end, st.lists(steps(backend), max_size=8), terminals(backend))


# --------------------------------------------------------------------------- environments


class Env:
    def __init__(self, backend: str, provider, replay_cache_size: Optional[int] = None):
        self.backend = backend
        self.provider = provider
        options = dict(
            dispatcher_poll_interval_ms=5,
            orchestration_concurrency=4,
            worker_concurrency=4,
            log_level="error",
        )
        if replay_cache_size is not None:
            options["replay_cache_size"] = replay_cache_size
        self.runtime = Runtime(provider, RuntimeOptions(**options))
        self.runtime.register_activity("Echo", lambda ctx, x: x)
        self.runtime.register_activity("Fail", _fail_activity)
        self.runtime.register_orchestration("Fuzz", fuzz_orchestration)
        self.runtime.register_orchestration("Good", _good)
        self.runtime.start()
        self.client = Client(provider)
        self.examples = 0

    def close(self):
        self.runtime.shutdown(2000)
        self.client.close()

    def assert_healthy(self):
        assert self.runtime.is_running, "the runtime stopped"
        iid = new_id("good")
        self.client.start_orchestration(iid, "Good", [1, "two"])
        result = self.client.wait_for_orchestration(iid, WAIT_MS)
        assert result.status == "Completed" and result.output == {"echo": [1, "two"]}, (
            f"a known-good orchestration did not complete after the fuzz example: {result!r}"
        )


def _fail_activity(ctx, msg):
    raise RuntimeError(msg)


def _good(ctx, x):
    return {"echo": (yield ctx.schedule_activity("Echo", x))}


@pytest.fixture(scope="module")
def sqlite_env(tmp_path_factory):
    envs = {}
    yield lambda cache: envs.setdefault(
        cache, Env("sqlite", SqliteProvider.open(str(tmp_path_factory.mktemp("fuzz") / f"fuzz-{cache}.db")), cache)
    )
    for env in envs.values():
        env.close()


@pytest.fixture(scope="module")
def pg_env(_pg_module_store):
    env = Env("postgres", _pg_module_store.provider)
    yield env
    env.close()


def run_program(env: Env, program: List[Dict[str, Any]]) -> None:
    iid = new_id("fz")
    PROGRAMS[iid] = program
    env.examples += 1
    try:
        env.client.start_orchestration(iid, "Fuzz", None)
        started = time.monotonic()
        try:
            result = env.client.wait_for_orchestration(iid, WAIT_MS)
        except DuroxideTimeoutError:
            status = env.client.get_status(iid)
            pytest.fail(f"instance {iid} HUNG: not terminal after {WAIT_MS} ms (status {status!r})")
        note(f"{iid}: {result!r:.500} in {time.monotonic() - started:.2f}s; ending {ENDINGS.get(iid)!r:.300}")
        check_result(env, iid, result)
        env.assert_healthy()
    finally:
        PROGRAMS.pop(iid, None)
        ENDINGS.pop(iid, None)


def check_result(env: Env, iid: str, result) -> None:
    assert result.status in ("Completed", "Failed"), result
    if result.status == "Failed":
        assert isinstance(result.error, str) and result.error, f"Failed without a message: {result!r}"
        for marker in SDK_INTERNAL_MARKERS:
            assert marker not in result.error, f"error carries {marker!r}: {result.error!r:.2000}"
    ending = ENDINGS.get(iid)
    event(f"{result.status} via {ending[0] if ending else None}")
    assert ending is not None, f"the program never reached its end, yet the instance is {result!r:.500}"
    how, what = ending
    if how == "return":
        if encodable(what):
            assert result.status == "Completed", f"returned an encodable value, yet {result!r:.1000}"
            assert result.output == roundtrip({"ret": what}), f"output {result.output!r:.300} != {what!r:.300}"
        else:
            assert result.status == "Failed", f"returned an unencodable value, yet {result!r:.300}"
            assert "cannot be encoded" in result.error or "nested too deeply" in result.error, result.error
    elif how == "raise":
        assert result.status == "Failed", f"the program raised {what!r:.300}, yet {result!r:.300}"
        if is_clean(what):
            assert result.error == what, f"error {result.error!r:.1000} != raised {what!r:.1000}"
        elif isinstance(what, str) and what:
            assert result.error == storable(what), f"error {result.error!r:.1000} != escaped {what!r:.1000}"
    else:
        assert result.status == "Failed", result
        assert "which is not a task" in result.error, result.error


# --------------------------------------------------------------------------- the fuzz tests


@pytest.mark.parametrize("cache", [1000, 0], ids=["replay-cache", "no-replay-cache"])
@settings(max_examples=budget(ci=20, long=1500))
@given(data=st.data())
def test_random_orchestrations_sqlite(sqlite_env, cache, data):
    env = sqlite_env(cache)
    run_program(env, data.draw(programs("sqlite"), label="program"))


@settings(max_examples=budget(ci=10, long=500))
@given(program=programs("postgres"))
def test_random_orchestrations_postgres(pg_env, program):
    run_program(pg_env, program)


@settings(max_examples=budget(ci=6, long=200))
@given(batch=st.lists(programs("sqlite"), min_size=2, max_size=8))
def test_concurrent_random_orchestrations_sqlite(sqlite_env, batch):
    """Several programs at once on one runtime: turns interleave on the dispatchers."""
    env = sqlite_env(1000)
    ids = []
    for program in batch:
        iid = new_id("fzc")
        PROGRAMS[iid] = program
        ids.append(iid)
    try:
        for iid in ids:
            env.client.start_orchestration(iid, "Fuzz", None)
        for iid in ids:
            try:
                result = env.client.wait_for_orchestration(iid, WAIT_MS)
            except DuroxideTimeoutError:
                pytest.fail(f"instance {iid} HUNG ({env.client.get_status(iid)!r})")
            check_result(env, iid, result)
        env.assert_healthy()
    finally:
        for iid in ids:
            PROGRAMS.pop(iid, None)
            ENDINGS.pop(iid, None)


# --------------------------------------------------------------------------- the Stepper, directly


class FakeCtx:
    """Stands in for the native OrchestrationContext (non-yielding calls only)."""

    def __init__(self):
        self.status = None
        self.kv: Dict[str, str] = {}

    def trace(self, level, message):
        pass

    def is_replaying(self):
        return False

    def set_custom_status(self, s):
        self.status = s

    def reset_custom_status(self):
        self.status = None

    def get_custom_status(self):
        return self.status

    def set_kv_value(self, k, v):
        self.kv[k] = v

    def get_kv_value(self, k):
        return self.kv.get(k)

    def get_kv_all_values(self):
        return dict(self.kv)

    def get_kv_all_keys(self):
        return sorted(self.kv)

    def get_kv_length(self):
        return len(self.kv)

    def clear_kv_value(self, k):
        self.kv.pop(k, None)

    def clear_all_kv_values(self):
        self.kv.clear()


def _chain(ctx, n):
    total = []
    for i in range(n if isinstance(n, int) and 0 <= n < 50 else 3):
        total.append((yield ctx.schedule_activity("A", i)))
    return total


def _composite(ctx, x):
    a = yield ctx.all([ctx.schedule_activity("A", 1), ctx.schedule_timer(1), ctx.wait_for_event("e")])
    b = yield ctx.race(ctx.schedule_timer(5), ctx.all([ctx.schedule_activity("B"), ctx.dequeue_event("q")]))
    c = yield ctx.all([], return_exceptions=True)
    return [a, b, c]


def _catcher(ctx, x):
    caught = []
    for _ in range(5):
        try:
            caught.append((yield ctx.schedule_activity("A", x)))
        except TaskFailedError as e:
            caught.append(str(e))
    return caught


def _effects(ctx, x):
    ctx.set_custom_status({"x": x})
    ctx.set_kv_value("k", "v")
    yield ctx.schedule_timer(1)
    ctx.trace_info(f"x={x!r}")
    return [ctx.get_kv_value("k"), ctx.get_custom_status()]


def _plain(ctx, x):
    return x


def _returns_generator(ctx, x):
    return _chain(ctx, 1)


def _non_task(ctx, x):
    yield x


def _raiser(ctx, x):
    yield ctx.schedule_activity("A")
    raise [ValueError("v"), KeyboardInterrupt(), SystemExit(2), GeneratorExit(), StopIteration()][len(str(x)) % 5]


def _yield_from(ctx, x):
    return (yield from _chain(ctx, x))


def _forever(ctx, x):
    while True:
        yield ctx.schedule_timer(1)


def _ignores_close(ctx, x):
    while True:
        try:
            yield ctx.schedule_activity("A")
        except GeneratorExit:
            pass


STEPPER_ORCHESTRATIONS = {
    "Chain": _chain,
    "Composite": _composite,
    "Catcher": _catcher,
    "Effects": _effects,
    "Plain": _plain,
    "ReturnsGenerator": _returns_generator,
    "NonTask": _non_task,
    "Raiser": _raiser,
    "YieldFrom": _yield_from,
    "Forever": _forever,
    "IgnoresClose": _ignores_close,
}


def make_stepper() -> _callbacks.Stepper:
    registered = {(n, "1.0.0"): _callbacks.Registered(f, typed=False) for n, f in STEPPER_ORCHESTRATIONS.items()}
    registered[("Plain", "2.0.0")] = _callbacks.Registered(_plain, typed=True)
    return _callbacks.Stepper(lambda name, version: registered.get((name, version)))


def info(name: str, version: str):
    return SimpleNamespace(orchestration_name=name, orchestration_version=version, instance_id="i", execution_id=1)


def check_step(text: Any, what: str) -> Dict[str, Any]:
    assert isinstance(text, str), f"{what} returned {text!r}, not a step JSON string"
    step = json.loads(text)
    assert isinstance(step, dict) and len(step) == 1, f"{what}: {text!r:.300}"
    (kind, value), = step.items()
    assert kind in ("yield", "return", "fail"), f"{what}: {text!r:.300}"
    if kind == "yield":
        assert isinstance(value["task"], dict) and "t" in value["task"], text
        assert value["at"] is None or ":" in value["at"], text
    elif kind == "fail":
        assert isinstance(value, str) and value, f"{what}: an empty failure message"
    else:
        assert isinstance(value, str), text
    return step


generator_ids = st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(0, 2**64 - 1))
orchestration_names = st.one_of(st.sampled_from(sorted(STEPPER_ORCHESTRATIONS)), st.sampled_from(["", "Nope"]), texts(allow_huge=False))
versions = st.one_of(st.just("1.0.0"), st.just("2.0.0"), texts(allow_huge=False))
inputs_text = st.one_of(json_values.map(lambda v: json.dumps(v)), texts(), st.sampled_from(["", "{", "[1,", "nul", "1e999", "-"]))
tree_junk = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=5)),
    lambda ch: st.one_of(
        st.dictionaries(st.sampled_from(["v", "e", "all", "race", "of", "x"]), ch, max_size=3),
        st.lists(ch, max_size=3),
    ),
    max_leaves=8,
)
any_payload = st.one_of(inputs_text, tree_junk.map(json.dumps))


def tree_for(task: Dict[str, Any]):
    """A composite outcome tree Rust could send for ``task``."""
    t = task.get("t")
    if t == "all":
        return st.tuples(*[tree_for(c) for c in task["tasks"]]).map(lambda items: {"all": list(items)})
    if t == "race":
        children = task["tasks"]
        return st.integers(0, len(children) - 1).flatmap(
            lambda i: tree_for(children[i]).map(lambda node: {"race": i, "of": node})
        )
    return st.one_of(
        json_values.map(lambda v: {"v": v}),
        st.text(max_size=10).map(lambda e: {"e": e}),
    )


def _stepper_session(data, strict: bool) -> None:
    stepper = make_stepper()
    pending: Dict[int, Dict[str, Any]] = {}
    for n in range(data.draw(st.integers(1, 40), label="calls")):
        op = data.draw(st.sampled_from(["start", "resume", "resume", "resume", "release"]), label=f"op{n}")
        gid = data.draw(st.one_of(st.sampled_from(sorted(pending) or [0]), generator_ids), label="gid")
        if op == "start":
            name = data.draw(orchestration_names, label="name")
            version = data.draw(versions, label="version")
            text = stepper.start(gid, FakeCtx(), info(name, version), data.draw(inputs_text, label="input"))
            step = check_step(text, f"start({gid}, {name!r})")
        elif op == "resume":
            task = pending.get(gid)
            if strict:
                kind = data.draw(st.one_of(st.sampled_from([0, 1, 2]), st.integers(-10, 300)), label="kind")
                payload = data.draw(any_payload, label="payload")
            elif task is not None and task["t"] in ("all", "race"):
                kind, payload = 2, json.dumps(data.draw(tree_for(task), label="tree"))
            else:
                kind = data.draw(st.sampled_from([0, 1]), label="kind")
                payload = data.draw(any_payload, label="payload")
            step = check_step(stepper.resume(gid, kind, payload), f"resume({gid}, {kind}, {payload!r:.80})")
        else:
            assert stepper.release(gid) is None
            pending.pop(gid, None)
            continue
        if "yield" in step:
            pending[gid] = step["yield"]["task"]
        else:
            pending.pop(gid, None)
    for gid in list(pending):
        assert stepper.release(gid) is None


@settings(max_examples=budget(ci=150, long=20000))
@given(data=st.data())
def test_stepper_callbacks_return_a_step_for_any_outcome_rust_can_send(data):
    """Outcome kinds 0/1 with any payload (malformed JSON included), kind 2 with a
    well-formed tree for the pending composite; random ids, names, versions, inputs."""
    _stepper_session(data, strict=False)


@settings(max_examples=budget(ci=150, long=20000))
@given(data=st.data())
def test_stepper_callbacks_never_raise_for_any_input(data):
    """The full contract of _callbacks.py ("these callbacks must never raise"): any outcome
    kind, any payload. (Found K6, fixed in 4270ff1: resume raised JSONDecodeError /
    KeyError / TypeError for a malformed composite payload or an unknown outcome kind.)"""
    _stepper_session(data, strict=True)


# --------------------------------------------------------------------------- regressions: bugs fuzzing found (fixed)


@pytest.fixture
def own_pg_provider():
    """A PostgresProvider on a schema of its own (the module's schema has the fuzz runtime
    on it, which would pick up -- and back off from -- orchestrations it lacks)."""
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL unavailable")
    schema = f"fuzz_own_{uuid.uuid4().hex[:8]}"
    provider = PostgresProvider.connect_with_schema(url, schema)
    yield provider
    del provider
    drop_schema(url, schema)


def _wait_or_none(client, iid, timeout_ms):
    try:
        return client.wait_for_orchestration(iid, timeout_ms)
    except DuroxideTimeoutError:
        return None


def _bug_runtime(provider):
    rt = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10, log_level="error"))
    rt.register_activity("Echo", lambda ctx, x: x)
    rt.register_activity("Fail", _fail_activity)

    @rt.register_orchestration("CatchFail")
    def catch_fail(ctx, msg):
        try:
            yield ctx.schedule_activity("Fail", msg)
        except ActivityFailedError as e:
            return {"caught": str(e)}

    @rt.register_orchestration("Raise")
    def raise_(ctx, msg):
        raise ValueError(msg)

    rt.register_activity_typed("SurrogateText", lambda ctx, x: "bad \ud800 text")

    @rt.register_orchestration("TypedSurrogate")
    def typed_surrogate(ctx, x):
        return (yield ctx.schedule_activity("SurrogateText", x))

    rt.register_orchestration("Good", _good)
    rt.start()
    return rt


@pytest.mark.parametrize("how", ["failure message", "typed result"])
def test_fixed_k1_activity_text_with_lone_surrogate_completes(tmp_path, how):
    """The worker thread's completion.complete() raises UnicodeEncodeError while lowering
    the payload to Rust ("surrogates not allowed", printed as an unhandled exception in
    thread duroxide-activity-N); the activity never reports, the instance stays Running.
    (A plain activity's result is JSON, which escapes the surrogate: only raw text hangs.)"""
    provider = SqliteProvider.open(str(tmp_path / "k1.db"))
    rt = _bug_runtime(provider)
    try:
        client = Client(provider)
        iid = new_id("k1")
        if how == "failure message":
            client.start_orchestration(iid, "CatchFail", "bad \ud800 message")
        else:
            client.start_orchestration(iid, "TypedSurrogate", None)
        result = _wait_or_none(client, iid, 5000)
        assert result is not None, f"K1: the instance hung (activity {how} with a lone surrogate)"
        assert result.status in ("Completed", "Failed") and (result.output or result.error)
    finally:
        rt.shutdown(500)


def test_fixed_k2_pg_activity_failure_message_with_nul_is_recorded():
    """fetch_orchestration_item fails permanently ("unsupported Unicode escape sequence")
    for the poisoned instance, and the orchestration dispatcher of the schema makes no
    progress on any other instance either."""
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL unavailable")
    schema = f"fuzz_k2_{uuid.uuid4().hex[:8]}"
    provider = PostgresProvider.connect_with_schema(url, schema)
    rt = _bug_runtime(provider)
    client = Client(provider)
    try:
        iid = new_id("k2")
        client.start_orchestration(iid, "CatchFail", "a\x00b")
        first = _wait_or_none(client, iid, 5000)
        good = new_id("k2good")
        client.start_orchestration(good, "Good", 1)
        after = _wait_or_none(client, good, 5000)
        assert after is not None, "K2: a known-good instance hangs after the NUL failure message"
        assert first is not None, "K2: the instance with the NUL failure message hangs"
    finally:
        rt.shutdown(500)
        client.close()
        del rt, client, provider
        drop_schema(url, schema)


def test_fixed_k3_pg_orchestration_failure_message_with_nul(own_pg_provider):
    rt = _bug_runtime(own_pg_provider)
    client = Client(own_pg_provider)
    try:
        iid = new_id("k3")
        client.start_orchestration(iid, "Raise", "a\x00b")
        result = client.wait_for_orchestration(iid, 10000)
        assert result.status == "Failed"
        # Observed: "infrastructure:ack_orchestration_item: Database error: error returned
        # from database: unsupported Unicode escape sequence"
        assert "infrastructure" not in result.error and "a" in result.error, result.error
    finally:
        rt.shutdown(500)


def test_longest_timer_loses_a_race_on_postgres_and_longer_ones_are_refused(own_pg_provider):
    """(Found K7, fixed in 4270ff1 by capping durations at ten years: a 2**62 ms timer was
    accepted, and on PostgreSQL the turn's acknowledgement then failed with "timestamp out
    of range" -- failing the instance even though the timer only lost a race.)"""
    rt = Runtime(own_pg_provider, RuntimeOptions(dispatcher_poll_interval_ms=10, log_level="error"))
    rt.register_activity("Echo", lambda ctx, x: x)

    @rt.register_orchestration("LongTimerRace")
    def long_timer_race(ctx, ms):
        try:
            timer = ctx.schedule_timer(ms)
        except ValueError as e:
            return {"refused": str(e)}
        return (yield ctx.race(ctx.schedule_activity("Echo", "quick"), timer))

    rt.start()
    client = Client(own_pg_provider)
    try:
        for ms, want in ((MAX_MILLIS, {"index": 0, "value": "quick"}), (MAX_MILLIS + 1, None), (2**62, None)):
            iid = new_id("k7")
            client.start_orchestration(iid, "LongTimerRace", ms)
            result = client.wait_for_orchestration(iid, 10000)
            assert result.status == "Completed", (ms, result.error)
            if want is None:
                assert "refused" in result.output, (ms, result.output)
            else:
                assert result.output == want, (ms, result.output)
    finally:
        rt.shutdown(500)


def test_fixed_k4_orchestration_failure_message_with_lone_surrogate(tmp_path):
    provider = SqliteProvider.open(str(tmp_path / "k4.db"))
    rt = _bug_runtime(provider)
    try:
        client = Client(provider)
        iid = new_id("k4")
        client.start_orchestration(iid, "Raise", "bad \ud800")
        result = client.wait_for_orchestration(iid, 10000)
        assert result.status == "Failed"
        # Observed: 'the orchestration driver sent a malformed step (unexpected end of hex
        # escape at line 1 column 17): {"fail": "bad \\ud800"}'
        assert "malformed step" not in result.error, result.error
    finally:
        rt.shutdown(500)


def _raises_broken_str(ctx, x):
    raise BrokenStrError()


def _yields_unrepr(ctx, x):
    yield UnreprValue()


def test_stepper_survives_exceptions_whose_str_fails():
    """(Found K5, fixed in 4270ff1: the Stepper raised when str() of the exception failed;
    end to end the instance failed with "foreign callback failed: ..." or, for a __str__
    raising KeyboardInterrupt, "malformed step (EOF while parsing a value ...): ".)"""
    registered = {
        "BrokenStr": _callbacks.Registered(_raises_broken_str, typed=False),
        "Unrepr": _callbacks.Registered(_yields_unrepr, typed=False),
    }
    stepper = _callbacks.Stepper(lambda n, v: registered.get(n))
    for name in registered:
        step = check_step(stepper.start(7, FakeCtx(), info(name, "1.0.0"), "null"), name)
        assert "fail" in step, step


def test_fixed_k5b_yielding_an_unreprable_value_names_the_value():
    """Observed: 'internal error in the orchestration driver: repr() of this value fails'.
    The user's object is at fault; the message should say the orchestration yielded a
    value that is not a task, as it does for any other non-task."""
    stepper = _callbacks.Stepper(lambda n, v: _callbacks.Registered(_yields_unrepr, typed=False))
    step = check_step(stepper.start(7, FakeCtx(), info("Unrepr", "1.0.0"), "null"), "Unrepr")
    assert "internal error" not in step["fail"] and "not a task" in step["fail"], step["fail"]
