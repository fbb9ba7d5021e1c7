"""``duroxide replay`` and ``duroxide export``: check today's code against recorded
histories before deploying it."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, List

from ..client import Client
from ..errors import HistoryFormatError
from ..replay import Replayer, ReplayResult, load_history
from ._common import EXIT_FAILED, EXIT_OK, CliError, Progress, add_db_arguments, load_orchestrations, open_db


def add_commands(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="replay recorded histories against your current code",
        description="Replays histories (files from `duroxide export`, or instances read from a database) "
        "against the orchestrations your modules register. Nothing runs and nothing is written. "
        "Exit code 0 when every history replays cleanly, 1 when one diverges, 2 on a usage mistake.",
    )
    replay.add_argument("--history", nargs="+", metavar="FILE", help="history export files")
    add_db_arguments(replay)
    replay.add_argument("--name", help="with --db: replay every instance of this orchestration")
    replay.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="MODULE",
        help="module (pkg.mod or pkg.mod:attr) whose Runtime or register(runtime) registers the orchestrations; repeatable "
        "(default: $DUROXIDE_WORKFLOWS)",
    )
    replay.add_argument("--json", action="store_true", help="one JSON object per instance, for scripts")
    replay.set_defaults(run=run_replay)

    export = commands.add_parser(
        "export",
        help="write instances' histories to files (for `duroxide replay`)",
        description="Writes one history export file per instance into --out.",
    )
    add_db_arguments(export)
    export.add_argument("ids", nargs="*", metavar="ID", help="instance ids (default: all, or all of --name)")
    export.add_argument("--name", help="every instance of this orchestration")
    export.add_argument("--out", required=True, metavar="DIR", help="directory for the files (created when missing)")
    export.set_defaults(run=run_export)


def run_replay(args: Any) -> int:
    modules = args.module or [m for m in os.environ.get("DUROXIDE_WORKFLOWS", "").split(",") if m]
    if not modules:
        raise CliError("no code to replay against: pass --module pkg.workflows (or set DUROXIDE_WORKFLOWS)")
    if not args.history and not args.db:
        raise CliError("nothing to replay: pass --history FILE... or --db URL [--name NAME]")
    if args.history and args.name:
        raise CliError("--name selects instances in --db; with --history, every file is replayed")
    replayer = Replayer()
    replayer._registered.update(load_orchestrations(modules))
    if args.history:
        results = _replay_files(replayer, args.history)
    else:
        client = Client(open_db(args.db, args.schema))
        progress = Progress("replayed")
        try:
            results = replayer.replay_instances(client, name=args.name, progress=progress)
        finally:
            progress.done()
            client.close()
        if not results:
            what = f"instances of {args.name!r}" if args.name else "instances"
            raise CliError(f"no {what} in {args.db}")
    return _report(results, args.json)


def _replay_files(replayer: Replayer, paths: List[str]) -> List[ReplayResult]:
    results = []
    for path in paths:
        try:
            results.append(replayer.replay(load_history(path), source=path))
        except HistoryFormatError as e:
            message = str(e) if path in str(e) else f"{path}: {e}"
            raise CliError(message) from None
    return results


def _report(results: List[ReplayResult], as_json: bool) -> int:
    for r in results:
        if as_json:
            print(json.dumps({
                "instance_id": r.instance_id,
                "orchestration": r.orchestration_name,
                "version": r.orchestration_version,
                "executions": r.executions,
                "status": r.status,
                "message": r.message,
                "source": r.source,
            }))
        else:
            print(("ok        " if r.ok else "DIVERGED  " if r.status == "diverged" else "MISSING   ") + str(r))
    bad = [r for r in results if not r.ok]
    if not as_json:
        summary = f"{len(results)} replayed: {len(results) - len(bad)} ok"
        print(summary + (f", {len(bad)} not ok" if bad else ""), file=sys.stderr)
    return EXIT_FAILED if bad else EXIT_OK


def run_export(args: Any) -> int:
    client = Client(open_db(args.db, args.schema))
    try:
        ids = list(args.ids) or client.list_all_instances()
        if args.name:
            ids = [i for i in ids if client.get_instance_info(i).orchestration_name == args.name]
        if not ids:
            raise CliError("no instances to export")
        os.makedirs(args.out, exist_ok=True)
        progress = Progress("exported")
        for n, iid in enumerate(ids, 1):
            path = os.path.join(args.out, _file_name(iid))
            with open(path, "w", encoding="utf-8") as f:
                json.dump(client.export_history(iid), f)
            progress(n, len(ids))
        progress.done()
        print(f"{len(ids)} histories written to {args.out}", file=sys.stderr)
        return EXIT_OK
    finally:
        client.close()


def _file_name(instance_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", instance_id)[:120]
    return f"{safe}.json"
