"""Runs the Python benchmark, the native-Rust one and (optionally) the original SDK in one
go, alternating them round by round, and prints the medians side by side.

    python benchmarks/compare.py [--provider sqlite|postgres|both] [--quick] [--runs N]
                                 [--only a,b] [--with-original] [--no-native] [--json FILE]
                                 [--orchestration-concurrency N] [--worker-concurrency N]

Needs a release build of the package in the running interpreter (`maturin develop
--release` or `pip install .`); it builds the native program with `cargo build --release`.
``--with-original`` installs the original PyO3 SDK (``duroxide==0.2.2`` from the package
index, ``--original-version``) into its own virtual environment under
``~/.cache/duroxide-bench/`` (made once) and runs the same ``benchmarks/bench.py`` with it.
Each of the N rounds runs every program once, in turn, so a slow spell of the machine
hits all of them; the median of each figure over the rounds is reported.

Each program runs with its own default concurrency unless the two concurrency flags say
otherwise (the native program takes ours: 4 orchestration turns, 2 activities at once; the
original's default, the core's, is 2 and 2). Ratios are ours / peer. For times (latency,
ms per step) lower is better; for rates (orchestrations or activities per second) higher
is better. ``cpu_ms`` is the process
CPU time (every thread) per orchestration (per activity for fan-out, per step for chains).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "duroxide-bench"
HEADLINE = {
    "latency": "median_ms",
    "throughput": "orchestrations_per_s",
    "fanout": "activities_per_s",
    "timers": "orchestrations_per_s",
}
Results = Dict[str, Dict[str, Dict[str, float]]]


def original_python(version: str) -> str:
    """The interpreter of a venv holding the original SDK at ``version`` (made once)."""
    venv = CACHE / f"original-{version}"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"installing the original SDK (duroxide=={version}) into {venv} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        f"duroxide=={version}"], check=True)
    return str(python)


def run_once(cmd: List[str]) -> Optional[Results]:
    """One run's figures, or None when the program failed (its error is on stderr)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        if subprocess.run([*cmd, "--json", out.name], cwd=ROOT, stdout=sys.stderr).returncode != 0:
            return None
        return json.loads(Path(out.name).read_text())


def median_of(collected: List[Results]) -> Results:
    merged: Results = {}
    for kind, scenarios in collected[0].items():
        for scenario, metrics in scenarios.items():
            for key in metrics:
                values = [c[kind][scenario][key] for c in collected if key in c.get(kind, {}).get(scenario, {})]
                merged.setdefault(kind, {}).setdefault(scenario, {})[key] = statistics.median(values)
    return merged


def alternate(programs: Dict[str, List[str]], rounds: int) -> Tuple[Dict[str, Results], Dict[str, int]]:
    """Every program once per round, in turn: the medians over the rounds each program
    completed, and how many rounds each failed (a failed run -- an orchestration that did
    not complete -- is reported, not hidden)."""
    collected: Dict[str, List[Results]] = {name: [] for name in programs}
    failed: Dict[str, int] = {name: 0 for name in programs}
    began = time.monotonic()
    total = rounds * len(programs)
    for r in range(rounds):
        for i, (name, cmd) in enumerate(programs.items()):
            print(f"[{r * len(programs) + i + 1}/{total}] round {r + 1}/{rounds}: {name} "
                  f"({time.monotonic() - began:.0f} s elapsed)", file=sys.stderr, flush=True)
            result = run_once(cmd)
            if result is None:
                failed[name] += 1
                print(f"  {name} failed in round {r + 1} (see its error above)", file=sys.stderr, flush=True)
            else:
                collected[name].append(result)
    return {name: median_of(runs) for name, runs in collected.items() if runs}, failed


