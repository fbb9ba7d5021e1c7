"""SQLite under write contention: the throughput (300 x 1 activity) and fan-out (1 x 500)
scenarios, N runs each on a fresh SQLite file, counting failed orchestrations and the
core's `database is locked` warnings -- for the SDK (after) and for the same scenarios
driven from Rust on the stock provider (benchmarks/native: before).

    python benchmarks/sqlite_contention.py [--runs 20] [--json FILE]

Needs the package installed (a release build for realistic timing) and, for the "before"
column, `cargo build --release -p duroxide-native-bench`. Each run is its own process, so
every run starts with a fresh database and runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "target" / "release" / "native-bench"
LOCKED = re.compile(r"database is (locked|deadlocked)|Database locked", re.IGNORECASE)
SCENARIOS = "throughput,fanout"


def run_once(cmd: list) -> dict:
    """One process: its JSON figures, lock warnings, and whether it failed."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"contention-{os.getpid()}.json"
    env = dict(os.environ, RUST_LOG="warn")
    proc = subprocess.run([*cmd, "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    lines = proc.stderr.splitlines()
    warnings = sum(1 for line in lines if LOCKED.search(line) and "FAILED ORCHESTRATION" not in line)
    # bench.py exits nonzero on a failed orchestration; the native program reports each.
    failed = sum(1 for line in lines if line.startswith("FAILED ORCHESTRATION"))
    figures = json.loads(out.read_text()) if proc.returncode == 0 and out.exists() else None
    out.unlink(missing_ok=True)
    ok = proc.returncode == 0 and failed == 0
    return {"ok": ok, "failed": failed, "lock_warnings": warnings, "figures": figures, "tail": proc.stderr[-2000:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--skip-native", action="store_true", help="only the SDK")
    args = parser.parse_args()
    programs = {"ours": [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--only", SCENARIOS]}
    if not args.skip_native:
        if not NATIVE.exists():
            subprocess.run(["cargo", "build", "--release", "-q", "-p", "duroxide-native-bench"], cwd=ROOT, check=True)
        programs["native"] = [str(NATIVE), "--only", SCENARIOS]
    report = {}
    for name, cmd in programs.items():
        runs = []
        for i in range(args.runs):
            result = run_once(cmd)
            runs.append(result)
            status = "ok" if result["ok"] else "FAILED"
            print(f"{name:6} run {i + 1:2}/{args.runs}: {status}, lock warnings {result['lock_warnings']}", flush=True)
            if not result["ok"]:
                print(result["tail"], file=sys.stderr)
        report[name] = {
            "runs": len(runs),
            "failed_runs": sum(not r["ok"] for r in runs),
            "failed_orchestrations": sum(r["failed"] for r in runs),
            "lock_warnings": sum(r["lock_warnings"] for r in runs),
            "figures": [r["figures"] for r in runs],
        }
    print(f"\n{'program':8} {'runs':>5} {'failed runs':>12} {'failed orch.':>13} {'lock warnings':>14}")
    for name, r in report.items():
        print(f"{name:8} {r['runs']:5} {r['failed_runs']:12} {r['failed_orchestrations']:13} {r['lock_warnings']:14}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0 if report["ours"]["failed_runs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
