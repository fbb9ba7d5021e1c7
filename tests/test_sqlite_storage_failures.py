"""SQLite storage failures: the disk fills, the file system turns read-only, the file is
corrupted. Each gives a clear Python exception or a logged, retried error -- never a
crash, a hang, an instance failed by the storage condition, or a start the client was
told was stored and then lost -- and once the condition is fixed the runtime resumes by
itself with every committed step.

The disk and read-only tests put the database on a small tmpfs they mount (root only; CI
runs as root, and a run elsewhere without root skips with the reason). A database file
deleted under a running runtime stops it with a clear error until a copy is restored.
"""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from duroxide import Client, ProviderError, Runtime, RuntimeOptions, SqliteProvider

PAYLOAD = 200_000  # each activity result, so a few MB fill the disk


def _mount_allowed() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs: (its directory, resize(size), read_only(on))."""
    if not _mount_allowed():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("these tests mount a tmpfs and need root under CI", pytrace=False)
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], check=True)

    def remount(option: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{option}", str(disk)], check=True)

    try:
        yield disk, remount
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def running(path) -> Tuple[Runtime, Client]:
    """A started runtime with "Fill" (one big activity) on the SQLite file ``path``, and a
    client of the same provider."""
    provider = SqliteProvider.open(str(path))
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10, log_level="error"))
    runtime.register_activity("Big", lambda ctx, n: "x" * PAYLOAD)

    def fill(ctx, n):
        first = yield ctx.schedule_activity("Big", n)
        return len(first) + n

    runtime.register_orchestration("Fill", fill)
    runtime.start()
    return runtime, Client(provider)


def start_until_refused(client: Client, prefix: str, limit: int = 60) -> List[str]:
    """Starts instances until the store refuses one (it must say so at once)."""
    started: List[str] = []
    for n in range(limit):
        iid = f"{prefix}-{n}"
        began = time.monotonic()
        try:
            client.start_orchestration(iid, "Fill", n)
        except ProviderError as e:
            assert time.monotonic() - began < 5, f"a refused start took {time.monotonic() - began:.1f} s"
            assert "storage failure" in str(e) or "disk is full" in str(e) or "readonly" in str(e), str(e)
            return started
        started.append(iid)
        time.sleep(0.05)
    return started


def wait_all_completed(client: Client, ids: List[str], timeout_s: float = 60) -> Dict[str, str]:
    """Status of every id once all are Completed (reads may fail while the store recovers)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            states = {iid: client.get_status(iid) for iid in ids}
        except ProviderError:
            states = None
        if states is not None and all(s.status == "Completed" for s in states.values()):
            for n, iid in enumerate(ids):
                assert states[iid].output == PAYLOAD + int(iid.rsplit("-", 1)[1]), iid
            return {iid: s.status for iid, s in states.items()}
        if time.monotonic() > deadline:
            summary = {iid: (s.status, s.error) for iid, s in (states or {}).items() if s.status != "Completed"}
            raise AssertionError(f"not all completed after the fix: {summary or 'reads still failing'}")
        time.sleep(0.2)


def test_a_full_disk_refuses_work_clearly_and_everything_accepted_completes_after(small_disk):
    disk, remount = small_disk
    runtime, client = running(disk / "app.db")
    try:
        started = start_until_refused(client, "full")
        assert started, "the disk filled before any start"
        time.sleep(2)  # the runtime meets the full disk over and over meanwhile
        assert runtime.is_running
        remount("size=64m")
        wait_all_completed(client, started)
        client.start_orchestration("after-0", "Fill", 0)  # and new work goes through
        wait_all_completed(client, ["after-0"])
    finally:
        runtime.shutdown(2000)


def test_a_read_only_file_system_is_refused_at_once_and_queued_work_runs_when_writable(small_disk):
    disk, remount = small_disk
    remount("size=64m")
    provider = SqliteProvider.open(str(disk / "app.db"))
    client = Client(provider)
    queued = [f"ro-{n}" for n in range(4)]
    for n, iid in enumerate(queued):
        client.start_orchestration(iid, "Fill", n)  # stored; no runtime runs yet
    client.close()
    del client, provider
    gc.collect()  # the files are closed: the file system can turn read-only
    remount("ro")
    began = time.monotonic()
    with pytest.raises(ProviderError, match="Read-only file system"):
        SqliteProvider.open(str(disk / "app.db"))
    assert time.monotonic() - began < 2  # not the pool's 15 s of retrying
    remount("rw")
    runtime, client = running(disk / "app.db")
    try:
        wait_all_completed(client, queued)
    finally:
        runtime.shutdown(2000)


