"""What the determinism checks cost: chain-400, fan-out-500, throughput and latency with
``determinism_checks="sampled"`` (the default) against ``"off"``, in alternating runs.

    python benchmarks/checks_overhead.py [--runs 5] [--provider sqlite|postgres] [--json out.json]

Each run is a fresh ``bench.py`` process (so neither setting warms the other's caches);
the table shows medians and the ratio sampled/off. Use a release build
(``maturin develop --release``): debug builds spend their time elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = {"chain-400": "ms_per_step", "fanout": "activities_per_s", "throughput": "orchestrations_per_s", "latency": "median_ms"}


def one_run(checks: str, provider: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    try:
        cmd = [sys.executable, os.path.join(HERE, "bench.py"), "--provider", provider,
               "--only", ",".join(METRICS), "--determinism-checks", checks, "--json", path]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(path) as f:
            return json.load(f)[provider]
    finally:
        os.unlink(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--provider", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--json", help="write every run here")
    args = parser.parse_args()
    runs = {"sampled": [], "off": []}
    for n in range(args.runs):
        for checks in (("sampled", "off") if n % 2 == 0 else ("off", "sampled")):
            runs[checks].append(one_run(checks, args.provider))
            print(f"\rround {n + 1}/{args.runs}: {checks} done ", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"{args.provider}, medians of {args.runs} alternating runs")
    print(f"{'scenario':11} {'metric':17} {'sampled':>9} {'off':>9} {'ratio':>7} {'check steps':>12}")
    for scenario, metric in METRICS.items():
        med = {k: statistics.median(r[scenario][metric] for r in v) for k, v in runs.items()}
        steps = statistics.median(r[scenario]["check_steps"] for r in runs["sampled"])
        ratio = med["sampled"] / med["off"]
        print(f"{scenario:11} {metric:17} {med['sampled']:9.2f} {med['off']:9.2f} {ratio:7.3f} {steps:12.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
