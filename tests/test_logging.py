"""Where the Rust core's log events go (duroxide.tracing, src/ffi/logging.rs), and the
runtime's diagnostics (metrics_snapshot, driver_stats).

The log subscriber is process-global, so every test that changes where logs go runs
in a child interpreter (``python_script``); the child prints what it observed on
stdout and the parent asserts on it, on the child's stderr and on the log file.
Tests that only hit argument validation run in-process: those calls fail before
anything is configured (``reset_tracing`` in ``finally`` all the same).
"""

import json
import subprocess
import time
import uuid

import pytest

import duroxide
from duroxide import RuntimeOptions

from conftest import OPEN_FROM_SPEC_SOURCE, assert_completed, new_id

# --------------------------------------------------------------------------- child

# argv[1]: JSON config {"spec", "iid", "token", "rust_log" (optional), ...}.
# RUST_LOG is removed from the child's environment unless the test sets it, so the
# level filter comes from duroxide's own settings.
PRELUDE = OPEN_FROM_SPEC_SOURCE + r'''
import json, os, sys
cfg = json.loads(sys.argv[1])
if cfg.get("rust_log") is None:
    os.environ.pop("RUST_LOG", None)
else:
    os.environ["RUST_LOG"] = cfg["rust_log"]
import duroxide

provider = open_from_spec(cfg["spec"])
TOKEN = cfg["token"]


def make_runtime(**options):
    options.setdefault("dispatcher_poll_interval_ms", 10)
    rt = duroxide.Runtime(provider, duroxide.RuntimeOptions(**options))

    @rt.register_activity("Shout")
    def shout(ctx, x):
        ctx.trace_info(f"activity-info {x}")
        ctx.trace_warn(f"activity-warn {x}")
        return x.upper()

    @rt.register_orchestration("Traced")
    def traced(ctx, x):
        ctx.trace_info(f"orch-info {x}")
        ctx.trace_warn(f"orch-warn {x}")
        return (yield ctx.schedule_activity("Shout", x))

    return rt


def run(iid, x):
    client = duroxide.Client(provider)
    client.start_orchestration(iid, "Traced", x)
    result = client.wait_for_orchestration(iid, 60000)
    if result.status != "Completed":
        print("NOT-COMPLETED", result.status, result.error, flush=True)
        sys.exit(3)
    return result.output
'''

# Explicit init_tracing first; the runtime's own (conflicting) log options come later.
FILE_CHILD = PRELUDE + r'''
duroxide.init_tracing(cfg["log_file"], log_level="info", log_format=cfg["log_format"])
rt = make_runtime(**cfg.get("runtime_options", {}))
rt.start()
out = run(cfg["iid"], TOKEN)
rt.shutdown(1000)
print("OUTPUT", out, flush=True)
'''

# No explicit init: the runtime's options decide (logs to stderr).
STDERR_CHILD = PRELUDE + r'''
rt = make_runtime(**cfg.get("runtime_options", {}))
rt.start()
out = run(cfg["iid"], TOKEN)
rt.shutdown(1000)
print("OUTPUT", out, flush=True)
'''

PYTHON_LOGGING_CHILD = PRELUDE + r'''
import logging

records = []


class Capture(logging.Handler):
    def emit(self, record):
        records.append(record)


logging.basicConfig(level=logging.DEBUG, handlers=[Capture()])


def dump(records):
    return [
        {
            "name": r.name,
            "level": r.levelname,
            "message": r.getMessage(),
            "fields": getattr(r, "duroxide_fields", None),
            "target": getattr(r, "rust_target", None),
        }
        for r in list(records)
    ]


duroxide.init_python_logging(cfg["python_level"])
rt = make_runtime()
rt.start()
out = run(cfg["iid"], TOKEN)
if cfg.get("reset_then_second_iid"):
    captured_before_reset = dump(records)
    duroxide.reset_tracing()
    out2 = run(cfg["reset_then_second_iid"], cfg["token2"])
    print("OUTPUT2", out2, flush=True)
rt.shutdown(1000)
print("OUTPUT", out, flush=True)
print("RECORDS " + json.dumps(dump(records)), flush=True)
'''


