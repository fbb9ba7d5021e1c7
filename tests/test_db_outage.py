"""PostgreSQL outage: the runtime recovers, and client calls fail fast while it lasts.

A worker process runs 20 orchestrations (5 activities of 100 ms each and a timer)
against a PostgresProvider that reaches the server through a TCP proxy
(``tests/helpers/tcp_proxy.py``). Mid-run the proxy "stops the database" for 10 s: it
closes every open connection and closes new ones as soon as it accepts them. Then it lets
connections through again.

* Every instance must end Completed with the right output (deadline: 120 s after the
  database is back), and an instance started after the outage completes too.
* Client calls made during the outage (``get_status``, ``start_orchestration``,
  ``wait_for_orchestration(timeout_ms=2000)``) must raise a clear duroxide exception
  (``ProviderError`` or ``DuroxideTimeoutError``) and return within their timeout plus
  20 s. The elapsed times are printed (``-s`` shows them).

A second test simulates a network partition instead (connections stay open, nothing gets
through) for 35 s, with the same expectations.

The full version really stops the local PostgreSQL cluster for 10 s
(``pg_ctlcluster ... stop`` / ``start``). It disturbs everything else using the server,
so it exists only when ``DUROXIDE_OUTAGE_REAL=1``:

    DUROXIDE_OUTAGE_REAL=1 python -m pytest tests/test_db_outage.py -q -s
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List
from urllib.parse import urlsplit, urlunsplit

import pytest

from duroxide import Client, DuroxideError, DuroxideTimeoutError, PostgresProvider, ProviderError

from conftest import drop_schema, require_postgres_url
from helpers.tcp_proxy import TcpProxy

INSTANCES = 20
OUTAGE_S = 10.0
RECOVERY_DEADLINE_S = 120.0
CALL_MARGIN_S = 20.0
HARD_CALL_CAP_S = 90.0  # a call still running after this is reported as a hang

WORKER = r'''
import sys, time
from duroxide import PostgresProvider, Runtime, RuntimeOptions

url, schema = sys.argv[1:3]
provider = PostgresProvider.connect_with_schema(url, schema)
runtime = Runtime(provider, RuntimeOptions(
    dispatcher_poll_interval_ms=20,
    orchestration_concurrency=4,
    worker_concurrency=4,
    orchestrator_lock_timeout_ms=3_000,
    worker_lock_timeout_ms=5_000,
    log_level="warn",
))

@runtime.register_activity("Step")
def step(ctx, x):
    time.sleep(0.1)
    return f"{x[0]}-{x[1]}"

@runtime.register_orchestration("Chain")
def chain(ctx, n):
    out = []
    for i in range(5):
        out.append((yield ctx.schedule_activity("Step", [n, i])))
        if i == 2:
            yield ctx.schedule_timer(300)
    return out

runtime.start()
print("ready", flush=True)
while True:
    time.sleep(1)
'''


def expected_output(n: int) -> List[str]:
    return [f"{n}-{i}" for i in range(5)]


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


class Worker:
    """The runtime, in its own process, with stdout/stderr in files."""

    def __init__(self, tmp_path, url: str, schema: str):
        self.out_path = tmp_path / "worker.out"
        self.err_path = tmp_path / "worker.err"
        self._out = open(self.out_path, "w")
        self._err = open(self.err_path, "w")
        env = dict(os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, url, schema], stdout=self._out, stderr=self._err, env=env, text=True
        )
        deadline = time.monotonic() + 60
        while "ready" not in self.out_path.read_text():
            assert self.proc.poll() is None, f"worker exited: {self.stderr()[-3000:]}"
            assert time.monotonic() < deadline, f"worker not ready: {self.stderr()[-3000:]}"
            time.sleep(0.05)

    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.err_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Ctrl-C, so the worker's runtime shuts down and its log lines are flushed; then
        kill if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        self._err.close()


def timed_call(name: str, fn: Callable[[], Any], results: Dict[str, Dict[str, Any]]) -> threading.Thread:
    """Runs ``fn`` in a thread, recording how it ended and how long it took."""

    def run():
        started = time.monotonic()
        record: Dict[str, Any] = {"started": started}
        try:
            record["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - judged by the test
            record["error"] = e
        record["elapsed"] = time.monotonic() - started
        results[name] = record

    thread = threading.Thread(target=run, name=f"outage-{name}", daemon=True)
    thread.start()
    return thread


def summarize_stderr(text: str, limit: int = 25) -> str:
    """The distinct warning/error lines of the worker (timestamps stripped), with counts."""
    counts: Dict[str, int] = {}
    for line in text.splitlines():
        if " WARN " in line or " ERROR " in line or "Traceback" in line or "Error" in line:
            key = line.split("Z ", 1)[-1][:220]
            counts[key] = counts.get(key, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    return "\n".join(f"{n:5d} x {line}" for line, n in top)


def run_outage_scenario(tmp_path, client_url: str, worker_url: str, schema: str,
                        stop_db: Callable[[], Any], start_db: Callable[[], Any],
                        outage_s: float = OUTAGE_S) -> Dict[str, Any]:
    """The scenario both tests share; returns the figures it measured."""
    figures: Dict[str, Any] = {}
    provider = PostgresProvider.connect_with_schema(client_url, schema)
    client = Client(provider)
    worker = Worker(tmp_path, worker_url, schema)
    try:
        ids = [f"chain-{n}-{secrets.token_hex(3)}" for n in range(INSTANCES)]
        for n, iid in enumerate(ids):
            client.start_orchestration(iid, "Chain", n)

        # Mid-run: some instances have made progress, none can have finished all 5 steps.
        time.sleep(1.0)
        statuses = [client.get_status(iid).status for iid in ids]
        figures["running_at_outage"] = statuses.count("Running")
        assert figures["running_at_outage"] > 0, f"everything finished before the outage: {statuses}"

        down_at = time.monotonic()
        figures["stop"] = stop_db()
        time.sleep(0.5)  # let the worker notice

        results: Dict[str, Dict[str, Any]] = {}
        running_id = ids[-1]
        threads = [
            timed_call("get_status", lambda: client.get_status(running_id), results),
            timed_call("start_orchestration", lambda: client.start_orchestration(f"during-{secrets.token_hex(3)}", "Chain", 99), results),
            timed_call("wait_for_orchestration(timeout_ms=2000)", lambda: client.wait_for_orchestration(running_id, 2000), results),
        ]
        time.sleep(max(0.0, outage_s - (time.monotonic() - down_at)))
        up_at = time.monotonic()
        figures["start"] = start_db()
        figures["outage_s"] = round(up_at - down_at, 2)

        for t in threads:
            t.join(max(0.0, HARD_CALL_CAP_S - (time.monotonic() - down_at)))
        calls = {}
        for name in ("get_status", "start_orchestration", "wait_for_orchestration(timeout_ms=2000)"):
            record = results.get(name)
            if record is None:
                calls[name] = {"outcome": f"HANG: still running {HARD_CALL_CAP_S:.0f} s after the outage began"}
                continue
            error = record.get("error")
            returned_at = record["started"] + record["elapsed"]
            calls[name] = {
                "elapsed_s": round(record["elapsed"], 2),
                "outcome": f"{type(error).__name__}: {error}"[:300] if error is not None else f"returned {record['value']!r:.100}",
                "returned_after_restore": returned_at > up_at,
                "error": error,
            }
        figures["calls_during_outage"] = calls

        # Recovery: every instance completes with its output.
        outputs: Dict[str, Any] = {}
        last_done = up_at
        for n, iid in enumerate(ids):
            remaining_ms = int(max(0.0, up_at + RECOVERY_DEADLINE_S - time.monotonic()) * 1000)
            try:
                result = client.wait_for_orchestration(iid, remaining_ms)
            except DuroxideError as e:
                outputs[iid] = f"{type(e).__name__}: {e}"
                continue
            last_done = max(last_done, time.monotonic())
            outputs[iid] = result
        figures["recovered_all_s_after_restore"] = round(last_done - up_at, 2)
        figures["worker_alive"] = worker.alive()

        problems = []
        for n, iid in enumerate(ids):
            result = outputs[iid]
            if isinstance(result, str):
                problems.append(f"{iid}: {result} (status now {client.get_status(iid)!r})")
            elif result.status != "Completed" or result.output != expected_output(n):
                problems.append(f"{iid}: {result!r}")
        figures["problems"] = problems

        if not problems:
            after = f"after-{secrets.token_hex(3)}"
            client.start_orchestration(after, "Chain", 7)
            figures["after_outage_instance"] = repr(client.wait_for_orchestration(after, 60_000))
        return figures
    finally:
        worker.stop()
        figures["worker_stderr_summary"] = summarize_stderr(worker.stderr())
        print_figures(figures)
        client.close()


def print_figures(figures: Dict[str, Any]) -> None:
    lines = ["", "=== database outage figures ==="]
    for key, value in figures.items():
        if key == "calls_during_outage":
            lines.append("calls made during the outage:")
            for name, call in value.items():
                shown = {k: v for k, v in call.items() if k != "error"}
                lines.append(f"  {name}: {shown}")
        elif key == "worker_stderr_summary":
            lines.append("worker stderr (distinct warning lines):")
            lines.append(value or "  (none)")
        else:
            lines.append(f"{key}: {value}")
    print("\n".join(lines))


def assert_outcome(figures: Dict[str, Any]) -> None:
    """Checked after the scenario (the worker's log summary is complete by then)."""
    assert figures["worker_alive"], f"the worker process died:\n{figures['worker_stderr_summary']}"
    assert not figures["problems"], (
        f"the runtime did not recover within {RECOVERY_DEADLINE_S:.0f} s of the database coming back:\n"
        + "\n".join(figures["problems"])
        + f"\nworker stderr:\n{figures['worker_stderr_summary']}"
    )
    problems = []
    for name, call in figures["calls_during_outage"].items():
        if "error" not in call:
            problems.append(f"{name}: {call['outcome']}")
            continue
        timeout_s = 2.0 if name.startswith("wait_for") else 0.0
        if call["elapsed_s"] > timeout_s + CALL_MARGIN_S:
            problems.append(f"{name} took {call['elapsed_s']} s (bound {timeout_s + CALL_MARGIN_S:.0f} s): {call['outcome']}")
        elif call["error"] is None:
            # A stopped server refuses connections; the pool keeps reconnecting within the
            # call's bound, so a call may instead succeed once the database is back.
            if not call["returned_after_restore"]:
                problems.append(f"{name} returned while the database was down: {call['outcome']}")
        elif not isinstance(call["error"], (ProviderError, DuroxideTimeoutError)):
            problems.append(f"{name}: expected ProviderError or DuroxideTimeoutError, got {call['outcome']}")
    assert not problems, "client calls made during the outage:\n" + "\n".join(problems)


@pytest.fixture
def pg_url():
    return require_postgres_url()


def test_runtime_recovers_from_a_10s_database_outage_through_a_proxy(tmp_path, pg_url):
    target = urlsplit(pg_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    proxy_url = with_port(pg_url, proxy.port)
    schema = f"outage_{secrets.token_hex(4)}"
    try:
        figures = run_outage_scenario(
            tmp_path, proxy_url, proxy_url, schema,
            stop_db=lambda: f"closed {proxy.outage()} open connections",
            start_db=lambda: proxy.restore() or f"connections refused during the outage: {proxy.refused}",
        )
        assert_outcome(figures)
    finally:
        proxy.close()
        drop_schema(pg_url, schema)


STALL_S = 35.0


def test_client_calls_respect_their_timeouts_during_a_network_stall(tmp_path, pg_url):
    """A partition rather than a stopped server: connections stay open but nothing gets
    through, and new ones are accepted and never answered, for 35 s -- longer than a
    call's timeout plus the margin, so a call bounded only by the connection pool's own
    acquire timeout shows. Then every connection that lived through the stall is reset.
    The same expectations as for the outage above."""
    target = urlsplit(pg_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    proxy_url = with_port(pg_url, proxy.port)
    schema = f"outage_stall_{secrets.token_hex(4)}"
    try:
        figures = run_outage_scenario(
            tmp_path, proxy_url, proxy_url, schema,
            stop_db=lambda: f"stalled {proxy.outage('stall')} open connections",
            start_db=lambda: proxy.restore() or "connections reset, traffic flows again",
            outage_s=STALL_S,
        )
        assert_outcome(figures)
    finally:
        proxy.close()
        drop_schema(pg_url, schema)


# ------------------------------------------------------------------ the real stop (opt-in)

if os.environ.get("DUROXIDE_OUTAGE_REAL") == "1":

    def _cluster_version() -> str:
        versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".") if p.isdigit()])
        assert versions, "no cluster under /etc/postgresql"
        return versions[-1]

    def _pg_ctl(action: str) -> str:
        res = subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", _cluster_version(), "main", action],
            capture_output=True, text=True, timeout=60,
        )
        assert res.returncode == 0, f"pg_ctlcluster {action} failed: {res.stderr}"
        return f"pg_ctlcluster {action}: ok"

    def _wait_ready(timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode != 0:
            assert time.monotonic() < deadline, "PostgreSQL did not come back"
            time.sleep(0.2)

    def test_runtime_recovers_from_a_real_10s_postgres_stop(tmp_path, pg_url):
        schema = f"outage_real_{secrets.token_hex(4)}"
        stopped = {"value": False}

        def stop():
            stopped["value"] = True
            return _pg_ctl("stop")

        def start():
            result = _pg_ctl("start")
            stopped["value"] = False
            _wait_ready()
            return result

        try:
            figures = run_outage_scenario(tmp_path, pg_url, pg_url, schema, stop_db=stop, start_db=start)
            assert_outcome(figures)
        finally:
            if stopped["value"]:
                _pg_ctl("start")
            _wait_ready()
            drop_schema(pg_url, schema)
