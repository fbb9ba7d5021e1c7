"""Providers: SQLite file and in-memory, PostgreSQL with and without a schema;
state persists in storage and is isolated between databases/schemas."""

import gc
import secrets
import sys
import urllib.parse

import pytest

from duroxide import Client, PostgresProvider, Runtime, RuntimeOptions, SqliteProvider

from conftest import (
    assert_completed,
    drop_schema,
    new_id,
    psql_value,
    require_postgres_url,
    run_psql,
)


def _run_echo(provider, value):
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10))
    try:
        runtime.register_activity("Echo", lambda ctx, x: {"echo": x})

        @runtime.register_orchestration("EchoOrch")
        def echo_orch(ctx, x):
            return (yield ctx.schedule_activity("Echo", x))

        runtime.start()
        client = Client(provider)
        iid = new_id("echo")
        client.start_orchestration(iid, "EchoOrch", value)
        result = client.wait_for_orchestration(iid, 30000)
        client.close()
        return iid, result
    finally:
        runtime.shutdown(1000)


def test_state_is_visible_through_a_new_provider_on_the_same_storage(provider_factory):
    iid, result = _run_echo(provider_factory.provider, "persisted")
    assert_completed(result, {"echo": "persisted"})
    other = provider_factory.reopen()
    status = Client(other).get_status(iid)
    assert_completed(status, {"echo": "persisted"})


def test_sqlite_open_creates_the_file(tmp_path):
    path = tmp_path / "sub.db"
    assert not path.exists()
    provider = SqliteProvider.open(str(path))
    assert path.exists()
    _, result = _run_echo(provider, 1)
    assert_completed(result, {"echo": 1})


def test_sqlite_in_memory_runs_orchestrations():
    _, result = _run_echo(SqliteProvider.in_memory(), [1, 2])
    assert_completed(result, {"echo": [1, 2]})


def test_sqlite_in_memory_databases_are_private():
    a, b = SqliteProvider.in_memory(), SqliteProvider.in_memory()
    iid, result = _run_echo(a, "only-in-a")
    assert_completed(result)
    assert Client(b).get_status(iid).status == "NotFound"
    assert Client(a).get_status(iid).status == "Completed"


def test_sqlite_files_are_isolated(tmp_path):
    a = SqliteProvider.open(str(tmp_path / "a.db"))
    b = SqliteProvider.open(str(tmp_path / "b.db"))
    iid, result = _run_echo(a, "a")
    assert_completed(result)
    assert Client(b).get_status(iid).status == "NotFound"


def test_postgres_schemas_are_isolated():
    url = require_postgres_url()
    s1 = f"test_iso_a_{secrets.token_hex(4)}"
    s2 = f"test_iso_b_{secrets.token_hex(4)}"
    try:
        p1 = PostgresProvider.connect_with_schema(url, s1)
        p2 = PostgresProvider.connect_with_schema(url, s2)
        iid, result = _run_echo(p1, "schema-1")
        assert_completed(result, {"echo": "schema-1"})
        assert Client(p2).get_status(iid).status == "NotFound"
        assert Client(p1).get_status(iid).status == "Completed"
    finally:
        p1 = p2 = None
        drop_schema(url, s1)
        drop_schema(url, s2)


def test_postgres_connect_without_schema_uses_default_schema():
    # Run in a throwaway database so the default ("public") schema is a fresh one.
    url = require_postgres_url()
    dbname = f"duroxide_test_{secrets.token_hex(4)}"
    res = run_psql(url, f'CREATE DATABASE "{dbname}"')
    if res.returncode != 0:
        pytest.fail(f"cannot create a test database: {res.stderr}")
    parts = urllib.parse.urlsplit(url)
    db_url = urllib.parse.urlunsplit(parts._replace(path=f"/{dbname}"))
    try:
        provider = PostgresProvider.connect(db_url)
        iid, result = _run_echo(provider, "public-schema")
        assert_completed(result, {"echo": "public-schema"})
        # The tables landed in the database's default schema.
        tables = psql_value(
            db_url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        assert int(tables) > 0
        provider = None
        again = PostgresProvider.connect(db_url)
        assert_completed(Client(again).get_status(iid), {"echo": "public-schema"})
        again = None
    finally:
        provider = again = None
        gc.collect()
        drop = run_psql(url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if drop.returncode != 0:
            sys.stderr.write(f"warning: could not drop database {dbname}: {drop.stderr}\n")


def test_postgres_table_lands_in_requested_schema():
    url = require_postgres_url()
    schema = f"test_where_{secrets.token_hex(4)}"
    try:
        provider = PostgresProvider.connect_with_schema(url, schema)
        _, result = _run_echo(provider, "x")
        assert_completed(result)
        count = psql_value(
            url, f"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{schema}'"
        )
        assert int(count) > 0
    finally:
        provider = None
        drop_schema(url, schema)
