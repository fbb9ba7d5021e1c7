"""Process-level behaviour, in child interpreters: Ctrl-C interrupts a blocking
wait, and the interpreter exits cleanly with a runtime still running (and the
in-flight work is picked up afterwards by another runtime)."""

import json
import subprocess

import pytest

from conftest import OPEN_FROM_SPEC_SOURCE, assert_completed, new_id

# A child stuck for 90 s prints every thread's Python stack to stderr, which the failure
# shows (one child once hung before printing anything, in a full-suite run).
PRELUDE = r'''
import faulthandler
faulthandler.dump_traceback_later(90)
''' + OPEN_FROM_SPEC_SOURCE + r'''
import json, os, signal, sys, threading, time
import duroxide

spec = json.loads(sys.argv[1])
iid = sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else ""
provider = open_from_spec(spec)
'''

CTRL_C_CHILD = PRELUDE + r'''
rt = duroxide.Runtime(provider, duroxide.RuntimeOptions(dispatcher_poll_interval_ms=10))

@rt.register_orchestration("NeverEnds")
def never_ends(ctx, input):
    ctx.set_custom_status("waiting")
    yield ctx.wait_for_event("never")

rt.start()
client = duroxide.Client(provider)
client.start_orchestration(iid, "NeverEnds")
deadline = time.monotonic() + 60
while client.get_status(iid).custom_status != "waiting":
    if time.monotonic() > deadline:
        print("NEVER-RUNNING", flush=True)
        sys.exit(4)
    time.sleep(0.02)

def interrupter():
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=interrupter, daemon=True).start()
code = 0
try:
    if mode == "status-change":
        client.wait_for_status_change(iid, 1000, 50, 300000)
    else:
        client.wait_for_orchestration(iid, 300000)
    print("RETURNED", flush=True)
    code = 2
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
except BaseException as exc:
    print("OTHER", type(exc).__name__, exc, flush=True)
    code = 3
# The client is still usable after the interrupt.
print("STATUS", client.get_status(iid).status, flush=True)
rt.shutdown(1000)
sys.exit(code)
'''

EXIT_CHILD = PRELUDE + r'''
rt = duroxide.Runtime(provider, duroxide.RuntimeOptions(
    dispatcher_poll_interval_ms=10, worker_lock_timeout_ms=2000, orchestrator_lock_timeout_ms=2000))
started = threading.Event()

@rt.register_activity("Slow")
def slow(ctx, x):
    started.set()
    time.sleep(2)
    return {"slow": x}

@rt.register_orchestration("InFlight")
def in_flight(ctx, x):
    if mode == "timer":
        ctx.set_custom_status("timer")
        yield ctx.schedule_timer(1500)
        return {"timer": x}
    return (yield ctx.schedule_activity("Slow", x))

rt.start()
if mode != "idle":
    client = duroxide.Client(provider)
    client.start_orchestration(iid, "InFlight", 7)
    if mode == "activity":
        if not started.wait(60):
            print("NOT-STARTED", flush=True)
            sys.exit(5)
    else:
        deadline = time.monotonic() + 60
        while client.get_status(iid).custom_status != "timer":
            if time.monotonic() > deadline:
                print("NOT-STARTED", flush=True)
                sys.exit(5)
            time.sleep(0.02)
print("EXITING", flush=True)
# No shutdown(): the interpreter exits with the runtime running.
'''


def _communicate(proc, timeout, what):
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{what}: child still running after {timeout}s\nstdout:\n{out}\nstderr:\n{err[-4000:]}")


@pytest.mark.parametrize("mode", ["wait-for-orchestration", "status-change"])
def test_ctrl_c_interrupts_blocking_wait(mode, provider_factory, python_script):
    iid = new_id("ctrlc")
    proc = python_script(CTRL_C_CHILD, json.dumps(provider_factory.spec()), iid, mode)
    # The child waits up to 300 s; a wait that ignores SIGINT never gets to print.
    out, err = _communicate(proc, 120, "wait was not interrupted by SIGINT")
    assert "INTERRUPTED" in out, f"stdout:\n{out}\nstderr:\n{err[-4000:]}"
    assert "STATUS Running" in out, out
    assert proc.returncode == 0, f"rc={proc.returncode}\nstderr:\n{err[-4000:]}"


@pytest.mark.parametrize("mode", ["idle", "activity", "timer"])
def test_interpreter_exit_with_running_runtime_is_clean(mode, provider_factory, python_script,
                                                        make_runtime, client):
    iid = new_id(f"exit-{mode}")
    proc = python_script(EXIT_CHILD, json.dumps(provider_factory.spec()), iid, mode)
    out, err = _communicate(proc, 120, "interpreter did not exit")
    assert "EXITING" in out, f"stdout:\n{out}\nstderr:\n{err[-4000:]}"
    assert proc.returncode == 0, f"rc={proc.returncode}\nstderr:\n{err[-4000:]}"
    assert "panic" not in err.lower(), err[-4000:]
    assert "Fatal Python error" not in err, err[-4000:]

    if mode == "idle":
        return
    # Whatever the child left unfinished, a new runtime on the same storage finishes it.
    runtime = make_runtime()

    @runtime.register_activity("Slow")
    def slow(ctx, x):
        return {"slow": x}

    @runtime.register_orchestration("InFlight")
    def in_flight(ctx, x):
        if mode == "timer":
            ctx.set_custom_status("timer")
            yield ctx.schedule_timer(1500)
            return {"timer": x}
        return (yield ctx.schedule_activity("Slow", x))

    runtime.start()
    expected = {"timer": 7} if mode == "timer" else {"slow": 7}
    assert_completed(client.wait_for_orchestration(iid, 60000), expected)
