"""A private PostgreSQL server for the chaos run: its own data directory and port, so the
run can crash and restart it without touching the server the rest of the suite uses.

    server = PrivateServer.create(port=0)   # initdb + start; port 0: a free one
    server.url                               # postgresql://postgres@127.0.0.1:PORT/postgres
    window = server.restart(down_s=2.0)      # "immediate" stop (a crash), then start again
    server.destroy()

Uses the machine's PostgreSQL binaries (``pg_config --bindir``, else the newest
/usr/lib/postgresql/*/bin). As root it runs them as the ``postgres`` user (initdb refuses
root). fsync is off: a stopped server's writes are already in the OS page cache, so an
"immediate" stop loses nothing committed -- synchronous_commit stays on, so a commit
reported to a client is in the WAL the restart replays.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import List, Tuple


class ServerUnavailable(RuntimeError):
    """No PostgreSQL binaries (initdb, pg_ctl) on this machine, or they failed."""


def find_bindir() -> str:
    """The directory holding initdb and pg_ctl."""
    candidates: List[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2].split(".")[0]))
    candidates += reversed(versions)
    for bindir in candidates:
        if os.access(os.path.join(bindir, "initdb"), os.X_OK) and os.access(os.path.join(bindir, "pg_ctl"), os.X_OK):
            return bindir
    raise ServerUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) found; install Debian's postgresql package"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateServer:
    def __init__(self, bindir: str, datadir: str, port: int) -> None:
        self.bindir, self.datadir, self.port = bindir, datadir, port
        self.logfile = os.path.join(datadir, "server.log")
        self.restarts: List[Tuple[float, float]] = []  # (stopped at, ready at), Unix seconds

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls, port: int = 0) -> "PrivateServer":
        """initdb a new cluster in a temporary directory and start it on ``port``."""
        bindir = find_bindir()
        root = tempfile.mkdtemp(prefix="duroxide-chaos-pg-")
        os.chmod(root, 0o755)
        datadir = os.path.join(root, "data")
        os.mkdir(datadir, 0o700)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
            shutil.chown(datadir, "postgres", "postgres")
        server = cls(bindir, datadir, port or free_port())
        server._run("initdb", "-D", datadir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        server.start()
        return server

    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        cmd = [os.path.join(self.bindir, tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if res.returncode != 0:
            raise ServerUnavailable(f"{tool} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")

    def start(self) -> None:
        options = " ".join([
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.datadir}",
            "-c fsync=off",
            "-c max_connections=300",
            "-c shared_buffers=64MB",
        ])
        self._run("pg_ctl", "-D", self.datadir, "-l", self.logfile, "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.datadir, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, down_s: float = 2.0) -> Tuple[float, float]:
        """Crash the server (``pg_ctl stop -m immediate``: every backend killed, no
        checkpoint), keep it down ``down_s`` seconds, start it again (crash recovery).
        Returns (stopped at, ready at) in Unix seconds."""
        stopped = time.time()
        self.stop("immediate")
        time.sleep(down_s)
        self.start()
        window = (stopped, time.time())
        self.restarts.append(window)
        return window

    def destroy(self) -> None:
        """Stop the server (if running) and delete its directory."""
        try:
            self.stop("immediate")
        except (ServerUnavailable, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(os.path.dirname(self.datadir), ignore_errors=True)

    def log_tail(self, limit: int = 3000) -> str:
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                return f.read()[-limit:]
        except OSError as exc:
            return f"(no server log: {exc})"

