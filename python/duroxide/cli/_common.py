"""What the commands share: opening the database, loading the user's workflow modules,
progress lines, exit codes."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from .._callbacks import Registered
from ..errors import DuroxideError
from ..providers import PostgresProvider, Provider, SqliteProvider
from ..runtime import Runtime

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A mistake of the user's: printed as one line, exit code 2 unless told."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def add_db_arguments(parser: Any, required: bool = True) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("DUROXIDE_DB"),
        help="a SQLite file or a postgresql:// URL (default: $DUROXIDE_DB)",
    )
    parser.add_argument("--schema", default=None, help="PostgreSQL schema (default: public)")


def add_command(commands: Any, name: str, help: str, run: Any, *, instance: bool = False,
                json: bool = False, **parser_options: Any) -> Any:
    """A subcommand with ``--db``/``--schema``, its ``ID`` (``instance``) and ``--json``."""
    parser = commands.add_parser(name, help=help, **parser_options)
    add_db_arguments(parser)
    if instance:
        parser.add_argument("id", metavar="ID")
    if json:
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
    parser.set_defaults(run=run)
    return parser


def open_db(db: Optional[str], schema: Optional[str]) -> Provider:
    """The store named by ``--db``; a missing SQLite file is an error, not a new database."""
    if not db:
        raise CliError("no database: pass --db PATH_OR_URL or set DUROXIDE_DB")
    try:
        if db.startswith(("postgres://", "postgresql://")):
            return PostgresProvider.connect_with_schema(db, schema)
        if schema is not None:
            raise CliError("--schema applies to PostgreSQL only")
        if not os.path.isfile(db):
            raise CliError(f"no SQLite database at {db!r}")
        return SqliteProvider.open(db)
    except DuroxideError as e:
        raise CliError(f"cannot open the database: {e}") from None


def load_orchestrations(specs: List[str]) -> Dict[Tuple[str, str], Registered]:
    """The orchestrations registered by ``--module`` specs: ``pkg.mod`` or ``pkg.mod:attr``.

    A module contributes every :class:`~duroxide.Runtime` among its globals, or its
    ``register(runtime)`` function (called with a runtime that is never started); ``attr``
    names one such object.
    """
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the current directory's packages
    found: Dict[Tuple[str, str], Registered] = {}
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as e:  # noqa: BLE001 - any import failure is the user's to fix
            raise CliError(f"cannot import module {module_name!r}: {type(e).__name__}: {e}") from None
        if attr:
            if not hasattr(module, attr):
                raise CliError(f"module {module_name!r} has no attribute {attr!r}")
            candidates = [getattr(module, attr)]
        else:
            candidates = [v for v in vars(module).values() if isinstance(v, Runtime)]
            if not candidates and callable(getattr(module, "register", None)):
                candidates = [module.register]
        before = len(found)
        for candidate in candidates:
            found.update(_registrations_of(candidate, spec))
        if len(found) == before:
            raise CliError(
                f"module {spec!r} registers no orchestration: give it a module-level Runtime, or a "
                "register(runtime) function that registers the orchestrations, or name one with pkg.mod:attr"
            )
    return found


def _registrations_of(candidate: Any, spec: str) -> Dict[Tuple[str, str], Registered]:
    if isinstance(candidate, Runtime):
        return dict(candidate._orchestrations)
    if callable(candidate) and not (inspect.isgeneratorfunction(candidate) or inspect.iscoroutinefunction(candidate)):
        runtime = Runtime(SqliteProvider.in_memory())
        try:
            candidate(runtime)
        except Exception as e:  # noqa: BLE001
            raise CliError(f"{spec}: register(runtime) raised {type(e).__name__}: {e}") from None
        return dict(runtime._orchestrations)
    raise CliError(f"{spec}: expected a Runtime or a register(runtime) function, got {type(candidate).__name__}")


class Progress:
    """A one-line live counter on stderr (only when stderr is a terminal)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.live = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.live:
            print(f"\r{self.what} {done}/{total}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.live:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
