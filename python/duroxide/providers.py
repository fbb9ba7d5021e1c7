"""Storage providers: where orchestration state lives."""

from __future__ import annotations

import os
from typing import Any, Callable, Union

from ._native import gen, translate_errors
from .errors import InvalidArgumentError

__all__ = ["Provider", "SqliteProvider", "PostgresProvider"]


class Provider:
    """A storage backend. Share one provider object between a Runtime and its Clients."""

    __slots__ = ("_native",)

    def __init__(self, native: Any) -> None:
        self._native = native

    @property
    def kind(self) -> str:
        """"sqlite" or "postgres"."""
        return str(self._native.kind())

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class SqliteProvider(Provider):
    """SQLite storage: a database file, or an in-memory database for tests."""

    __slots__ = ()

    @classmethod
    def open(cls, path: Union[str, "os.PathLike[str]"]) -> "SqliteProvider":
        """Open the database file at ``path``, creating it (not its directory) when missing.

        Raises :class:`~duroxide.ProviderError` when the file cannot be created or opened.
        """
        path = os.fspath(path)
        if not isinstance(path, str):
            raise TypeError(f"path must be a str or os.PathLike[str], got {type(path).__name__}")
        if path.startswith("sqlite:"):  # the original SDK took sqlx URLs: sqlite:./app.db
            path = path[len("sqlite:"):].split("?", 1)[0]
            if path.startswith("//"):
                path = path[2:]
            if path == ":memory:":
                return cls.in_memory()
        with translate_errors():
            return cls(gen.Provider.open_sqlite(path))

    @classmethod
    def in_memory(cls) -> "SqliteProvider":
        """A private in-memory database: fast, and gone when the process ends."""
        with translate_errors():
            return cls(gen.Provider.sqlite_in_memory())


class PostgresProvider(Provider):
    """PostgreSQL storage, shared by runtimes on several machines.

    The pool holds up to ``DUROXIDE_PG_POOL_MAX`` connections (environment variable,
    default 10). Connecting gives up after 15 seconds with a :class:`~duroxide.ProviderError`.
    """

    __slots__ = ()

    @classmethod
    def connect(cls, url: str) -> "PostgresProvider":
        """Connect to ``url`` (``postgresql://user:password@host:5432/db``) and create the
        tables in schema ``public`` when missing."""
        return cls.connect_with_schema(url, None)

    @classmethod
    def connect_with_schema(cls, url: str, schema: "str | None") -> "PostgresProvider":
        """Like :meth:`connect`, keeping the tables in ``schema`` (a plain identifier), which
        is created when missing. Instances in different schemas never see each other."""
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        if schema is not None and not isinstance(schema, str):
            raise TypeError(f"schema must be a str, got {type(schema).__name__}")
        with translate_errors():
            return cls(gen.Provider.connect_postgres(url, schema))

    @classmethod
    def connect_with_credentials(
        cls,
        url: str,
        password: Callable[[], str],
        *,
        schema: "str | None" = None,
        refresh_interval_s: float = 300.0,
    ) -> "PostgresProvider":
        """Connect with the password (or access token) ``password()`` returns now, and ask
        it again every ``refresh_interval_s`` seconds for the pool's new connections: a
        rotated password or a short-lived token (Azure Entra ID, AWS IAM) never needs a
        restart. ``url`` names the user (``postgresql://app@host/db``); a password in it
        is replaced.

        ``password`` is called on this thread first (an exception here is raised to you),
        then on a background thread: there an exception or an empty answer keeps the
        previous password and is logged. Make it return quickly (cache the token and
        renew it before it expires).
        """
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        if schema is not None and not isinstance(schema, str):
            raise TypeError(f"schema must be a str, got {type(schema).__name__}")
        if not callable(password):
            raise TypeError(f"password must be a callable returning the current password, got {type(password).__name__}")
        if isinstance(refresh_interval_s, bool) or not isinstance(refresh_interval_s, (int, float)) or not 0.001 <= refresh_interval_s <= 86_400:
            raise InvalidArgumentError(f"refresh_interval_s must be 0.001 to 86400 seconds, got {refresh_interval_s!r}")
        with translate_errors():
            native = gen.Provider.connect_postgres_with_credentials(
                url, schema, _PasswordSource(password), int(refresh_interval_s * 1000)
            )
        return cls(native)


class _PasswordSource(gen.CredentialSource):  # type: ignore[misc]  # a generated base (Any to checkers)
    """Asks the user's callable; what it raises becomes a clear error, never a crash."""

    def __init__(self, password: Callable[[], str]) -> None:
        self._password = password

    def password(self) -> str:
        try:
            value = self._password()
        except BaseException as e:  # noqa: B036 - must not escape into Rust
            raise gen.DuroxideError.InvalidInput(reason=f"the password callable raised {type(e).__name__}: {e}") from None
        if not isinstance(value, str) or not value:
            raise gen.DuroxideError.InvalidInput(
                reason=f"the password callable must return a non-empty str, got {type(value).__name__}"
            )
        return value
