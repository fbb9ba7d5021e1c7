"""Runs the Python benchmark and the native-Rust one in one go and prints ours / native / ratio.

    python benchmarks/compare.py [--provider sqlite|postgres|both] [--quick] [--runs N] [--json FILE]

Needs a release build of the package in the running interpreter (`maturin develop
--release` or `pip install .`); it builds the native program with `cargo build --release`.
With --runs N each program runs N times and the median of each figure is reported.

The ratio is ours / native. For times (latency, ms per step) lower is better; for rates
(orchestrations or activities per second) higher is better.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADLINE = {
    "latency": "median_ms",
    "throughput": "orchestrations_per_s",
    "fanout": "activities_per_s",
    "timers": "orchestrations_per_s",
}


def run(cmd: list, runs: int) -> dict:
    """Median of each figure over `runs` runs of a program that writes --json."""
    collected: list = []
    for _ in range(runs):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run([*cmd, "--json", out.name], check=True, cwd=ROOT, stdout=sys.stderr)
            collected.append(json.loads(Path(out.name).read_text()))
    merged: dict = {}
    for kind in collected[0]:
        for scenario, metrics in collected[0][kind].items():
            for key in metrics:
                values = [c[kind][scenario][key] for c in collected]
                merged.setdefault(kind, {}).setdefault(scenario, {})[key] = statistics.median(values)
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", help="write {ours, native} here")
    args = parser.parse_args()
    flags = ["--provider", args.provider] + (["--quick"] if args.quick else [])
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "duroxide-native-bench"], check=True, cwd=ROOT)
    native = run([str(ROOT / "target/release/native-bench"), *flags], args.runs)
    ours = run([sys.executable, str(ROOT / "benchmarks/bench.py"), *flags], args.runs)
    print(f"{'provider':9} {'scenario':11} {'figure':22} {'ours':>10} {'native':>10} {'ratio':>7}")
    for kind, scenarios in ours.items():
        for scenario, metrics in scenarios.items():
            key = HEADLINE.get(scenario, "ms_per_step")
            mine, floor = metrics[key], native[kind][scenario][key]
            print(f"{kind:9} {scenario:11} {key:22} {mine:10.2f} {floor:10.2f} {mine / floor:7.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"ours": ours, "native": native}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
