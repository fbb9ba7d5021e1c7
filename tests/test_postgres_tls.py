"""TLS to a loopback PostgreSQL (src/store/pg_url.rs), on a private server with TLS on.

Without ``sslmode`` a loopback URL connects in plaintext; an explicit ``sslmode`` is kept;
a server whose ``pg_hba.conf`` accepts only TLS gets TLS, and the SDK works on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import pytest

import duroxide
from conftest import assert_completed

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "reliability"))
import pg_server  # noqa: E402


def _psql(server: "pg_server.PrivateServer", sql: str) -> str:
    out = subprocess.run(["psql", server.url, "-Atqc", sql], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def tls_server():
    try:
        server = pg_server.PrivateServer.create()
    except pg_server.ServerUnavailable as exc:  # pragma: no cover - the machine has no initdb
        pytest.fail(f"cannot start a private PostgreSQL server: {exc}")
    try:
        key, cert = (os.path.join(server.datadir, n) for n in ("tls.key", "tls.crt"))
        subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        os.chmod(key, 0o600)
        if os.geteuid() == 0:
            shutil.chown(key, "postgres", "postgres")
            shutil.chown(cert, "postgres", "postgres")
        _psql(server, f"ALTER SYSTEM SET ssl_cert_file = '{cert}'")
        _psql(server, f"ALTER SYSTEM SET ssl_key_file = '{key}'")
        _psql(server, "ALTER SYSTEM SET ssl = on")
        _psql(server, "SELECT pg_reload_conf()")
        yield server
    finally:
        server.destroy()


def _tls_of_other_connections(server: "pg_server.PrivateServer") -> list:
    rows = _psql(server, "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                         "WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()")
    return [r == "t" for r in rows.split()]


def _set_hba(server: "pg_server.PrivateServer", lines: str) -> None:
    with open(os.path.join(server.datadir, "pg_hba.conf"), "w") as f:
        f.write(lines)
    _psql(server, "SELECT pg_reload_conf()")


def _run_one(provider: duroxide.PostgresProvider) -> None:
    runtime = duroxide.Runtime(provider, duroxide.RuntimeOptions(dispatcher_poll_interval_ms=5))
    runtime.register_activity("Double", lambda ctx, x: 2 * x)

    @runtime.register_orchestration("Doubler")
    def doubler(ctx, x):
        return (yield ctx.schedule_activity("Double", x))

    runtime.start()
    try:
        client = duroxide.Client(provider)
        iid = f"tls-{uuid.uuid4().hex[:8]}"
        client.start_orchestration(iid, "Doubler", 21)
        assert_completed(client.wait_for_orchestration(iid, 30000), 42)
    finally:
        runtime.shutdown()


def test_loopback_is_plaintext_unless_sslmode_asks(tls_server):
    _set_hba(tls_server, "local all all trust\nhost all all 127.0.0.1/32 trust\n")
    assert _psql(tls_server, "SHOW ssl") == "on"
    plain = duroxide.PostgresProvider.connect_with_schema(tls_server.url, "tls_plain")
    _run_one(plain)
    seen = _tls_of_other_connections(tls_server)
    assert seen and not any(seen), seen
    del plain
    asked = duroxide.PostgresProvider.connect_with_schema(tls_server.url + "?sslmode=require", "tls_asked")
    _run_one(asked)
    assert any(_tls_of_other_connections(tls_server))


def test_a_server_that_accepts_only_tls_gets_it(tls_server):
    _set_hba(tls_server, "local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
    try:
        provider = duroxide.PostgresProvider.connect_with_schema(tls_server.url, "tls_only")
        _run_one(provider)
        seen = _tls_of_other_connections(tls_server)
        assert seen and all(seen), seen
        with pytest.raises(duroxide.DuroxideError, match="no encryption"):
            duroxide.PostgresProvider.connect_with_schema(tls_server.url + "?sslmode=disable", "tls_refused")
    finally:
        _set_hba(tls_server, "local all all trust\nhost all all 127.0.0.1/32 trust\n")