def _communicate(proc, what, timeout=120):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{what}: child still running after {timeout}s\nstdout:\n{out}\nstderr:\n{err[-4000:]}")
    assert proc.returncode == 0, f"{what}: rc={proc.returncode}\nstdout:\n{out}\nstderr:\n{err[-4000:]}"
    return out, err


def _token() -> str:
    return f"tok{uuid.uuid4().hex[:10]}"


def _sqlite_spec(tmp_path) -> dict:
    return {"kind": "sqlite", "path": str(tmp_path / "child.db")}


def _start(python_script, source, tmp_path, spec=None, **cfg):
    cfg.setdefault("spec", spec or _sqlite_spec(tmp_path))
    cfg.setdefault("iid", new_id("logged"))
    cfg.setdefault("token", _token())
    return python_script(source, json.dumps(cfg)), cfg


def _text_events(text: str):
    """Splits pretty/compact output into (header line, [indented continuation lines])."""
    events = []
    for line in text.splitlines():
        if line.startswith("    ") and events:
            events[-1][1].append(line.strip())
        elif line:
            events.append((line, []))
    return events


def _event_with(text: str, message: str):
    matches = [ev for ev in _text_events(text) if ev[0].endswith(f": {message}") or f": {message} " in ev[0]]
    assert len(matches) >= 1, f"no log line with {message!r} in:\n{text[-4000:]}"
    return matches[0]


# --------------------------------------------------------------------------- 1. JSON file


def test_init_tracing_json_file_wins_over_runtime_options(tmp_path, python_script):
    log_file = tmp_path / "duroxide.jsonl"
    # The runtime asks for something else on every count; the explicit call wins.
    proc, cfg = _start(
        python_script, FILE_CHILD, tmp_path,
        log_file=str(log_file), log_format="json",
        runtime_options={"service_name": "svc-x", "service_version": "3.0.0",
                         "log_format": "compact", "log_level": "off"},
    )
    out, err = _communicate(proc, "json file child")
    token, iid = cfg["token"], cfg["iid"]

    # Only the program's own output on stdout, and none of the traces on stderr.
    assert out == f"OUTPUT {token.upper()}\n", out
    assert token not in err, err[-4000:]

    lines = [l for l in log_file.read_text(encoding="utf-8").splitlines() if l.strip()]
    assert lines, "the log file is empty"
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    for ev in events:
        assert {"timestamp", "level", "target", "service.name", "message", "fields"} <= ev.keys(), ev

    activity = [e for e in events if e["message"] == f"activity-info {token}"]
    assert len(activity) == 1, events
    act = activity[0]
    assert act["target"] == "duroxide::activity"
    assert act["level"] == "INFO"
    assert act["fields"]["instance_id"] == iid
    assert act["fields"]["activity_name"] == "Shout"
    assert act["fields"]["orchestration_name"] == "Traced"
    # The explicit init_tracing wins over the runtime's level and format, but the service
    # identity always comes from the runtime.
    assert act["service.name"] == "svc-x"
    assert act["service.version"] == "3.0.0"

    orch = [e for e in events if e["message"] == f"orch-info {token}"]
    assert len(orch) == 1, events
    assert orch[0]["target"] == "duroxide::orchestration"
    assert orch[0]["level"] == "INFO"
    assert orch[0]["fields"]["instance_id"] == iid
    assert orch[0]["fields"]["orchestration_name"] == "Traced"

    warn = [e for e in events if e["message"] == f"activity-warn {token}"]
    assert len(warn) == 1 and warn[0]["level"] == "WARN", events


# --------------------------------------------------------------------------- 2. text formats