def open_files_under(directory: Path) -> List[str]:
    """The files under ``directory`` this process has open (its SQLite connections)."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.startswith(f"{directory}/"):
            names.append(target)
    return names


def wait_all_closed(directory: Path) -> None:
    """Waits (up to 10 s) until no connection has a file under ``directory`` open: sqlx
    closes each SQLite connection on its own thread, after its pool is dropped."""
    deadline = time.monotonic() + 10
    while open_files_under(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not open_files_under(directory)


def take_backup(path: Path, backup: Path) -> None:
    """A consistent copy of the live database at ``path``, as a backup job would take
    (``closing()``: a sqlite3 connection's own ``with`` commits but leaves it open)."""
    with closing(sqlite3.connect(str(path))) as live, closing(sqlite3.connect(str(backup))) as copy:
        live.backup(copy)


def restore(backup: Path, path: Path) -> None:
    """Puts ``backup`` back at ``path`` as an operator would: the file, without the WAL and
    shared-memory files of the database it replaces."""
    shutil.copy(backup, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_corrupted_file_is_refused_with_a_clear_error_and_a_restored_copy_works(tmp_path):
    path = tmp_path / "app.db"
    runtime, client = running(path)
    client.start_orchestration("kept-0", "Fill", 0)
    wait_all_completed(client, ["kept-0"])
    backup = tmp_path / "backup.db"
    take_backup(path, backup)
    runtime.shutdown(2000)
    client.close()
    del runtime, client
    gc.collect()
    wait_all_closed(tmp_path)
    restore(backup, path)
    with open(path, "r+b") as f:  # a page of data overwritten: reads of it fail clearly
        f.seek(4096)
        f.write(os.urandom(4096))
    try:
        Client(SqliteProvider.open(str(path))).get_status("kept-0")
    except ProviderError as e:
        assert "malformed" in str(e) or "not a database" in str(e), str(e)
    gc.collect()
    wait_all_closed(tmp_path)
    with open(path, "r+b") as f:  # and the header
        f.write(b"not a database, not at all!!")
    began = time.monotonic()
    with pytest.raises(ProviderError, match="the file is not a database"):
        SqliteProvider.open(str(path))
    assert time.monotonic() - began < 2
    gc.collect()
    wait_all_closed(tmp_path)
    restore(backup, path)
    restored = Client(SqliteProvider.open(str(path))).get_status("kept-0")
    assert (restored.status, restored.output) == ("Completed", PAYLOAD)


def test_a_database_file_deleted_under_a_running_runtime_stops_it_clearly_until_restored(tmp_path):
    path = tmp_path / "app.db"
    runtime, client = running(path)
    try:
        kept = [f"kept-{n}" for n in range(3)]
        for n, iid in enumerate(kept):
            client.start_orchestration(iid, "Fill", n)
        wait_all_completed(client, kept)
        backup = tmp_path / "backup.db"
        take_backup(path, backup)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        deadline = time.monotonic() + 5
        while True:  # noticed within half a second, then every call says so
            try:
                client.start_orchestration("lost-0", "Fill", 0)
            except ProviderError as e:
                assert "deleted while in use" in str(e), str(e)
                break
            assert time.monotonic() < deadline, "the deleted file was never noticed"
            time.sleep(0.1)
        assert not path.exists()  # and no empty database took its place
        assert runtime.is_running
        shutil.copy(backup, path)  # restored
        deadline = time.monotonic() + 30
        while True:
            try:
                client.start_orchestration("after-0", "Fill", 0)
                break
            except ProviderError:
                assert time.monotonic() < deadline, "the restored file was never opened"
                time.sleep(0.2)
        wait_all_completed(client, kept + ["after-0"])
    finally:
        runtime.shutdown(2000)
