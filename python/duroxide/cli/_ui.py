"""``duroxide ui``: serve the local dashboard (the ``ui`` extra)."""

from __future__ import annotations

from typing import Any

from ._common import EXIT_OK, CliError, add_command, open_db


def add_commands(commands: Any) -> None:
    p = add_command(commands, "ui", "serve the web dashboard (pip install 'duroxide[ui]')", run_ui)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8321, help="port (default 8321)")
    p.add_argument("--allow-actions", action="store_true", help="enable the cancel and raise-event buttons")
    p.add_argument("--token", help="require this token from every request (needed with actions beyond localhost)")


def run_ui(args: Any) -> int:
    from ..ui import MissingExtraError, serve

    if not 0 < args.port < 65536:
        raise CliError(f"--port must be 1 to 65535, got {args.port}")
    provider = open_db(args.db, args.schema)
    shown = f"http://{args.host}:{args.port}/" + (f"?token={args.token}" if args.token else "")
    print(f"duroxide dashboard on {shown} (Ctrl-C stops it)", flush=True)
    try:
        serve(provider, host=args.host, port=args.port, allow_actions=args.allow_actions, token=args.token)
    except MissingExtraError as e:
        raise CliError(str(e)) from None
    except ValueError as e:
        raise CliError(str(e)) from None
    return EXIT_OK
