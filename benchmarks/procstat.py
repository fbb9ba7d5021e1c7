"""CPU time of processes read from /proc (Linux), for the benchmarks' per-unit CPU figures.

Standard library only: bench.py imports it when it runs on the original SDK's venv too.
"""

from __future__ import annotations

import os

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (every thread), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_cpu() -> float:
    """CPU used so far by every process named postgres (a local server's backends).

    Counts the whole machine's PostgreSQL, so the figure means something only on a server
    nothing else is using; processes that ended meanwhile are not counted.
    """
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "postgres":
                        total += cpu_seconds(int(entry))
            except OSError:
                continue
    return total
