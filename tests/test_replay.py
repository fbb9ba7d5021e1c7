"""The offline replayer: recorded histories replayed against today's code, through the
API (``Client.export_history``, ``duroxide.replay.Replayer``) and the command line
(``duroxide export``, ``duroxide replay``; exit code 0 clean, 1 diverged, 2 bad usage).

The workflows live in module files written per test (``wf_v1.py`` is the deployed code,
``wf_v2.py`` a change that schedules another activity at step 2), as a user's package
would, so the CLI can load them with ``--module``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import new_id
from duroxide import Client, HistoryFormatError, Runtime, RuntimeOptions, SqliteProvider
from duroxide.replay import ANY_VERSION, Replayer, load_history

WORKFLOWS = '''
def order(ctx, input):
    a = yield ctx.schedule_activity("Pick", input)
    b = yield ctx.schedule_activity("{step2}", a)  # STEP 2
    both = yield ctx.all([ctx.schedule_activity("Pick", 1), ctx.schedule_timer(5)])
    won = yield ctx.race(ctx.wait_for_event("go"), ctx.schedule_timer(60_000))
    ctx.set_custom_status("shipping")
    sub = yield ctx.schedule_sub_orchestration("Ship", b)
    now = yield ctx.utc_now()
    return {{"a": a, "b": b, "sub": sub, "won": won["index"], "late": now > 0}}


def ship(ctx, x):
    yield ctx.schedule_timer(1)
    return "shipped " + x


def register(runtime):
    runtime.register_orchestration("Order", order)
    runtime.register_orchestration("Ship", ship)
    runtime.register_activity("Pick", lambda ctx, x: "picked %s" % x)
    runtime.register_activity("Weigh", lambda ctx, x: "weighed %s" % x)
    runtime.register_activity("Pack", lambda ctx, x: "packed %s" % x)
'''


def write_module(directory, name: str, step2: str):
    path = directory / f"{name}.py"
    path.write_text(WORKFLOWS.format(step2=step2))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, str(path)


def step2_line(path: str) -> int:
    with open(path) as f:
        return next(n for n, line in enumerate(f, 1) if "# STEP 2" in line)


@pytest.fixture
def code(tmp_path):
    v1, v1_path = write_module(tmp_path, "wf_v1", "Weigh")
    v2, v2_path = write_module(tmp_path, "wf_v2", "Pack")
    return {"v1": v1, "v2": v2, "v1_path": v1_path, "v2_path": v2_path, "dir": tmp_path}


@pytest.fixture
def histories(provider, client, code):
    """One completed Order (with its Ship sub-orchestration) and one still waiting."""
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=5))
    code["v1"].register(runtime)
    runtime.start()
    try:
        done, waiting = new_id("order"), new_id("order")
        client.start_orchestration(done, "Order", "book")
        client.start_orchestration(waiting, "Order", "lamp")
        for iid in (done, waiting):  # both subscribe to "go" before it is raised
            wait_for_event_kind(client, iid, "ExternalSubscribed")
        client.raise_event(done, "go", 1)
        result = client.wait_for_orchestration(done, 30_000)
        assert result.status == "Completed", result
    finally:
        runtime.shutdown(1000)
    return {"done": done, "waiting": waiting, "output": result.output}


def wait_for_event_kind(client, iid: str, kind: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(e.kind == kind for e in client.read_execution_history(iid, 1)):
            return
        time.sleep(0.01)
    raise AssertionError(f"{iid} never recorded {kind}")


def test_export_history_is_json_ready_with_a_format_version(client, histories):
    export = client.export_history(histories["done"])
    assert export["format"] == "duroxide-history" and export["format_version"] == 1
    assert export["instance_id"] == histories["done"]
    assert export["orchestration_name"] == "Order" and export["status"] == "Completed"
    assert json.loads(json.dumps(export)) == export
    kinds = [e["type"] for e in export["executions"][0]["events"]]
    assert kinds[0] == "OrchestrationStarted" and kinds[-1] == "OrchestrationCompleted"
    assert "SubOrchestrationScheduled" in kinds and "TimerFired" in kinds


def test_a_recorded_history_replays_cleanly_against_the_same_code(client, histories, code):
    replayer = Replayer({"Order": code["v1"].order, "Ship": code["v1"].ship})
    for iid in (histories["done"], histories["waiting"]):
        result = replayer.replay(client.export_history(iid))
        assert result.ok, result
        assert result.executions == 1
    sub_ids = [i for i in client.list_all_instances() if i.startswith(histories["done"] + "::")]
    assert sub_ids, client.list_all_instances()
    assert replayer.replay(client.export_history(sub_ids[0])).ok


def test_a_changed_step_fails_naming_the_line(client, histories, code):
    replayer = Replayer({"Order": code["v2"].order, "Ship": code["v2"].ship})
    result = replayer.replay(client.export_history(histories["done"]))
    print(f"\n{result}")
    assert result.status == "diverged", result
    assert "step 2" in result.message, result.message
    assert "Pack" in result.message and "Weigh" in result.message, result.message
    assert f"{code['v2_path']}:{step2_line(code['v2_path'])}" in result.message, result.message


def test_a_runtime_registrations_and_any_version(client, histories, code, provider):
    runtime = Runtime(provider)
    code["v1"].register(runtime)  # never started
    assert Replayer(runtime=runtime).replay(client.export_history(histories["done"])).ok
    replayer = Replayer()
    replayer.register("Order", code["v1"].order, version=ANY_VERSION)
    replayer.register("Ship", code["v1"].ship, version=ANY_VERSION)
    assert replayer.replay(client.export_history(histories["done"])).ok
    missing = Replayer({"Ship": code["v1"].ship}).replay(client.export_history(histories["done"]))
    assert missing.status == "not_registered" and "Order@1.0.0" in missing.message, missing


def test_replay_reads_files(tmp_path, client, histories, code):
    path = tmp_path / "done.json"
    path.write_text(json.dumps(client.export_history(histories["done"])))
    replayer = Replayer({"Order": code["v1"].order})
    assert replayer.replay(str(path)).ok
    assert replayer.replay(path).source == str(path)
    assert replayer.replay_files([path])[0].ok


# ----------------------------------------------------------------------- bad histories

BAD = {
    "truncated": lambda good: good[: len(good) // 2],
    "not-json": lambda good: "this is not json",
    "wrong-version": lambda good: json.dumps({**json.loads(good), "format_version": 99}),
    "other-format": lambda good: json.dumps({"format": "temporal-history", "events": []}),
    "no-format": lambda good: json.dumps({"events": []}),
    "a-list": lambda good: json.dumps([1, 2, 3]),
    "no-executions": lambda good: json.dumps({**json.loads(good), "executions": []}),
    "events-garbled": lambda good: json.dumps({**json.loads(good), "executions": [{"execution_id": 1, "events": [{"x": 1}]}]}),
}

EXPECTED = {
    "truncated": "not valid JSON",
    "not-json": "not valid JSON",
    "wrong-version": "format version 99 is not supported",
    "other-format": "its format is \"temporal-history\"",
    "no-format": "no \"format\"",
    "a-list": "expected a JSON object",
    "no-executions": "no executions",
    "events-garbled": "malformed history export",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_file_that_is_not_a_history_gets_a_clear_error(tmp_path, client, histories, code, kind):
    good = json.dumps(client.export_history(histories["done"]))
    path = tmp_path / f"{kind}.json"
    path.write_text(BAD[kind](good))
    with pytest.raises(HistoryFormatError, match=EXPECTED[kind]):
        Replayer({"Order": code["v1"].order}).replay(str(path))
    with pytest.raises(HistoryFormatError, match="cannot read history file"):
        load_history(tmp_path / "missing.json")


# ----------------------------------------------------------------------------- the CLI


def cli(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    env.pop("DUROXIDE_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "duroxide", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def db_args(provider_factory):
    if provider_factory.kind == "sqlite":
        return ["--db", provider_factory.sqlite_path]
    return ["--db", provider_factory.pg_url, "--schema", provider_factory.pg_schema]


def one_clear_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("duroxide: "), lines
    return lines[0]


def test_cli_export_then_replay_exit_codes(provider_factory, histories, code):
    out = code["dir"] / "histories"
    ids = [histories["done"], histories["waiting"]]
    proc = cli("export", *db_args(provider_factory), *ids, "--out", str(out), cwd=code["dir"])
    assert proc.returncode == 0, proc.stderr
    files = sorted(str(p) for p in out.iterdir())
    assert len(files) == 2

    ok = cli("replay", "--history", *files, "--module", "wf_v1", cwd=code["dir"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("ok ") == 2, ok.stdout

    bad = cli("replay", "--history", *files, "--module", "wf_v2", cwd=code["dir"])
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "DIVERGED" in bad.stdout and f"wf_v2.py:{step2_line(code['v2_path'])}" in bad.stdout, bad.stdout

    as_json = cli("replay", "--history", files[0], "--module", "wf_v2", "--json", cwd=code["dir"])
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout.splitlines()[0])["status"] == "diverged"


def test_cli_replays_every_instance_of_a_name_from_the_database(provider_factory, histories, code):
    proc = cli("replay", *db_args(provider_factory), "--name", "Order", "--module", "wf_v1", cwd=code["dir"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert histories["done"] in proc.stdout and histories["waiting"] in proc.stdout
    proc = cli("replay", *db_args(provider_factory), "--name", "Order", "--module", "wf_v2", cwd=code["dir"])
    assert proc.returncode == 1, proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", ["truncated", "wrong-version", "other-format"])
def test_cli_bad_history_files_exit_2_with_one_line(tmp_path, client, histories, code, kind):
    path = tmp_path / f"{kind}.json"
    path.write_text(BAD[kind](json.dumps(client.export_history(histories["done"]))))
    proc = cli("replay", "--history", str(path), "--module", "wf_v1", cwd=code["dir"])
    assert proc.returncode == 2
    assert EXPECTED[kind] in one_clear_line(proc)


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "usage"),
        (["replay", "--history", "x.json"], "no code to replay against"),
        (["replay", "--module", "wf_v1"], "nothing to replay"),
        (["replay", "--history", "nowhere.json", "--module", "wf_v1"], "cannot read history file"),
        (["replay", "--history", "x.json", "--module", "no_such_module_xyz"], "cannot import module"),
        (["replay", "--db", "/nonexistent/app.db", "--name", "Order", "--module", "wf_v1"], "no SQLite database"),
        (["replay", "--db", "postgresql://u@127.0.0.1:1/x", "--name", "O", "--module", "wf_v1"], "cannot open the database"),
        (["replay", "--bogus"], "unrecognized arguments"),
        (["export", "--db", "/nonexistent/app.db", "--out", "o"], "no SQLite database"),
        (["export", "--db", "EXAMPLE_DB", "some-id", "--out", "wf_v1.py"], "File exists"),
    ],
)
def test_cli_usage_mistakes_exit_2_with_one_line(code, args, message):
    if "EXAMPLE_DB" in args:  # a real database, and an --out that is a file
        db = code["dir"] / "app.db"
        SqliteProvider.open(str(db))
        args = [str(db) if a == "EXAMPLE_DB" else a for a in args]
    proc = cli(*args, cwd=code["dir"])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    if message == "usage":
        assert "usage" in proc.stderr.lower() and "Traceback" not in proc.stderr
    else:
        assert message in one_clear_line(proc)


def test_the_replay_before_deploy_example_runs_as_documented(tmp_path):
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "replay_before_deploy", "run.py")
    proc = subprocess.run([sys.executable, example], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3/3 histories replay cleanly" in proc.stdout, proc.stdout
    source = Path(example).with_name("workflows_v2.py").read_text().splitlines()
    new_step = next(n for n, line in enumerate(source, 1) if "# new step" in line)
    assert "3/3 histories diverge" in proc.stdout and f"workflows_v2.py:{new_step}" in proc.stdout, proc.stdout
