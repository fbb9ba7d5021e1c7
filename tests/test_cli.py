"""The ``duroxide`` command against real instances (completed, failed, running, with
sub-orchestrations) on a SQLite file and on PostgreSQL: tables for people, ``--json``
for scripts, exit code 2 and one line for every mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import new_id
from duroxide import Runtime, RuntimeOptions


def parent(ctx, n):
    ctx.set_custom_status("working")
    ctx.set_kv_value("step", "1")
    child = yield ctx.schedule_sub_orchestration("Child", n)
    return {"child": child}


def child(ctx, n):
    return (yield ctx.schedule_activity("Double", n))


def fails(ctx, _):
    yield ctx.schedule_activity("Boom", None)


def waits(ctx, _):
    ctx.set_custom_status("waiting")
    got = yield ctx.wait_for_event("go")
    more = yield ctx.dequeue_event("inbox")
    return {"go": got, "inbox": more}


def boom(ctx, _):
    raise RuntimeError("boom: out of paper")


@pytest.fixture
def store(provider_factory, client):
    runtime = Runtime(provider_factory.provider, RuntimeOptions(dispatcher_poll_interval_ms=5))
    runtime.register_orchestration("Parent", parent)
    runtime.register_orchestration("Child", child)
    runtime.register_orchestration("Fails", fails)
    runtime.register_orchestration("Waits", waits)
    runtime.register_activity("Double", lambda ctx, n: 2 * n)
    runtime.register_activity("Boom", boom)
    runtime.start()
    ids = {"done": new_id("cli-done"), "failed": new_id("cli-failed"), "running": new_id("cli-run")}
    client.start_orchestration(ids["done"], "Parent", 21)
    client.start_orchestration(ids["failed"], "Fails", None)
    client.start_orchestration(ids["running"], "Waits", None)
    assert client.wait_for_orchestration(ids["done"], 30_000).status == "Completed"
    assert client.wait_for_orchestration(ids["failed"], 30_000).status == "Failed"
    deadline = time.monotonic() + 30
    while client.get_status(ids["running"]).custom_status != "waiting" and time.monotonic() < deadline:
        time.sleep(0.01)
    yield {"ids": ids, "runtime": runtime, "db": db_args(provider_factory), "client": client}
    runtime.shutdown(1000)


def db_args(provider_factory):
    if provider_factory.kind == "sqlite":
        return ["--db", provider_factory.sqlite_path]
    return ["--db", provider_factory.pg_url, "--schema", provider_factory.pg_schema]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DUROXIDE_DB"}
    return subprocess.run([sys.executable, "-m", "duroxide", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def ok(*args: str) -> str:
    proc = cli(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_list_filters_and_json(store):
    ids, db = store["ids"], store["db"]
    table = ok("list", *db)
    for iid in ids.values():
        assert iid in table
    assert "ORCHESTRATION" in table and "Parent@1.0.0" in table
    running = json.loads(ok("list", *db, "--status", "Running", "--json"))
    assert ids["running"] in [r["instance_id"] for r in running]
    assert ids["done"] not in [r["instance_id"] for r in running]
    by_name = json.loads(ok("list", *db, "--name", "Fails", "--json"))
    assert {r["instance_id"] for r in by_name} >= {ids["failed"]}
    assert all(r["orchestration_name"] == "Fails" for r in by_name)
    prefixed = [r["instance_id"] for r in json.loads(ok("list", *db, "--prefix", ids["done"], "--json"))]
    assert ids["done"] in prefixed and len(prefixed) == 2  # the instance and its sub-orchestration
    assert all(i.startswith(ids["done"]) for i in prefixed)
    assert len(json.loads(ok("list", *db, "--limit", "1", "--json"))) == 1


def test_show_history_and_tree(store):
    ids, db = store["ids"], store["db"]
    shown = json.loads(ok("show", ids["done"], *db, "--json"))
    assert shown["status"] == "Completed" and shown["input"] == 21
    assert shown["output"] == {"child": 42} and shown["custom_status"] == "working"
    assert shown["kv"] == {"step": "1"}
    assert "boom: out of paper" in ok("show", ids["failed"], *db)
    history = ok("history", ids["done"], *db)
    assert "OrchestrationStarted" in history and "SubOrchestrationCompleted" in history
    assert "<- #" in history  # completions point at what they complete, with the time it took
    events = json.loads(ok("history", ids["done"], *db, "--json"))
    assert events[0]["kind"] == "OrchestrationStarted"
    tree = ok("tree", ids["done"], *db)
    lines = tree.strip().splitlines()
    assert lines[0].startswith(ids["done"]) and "[Child@1.0.0]" in lines[1] and lines[1].startswith("    ")
    metrics = json.loads(ok("metrics", *db, "--json"))
    assert metrics["system"]["total_instances"] >= 4


def test_raise_enqueue_cancel_delete(store):
    ids, db, client = store["ids"], store["db"], store["client"]
    ok("raise", ids["running"], "go", *db, "--data", '{"n": 1}')
    ok("enqueue", ids["running"], "inbox", *db, "--data", '"hello"')
    assert client.wait_for_orchestration(ids["running"], 30_000).output == {"go": {"n": 1}, "inbox": "hello"}
    other = new_id("cli-cancel")
    ok("start", "Waits", "--id", other, *db)
    deadline = time.monotonic() + 30
    while client.get_status(other).custom_status != "waiting" and time.monotonic() < deadline:
        time.sleep(0.01)
    ok("cancel", other, *db, "--reason", "operator said so")
    result = client.wait_for_orchestration(other, 30_000)
    assert result.status == "Failed" and "operator said so" in result.error
    ok("delete", ids["failed"], *db)
    assert ids["failed"] not in client.list_all_instances()


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "no-such-instance"], "no instance 'no-such-instance'"),
        (["history", "no-such-instance"], "no instance"),
        (["start", "Waits", "--id", "x", "--input", "{not json"], "--input is not valid JSON"),
        (["raise", "no-such-instance", "go"], "no instance"),
        (["list", "--limit", "0"], "expected a whole number"),
        (["list", "--status", "Sleeping"], "invalid choice"),
    ],
)
def test_mistakes_print_one_line_and_exit_2(store, args, message):
    proc = cli(*args, *store["db"])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_an_unreachable_database_is_one_line():
    proc = cli("list", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot open the database" in proc.stderr
    proc = cli("list")
    assert proc.returncode == 2 and "no database" in proc.stderr
