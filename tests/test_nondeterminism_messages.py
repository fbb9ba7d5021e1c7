"""What a nondeterminism failure tells the developer.

A running instance whose code changed under it (a redeploy, a module-level flag) replays
differently from its history. The instance must fail with a message that names the
orchestration and its version, the step, what the code yielded and where (this file and
the line of the offending ``yield``), and what the history recorded.

The orchestration's path depends on the module-level ``PATH``: it schedules activity "A"
or "B" at step 2. The SDK keeps suspended generators in a replay cache inside a runtime,
so a cached generator never replays; the change is caught when the instance is replayed
from history: by a NEW runtime (a restart: empty cache), or at once when the cache is off
(``replay_cache_size=0``).
"""

from __future__ import annotations

import inspect
import re

import pytest

from conftest import assert_failed, new_id, wait_until_custom_status

# The "deployed code": flipped by the tests to simulate a change while instances run.
PATH = {"activity": "A", "return_early": False}


def flip_orchestration(ctx, input):
    prep = yield ctx.schedule_activity("Prep", input)  # step 1
    if PATH["return_early"]:
        return {"early": prep}
    work = yield ctx.schedule_activity(PATH["activity"], prep)  # step 2: depends on PATH
    ctx.set_custom_status("waiting")
    go = yield ctx.wait_for_event("go")  # step 3
    return {"prep": prep, "work": work, "go": go}


def _line_of(fn, marker: str) -> int:
    lines, first = inspect.getsourcelines(fn)
    for offset, text in enumerate(lines):
        if marker in text:
            return first + offset
    raise AssertionError(f"{marker!r} not in {fn.__name__}")


STEP2_LINE = _line_of(flip_orchestration, 'PATH["activity"], prep')
THIS_FILE = __file__


@pytest.fixture(autouse=True)
def _restore_path():
    PATH.update(activity="A", return_early=False)
    yield
    PATH.update(activity="A", return_early=False)


def register(runtime):
    runtime.register_activity("Prep", lambda ctx, x: f"prep:{x}")
    runtime.register_activity("A", lambda ctx, x: f"A({x})")
    runtime.register_activity("B", lambda ctx, x: f"B({x})")
    runtime.register_orchestration("Flip", flip_orchestration)
    return runtime


def start_and_park(make_runtime, client, **options):
    runtime = register(make_runtime(**options))
    runtime.start()
    iid = new_id("flip")
    client.start_orchestration(iid, "Flip", 7)
    wait_until_custom_status(client, iid, "waiting")
    return runtime, iid


def assert_names_the_divergence(error: str, step: int):
    assert "Flip@1.0.0" in error, error
    assert "diverged" in error, error
    assert f"step {step}" in error, error
    assert re.search(r"""schedule_activity\(["']B["']""", error), error
    assert f"{THIS_FILE}:{STEP2_LINE}" in error, (THIS_FILE, STEP2_LINE, error)
    assert "ActivityScheduled" in error, error
    assert re.search(r"""ActivityScheduled.*["']A["']""", error), error


def test_code_change_across_a_restart_names_step_yield_line_and_history(make_runtime, client):
    first, iid = start_and_park(make_runtime, client)
    first.shutdown(1000)

    PATH["activity"] = "B"  # the redeploy
    second = register(make_runtime())  # fresh process state: an empty replay cache
    second.start()
    client.raise_event(iid, "go", "now")

    error = assert_failed(client.wait_for_orchestration(iid, 30_000))
    print(f"\nnondeterminism after a restart:\n{error}")
    assert_names_the_divergence(error, step=2)


def test_code_change_without_replay_cache_is_caught_in_the_same_runtime(make_runtime, client):
    runtime, iid = start_and_park(make_runtime, client, replay_cache_size=0)

    PATH["activity"] = "B"  # changed while the instance waits, same runtime
    client.raise_event(iid, "go", "now")

    error = assert_failed(client.wait_for_orchestration(iid, 30_000))
    print(f"\nnondeterminism without the replay cache:\n{error}")
    assert_names_the_divergence(error, step=2)
    assert runtime.is_running


def test_code_that_yields_fewer_steps_than_history_still_names_the_orchestration(make_runtime, client):
    first, iid = start_and_park(make_runtime, client)
    first.shutdown(1000)

    PATH["return_early"] = True  # the new code returns after step 1; history has 3 steps
    second = register(make_runtime())
    second.start()
    client.raise_event(iid, "go", "now")

    result = client.wait_for_orchestration(iid, 30_000)
    print(f"\nfewer steps than history: {result!r}")
    assert result.status == "Failed", (
        "code that returns before replaying all of its history (step 2 ActivityScheduled 'A' and "
        f"step 3 wait_for_event('go') are recorded) was not reported as nondeterministic: {result!r}"
    )
    error = assert_failed(result)
    assert "Flip" in error, error
    assert "diverged" in error or "nondetermin" in error, error
