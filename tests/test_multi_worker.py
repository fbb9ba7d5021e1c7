"""Several runtimes, in separate OS processes, sharing one PostgreSQL schema."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import psql_value
from duroxide import Client, PostgresProvider

WORKER = Path(__file__).parent / "helpers" / "pg_worker.py"
COUNT = 200


@pytest.fixture
def pg_schema(fresh_pg_schema):
    return fresh_pg_schema  # its tables exist before the workers race to create them


class Workers:
    def __init__(self, url: str, schema: str, tmp_path: Path) -> None:
        self.url, self.schema, self.tmp_path = url, schema, tmp_path
        self.procs: dict = {}

    def start(self, name: str) -> None:
        log = self.tmp_path / f"{name}.log"
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), self.url, self.schema, name, str(log)],
            stdout=subprocess.PIPE,
            stderr=open(self.tmp_path / f"{name}.stderr", "wb"),
            text=True,
        )
        line = proc.stdout.readline().strip()
        assert line == "ready", f"worker {name} did not start: {(self.tmp_path / f'{name}.stderr').read_text()}"
        self.procs[name] = proc

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    def activity_log(self, name: str) -> Counter:
        path = self.tmp_path / f"{name}.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return Counter(tuple(line.split(" ", 1)) for line in lines)


@pytest.fixture
def workers(pg_schema, tmp_path):
    url, schema = pg_schema
    w = Workers(url, schema, tmp_path)
    yield w
    w.stop_all()


def start_all(client: Client, prefix: str) -> list:
    ids = [f"{prefix}-{i}" for i in range(COUNT)]
    for i, instance_id in enumerate(ids):
        client.start_orchestration(instance_id, "Chain", i)
    return ids


def assert_all_completed(client: Client, ids: list) -> None:
    for i, instance_id in enumerate(ids):
        result = client.wait_for_orchestration(instance_id, 120_000)
        assert result.status == "Completed", (instance_id, result.error)
        assert result.output == {"n": i, "label": f"done-{i * 2}"}


def completions_per_instance(url: str, schema: str, prefix: str) -> dict:
    rows = psql_value(
        url,
        f"SELECT instance_id || ' ' || count(*) FROM \"{schema}\".history "
        f"WHERE event_data::jsonb->>'type' = 'OrchestrationCompleted' AND instance_id LIKE '{prefix}-%' GROUP BY instance_id",
    )
    return {line.split(" ")[0]: int(line.split(" ")[1]) for line in rows.splitlines() if line}


def test_two_worker_processes_share_200_orchestrations(workers, pg_schema):
    url, schema = pg_schema
    workers.start("worker-a")
    workers.start("worker-b")
    client = Client(PostgresProvider.connect_with_schema(url, schema))

    ids = start_all(client, "shared")
    assert_all_completed(client, ids)

    a, b = workers.activity_log("worker-a"), workers.activity_log("worker-b")
    assert sum(a.values()) > 0 and sum(b.values()) > 0, "both workers must have run activities"
    combined = a + b
    for instance_id in ids:
        # Nothing was killed, so every activity ran exactly once, on one of the workers.
        assert combined[("Work", instance_id)] == 1
        assert combined[("Finish", instance_id)] == 1
    completions = completions_per_instance(url, schema, "shared")
    assert len(completions) == COUNT
    assert set(completions.values()) == {1}, "an orchestration completed twice"


def test_survivor_finishes_the_work_of_a_killed_worker(workers, pg_schema):
    url, schema = pg_schema
    workers.start("worker-a")
    workers.start("worker-b")
    client = Client(PostgresProvider.connect_with_schema(url, schema))

    ids = start_all(client, "killed")
    # Let both workers get going, then kill one mid-run with work in flight.
    deadline = time.monotonic() + 60
    while sum(workers.activity_log("worker-a").values()) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers.kill("worker-a")
    killed_after = sum(workers.activity_log("worker-a").values())
    assert killed_after < 2 * COUNT, "worker-a finished everything before the kill; the test proves nothing"

    assert_all_completed(client, ids)

    survivor = workers.activity_log("worker-b")
    assert sum(survivor.values()) > 0
    combined = workers.activity_log("worker-a") + survivor
    for instance_id in ids:
        # At least once; more than once only when the kill caught an activity in flight.
        assert combined[("Work", instance_id)] >= 1
        assert combined[("Finish", instance_id)] >= 1
    completions = completions_per_instance(url, schema, "killed")
    assert len(completions) == COUNT
    assert set(completions.values()) == {1}, "an orchestration completed twice"
