"""Multi-node chaos run: several worker processes share one PostgreSQL while workers are
SIGKILLed, the server crashes and restarts, and connections are cut; then every instance
must be Completed with its expected output and every activity execution accounted for.

    python tests/reliability/chaos.py                       # 3 workers, 2,000 instances
    python tests/reliability/chaos.py --instances 200 --duration 20 --json out.json

What it does:

1. Starts a private PostgreSQL server (pg_server.py: its own data directory and port) and
   a TCP proxy in front of it (tests/helpers/tcp_proxy.py). Workers connect through the
   proxy; the harness's clients connect directly.
2. Starts the instances of the crash-loop workload (worker.py: chains, fan-outs, timers,
   sub-orchestrations, external events, continue-as-new loops, races; each begins with a
   durable timer spread over ``--duration`` so the work spans the faults).
3. Starts ``--workers`` worker processes (worker.py) and, for ``--duration`` seconds,
   follows a seeded fault timeline (``--seed``, printed): every ``--kill-every`` seconds
   SIGKILL a random worker and start a replacement; once, crash the server (``pg_ctl stop
   -m immediate``), keep it down ``--pg-down`` seconds and start it again; ``--drops``
   times, cut every proxied connection and refuse new ones for 0.3-1.5 s. A thread raises
   each instance's external events once it waits for them.
4. Waits until every instance (and sub-orchestration) is terminal, within ``--deadline``.
5. Checks, as the crash loop does: every instance Completed with exactly the expected
   output and no others exist; each execution's history has one completion per activity
   and one terminal event; no panic or traceback in any worker's output. Then the
   activity ledgers (one per worker life, each line with its time): every expected call
   ended, nothing unexpected ran, and every re-execution is explained -- the earlier
   attempt's worker was killed before the next attempt started, or a fault (server down,
   connections cut) fell between the earlier attempt's start and 2 s after its end, when
   its result was being stored. Anything else is an unexplained duplicate.

Prints a summary; exits 1 on any violation; ``--json FILE`` writes the report.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))

import crash_loop  # noqa: E402
import pg_server  # noqa: E402
from crash_loop import HarnessAbort, tail  # noqa: E402
from tcp_proxy import TcpProxy  # noqa: E402

workload = crash_loop.workload

#: A fault this close after an attempt's end may have cost the commit of its result.
STORE_GRACE_S = 2.0


@dataclass
class ChaosConfig(crash_loop.Config):
    provider: str = "postgres"
    instances: int = 2000
    workers: int = 3
    duration: float = 60.0  # seconds of faults; the instances' start timers spread over it
    kill_every_min: float = 3.0
    kill_every_max: float = 6.0
    pg_restarts: int = 1
    pg_down: float = 2.0
    drops: int = 3
    deadline: float = 600.0


@dataclass
class WorkerLife(crash_loop.RunRecord):
    slot: int = 0
    ledger_path: str = ""
    started_wall: float = 0.0
    killed_wall: Optional[float] = None
    failed_starts: int = 0


class ChaosHarness(crash_loop.Harness):
    def __init__(self, config: ChaosConfig) -> None:
        if config.spread is None:
            config.spread = config.duration
        if config.workdir is None:
            config.workdir = tempfile.mkdtemp(prefix="chaos-")
        super().__init__(config)
        self.t0_wall = time.time() - self.now()
        self.config: ChaosConfig = config
        self.procs: Dict[int, subprocess.Popen] = {}  # life index -> its process
        self.slots: Dict[int, int] = {}  # slot -> index of its current life
        self.faults: List[Tuple[float, float, str]] = []  # (from, to, what), Unix seconds
        self.server: Optional[pg_server.PrivateServer] = None
        self.proxy: Optional[TcpProxy] = None
        self.events_lock = threading.Lock()
        self.stop_events = threading.Event()
        self.event_errors = 0
        self.completed_at_fault_end = 0

    # ------------------------------------------------------------------ store

    def open_store(self) -> None:
        import duroxide

        self.server = pg_server.PrivateServer.create()
        self.proxy = TcpProxy("127.0.0.1", self.server.port).start()
        schema = f"chaos_{self.seed}"
        proxied = f"postgresql://postgres@127.0.0.1:{self.proxy.port}/postgres"
        self.spec = {"kind": "postgres", "url": proxied, "schema": schema}
        self.provider = duroxide.PostgresProvider.connect_with_schema(self.server.url, schema)
        self.client = duroxide.Client(self.provider)

    def close_store(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = self.provider = None
        if self.proxy is not None:
            self.proxy.close()
        if self.server is not None:
            self.server.destroy()

    # ------------------------------------------------------------------ workers

    def start_life(self, slot: int) -> WorkerLife:
        """A new worker process in ``slot``. A start that fails while the database is
        down (the process exits before it is ready) is retried for up to 60 s."""
        index = len(self.runs)
        life = WorkerLife(index=index, started_at=self.now(), slot=slot, started_wall=time.time())
        life.stdout_path = os.path.join(self.workdir, f"life-{index:03d}.stdout.log")
        life.stderr_path = os.path.join(self.workdir, f"life-{index:03d}.stderr.log")
        life.ledger_path = os.path.join(self.workdir, f"ledger-{index:03d}.txt")
        open(life.ledger_path, "w").close()
        self.runs.append(life)
        env = dict(os.environ, CRASH_LOOP_NODE_ID=f"chaos-{slot}-{index:03d}")
        env.pop("PYTEST_CURRENT_TEST", None)
        give_up = time.monotonic() + 60
        while True:
            with open(life.stdout_path, "ab") as out, open(life.stderr_path, "ab") as err:
                proc = subprocess.Popen(
                    [sys.executable, crash_loop.WORKER_PATH, json.dumps(self.spec), life.ledger_path],
                    stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                )
            while proc.poll() is None:
                with open(life.stdout_path, "rb") as f:
                    if b"ready" in f.read():
                        life.ready_after = self.now() - life.started_at
                        self.procs[index], self.slots[slot] = proc, index
                        return life
                if time.monotonic() > give_up:
                    proc.kill()
                    break
                time.sleep(0.01)
            life.failed_starts += 1
            if time.monotonic() > give_up:
                raise HarnessAbort(f"worker life {index} not ready after 60 s; stderr:\n{tail(life.stderr_path)}")
            time.sleep(0.5)

    def end_life(self, index: int, *, counted_kill: bool) -> None:
        life = self.runs[index]
        assert isinstance(life, WorkerLife)
        proc = self.procs.pop(index)
        if proc.poll() is not None:
            life.exit_code = proc.returncode
            self.violation(f"worker life {index} exited by itself (code {proc.returncode}); stderr:\n{tail(life.stderr_path)}")
            return
        proc.send_signal(signal.SIGKILL)
        life.killed_wall, life.killed_at, life.killed = time.time(), self.now(), counted_kill
        proc.wait(60)
        life.exit_code = proc.returncode
        life.ran_for = life.killed_at - life.started_at - (life.ready_after or 0.0)

    def kill_and_replace(self, slot: int) -> None:
        self.end_life(self.slots[slot], counted_kill=True)
        life = self.start_life(slot)
        self.log(f"slot {slot}: SIGKILL, replaced by life {life.index} (ready in {life.ready_after:.2f}s)")

    # ------------------------------------------------------------------ faults

    def timeline(self) -> List[Tuple[float, str]]:
        """The faults, as (seconds after the start of the fault phase, what), in order."""
        cfg, rng = self.config, self.rng
        plan: List[Tuple[float, str]] = []
        t = rng.uniform(cfg.kill_every_min, cfg.kill_every_max)
        while t < cfg.duration:
            plan.append((t, f"kill {rng.randrange(cfg.workers)}"))
            t += rng.uniform(cfg.kill_every_min, cfg.kill_every_max)
        for _ in range(cfg.pg_restarts):
            plan.append((rng.uniform(0.3, 0.6) * cfg.duration, "restart"))
        for _ in range(cfg.drops):
            plan.append((rng.uniform(0.1, 0.95) * cfg.duration, f"drop {rng.uniform(0.3, 1.5):.2f}"))
        return sorted(plan)

    def apply(self, what: str) -> None:
        assert self.server is not None and self.proxy is not None
        kind, _, arg = what.partition(" ")
        if kind == "kill":
            self.kill_and_replace(int(arg))
        elif kind == "restart":
            began = time.time()
            stopped, ready = self.server.restart(self.config.pg_down)
            self.faults.append((began, ready, "server restart"))
            self.log(f"PostgreSQL crashed and restarted: down {ready - stopped:.2f}s")
        elif kind == "drop":
            began = time.time()
            cut = self.proxy.outage("close")
            time.sleep(float(arg))
            self.proxy.restore()
            self.faults.append((began, time.time(), "connections cut"))
            self.log(f"proxy: cut {cut} connections, refused new ones for {float(arg):.2f}s")

    # ------------------------------------------------------------------ events

    def raise_events_until_stopped(self) -> None:
        """Raises each instance's external events once it waits for them (its own client,
        directly on the server: errors while the server is down are counted, retried)."""
        import duroxide

        assert self.server is not None
        client = duroxide.Client(duroxide.PostgresProvider.connect_with_schema(self.server.url, self.spec["schema"]))
        waiting = [item["id"] for item in self.plan if self.expected[item["id"]]["events"]]
        while waiting and not self.stop_events.is_set():
            still = []
            for iid in waiting:
                pending = [n for n in self.expected[iid]["events"] if (iid, n) not in self.events_raised]
                if not pending:
                    continue
                still.append(iid)
                try:
                    st = client.get_status(iid)
                    if st.status == "Running" and st.custom_status == workload.waiting_status(pending[0]):
                        client.raise_event(iid, pending[0], workload.event_payload(iid, pending[0]))
                        with self.events_lock:
                            self.events_raised[(iid, pending[0])] = self.now()
                except Exception:  # noqa: BLE001 -- the server may be down; try again next round
                    self.event_errors += 1
                    time.sleep(0.2)
            waiting = still
            self.stop_events.wait(0.3)
        client.close()

    # ------------------------------------------------------------------ the run

    def run(self) -> Dict[str, Any]:
        cfg = self.config
        self.log(
            f"chaos run: {cfg.workers} workers, {len(self.plan)} instances "
            f"(+{len(self.expected_outputs) - len(self.plan)} sub-orchestrations), {cfg.duration:.0f}s of faults, "
            f"seed={self.seed}, workdir={self.workdir}"
        )
        aborted = None
        raiser = threading.Thread(target=self.raise_events_until_stopped, name="chaos-events", daemon=True)
        try:
            self.open_store()
            assert self.client is not None
            for item in self.plan:
                self.client.start_orchestration(item["id"], item["name"], item["input"])
            assert self.server is not None and self.proxy is not None
            self.log(f"started {len(self.plan)} orchestrations on a private PostgreSQL on port {self.server.port} "
                     f"(workers through a proxy on {self.proxy.port})")
            for slot in range(cfg.workers):
                self.start_life(slot)
            raiser.start()
            self.fault_phase()
            self.completed_at_fault_end = len(self.client.list_instances_by_status("Completed"))
            final_start = time.monotonic()
            pending = self.wait_all_done(final_start + cfg.deadline)
            self.final_phase_seconds = time.monotonic() - final_start
            if pending:
                self.violation(f"hang: {pending} instance(s) not terminal {cfg.deadline:.0f}s after the faults ended")
            for index in list(self.procs):
                self.end_life(index, counted_kill=False)
            self.stop_events.set()
            raiser.join(30)
            self.check_instances()
            self.check_worker_logs()
            self.check_no_permanent_ack_failures()
            self.check_ledger()
        except HarnessAbort as exc:
            aborted = str(exc)
            self.violation(f"harness aborted: {exc}")
        finally:
            self.stop_events.set()
            for proc in self.procs.values():
                proc.kill()
            self.close_store()
        return self.report(aborted)

    def fault_phase(self) -> None:
        began = time.monotonic()
        for at, what in self.timeline():
            time.sleep(max(0.0, began + at - time.monotonic()))
            self.apply(what)
        time.sleep(max(0.0, began + self.config.duration - time.monotonic()))

    def wait_all_done(self, deadline: float) -> int:
        """Waits until every instance is terminal; returns how many are not (0: all)."""
        assert self.client is not None
        began = time.monotonic()
        total = len(self.expected_outputs)
        next_report = time.monotonic() + 10
        while True:
            done = len(self.client.list_instances_by_status("Completed")) + len(
                self.client.list_instances_by_status("Failed"))
            if done >= total:
                self.log(f"every instance terminal {time.monotonic() - began:.1f}s after the faults ended")
                return 0
            if time.monotonic() >= deadline:
                return total - done
            if time.monotonic() >= next_report:
                next_report += 10
                self.log(f"{done}/{total} terminal")
            time.sleep(0.5)

    # ------------------------------------------------------------------ accounting

    def check_no_permanent_ack_failures(self) -> None:
        """Every fault of the run is transient: an acknowledgement that failed with a
        permanent error would have failed its instance had the database answered the
        failure's commit (the core records it as the instance's outcome). The one
        permanent error expected is a lost lock ("Invalid lock token": the lock expired
        while the database was away); the failure's commit then fails the same way."""
        lost_locks = 0
        for life in self.runs:
            with open(life.stderr_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            for block in crash_loop.parse_log_blocks(text):
                if "failed with non-retryable error" not in block["message"]:
                    continue
                error = block["fields"].get("error", "")
                if "Invalid lock token" in error:
                    lost_locks += 1
                    continue
                self.violation(
                    f"worker life {life.index}: a transient fault reached the core as a permanent error: "
                    f"{block['message']} ({error[:200]})"
                )
        self.figures["acknowledgements_with_an_expired_lock"] = lost_locks

    def check_ledger(self) -> None:
        attempts: Dict[Tuple[str, str], List[Dict[str, Any]]] = defaultdict(list)
        for life in self.runs:
            assert isinstance(life, WorkerLife)
            with open(life.ledger_path, encoding="utf-8") as f:
                text = f.read()
            if text and not text.endswith("\n"):
                self.violation(f"ledger of life {life.index} ends with a partial line: a SIGKILL lost part of a write")
            for n, line in enumerate(text.splitlines()):
                parts = line.split("|")
                if len(parts) != 4 or parts[2] not in ("start", "end"):
                    self.violation(f"ledger of life {life.index}, line {n + 1} is malformed: {line!r}")
                    continue
                key, at = (parts[0], parts[1]), float(parts[3])
                if parts[2] == "start":
                    attempts[key].append({"life": life.index, "start": at, "end": None})
                    continue
                open_here = [a for a in attempts[key] if a["life"] == life.index and a["end"] is None]
                if not open_here:
                    self.violation(f"{key[0]}|{key[1]}: an 'end' in life {life.index} without a start")
                    continue
                open_here[0]["end"] = at
        for key in sorted(k for k in attempts if k not in self.expected_calls):
            self.violation(f"activity call {key[0]}|{key[1]} ran but no orchestration should have scheduled it")
        never = sorted(k for k in self.expected_calls if not any(a["end"] is not None for a in attempts.get(k, [])))
        if never:
            self.violation(f"{len(never)} expected activity call(s) never ended: {never[:20]}")
        causes: Dict[str, int] = defaultdict(int)
        for key, atts in attempts.items():
            atts.sort(key=lambda a: a["start"])
            for prev, nxt in zip(atts, atts[1:]):
                cause = self.explain(prev, nxt)
                causes[cause] += 1
                if cause == "unexplained":
                    self.violation(
                        f"unexplained duplicate execution of {key[0]}|{key[1]} [{self.shape_of.get(key[0], '?')}]: "
                        f"{self.describe_attempt(prev)}, then {self.describe_attempt(nxt)}"
                    )
            for a in atts:
                life = self.runs[a["life"]]
                if a["end"] is None and not life.killed:
                    self.violation(f"{key[0]}|{key[1]}: an attempt in life {a['life']} never ended, and that worker was not killed")
        executions = sum(len(a) for a in attempts.values())
        self.figures.update(
            activity_calls_expected=len(self.expected_calls),
            activity_executions=executions,
            activity_executions_completed=sum(1 for atts in attempts.values() for a in atts if a["end"] is not None),
            duplicate_executions=sum(causes.values()),
            duplicates_after_kill=causes["kill"],
            duplicates_after_fault=causes["fault"],
            duplicates_unexplained=causes["unexplained"],
        )

    def explain(self, prev: Dict[str, Any], nxt: Dict[str, Any]) -> str:
        life = self.runs[prev["life"]]
        assert isinstance(life, WorkerLife)
        if life.killed and life.killed_wall is not None and life.killed_wall <= nxt["start"]:
            return "kill"  # the lock went with the killed worker
        began, ended = prev["start"], (prev["end"] if prev["end"] is not None else prev["start"]) + STORE_GRACE_S
        if any(f0 <= ended and f1 >= began for f0, f1, _ in self.faults) and nxt["start"] >= began:
            return "fault"  # storing the result (or renewing the lock) failed
        return "unexplained"

    def describe_attempt(self, a: Dict[str, Any]) -> str:
        life = self.runs[a["life"]]
        assert isinstance(life, WorkerLife)
        rel = a["start"] - self.t0_wall
        end = "never ended" if a["end"] is None else f"ended at {a['end'] - self.t0_wall:.2f}s"
        fate = f"killed at {life.killed_wall - self.t0_wall:.2f}s" if life.killed_wall else "alive"
        return f"attempt in life {life.index} ({fate}) started at {rel:.2f}s, {end}"

    # ------------------------------------------------------------------ report

    def report(self, aborted: Optional[str]) -> Dict[str, Any]:
        """The crash loop's report (which writes --json) with the chaos run's figures."""
        server, proxy = self.server, self.proxy
        self.figures.update(
            workers=self.config.workers, worker_lives=len(self.runs), fault_phase_s=self.config.duration,
            failed_worker_starts=sum(getattr(r, "failed_starts", 0) for r in self.runs),
            server_restarts=len(server.restarts) if server else 0,
            server_down_s=[round(b - a, 2) for a, b in server.restarts] if server else [],
            connection_drops=sum(1 for *_, what in self.faults if what == "connections cut"),
            connections_cut=proxy.killed if proxy else 0, connections_refused=proxy.refused if proxy else 0,
            event_raise_errors=self.event_errors, completed_when_faults_ended=self.completed_at_fault_end,
        )
        return super().report(aborted)


def format_summary(report: Dict[str, Any]) -> str:
    f = report["figures"]
    lines = [
        f"chaos run summary (seed {f['seed']}): {f['workers']} workers, {f['worker_lives']} worker lives, "
        f"{f['kills']} SIGKILLs, {f['server_restarts']} server crash+restart (down {f['server_down_s']} s), "
        f"{f['connection_drops']} connection drops ({f['connections_cut']} connections cut)",
        f"  instances: {f['instances']} (+{f['sub_orchestrations']} sub-orchestrations), completed: "
        f"{f['instances_completed']} ({f['completed_when_faults_ended']} when the faults ended), "
        f"events raised: {f['events_raised']}",
    ]
    if "activity_executions" in f:
        lines.append(
            f"  activity calls: {f['activity_calls_expected']}, executions: {f['activity_executions']}, duplicates: "
            f"{f['duplicate_executions']} (after a kill {f['duplicates_after_kill']}, after a database fault "
            f"{f['duplicates_after_fault']}, unexplained {f['duplicates_unexplained']}); "
            f"acknowledgements that found their lock expired: {f.get('acknowledgements_with_an_expired_lock', 0)}"
        )
    lines.append(f"  elapsed: {f['elapsed_s']}s (faults {f['fault_phase_s']}s, then {f['final_phase_s']}s to finish); "
                 f"workdir: {report['workdir']}")
    if report["ok"]:
        lines.append("  result: OK (no violations)")
    else:
        lines.append(f"  result: FAILED, {len(report['violations'])} violation(s):")
        lines += ["    - " + v.replace("\n", "\n      ") for v in report["violations"][:50]]
    return "\n".join(lines)


def run(config: ChaosConfig) -> Dict[str, Any]:
    """Runs the chaos run; returns the report (``["ok"]``, ``["violations"]``, ``["figures"]``)."""
    return ChaosHarness(config).run()


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--instances", type=int, default=2000)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of faults (default 60)")
    p.add_argument("--kill-every-min", type=float, default=3.0)
    p.add_argument("--kill-every-max", type=float, default=6.0)
    p.add_argument("--pg-restarts", type=int, default=1)
    p.add_argument("--pg-down", type=float, default=2.0, help="seconds the server stays down")
    p.add_argument("--drops", type=int, default=3, help="connection drops through the proxy")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--deadline", type=float, default=600.0, help="seconds to finish after the faults")
    p.add_argument("--workdir", default=None)
    p.add_argument("--json", dest="json_path", default=None)
    args = p.parse_args(argv)
    if args.instances < 1 or args.workers < 1 or not 0 < args.kill_every_min <= args.kill_every_max:
        p.error("need instances >= 1, workers >= 1 and 0 < kill-every-min <= kill-every-max")
    try:
        report = run(ChaosConfig(**vars(args)))
    except (ValueError, pg_server.ServerUnavailable) as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    print(format_summary(report), flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
