"""The ``duroxide`` command (also ``python -m duroxide``).

    duroxide list --db app.db --status Running
    duroxide show ORDER-1 --db app.db
    duroxide history ORDER-1 --db app.db
    duroxide export --db app.db --name Checkout --out histories/
    duroxide replay --history histories/*.json --module myapp.workflows
    duroxide replay --db app.db --name Checkout --module myapp.workflows
    duroxide ui --db app.db                      (the web dashboard: pip install 'duroxide[ui]')

``--db`` takes a SQLite file or a ``postgresql://`` URL (``--schema``; default
``$DUROXIDE_DB``). Tables for people, ``--json`` for scripts.

Exit codes: 0 success (every history replayed cleanly); 1 a replay diverged or an
orchestration was missing; 2 a mistake (bad arguments or JSON, unknown instance,
unreadable file, unknown module, unreachable database). Mistakes print one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, NoReturn, Optional

from ..errors import DuroxideError
from . import _control, _inspect, _replay, _ui
from ._common import EXIT_USAGE, CliError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="duroxide", description="Inspect and check duroxide workflows.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _inspect.add_commands(commands)
    _control.add_commands(commands)
    _replay.add_commands(commands)
    _ui.add_commands(commands)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.run(args))
    except CliError as e:
        print(f"duroxide: {e}", file=sys.stderr)
        return e.code
    except DuroxideError as e:
        print(f"duroxide: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `duroxide list | head`: the reader left; nothing to say
        return 0
    except OSError as e:  # a file or directory the command could not read or write
        print(f"duroxide: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("duroxide: interrupted", file=sys.stderr)
        return 130
