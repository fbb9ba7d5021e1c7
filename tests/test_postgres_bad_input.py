"""Bad PostgreSQL connection input: a clear exception, within a bounded time, and
nothing half-created.

Bound: opening a provider gives up after 15 s (docs/user-guide.md, Providers); every
case here is expected well inside it. The wrong-password case needs a role that
authenticates with a password: scripts/ensure_postgres.sh creates `duroxide_auth_probe`
with scram-sha-256 on the local server it manages.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from conftest import _postgres_unavailable, psql_value, require_postgres_url
from duroxide import InvalidArgumentError, PostgresProvider, ProviderError

BOUND_S = 16  # the documented 15 s connect deadline, plus scheduling slack
PROBE_ROLE = "duroxide_auth_probe"


@pytest.fixture(scope="module")
def url():
    return require_postgres_url()


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def connect_fails(exc_type, url: str, schema=None) -> str:
    started = time.monotonic()
    with pytest.raises(exc_type) as info:
        PostgresProvider.connect_with_schema(url, schema)
    assert time.monotonic() - started < BOUND_S
    return str(info.value)


def schema_exists(url: str, schema: str) -> bool:
    return psql_value(url, f"SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'") == "1"


@pytest.mark.parametrize("bad", ["garbage", "http://127.0.0.1:5432/postgres", "", "mysql://root@127.0.0.1/db"])
def test_malformed_url_is_rejected_at_once(bad):
    message = connect_fails(InvalidArgumentError, bad)
    assert "PostgreSQL URL" in message


def test_unreachable_host_fails_fast(url):
    parts = urlsplit(url)
    closed_port = urlunsplit((parts.scheme, f"{parts.username or 'postgres'}@127.0.0.1:1", parts.path, "", ""))
    message = connect_fails(ProviderError, closed_port, "never_created_unreachable")
    assert "cannot reach 127.0.0.1:1" in message


def test_password_is_not_shown_in_errors(url):
    parts = urlsplit(url)
    secret = "s3cret-never-shown"
    closed_port = urlunsplit((parts.scheme, f"someone:{secret}@127.0.0.1:1", parts.path, "", ""))
    message = connect_fails(ProviderError, closed_port)
    assert secret not in message and "someone:***@" in message


def test_missing_database_is_a_provider_error(url):
    parts = urlsplit(url)
    missing = urlunsplit((parts.scheme, parts.netloc, "/no_such_database_duroxide", parts.query, ""))
    message = connect_fails(ProviderError, missing)
    assert "no_such_database_duroxide" in message


def test_wrong_password_is_rejected_and_creates_nothing(url):
    rules = psql_value(
        url,
        f"SELECT count(*) FROM pg_hba_file_rules WHERE '{PROBE_ROLE}' = ANY(user_name) "
        "AND auth_method IN ('scram-sha-256', 'md5', 'password')",
    )
    if rules == "0":
        _postgres_unavailable(f"no password-authenticated role {PROBE_ROLE}; run scripts/ensure_postgres.sh")
    schema = "never_created_wrong_password"
    message = connect_fails(ProviderError, with_credentials(url, PROBE_ROLE, "wrong-password"), schema)
    assert "password authentication failed" in message
    assert "wrong-password" not in message
    assert not schema_exists(url, schema)


@pytest.mark.parametrize(
    "schema", ['x"; drop table y; --', "1starts_with_digit", "has space", "", "a" * 64, "dash-ed"]
)
def test_schema_that_is_not_a_plain_identifier_is_rejected(url, schema):
    message = connect_fails(InvalidArgumentError, url, schema)
    assert "schema name" in message
    assert psql_value(url, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'x%drop%'") == "0"