def print_table(medians: Dict[str, Results]) -> None:
    peers = [name for name in medians if name != "ours"]
    head = f"{'provider':9} {'scenario':11} {'figure':21} {'ours':>9}"
    head += "".join(f" {p:>9}" for p in peers) + "".join(f" {'/' + p:>9}" for p in peers)
    print(head + f" {'cpu_ms':>8}" + "".join(f" {p[:3] + ' cpu':>8}" for p in peers if p != "native")
          + f" {'srv cpu':>8}" + "".join(f" {p[:3] + ' srv':>8}" for p in peers if p != "native"))
    for kind, scenarios in medians["ours"].items():
        for scenario, metrics in scenarios.items():
            key = HEADLINE.get(scenario, "ms_per_step")
            theirs = [medians[p].get(kind, {}).get(scenario, {}).get(key) for p in peers]
            line = f"{kind:9} {scenario:11} {key:21} {metrics[key]:9.2f}"
            line += "".join(f" {v:9.2f}" if v else f" {'-':>9}" for v in theirs)
            line += "".join(f" {metrics[key] / v:9.2f}" if v else f" {'-':>9}" for v in theirs)
            line += f" {metrics.get('cpu_ms', 0):8.2f}"
            for p in peers:
                if p != "native":
                    line += f" {medians[p].get(kind, {}).get(scenario, {}).get('cpu_ms', 0):8.2f}"
            # The PostgreSQL server's CPU per unit (bench.py measures it; native does not).
            line += f" {metrics.get('server_cpu_ms', 0):8.2f}"
            for p in peers:
                if p != "native":
                    line += f" {medians[p].get(kind, {}).get(scenario, {}).get('server_cpu_ms', 0):8.2f}"
            print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=1, help="rounds (each runs every program once)")
    parser.add_argument("--only", help="comma-separated scenarios (e.g. throughput,fanout)")
    parser.add_argument("--chains", help="comma-separated chain lengths (default 100,200,400)")
    parser.add_argument("--with-original", action="store_true", help="also run the original SDK (duroxide on PyPI)")
    parser.add_argument("--original-version", default="0.2.2")
    parser.add_argument("--no-native", action="store_true", help="skip the native-Rust program")
    parser.add_argument("--json", help="write {ours, native, original} medians here")
    parser.add_argument("--orchestration-concurrency", type=int, metavar="N",
                        help="for every program (default: each one's own; native: ours')")
    parser.add_argument("--worker-concurrency", type=int, metavar="N", help="likewise")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    flags = ["--provider", args.provider] + (["--quick"] if args.quick else [])
    for option in ("orchestration_concurrency", "worker_concurrency"):
        value = getattr(args, option)
        if value is not None:
            if value < 1:
                parser.error(f"--{option.replace('_', '-')} must be at least 1")
            flags += [f"--{option.replace('_', '-')}", str(value)]
    flags += ["--only", args.only] if args.only else []
    flags += ["--chains", args.chains] if args.chains else []
    bench = str(ROOT / "benchmarks/bench.py")
    programs: Dict[str, List[str]] = {"ours": [sys.executable, bench, *flags]}
    if not args.no_native:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "duroxide-native-bench"], check=True, cwd=ROOT)
        programs["native"] = [str(ROOT / "target/release/native-bench"), *flags]
    if args.with_original:
        try:
            programs["original"] = [original_python(args.original_version), bench, *flags]
        except subprocess.CalledProcessError as exc:
            print(f"compare: could not install duroxide=={args.original_version}: {exc}", file=sys.stderr)
            return 2
    medians, failed = alternate(programs, args.runs)
    if "ours" not in medians:
        print("compare: every run of ours failed", file=sys.stderr)
        return 1
    print_table(medians)
    for name, count in failed.items():
        if count:
            print(f"{name}: {count} of {args.runs} runs failed (not in the medians)")
    if args.json:
        Path(args.json).write_text(json.dumps({**medians, "failed_runs": failed}, indent=2))
    return 1 if failed["ours"] else 0


if __name__ == "__main__":
    sys.exit(main())