def test_init_tracing_compact_file(tmp_path, python_script):
    log_file = tmp_path / "compact.log"
    proc, cfg = _start(python_script, FILE_CHILD, tmp_path, log_file=str(log_file), log_format="compact")
    out, err = _communicate(proc, "compact file child")
    token, iid = cfg["token"], cfg["iid"]
    assert out == f"OUTPUT {token.upper()}\n", out
    assert token not in err, err[-4000:]

    text = log_file.read_text(encoding="utf-8")
    header, rest = _event_with(text, f"activity-info {token}")
    assert " INFO duroxide::activity: " in header, header
    assert f"instance_id={iid}" in header, header
    assert "activity_name=Shout" in header, header
    assert rest == [], "compact events are one line"
    header, _ = _event_with(text, f"orch-info {token}")
    assert " INFO duroxide::orchestration: " in header, header
    assert f"instance_id={iid}" in header, header
    # The service name is shown in text formats only when customised.
    assert "service.name" not in text


def test_init_tracing_pretty_file(tmp_path, python_script):
    log_file = tmp_path / "pretty.log"
    proc, cfg = _start(python_script, FILE_CHILD, tmp_path, log_file=str(log_file), log_format="pretty")
    out, err = _communicate(proc, "pretty file child")
    token, iid = cfg["token"], cfg["iid"]
    assert out == f"OUTPUT {token.upper()}\n", out
    assert token not in err, err[-4000:]

    text = log_file.read_text(encoding="utf-8")
    header, rest = _event_with(text, f"activity-warn {token}")
    assert header.endswith(f"WARN duroxide::activity: activity-warn {token}"), header
    assert f"instance_id: {iid}" in rest, rest
    assert "activity_name: Shout" in rest, rest
    header, rest = _event_with(text, f"orch-info {token}")
    assert header.endswith(f"INFO duroxide::orchestration: orch-info {token}"), header
    assert f"instance_id: {iid}" in rest, rest
    assert "service.name" not in text


@pytest.mark.parametrize("log_format", ["compact", "pretty", "json"])
def test_runtime_options_service_name_and_version_on_stderr(log_format, tmp_path, python_script):
    proc, cfg = _start(
        python_script, STDERR_CHILD, tmp_path,
        runtime_options={"service_name": "billing", "service_version": "2.1.0", "log_format": log_format},
    )
    out, err = _communicate(proc, f"{log_format} stderr child")
    token, iid = cfg["token"], cfg["iid"]
    assert out == f"OUTPUT {token.upper()}\n", out

    message = f"activity-info {token}"
    if log_format == "json":
        events = [json.loads(l) for l in err.splitlines() if l.startswith("{") and message in l]
        assert len(events) == 1, err[-4000:]
        ev = events[0]
        assert ev["service.name"] == "billing"
        assert ev["service.version"] == "2.1.0"
        assert ev["fields"]["instance_id"] == iid
        return
    header, rest = _event_with(err, message)
    if log_format == "compact":
        assert "service.name=billing" in header, header
        assert "service.version=2.1.0" in header, header
        assert f"instance_id={iid}" in header, header
    else:
        assert "service.name: billing" in rest, rest
        assert "service.version: 2.1.0" in rest, rest
        assert f"instance_id: {iid}" in rest, rest


# --------------------------------------------------------------------------- 3. bad arguments


def test_init_tracing_missing_directory_raises_file_not_found(tmp_path):
    path = tmp_path / "no-such-dir" / "x.log"
    try:
        with pytest.raises(FileNotFoundError) as info:
            duroxide.init_tracing(path)
        assert str(path) in str(info.value)
        assert isinstance(info.value, OSError)
        assert not path.parent.exists()
    finally:
        duroxide.reset_tracing()


def test_init_tracing_on_a_directory_raises_is_a_directory(tmp_path):
    try:
        with pytest.raises(IsADirectoryError) as info:
            duroxide.init_tracing(str(tmp_path))
        assert str(tmp_path) in str(info.value)
        assert isinstance(info.value, OSError)
    finally:
        duroxide.reset_tracing()


