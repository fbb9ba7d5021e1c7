"""Acting on instances: ``start``, ``raise``, ``enqueue``, ``cancel``, ``delete``, ``prune``."""

from __future__ import annotations

import json
from typing import Any

from ..admin import PruneOptions
from ._common import EXIT_OK, CliError, add_command
from ._inspect import connect, info_of
from ._output import as_json, note


def add_commands(commands: Any) -> None:
    p = add_command(commands, "start", "start an orchestration instance", run_start)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--id", required=True, help="the new instance's id")
    p.add_argument("--input", default="null", help="input as JSON (default null)")
    p.add_argument("--version", help="orchestration version (default: the latest a worker has)")
    p = add_command(commands, "raise", "raise an external event on an instance", run_raise, instance=True)
    p.add_argument("event", metavar="EVENT")
    p.add_argument("--data", default="null", help="event data as JSON (default null)")
    p = add_command(commands, "enqueue", "put a message on an instance's event queue", run_enqueue, instance=True)
    p.add_argument("queue", metavar="QUEUE")
    p.add_argument("--data", default="null", help="message as JSON (default null)")
    p = add_command(commands, "cancel", "cancel a running instance (it fails with the reason)", run_cancel,
                    instance=True)
    p.add_argument("--reason", default="cancelled from the command line")
    p = add_command(commands, "delete", "delete an instance and its history", run_delete, instance=True, json=True)
    p.add_argument("--force", action="store_true", help="also when it is still running")
    p = add_command(commands, "prune", "delete an instance's old executions (continue-as-new leaves them)",
                    run_prune, instance=True, json=True)
    p.add_argument("--keep-last", type=int, default=1, help="executions to keep (default 1: the current)")


def _json_arg(option: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise CliError(f"{option} is not valid JSON ({e}): {text[:80]!r}") from None


def run_start(args: Any) -> int:
    value = _json_arg("--input", args.input)
    with connect(args) as client:
        if args.version:
            client.start_orchestration_versioned(args.id, args.name, value, args.version)
        else:
            client.start_orchestration(args.id, args.name, value)
        note(f"started {args.id} [{args.name}]")
        return EXIT_OK


def run_raise(args: Any) -> int:
    value = _json_arg("--data", args.data)
    with connect(args) as client:
        info_of(client, args.id)
        client.raise_event(args.id, args.event, value)
        note(f"raised {args.event!r} on {args.id}")
        return EXIT_OK


def run_enqueue(args: Any) -> int:
    value = _json_arg("--data", args.data)
    with connect(args) as client:
        info_of(client, args.id)
        client.enqueue_event(args.id, args.queue, value)
        note(f"enqueued a message on {args.queue!r} of {args.id}")
        return EXIT_OK


def run_cancel(args: Any) -> int:
    with connect(args) as client:
        info = info_of(client, args.id)
        if info.status != "Running":
            raise CliError(f"instance {args.id!r} is {info.status}; only a Running instance can be cancelled")
        client.cancel_instance(args.id, args.reason)
        note(f"cancellation of {args.id} requested")
        return EXIT_OK


def run_delete(args: Any) -> int:
    with connect(args) as client:
        info_of(client, args.id)
        result = client.delete_instance(args.id, force=args.force)
        if args.json:
            as_json(result)
        else:
            note(f"deleted {args.id}: {result.instances_deleted} instance(s), {result.events_deleted} events")
        return EXIT_OK


def run_prune(args: Any) -> int:
    if args.keep_last < 1:
        raise CliError("--keep-last must be at least 1 (the current execution is always kept)")
    with connect(args) as client:
        info_of(client, args.id)
        result = client.prune_executions(args.id, PruneOptions(keep_last=args.keep_last))
        if args.json:
            as_json(result)
        else:
            note(f"pruned {args.id}: {result.executions_deleted} execution(s), {result.events_deleted} events")
        return EXIT_OK
