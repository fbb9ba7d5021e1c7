"""Crash-loop reliability harness: SIGKILL a worker again and again, then check that
every orchestration still finished exactly as it would have without the kills.

    python -m tests.reliability.crash_loop --provider sqlite --kills 20
    python tests/reliability/crash_loop.py --provider postgres --kills 20 --json out.json

What it does:

1. Creates a store: a SQLite file in the work directory, or a fresh PostgreSQL schema
   on ``--database-url`` / ``$DATABASE_URL`` (else postgresql://postgres@127.0.0.1:5432/postgres),
   dropped at the end unless ``--keep-store``.
2. Starts the instances of the workload (50 by default; the shapes, their inputs and
   their expected results are defined in worker.py) with a ``duroxide.Client``.
3. ``--kills`` times: starts worker.py, waits for it to be ready, sleeps a random time
   (seeded RNG, ``--seed``; printed), SIGKILLs it, waits for it to die, records the kill
   (time, ledger length), raises the external events that are due (an instance shows
   ``wait:<event>`` as its custom status once it waits for it) and starts it again.
4. A final worker runs until every instance is terminal (raising events as they come
   due), within ``--deadline`` seconds.
5. Checks: every instance -- the 50 and their sub-orchestrations -- is Completed with
   exactly the expected output, and there are no others; each execution history has
   every activity completed exactly once and nothing completed twice; a continue-as-new
   loop has the expected number of executions; in the activity ledger every expected
   call has an ``end``, no call ran that was not expected, and every re-execution of a
   call is explained by a kill: the earlier attempt ran in a worker that was then killed
   (before its ``end`` -- "in flight" -- or after its ``end`` but before the result was
   stored) and the next attempt ran in a later worker. Anything else -- a repeat within
   one worker's life, two attempts at once, a repeat after the final worker started the
   call -- is an unexplained duplicate. Worker stderr is kept per run (run-NN.stderr.log
   in the work directory); a panic in it is a violation.

Prints a summary; exits 1 (``run()`` returns a report with ``ok`` False) on any violation.
``--json FILE`` writes the figures and violations as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_PATH = os.path.join(HERE, "worker.py")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _load_workload():
    """worker.py as a module (it starts nothing on import): the workload's description."""
    spec = importlib.util.spec_from_file_location("duroxide_crash_loop_workload", WORKER_PATH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


workload = _load_workload()


@dataclass
class Config:
    provider: str = "sqlite"  # "sqlite" | "postgres"
    kills: int = 20
    seed: Optional[int] = None  # None: drawn at random (and printed)
    instances: int = 50
    min_sleep: float = 0.2  # seconds a worker runs, after it is ready, before its SIGKILL
    max_sleep: float = 1.5
    # Instances start with durable timers spread over this many seconds (None: the
    # expected length of the kill loop), so kills land on work throughout the loop.
    spread: Optional[float] = None
    deadline: float = 300.0  # seconds the final worker may take to finish everything
    ready_timeout: float = 60.0
    workdir: Optional[str] = None  # None: a new temporary directory (kept)
    database_url: Optional[str] = None
    keep_store: bool = False
    json_path: Optional[str] = None
    quiet: bool = False


@dataclass
class RunRecord:
    index: int
    started_at: float  # seconds since the harness started
    ready_after: Optional[float] = None
    ran_for: Optional[float] = None  # seconds from ready to the SIGKILL (or the final stop)
    killed: bool = False
    killed_at: Optional[float] = None
    exit_code: Optional[int] = None
    ledger_lines_at_end: int = 0
    in_flight_at_kill: int = 0
    events_raised_after: List[str] = field(default_factory=list)
    stderr_path: str = ""
    stdout_path: str = ""


class Harness:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**32)
        self.rng = random.Random(self.seed)
        self.workdir = config.workdir or tempfile.mkdtemp(prefix=f"crash-loop-{config.provider}-")
        os.makedirs(self.workdir, exist_ok=True)
        if os.listdir(self.workdir):
            # An old ledger or SQLite store would mix with this run's.
            raise ValueError(f"work directory {self.workdir} is not empty; give a new or empty one")
        self.ledger_path = os.path.join(self.workdir, "ledger.txt")
        self.violations: List[str] = []
        self.runs: List[RunRecord] = []
        self.events_raised: Dict[Tuple[str, str], float] = {}
        self.t0 = time.monotonic()
        self.spec: Dict[str, Any] = {}
        self.provider = None
        self.client = None
        self.proc: Optional[subprocess.Popen] = None
        if config.spread is None:
            # A worker lives about (min+max)/2 after it is ready, plus ~0.3 s to get ready.
            self.spread = config.kills * ((config.min_sleep + config.max_sleep) / 2 + 0.3)
        else:
            self.spread = config.spread
        self.plan = workload.instance_plan(config.instances, int(self.spread * 1000))
        self.expected = {item["id"]: workload.expected(item) for item in self.plan}
        # Every instance the run must produce: the planned ones and their children.
        self.expected_outputs: Dict[str, Any] = {}
        self.expected_executions: Dict[str, int] = {}
        self.shape_of: Dict[str, str] = {}
        for item in self.plan:
            exp = self.expected[item["id"]]
            self.expected_outputs[item["id"]] = exp["output"]
            self.expected_executions[item["id"]] = exp["executions"]
            self.shape_of[item["id"]] = item["shape"]
            for cid, cout in exp["children"].items():
                self.expected_outputs[cid] = cout
                self.expected_executions[cid] = 1
                self.shape_of[cid] = f"{item['shape']}/child"
        self.expected_calls = {
            (inst, key)
            for exp in self.expected.values()
            for inst, keys in exp["activities"].items()
            for key in keys
        }
        self.final_phase_seconds: Optional[float] = None
        self.figures: Dict[str, Any] = {}

    # ------------------------------------------------------------------ output

    def log(self, message: str) -> None:
        if not self.config.quiet:
            print(f"[{self.now():7.2f}s] {message}", flush=True)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def violation(self, message: str) -> None:
        self.violations.append(message)
        self.log(f"VIOLATION: {message}")

    # ------------------------------------------------------------------ store

    def open_store(self) -> None:
        import duroxide

        if self.config.provider == "sqlite":
            path = os.path.join(self.workdir, "store.db")
            self.spec = {"kind": "sqlite", "path": path}
            self.provider = duroxide.SqliteProvider.open(path)
        elif self.config.provider == "postgres":
            url = self.config.database_url or os.environ.get("DATABASE_URL") or DEFAULT_PG_URL
            schema = f"crash_loop_{self.seed}_{secrets.token_hex(3)}"
            self.spec = {"kind": "postgres", "url": url, "schema": schema}
            self.provider = duroxide.PostgresProvider.connect_with_schema(url, schema)
        else:
            raise ValueError(f"unknown provider {self.config.provider!r}")
        self.client = duroxide.Client(self.provider)

    def close_store(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001
                pass
        self.client = None
        self.provider = None
        if self.spec.get("kind") == "postgres" and not self.config.keep_store:
            psql = shutil.which("psql")
            if psql is None:
                self.log(f"psql not found: schema {self.spec['schema']} left in place")
                return
            res = subprocess.run(
                [psql, self.spec["url"], "-v", "ON_ERROR_STOP=1", "-q", "-c",
                 f"SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS \"{self.spec['schema']}\" CASCADE"],
                capture_output=True, text=True, timeout=120,
            )
            if res.returncode != 0:
                self.log(f"warning: could not drop schema {self.spec['schema']}: {res.stderr.strip()}")

    # ------------------------------------------------------------------ worker

    def start_worker(self) -> RunRecord:
        index = len(self.runs)
        rec = RunRecord(index=index, started_at=self.now())
        rec.stdout_path = os.path.join(self.workdir, f"run-{index:02d}.stdout.log")
        rec.stderr_path = os.path.join(self.workdir, f"run-{index:02d}.stderr.log")
        env = dict(os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        env["CRASH_LOOP_NODE_ID"] = f"crash-run-{index:02d}"
        with open(rec.stdout_path, "wb") as out, open(rec.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, WORKER_PATH, json.dumps(self.spec), self.ledger_path],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
            )
        self.runs.append(rec)
        deadline = time.monotonic() + self.config.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rec.exit_code = self.proc.returncode
                raise HarnessAbort(
                    f"worker run {index} exited with code {rec.exit_code} before it was ready; "
                    f"stderr:\n{tail(rec.stderr_path)}"
                )
            with open(rec.stdout_path, "rb") as f:
                if b"ready" in f.read():
                    rec.ready_after = self.now() - rec.started_at
                    return rec
            time.sleep(0.01)
        raise HarnessAbort(f"worker run {index} not ready after {self.config.ready_timeout}s; stderr:\n{tail(rec.stderr_path)}")

    def stop_worker(self, rec: RunRecord, *, counted_kill: bool) -> None:
        assert self.proc is not None
        ready_at = rec.started_at + (rec.ready_after or 0.0)
        if self.proc.poll() is not None:
            rec.exit_code = self.proc.returncode
            self.violation(
                f"worker run {rec.index} exited by itself (code {rec.exit_code}) before it was killed; "
                f"stderr:\n{tail(rec.stderr_path)}"
            )
        else:
            os.kill(self.proc.pid, signal.SIGKILL)
            rec.killed_at = self.now()
            rec.killed = counted_kill
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                raise HarnessAbort(f"worker run {rec.index} (pid {self.proc.pid}) did not die within 60 s of SIGKILL")
            rec.exit_code = self.proc.returncode
        rec.ran_for = (rec.killed_at if rec.killed_at is not None else self.now()) - ready_at
        self.proc = None
        lines, torn = count_ledger_lines(self.ledger_path)
        if torn:
            self.violation(f"ledger ends with a partial line after run {rec.index}: a SIGKILL lost part of a write")
        rec.ledger_lines_at_end = lines

    def kill_worker_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(60)
        self.proc = None

    # ------------------------------------------------------------------ events

    def raise_due_events(self) -> List[str]:
        raised = []
        for item in self.plan:
            iid = item["id"]
            names = self.expected[iid]["events"]
            pending = [n for n in names if (iid, n) not in self.events_raised]
            if not pending:
                continue
            name = pending[0]
            st = self.client.get_status(iid)
            if st.status == "Running" and st.custom_status == workload.waiting_status(name):
                self.client.raise_event(iid, name, workload.event_payload(iid, name))
                self.events_raised[(iid, name)] = self.now()
                raised.append(f"{iid}:{name}")
        return raised

    # ------------------------------------------------------------------ the loop

    def run(self) -> Dict[str, Any]:
        cfg = self.config
        self.log(
            f"crash loop: provider={cfg.provider} kills={cfg.kills} seed={self.seed} "
            f"instances={len(self.plan)} (+{len(self.expected_outputs) - len(self.plan)} sub-orchestrations) "
            f"start delays over {self.spread:.1f}s "
            f"workdir={self.workdir}"
        )
        open(self.ledger_path, "w").close()
        aborted = None
        try:
            self.open_store()
            for item in self.plan:
                self.client.start_orchestration(item["id"], item["name"], item["input"])
            self.log(f"started {len(self.plan)} orchestrations on {self.describe_store()}")

            for k in range(cfg.kills):
                rec = self.start_worker()
                pause = self.rng.uniform(cfg.min_sleep, cfg.max_sleep)
                time.sleep(pause)
                self.stop_worker(rec, counted_kill=True)
                rec.events_raised_after = self.raise_due_events()
                self.log(
                    f"run {rec.index:2d}: ready in {rec.ready_after:.2f}s, SIGKILL after {pause:.2f}s, "
                    f"ledger {rec.ledger_lines_at_end} lines"
                    + (f", raised {', '.join(rec.events_raised_after)}" if rec.events_raised_after else "")
                )

            rec = self.start_worker()
            final_start = time.monotonic()
            self.log(f"run {rec.index:2d}: final worker ready in {rec.ready_after:.2f}s; waiting for every instance")
            pending = self.wait_all_terminal(final_start + cfg.deadline)
            self.final_phase_seconds = time.monotonic() - final_start
            if pending:
                self.violation(
                    f"hang: {len(pending)} instance(s) not terminal {cfg.deadline:.0f}s after the final worker started: "
                    + "; ".join(pending[:20])
                    + f"\nfinal worker stderr (tail):\n{tail(rec.stderr_path)}"
                )
            else:
                self.log(f"every instance terminal {self.final_phase_seconds:.2f}s after the final worker started")
            self.stop_worker(rec, counted_kill=False)
            self.check_instances()
            self.check_worker_logs()
            self.check_ledger()
        except HarnessAbort as exc:
            aborted = str(exc)
            self.violation(f"harness aborted: {exc}")
        finally:
            self.kill_worker_if_running()
            self.close_store()
        return self.report(aborted)

    def describe_store(self) -> str:
        if self.spec["kind"] == "sqlite":
            return f"SQLite {self.spec['path']}"
        return f"PostgreSQL schema {self.spec['schema']}"

    def wait_all_terminal(self, deadline: float) -> List[str]:
        ids = list(self.expected_outputs)
        next_report = time.monotonic() + 5.0
        # The longest time the set of unfinished instances did not change (a stall).
        last_pending: Optional[List[str]] = None
        last_change = time.monotonic()
        self.longest_stall = 0.0
        while True:
            self.raise_due_events()
            pending = []
            for iid in ids:
                st = self.client.get_status(iid)
                if st.status not in ("Completed", "Failed"):
                    pending.append(f"{iid} [{self.shape_of[iid]}] status={st.status} custom_status={st.custom_status!r}")
            now = time.monotonic()
            names = [p.split(" ", 1)[0] for p in pending]
            if names != last_pending:
                last_pending, last_change = names, now
            elif pending:
                self.longest_stall = max(self.longest_stall, now - last_change)
            if not pending:
                return []
            if time.monotonic() >= deadline:
                return pending
            if time.monotonic() >= next_report:
                next_report += 5.0
                self.log(f"still waiting for {len(pending)}: " + "; ".join(pending[:6]) + (" ..." if len(pending) > 6 else ""))
            time.sleep(0.2)

    # ------------------------------------------------------------------ checks

    def check_instances(self) -> None:
        listed = set(self.client.list_all_instances())
        unexpected = sorted(listed - set(self.expected_outputs))
        if unexpected:
            self.violation(f"instances that should not exist: {unexpected[:20]}")
        missing = sorted(set(self.expected_outputs) - listed)
        if missing:
            self.violation(f"instances missing from the store: {missing[:20]}")
        self.status_counts: Dict[str, int] = defaultdict(int)
        for iid, want in self.expected_outputs.items():
            st = self.client.get_status(iid)
            self.status_counts[st.status] += 1
            if st.status != "Completed":
                self.violation(
                    f"{iid} [{self.shape_of[iid]}] is {st.status}, not Completed: error={st.error!r} "
                    f"custom_status={st.custom_status!r}\n{self.history_digest(iid)}"
                )
            elif st.output != want:
                self.violation(
                    f"{iid} [{self.shape_of[iid]}] completed with the wrong output: got {st.output!r}, "
                    f"expected {want!r}\n{self.history_digest(iid)}"
                )
            self.check_history(iid)

    def check_history(self, iid: str) -> None:
        try:
            executions = self.client.list_executions(iid)
        except Exception as exc:  # noqa: BLE001
            self.violation(f"{iid}: list_executions failed: {exc!r}")
            return
        if len(executions) != self.expected_executions[iid]:
            self.violation(
                f"{iid} [{self.shape_of[iid]}] has {len(executions)} execution(s), expected {self.expected_executions[iid]}"
            )
        for ex in executions:
            events = self.client.read_execution_history(iid, ex)
            scheduled = {e.event_id for e in events if e.kind == "ActivityScheduled"}
            completions: Dict[int, List[str]] = defaultdict(list)
            for e in events:
                if e.source_event_id is not None:
                    completions[e.source_event_id].append(e.kind)
            for source, kinds in completions.items():
                if len(kinds) != len(set(kinds)):
                    self.violation(f"{iid} execution {ex}: event {source} has repeated completions {kinds}")
            for sid in scheduled:
                done = [k for k in completions.get(sid, []) if k in ("ActivityCompleted", "ActivityFailed")]
                if len(done) != 1:
                    self.violation(f"{iid} execution {ex}: activity event {sid} has {len(done)} completion(s) in history")
            terminal = [e.kind for e in events if e.kind in ("OrchestrationCompleted", "OrchestrationFailed", "OrchestrationContinuedAsNew")]
            if len(terminal) != 1:
                self.violation(f"{iid} execution {ex}: {len(terminal)} terminal events {terminal}")

    def history_digest(self, iid: str) -> str:
        try:
            lines = []
            for ex in self.client.list_executions(iid):
                for e in self.client.read_execution_history(iid, ex):
                    lines.append(f"    ex{ex} #{e.event_id} src={e.source_event_id} {e.kind} {e.data[:160]}")
            return "  history:\n" + "\n".join(lines[-60:])
        except Exception as exc:  # noqa: BLE001
            return f"  (history unavailable: {exc!r})"

    def check_ledger(self) -> None:
        boundaries = [r.ledger_lines_at_end for r in self.runs]
        final_run = len(self.runs) - 1
        with open(self.ledger_path, encoding="utf-8") as f:
            lines = f.read().splitlines()

        def run_of(line_no: int) -> int:
            for r, end in enumerate(boundaries):
                if line_no < end:
                    return r
            return final_run

        # attempts[key] = [[start_line, start_run, end_line|None, end_run|None], ...]
        attempts: Dict[Tuple[str, str], List[List[Optional[int]]]] = defaultdict(list)
        malformed = 0
        for n, line in enumerate(lines):
            parts = line.split("|")  # instance|key|start-or-end|time
            if len(parts) != 4 or parts[2] not in ("start", "end"):
                malformed += 1
                self.violation(f"ledger line {n + 1} is malformed: {line!r}")
                continue
            key = (parts[0], parts[1])
            run = run_of(n)
            if parts[2] == "start":
                attempts[key].append([n, run, None, None])
            else:
                # The end of the earliest unfinished attempt of this worker (a dead worker
                # writes nothing, so an attempt of an earlier run cannot end now).
                open_here = [a for a in attempts[key] if a[2] is None and a[1] == run]
                if not open_here:
                    self.violation(f"{key[0]}|{key[1]}: 'end' at ledger line {n + 1} (run {run}) without a start in that run")
                    continue
                open_here[0][2], open_here[0][3] = n, run

        unexpected = sorted(k for k in attempts if k not in self.expected_calls)
        for key in unexpected:
            self.violation(f"activity call {key[0]}|{key[1]} ran but no orchestration should have scheduled it")
        never_ended = [
            f"{key[0]}|{key[1]} [{self.shape_of.get(key[0], '?')}]"
            for key in sorted(self.expected_calls)
            if not any(a[2] is not None for a in attempts.get(key, []))
        ]
        if never_ended:
            self.violation(
                f"{len(never_ended)} expected activity call(s) never ended (no 'end' in the ledger): "
                + ", ".join(never_ended[:30]) + (" ..." if len(never_ended) > 30 else "")
            )

        duplicates = explained_in_flight = explained_after_end = unexplained = 0
        dup_keys = []
        in_flight_per_run: Dict[int, int] = defaultdict(int)
        for key, atts in attempts.items():
            for a in atts:
                if a[2] is None:
                    in_flight_per_run[a[1]] += 1
            if atts and atts[-1][2] is None:
                self.violation(
                    f"{key[0]}|{key[1]}: its last attempt (run {atts[-1][1]}) never ended, yet nothing ran it again"
                )
            if len(atts) > 1:
                dup_keys.append(f"{key[0]}|{key[1]} x{len(atts)} (runs {[a[1] for a in atts]})")
            for prev, nxt in zip(atts, atts[1:]):
                duplicates += 1
                prev_run, next_run = prev[1], nxt[1]
                killed = self.runs[prev_run].killed
                if killed and next_run > prev_run:
                    if prev[2] is None:
                        explained_in_flight += 1
                    else:
                        explained_after_end += 1
                else:
                    unexplained += 1
                    overlap = prev_run == next_run and (prev[2] is None or prev[2] > nxt[0])
                    lost = self.lost_locks.get(prev_run, {}).get(key[0])
                    self.violation(
                        ("two attempts at once: " if overlap else "")
                        + f"unexplained duplicate execution of {key[0]}|{key[1]} [{self.shape_of.get(key[0], '?')}]: "
                        f"attempt at ledger line {prev[0] + 1} (run {prev_run}, "
                        f"{'killed' if killed else 'not killed'}, end at line {None if prev[2] is None else prev[2] + 1}) "
                        f"was followed by another at line {nxt[0] + 1} (run {next_run})"
                        + (f"; run {prev_run}'s worker logged for {key[0]}: {'; '.join(sorted(set(lost)))}" if lost else "")
                    )
        for r, count in in_flight_per_run.items():
            if r < len(self.runs):
                self.runs[r].in_flight_at_kill = count
        starts = sum(len(a) for a in attempts.values())
        ends = sum(1 for atts in attempts.values() for a in atts if a[2] is not None)
        self.figures.update(
            ledger_lines=len(lines),
            malformed_ledger_lines=malformed,
            activity_calls_expected=len(self.expected_calls),
            activity_executions=starts,
            activity_executions_completed=ends,
            duplicate_executions=duplicates,
            duplicates_explained_by_kills=explained_in_flight + explained_after_end,
            duplicates_killed_in_flight=explained_in_flight,
            duplicates_killed_after_end_before_commit=explained_after_end,
            duplicates_unexplained=unexplained,
            calls_executed_more_than_once=len(dup_keys),
            kills_with_activities_in_flight=sum(1 for r in self.runs if r.killed and r.in_flight_at_kill > 0),
            activities_in_flight_at_kills=sum(r.in_flight_at_kill for r in self.runs if r.killed),
            duplicated_calls_sample=dup_keys[:15],
        )

    def check_worker_logs(self) -> None:
        """Panics and Python tracebacks in a worker's output are violations. Records, per
        run, the instances for which the worker logged a lost lock (a failed ack), to
        explain duplicates that no kill explains, and counts the warnings by message."""
        self.lost_locks: Dict[int, Dict[str, List[str]]] = defaultdict(lambda: defaultdict(list))
        messages: Dict[str, int] = defaultdict(int)
        for rec in self.runs:
            text = ""
            for path in (rec.stderr_path, rec.stdout_path):
                with open(path, "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            for line in text.splitlines():
                low = line.lower()
                if "panicked" in low or "fatal python error" in low or "traceback (most recent call last)" in low:
                    self.violation(f"worker run {rec.index}: {line.strip()[:300]} (see {rec.stderr_path})")
            for block in parse_log_blocks(text):
                if block["level"] not in ("WARN", "ERROR"):
                    continue
                messages[f"{block['level']} {block['target']}: {block['message'][:120]}"] += 1
                inst = block["fields"].get("instance")
                detail = block["message"]
                if "error" in block["fields"]:
                    detail += f" ({block['fields']['error']})"
                if inst and ("ack failed" in detail or "Failed to ack" in detail or "lock" in detail.lower()):
                    self.lost_locks[rec.index][inst].append(detail)
        self.figures["worker_warnings_by_message"] = dict(sorted(messages.items(), key=lambda kv: -kv[1]))
        self.figures["worker_lost_lock_reports"] = sum(
            len(v) for per_run in self.lost_locks.values() for v in per_run.values()
        )

    # ------------------------------------------------------------------ report

    def report(self, aborted: Optional[str]) -> Dict[str, Any]:
        elapsed = self.now()
        kills = [r for r in self.runs if r.killed]
        figures = {
            "provider": self.config.provider,
            "seed": self.seed,
            "runs": len(self.runs),
            "kills": len(kills),
            "instances": len(self.plan),
            "sub_orchestrations": len(self.expected_outputs) - len(self.plan),
            "instances_completed": getattr(self, "status_counts", {}).get("Completed", 0),
            "events_raised": len(self.events_raised),
            "start_delay_spread_s": round(self.spread, 2),
            "elapsed_s": round(elapsed, 2),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "final_phase_s": None if self.final_phase_seconds is None else round(self.final_phase_seconds, 2),
            # Informational (no check): the longest time in the final phase in which no
            # unfinished instance finished (start-delay and workload timers count too).
            "final_phase_longest_stall_s": round(getattr(self, "longest_stall", 0.0), 2),
            "worker_run_seconds_before_kill": [round(r.ran_for or 0.0, 3) for r in kills],
            "kill_times_s": [round(r.killed_at or 0.0, 3) for r in kills],
            "shapes": {shape: n for shape, n in sorted(count_by(item["shape"] for item in self.plan).items())},
        }
        figures.update(self.figures)
        report = {
            "ok": not self.violations,
            "aborted": aborted,
            "violations": self.violations,
            "figures": figures,
            "config": asdict(self.config),
            "workdir": self.workdir,
            "store": {k: v for k, v in self.spec.items()},
            "runs": [asdict(r) for r in self.runs],
        }
        if self.config.json_path:
            with open(self.config.json_path, "w", encoding="utf-8") as f:
                json.dump(report, f, indent=2)
        return report


class HarnessAbort(Exception):
    pass


def count_by(values) -> Dict[str, int]:
    out: Dict[str, int] = defaultdict(int)
    for v in values:
        out[v] += 1
    return dict(out)


_LOG_HEADER = re.compile(r"^\S*\d{4}-\d\d-\d\dT\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+([^:\s]+(?:::[^:\s]+)*):\s?(.*)$")


def parse_log_blocks(text: str) -> List[Dict[str, Any]]:
    """The worker's log records (the runtime's "pretty" format: a header line, then
    indented ``key: value`` lines) as ``{"level", "target", "message", "fields"}``."""
    blocks: List[Dict[str, Any]] = []
    for line in text.splitlines():
        m = _LOG_HEADER.match(line)
        if m:
            blocks.append({"level": m.group(1), "target": m.group(2), "message": m.group(3).strip(), "fields": {}})
        elif blocks and line.startswith("    ") and ":" in line:
            key, _, value = line.strip().partition(":")
            blocks[-1]["fields"].setdefault(key.strip(), value.strip())
    return blocks


def count_ledger_lines(path: str) -> Tuple[int, bool]:
    """(complete lines, whether the file ends in the middle of a line)."""
    with open(path, "rb") as f:
        data = f.read()
    return data.count(b"\n"), bool(data) and not data.endswith(b"\n")


def tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    text = data.decode("utf-8", "replace")
    return text[-limit:] if text else "(empty)"


def format_summary(report: Dict[str, Any]) -> str:
    f = report["figures"]
    lines = [
        f"crash loop summary ({f['provider']}, seed {f['seed']})",
        f"  runs: {f['runs']}  kills: {f['kills']}  instances: {f['instances']} (+{f['sub_orchestrations']} sub-orchestrations), "
        f"completed: {f['instances_completed']}  events raised: {f['events_raised']}",
    ]
    if "activity_executions" in f:
        lines += [
            f"  activity calls: {f['activity_calls_expected']}  executions: {f['activity_executions']} "
            f"(completed {f['activity_executions_completed']})",
            f"  duplicate executions: {f['duplicate_executions']}  explained by kills: {f['duplicates_explained_by_kills']} "
            f"(killed in flight {f['duplicates_killed_in_flight']}, killed after end before commit "
            f"{f['duplicates_killed_after_end_before_commit']})  unexplained: {f['duplicates_unexplained']}",
            f"  kills that caught activities in flight: {f['kills_with_activities_in_flight']}/{f['kills']} "
            f"({f['activities_in_flight_at_kills']} activities)",
        ]
    lines.append(
        f"  elapsed: {f['elapsed_s']}s  (final worker: {f['final_phase_s']}s, longest stall "
        f"{f['final_phase_longest_stall_s']}s)  workdir: {report['workdir']}"
    )
    if report["ok"]:
        lines.append("  result: OK (no violations)")
    else:
        lines.append(f"  result: FAILED, {len(report['violations'])} violation(s):")
        for v in report["violations"]:
            lines.append("    - " + v.replace("\n", "\n      "))
    return "\n".join(lines)


def run(config: Config) -> Dict[str, Any]:
    """Runs the crash loop; returns the report (``report["ok"]``, ``["violations"]``, ``["figures"]``)."""
    return Harness(config).run()


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--provider", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=None, help="RNG seed of the kill times (default: random, printed)")
    p.add_argument("--instances", type=int, default=50)
    p.add_argument("--min-sleep", type=float, default=0.2, help="shortest life of a worker before its SIGKILL (s)")
    p.add_argument("--max-sleep", type=float, default=1.5, help="longest life of a worker before its SIGKILL (s)")
    p.add_argument("--spread", type=float, default=None,
                   help="spread the instances' start timers over this many seconds (default: the kill loop's expected length)")
    p.add_argument("--deadline", type=float, default=300.0, help="time the final worker has to finish everything (s)")
    p.add_argument("--workdir", default=None, help="where the store, ledger and worker logs go (default: a new temp dir)")
    p.add_argument("--database-url", default=None, help="PostgreSQL URL (default: $DATABASE_URL, else localhost)")
    p.add_argument("--keep-store", action="store_true", help="do not drop the PostgreSQL schema at the end")
    p.add_argument("--json", dest="json_path", default=None, help="write the report as JSON to this file")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.kills < 0 or args.min_sleep < 0 or args.max_sleep < args.min_sleep:
        p.error("need kills >= 0 and 0 <= min-sleep <= max-sleep")
    try:
        report = run(Config(**vars(args)))
    except ValueError as exc:
        p.error(str(exc))
    print(format_summary(report), flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
