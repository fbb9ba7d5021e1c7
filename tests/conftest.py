"""Shared fixtures for the duroxide end-to-end suite.

Every end-to-end test runs twice: once on a SQLite *file* (in the test's
``tmp_path``) and once on PostgreSQL (one schema per test module, dropped at the
end of the module).  Tests ask for ``provider`` / ``client`` / ``make_runtime``
and never build storage themselves, so the parametrisation reaches them all.

PostgreSQL URL: ``$DATABASE_URL``, else ``postgresql://postgres@127.0.0.1:5432/postgres``
when something listens on 127.0.0.1:5432.  When PostgreSQL is unavailable the
postgres half is skipped -- except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional

import pytest

from duroxide import Client, PostgresProvider, Runtime, RuntimeOptions, SqliteProvider

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TERMINAL_STATUSES = ("Completed", "Failed")


# --------------------------------------------------------------------------- postgres


def _tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def postgres_url() -> Optional[str]:
    """The PostgreSQL URL to test against, or None when none is reachable."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    if _tcp_open("127.0.0.1", 5432):
        return DEFAULT_PG_URL
    return None


def _postgres_unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def run_psql(url: str, sql: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    psql = shutil.which("psql")
    if psql is None:
        raise RuntimeError("psql is not installed")
    return subprocess.run(
        [psql, url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def psql_value(url: str, sql: str) -> str:
    """The single value a query returns (unaligned, tuples only)."""
    psql = shutil.which("psql")
    if psql is None:
        raise RuntimeError("psql is not installed")
    res = subprocess.run([psql, url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(f"psql failed: {res.stderr}")
    return res.stdout.strip()


def drop_schema(url: str, schema: str) -> None:
    res = run_psql(url, f"SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")
    if res.returncode != 0:
        sys.stderr.write(f"warning: could not drop schema {schema}: {res.stderr}\n")


@dataclass
class PgModuleStore:
    url: str
    schema: str
    provider: Any = None


def require_postgres_url() -> str:
    """The PostgreSQL URL to test against; skips the test when none is reachable (fails
    under CI)."""
    url = postgres_url()
    if url is None:
        _postgres_unavailable("DATABASE_URL is not set and nothing listens on 127.0.0.1:5432")
    return url


def _schema_for(request) -> str:
    """A schema name of its own for the requesting test module."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    if module.startswith("test_"):
        module = module[len("test_"):]
    return f"test_{module}_{secrets.token_hex(4)}".lower()[:63]


@pytest.fixture
def fresh_pg_schema(request):
    """(url, schema): a PostgreSQL schema for one test, its tables created before the
    test (so processes it starts need not race to), dropped after."""
    url = require_postgres_url()
    schema = _schema_for(request)
    PostgresProvider.connect_with_schema(url, schema)
    yield url, schema
    drop_schema(url, schema)


@pytest.fixture(scope="module")
def _pg_module_store(request):
    """One PostgreSQL schema (and one provider, so one pool) per test module."""
    url = require_postgres_url()
    schema = _schema_for(request)
    # A server was found (or named by DATABASE_URL): failing to connect to it is a
    # test failure, not a reason to skip.
    provider = PostgresProvider.connect_with_schema(url, schema)
    store = PgModuleStore(url=url, schema=schema, provider=provider)
    yield store
    store.provider = None
    provider = None
    drop_schema(url, schema)


# --------------------------------------------------------------------------- providers


@dataclass
class ProviderHandle:
    """The storage a test runs on."""

    kind: str  # "sqlite" | "postgres"
    provider: Any
    sqlite_path: Optional[str] = None
    pg_url: Optional[str] = None
    pg_schema: Optional[str] = None

    def reopen(self):
        """A new provider object on the same storage."""
        if self.kind == "sqlite":
            return SqliteProvider.open(self.sqlite_path)
        return PostgresProvider.connect_with_schema(self.pg_url, self.pg_schema)

    def spec(self) -> dict:
        """A description a subprocess can rebuild the storage from (see `open_from_spec`)."""
        if self.kind == "sqlite":
            return {"kind": "sqlite", "path": self.sqlite_path}
        return {"kind": "postgres", "url": self.pg_url, "schema": self.pg_schema}


# Source text of the helper a subprocess script uses to rebuild the provider.
OPEN_FROM_SPEC_SOURCE = '''
def open_from_spec(spec):
    import duroxide
    if spec["kind"] == "sqlite":
        return duroxide.SqliteProvider.open(spec["path"])
    return duroxide.PostgresProvider.connect_with_schema(spec["url"], spec["schema"])
'''


@pytest.fixture(params=["sqlite", "postgres"])
def provider_factory(request, tmp_path) -> ProviderHandle:
    """The test's storage: a fresh SQLite file, or the module's PostgreSQL schema."""
    if request.param == "sqlite":
        path = str(tmp_path / "duroxide.db")
        return ProviderHandle(kind="sqlite", provider=SqliteProvider.open(path), sqlite_path=path)
    store = request.getfixturevalue("_pg_module_store")
    return ProviderHandle(
        kind="postgres", provider=store.provider, pg_url=store.url, pg_schema=store.schema
    )


@pytest.fixture
def provider(provider_factory):
    return provider_factory.provider


@pytest.fixture
def client(provider):
    c = Client(provider)
    yield c
    try:
        c.close()
    except Exception:  # noqa: BLE001 - a test may have closed it already
        pass


@pytest.fixture
def make_runtime(provider):
    """make_runtime(provider=None, **options) -> an unstarted Runtime.

    Options default to ``dispatcher_poll_interval_ms=10``; every runtime made
    here is shut down (1 s grace) when the test ends.
    """
    runtimes = []

    def _make(provider_override=None, **options):
        options.setdefault("dispatcher_poll_interval_ms", 10)
        rt = Runtime(provider_override if provider_override is not None else provider,
                     RuntimeOptions(**options))
        runtimes.append(rt)
        return rt

    yield _make
    for rt in reversed(runtimes):
        try:
            rt.shutdown(1000)
        except Exception:  # noqa: BLE001 - already shut down by the test
            pass


# --------------------------------------------------------------------------- helpers


def new_id(prefix: str = "inst") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def uid() -> Callable[..., str]:
    """uid(prefix) -> a unique instance id (the postgres schema is shared per module)."""
    return new_id


def wait_until_custom_status(client, instance_id: str, expected: str, timeout_s: float = 30.0):
    """Polls get_status until custom_status == expected; fails on terminal state or timeout.

    Orchestrations set a custom status right before yielding a wait_for_event, so
    seeing it proves the subscription is persisted and an event raised now is
    delivered.
    """
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = client.get_status(instance_id)
        if last.custom_status == expected:
            return last
        if last.status in TERMINAL_STATUSES:
            pytest.fail(
                f"{instance_id} ended ({last.status}, error={last.error!r}, output={last.output!r}) "
                f"before custom status {expected!r} was seen"
            )
        time.sleep(0.02)
    pytest.fail(
        f"custom status of {instance_id} never became {expected!r} "
        f"(last: status={getattr(last, 'status', None)!r} custom={getattr(last, 'custom_status', None)!r})"
    )


@pytest.fixture
def await_custom_status():
    return wait_until_custom_status


@pytest.fixture
def run_orchestration(client):
    """run_orchestration(name, input=None, instance_id=None, timeout_ms=30000) -> result.

    Starts the instance on the test's client and waits for a terminal state.
    """

    def _run(name, input=None, instance_id=None, timeout_ms=30000):
        iid = instance_id or new_id(name.lower())
        client.start_orchestration(iid, name, input)
        return client.wait_for_orchestration(iid, timeout_ms)

    return _run


def assert_completed(result, expected_output=...):
    assert result.status == "Completed", f"expected Completed, got {result.status}: {result.error!r}"
    if expected_output is not ...:
        assert result.output == expected_output
    return result.output


def assert_failed(result, *fragments: str):
    assert result.status == "Failed", f"expected Failed, got {result.status} (output={result.output!r})"
    assert result.error, "a failed instance carries an error message"
    for fragment in fragments:
        assert fragment in result.error, f"{fragment!r} not in error {result.error!r}"
    return result.error


@pytest.fixture
def completed():
    return assert_completed


@pytest.fixture
def failed():
    return assert_failed


def run_script(source: str, *args: str, timeout: float = 120.0, env_extra: Optional[dict] = None):
    """Runs `source` in a fresh interpreter (the one running pytest, so duroxide is importable)."""
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    if env_extra:
        env.update(env_extra)
    return subprocess.Popen(
        [sys.executable, "-c", source, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def python_script():
    """python_script(source, *args) -> Popen of a child interpreter; killed at teardown if alive."""
    procs = []

    def _start(source: str, *args: str, env_extra: Optional[dict] = None):
        p = run_script(source, *args, env_extra=env_extra)
        procs.append(p)
        return p

    yield _start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)
