"""Draws the scale curves of docs/performance.md from the benchmarks' JSON files.

    pip install matplotlib   # for this script only
    python benchmarks/plot_scale.py --chains chains.json --burst burst-sqlite.json burst-pg.json \
        --workers workers.json --out docs/images

``--chains``: compare.py --json output run with ``--chains 100,200,400,800`` (ours,
native and, with --with-original, the original). ``--burst``: burst.py --json files.
``--workers``: workers.py --json output. Writes scale-chains.png, scale-burst.png and
scale-workers.png into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List


def plot_chains(data: Dict[str, Any], out: Path, plt: Any) -> None:
    fig, axes = plt.subplots(1, len(data["ours"]), figsize=(5.5 * len(data["ours"]), 4), squeeze=False)
    for ax, kind in zip(axes[0], data["ours"]):
        for name, series in data.items():
            if name == "failed_runs":
                continue
            points = sorted(
                (int(s.split("-")[1]), m["ms_per_step"]) for s, m in series.get(kind, {}).items() if s.startswith("chain-")
            )
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ax.set_title(f"chain: time per step ({kind})")
        ax.set_xlabel("activities in the chain")
        ax.set_ylabel("ms per step")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "scale-chains.png", dpi=110)


def plot_burst(runs: List[Dict[str, Any]], out: Path, plt: Any) -> None:
    fig, (done_ax, rss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        for kind, r in run.items():
            t = [s[0] for s in r["samples"]]
            done_ax.plot(t, [s[2] for s in r["samples"]],
                         label=f"{kind}: {r['sustained_rate_per_s']}/s, p99 {r['latency_ms']['p99'] / 1000:.1f} s")
            rss_ax.plot(t, [s[1] for s in r["samples"]], label=kind)
    done_ax.set_title(f"burst of {runs[0][next(iter(runs[0]))]['count']:,} orchestrations: completed")
    done_ax.set_xlabel("seconds")
    done_ax.set_ylabel("completed")
    rss_ax.set_title("resident memory")
    rss_ax.set_xlabel("seconds")
    rss_ax.set_ylabel("RSS (MB)")
    rss_ax.set_ylim(bottom=0)
    for ax in (done_ax, rss_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "scale-burst.png", dpi=110)


def plot_workers(rows: List[Dict[str, Any]], out: Path, plt: Any) -> None:
    fig, (rate_ax, cpu_ax) = plt.subplots(1, 2, figsize=(11, 4))
    n = [r["workers"] for r in rows]
    rate_ax.plot(n, [r["rate_per_s"] for r in rows], marker="o")
    rate_ax.set_title("PostgreSQL: rate by worker processes (2 cores)")
    rate_ax.set_xlabel("worker processes")
    rate_ax.set_ylabel("orchestrations per second")
    rate_ax.set_ylim(bottom=0)
    cpu_ax.plot(n, [r["worker_cpu_ms_per_orchestration"] for r in rows], marker="o", label="workers")
    cpu_ax.plot(n, [r["postgres_cpu_ms_per_orchestration"] for r in rows], marker="o", label="PostgreSQL server")
    cpu_ax.set_title("CPU per orchestration")
    cpu_ax.set_xlabel("worker processes")
    cpu_ax.set_ylabel("CPU ms")
    cpu_ax.set_ylim(bottom=0)
    for ax in (rate_ax, cpu_ax):
        ax.set_xticks(n)
        ax.grid(alpha=0.3)
    cpu_ax.legend()
    fig.tight_layout()
    fig.savefig(out / "scale-workers.png", dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", type=Path)
    parser.add_argument("--burst", type=Path, nargs="*", default=[])
    parser.add_argument("--workers", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_scale: needs matplotlib (pip install matplotlib)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        if args.chains:
            plot_chains(json.loads(args.chains.read_text()), args.out, plt)
        if args.burst:
            plot_burst([json.loads(p.read_text()) for p in args.burst], args.out, plt)
        if args.workers:
            plot_workers(json.loads(args.workers.read_text()), args.out, plt)
    except (OSError, ValueError, KeyError) as exc:
        print(f"plot_scale: cannot plot: {exc!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