def test_init_tracing_bad_format_raises_value_error(tmp_path):
    path = tmp_path / "x.log"
    try:
        with pytest.raises(ValueError) as info:
            duroxide.init_tracing(path, log_format="xml")
        assert "log_format" in str(info.value) and "xml" in str(info.value)
        assert not path.exists(), "a rejected call must not create the file"
    finally:
        duroxide.reset_tracing()


@pytest.mark.parametrize("level", ["verbose", "", "warning"])
def test_init_tracing_bad_level_raises_value_error(level, tmp_path):
    try:
        with pytest.raises(ValueError) as info:
            duroxide.init_tracing(tmp_path / "x.log", log_level=level)
        assert "log_level" in str(info.value)
    finally:
        duroxide.reset_tracing()


def test_init_python_logging_bad_level_raises_value_error():
    try:
        with pytest.raises(ValueError) as info:
            duroxide.init_python_logging("loud")
        assert "log_level" in str(info.value)
    finally:
        duroxide.reset_tracing()


def test_runtime_options_bad_log_level_raises_value_error():
    with pytest.raises(ValueError) as info:
        RuntimeOptions(log_level="verbose")
    assert "log_level" in str(info.value)


# --------------------------------------------------------------------------- 4. Python logging


def _records(out: str):
    lines = [l for l in out.splitlines() if l.startswith("RECORDS ")]
    assert len(lines) == 1, out
    return json.loads(lines[0][len("RECORDS "):])


def test_init_python_logging_routes_traces_to_logging(tmp_path, python_script):
    proc, cfg = _start(python_script, PYTHON_LOGGING_CHILD, tmp_path, python_level="info")
    out, err = _communicate(proc, "python logging child")
    token, iid = cfg["token"], cfg["iid"]
    assert f"OUTPUT {token.upper()}" in out, out
    records = _records(out)

    orch = [r for r in records if r["message"].startswith(f"orch-info {token}")]
    assert len(orch) == 1, records
    assert orch[0]["name"] == "duroxide.orchestration"
    assert orch[0]["level"] == "INFO"
    assert orch[0]["target"] == "duroxide::orchestration"
    assert orch[0]["fields"]["instance_id"] == iid
    assert orch[0]["fields"]["orchestration_name"] == "Traced"
    # The message carries the fields too, for plain formatters.
    assert f"instance_id={iid}" in orch[0]["message"]

    act = [r for r in records if r["message"].startswith(f"activity-warn {token}")]
    assert len(act) == 1, records
    assert act[0]["name"] == "duroxide.activity"
    assert act[0]["level"] == "WARNING"
    assert act[0]["fields"]["instance_id"] == iid
    assert act[0]["fields"]["activity_name"] == "Shout"

    # Routed to logging, so not written to stderr.
    assert token not in err, err[-4000:]


def test_init_python_logging_level_filters_traces(tmp_path, python_script):
    proc, cfg = _start(python_script, PYTHON_LOGGING_CHILD, tmp_path, python_level="warn")
    out, err = _communicate(proc, "python logging warn child")
    token = cfg["token"]
    messages = {(r["name"], r["level"], " ".join(r["message"].split(" ")[:2])) for r in _records(out)}
    assert ("duroxide.orchestration", "WARNING", f"orch-warn {token}") in messages, messages
    assert ("duroxide.activity", "WARNING", f"activity-warn {token}") in messages, messages
    assert not any(m[2] in (f"orch-info {token}", f"activity-info {token}") for m in messages), messages
    assert token not in err, err[-4000:]


# --------------------------------------------------------------------------- 5. RUST_LOG


def test_rust_log_is_the_level_filter(tmp_path, python_script):
    # RUST_LOG wins over the runtime's log_level ("off" here).
    proc, cfg = _start(
        python_script, STDERR_CHILD, tmp_path,
        rust_log="info,duroxide::orchestration=off",
        runtime_options={"log_level": "off"},
    )
    out, err = _communicate(proc, "RUST_LOG child")
    token = cfg["token"]
    assert out == f"OUTPUT {token.upper()}\n", out
    assert f"activity-info {token}" in err, err[-4000:]
    assert f"activity-warn {token}" in err, err[-4000:]
    assert f"orch-info {token}" not in err, err[-4000:]
    assert f"orch-warn {token}" not in err, err[-4000:]


