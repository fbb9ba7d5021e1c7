"""What observability costs: bench.py scenarios with observability off, instrumented
(OpenTelemetry SDK, spans dropped by the exporter), and serving Prometheus, in fresh
processes alternating round by round; optionally against the Python layer of an earlier
revision (before the hooks existed) on the same native build.

    python benchmarks/observability_overhead.py [--provider sqlite|postgres] [--rounds 3]
                                                [--baseline REV] [--only throughput,fanout]

Needs a release build in the running interpreter (`maturin develop --release`). Prints
the median of each figure per mode and its ratio to "off".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {"latency": "median_ms", "throughput": "orchestrations_per_s", "fanout": "activities_per_s",
           "chain-200": "ms_per_step"}


def baseline_tree(rev: str) -> Path:
    """The package's Python layer at ``rev``, with this build's generated module."""
    target = Path(tempfile.mkdtemp(prefix="duroxide-baseline-"))
    archive = subprocess.run(["git", "archive", rev, "python/duroxide"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(target)
    shutil.copytree(ROOT / "python/duroxide/_ffi", target / "python/duroxide/_ffi")
    return target / "python"


def run(mode: str, provider: str, only: str, baseline: Path | None) -> Dict[str, Dict[str, float]]:
    env = dict(os.environ)
    observe = mode
    if mode == "baseline":
        env["PYTHONPATH"] = str(baseline)
        observe = "none"
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, str(ROOT / "benchmarks/bench.py"), "--provider", provider, "--only", only,
                        "--observe", observe, "--json", out.name], check=True, env=env, stdout=subprocess.DEVNULL)
        return json.loads(Path(out.name).read_text())[provider]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="a git revision whose Python layer is measured too")
    parser.add_argument("--only", default=",".join(FIGURES))
    args = parser.parse_args()
    modes = (["baseline"] if args.baseline else []) + ["off", "otel", "prometheus"]
    baseline = baseline_tree(args.baseline) if args.baseline else None
    results: Dict[str, List[Dict[str, Dict[str, float]]]] = {m: [] for m in modes}
    for round_ in range(args.rounds):
        order = modes if round_ % 2 == 0 else list(reversed(modes))
        for mode in order:
            print(f"round {round_ + 1}/{args.rounds}: {mode}", file=sys.stderr, flush=True)
            results[mode].append(run("none" if mode == "off" else mode, args.provider, args.only, baseline))
    print(f"{'scenario':11} {'figure':22} " + " ".join(f"{m:>12}" for m in modes))
    for scenario in args.only.split(","):
        figure = FIGURES[scenario]
        medians = {m: statistics.median(r[scenario][figure] for r in results[m]) for m in modes}
        cells = " ".join(f"{medians[m]:>8.2f} ({medians[m] / medians['off']:.2f})" for m in modes)
        print(f"{scenario:11} {figure:22} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