def test_runtime_log_level_without_rust_log(tmp_path, python_script):
    proc, cfg = _start(python_script, STDERR_CHILD, tmp_path, runtime_options={"log_level": "warn"})
    out, err = _communicate(proc, "log_level=warn child")
    token = cfg["token"]
    assert out == f"OUTPUT {token.upper()}\n", out
    assert f"orch-warn {token}" in err, err[-4000:]
    assert f"activity-warn {token}" in err, err[-4000:]
    assert f"orch-info {token}" not in err, err[-4000:]
    assert f"activity-info {token}" not in err, err[-4000:]


# --------------------------------------------------------------------------- 6. stdout


def test_rust_logs_never_go_to_stdout(provider_factory, tmp_path, python_script):
    proc, cfg = _start(python_script, STDERR_CHILD, tmp_path, spec=provider_factory.spec(),
                       runtime_options={"log_level": "debug"})
    out, err = _communicate(proc, "stdout child")
    token = cfg["token"]
    # The traces were emitted (on stderr) ...
    assert f"orch-info {token}" in err, err[-4000:]
    assert f"activity-info {token}" in err, err[-4000:]
    # ... and stdout holds only what the program printed.
    assert out == f"OUTPUT {token.upper()}\n", out


# --------------------------------------------------------------------------- 8. reset_tracing


def test_reset_tracing_sends_logs_back_to_stderr(tmp_path, python_script):
    iid2 = new_id("after-reset")
    token2 = _token()
    proc, cfg = _start(python_script, PYTHON_LOGGING_CHILD, tmp_path, python_level="info",
                       reset_then_second_iid=iid2, token2=token2)
    out, err = _communicate(proc, "reset child")
    token = cfg["token"]
    assert f"OUTPUT2 {token2.upper()}" in out, out
    records = _records(out)
    texts = [r["message"] for r in records]

    # Before the reset: into logging, not stderr.
    assert any(t.startswith(f"orch-info {token}") for t in texts), texts
    assert token not in err, err[-4000:]
    # After it: stderr, not logging.
    assert not any(token2 in t for t in texts), texts
    header, _ = _event_with(err, f"orch-info {token2}")
    assert "duroxide::orchestration" in header, header
    _event_with(err, f"activity-warn {token2}")


# --------------------------------------------------------------------------- 7. metrics


def _wait_for(predicate, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(0.02)
        value = predicate()
    return value


def test_metrics_snapshot_and_driver_stats(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Double", lambda ctx, x: x * 2)

    @runtime.register_orchestration("Doubler")
    def doubler(ctx, x):
        return (yield ctx.schedule_activity("Double", x))

    assert runtime.metrics_snapshot() is None
    assert runtime.driver_stats() == {}

    runtime.start()
    for i in range(3):
        assert_completed(run_orchestration("Doubler", i), i * 2)

    # activity_success is counted right after the activity's ack, which may trail the
    # orchestration's completion by a moment.
    def counted():
        snap = runtime.metrics_snapshot()
        return snap if snap and snap["orch_completions"] >= 3 and snap["activity_success"] >= 3 else None

    snap = _wait_for(counted) or runtime.metrics_snapshot()
    assert isinstance(snap, dict), snap
    assert {"orch_starts", "orch_completions", "activity_success"} <= snap.keys(), snap
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in snap.values()), snap
    assert snap["orch_completions"] >= 3, snap
    assert snap["activity_success"] >= 3, snap
    assert snap["orch_starts"] >= 3, snap
    assert snap["orch_failures"] == 0, snap

    stats = runtime.driver_stats()
    assert stats["python_steps"] > 0, stats
    assert all(isinstance(v, int) for v in stats.values()), stats

    runtime.shutdown(1000)
    assert runtime.metrics_snapshot() is None
    assert runtime.driver_stats() == {}
