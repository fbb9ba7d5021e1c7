"""Looking at instances: ``list``, ``show``, ``history``, ``tree``, ``metrics``."""

from __future__ import annotations

import json
from typing import Any, Dict

from .._views import instance_record, instance_tree, list_instances
from ..admin import InstanceInfo
from ..client import Client
from ..errors import InstanceNotFoundError
from ._common import EXIT_OK, CliError, Progress, add_command, open_db
from ._output import as_json, duration, note, short, table, when

STATUSES = ("Running", "Completed", "Failed", "ContinuedAsNew")


def add_commands(commands: Any) -> None:
    p = add_command(commands, "list", "list instances (newest first)", run_list, json=True)
    p.add_argument("--status", choices=STATUSES, help="only instances with this status")
    p.add_argument("--name", help="only instances of this orchestration")
    p.add_argument("--prefix", help="only instance ids starting with this")
    p.add_argument("--limit", type=_positive, default=100, help="at most this many (default 100)")
    add_command(commands, "show", "one instance: status, input, output or error, custom status, KV, times",
                run_show, instance=True, json=True)
    p = add_command(commands, "history", "an instance's history, one line per event", run_history,
                    instance=True, json=True)
    p.add_argument("--execution", type=_positive, help="execution number (default: the current one)")
    add_command(commands, "tree", "an instance and its sub-orchestrations", run_tree, instance=True, json=True)
    add_command(commands, "metrics", "instance counts and queue depths of the store", run_metrics, json=True)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise CliError(f"expected a whole number >= 1, got {text!r}")
    return value


def connect(args: Any) -> Client:
    return Client(open_db(args.db, args.schema))


def info_of(client: Client, instance_id: str) -> InstanceInfo:
    try:
        return client.get_instance_info(instance_id)
    except InstanceNotFoundError:
        raise CliError(f"no instance {instance_id!r} in this database") from None


def run_list(args: Any) -> int:
    with connect(args) as client:
        progress = Progress("reading")
        found = list_instances(client, args.status, args.name, args.prefix,
                               lambda n, total: progress(n, total) if total > 200 else None)
        progress.done()
        shown = found[: args.limit]
        if args.json:
            as_json([{**vars(i.info), "created_at": i.created_ms, "updated_at": i.updated_ms} for i in shown])
        else:
            rows = [(i.info.instance_id, f"{i.info.orchestration_name}@{i.info.orchestration_version}", i.info.status,
                     i.info.current_execution_id, when(i.created_ms), when(i.updated_ms)) for i in shown]
            table(("ID", "ORCHESTRATION", "STATUS", "EXEC", "CREATED", "UPDATED"), rows)
            if len(found) > len(shown):
                note(f"{len(shown)} of {len(found)} shown; raise --limit to see more")
        return EXIT_OK


def run_show(args: Any) -> int:
    with connect(args) as client:
        info_of(client, args.id)
        record: Dict[str, Any] = {k if not k.endswith("_ms") else k[:-3]: when(v) if k.endswith("_ms") else v
                  for k, v in instance_record(client, args.id).items()}
        if args.json:
            as_json(record)
            return EXIT_OK
        width = max(len(k) for k in record)
        for key, value in record.items():
            if key == "kv":
                continue
            if value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            print(f"{key.replace('_', ' '):{width}}  {text}")
        kv = record["kv"]
        print(f"{'kv':{width}}  " + ("(none)" if not kv else ""))
        for key in sorted(kv):
            print(f"{'':{width}}    {key} = {short(kv[key], 100)}")
        return EXIT_OK


def run_history(args: Any) -> int:
    with connect(args) as client:
        info = info_of(client, args.id)
        execution = args.execution or info.current_execution_id
        executions = client.list_executions(args.id)
        if execution not in executions:
            raise CliError(f"instance {args.id!r} has executions {executions}, not {execution}")
        events = client.read_execution_history(args.id, execution)
        if args.json:
            as_json(events)
            return EXIT_OK
        first = events[0].timestamp_ms if events else 0
        scheduled_at = {e.event_id: e.timestamp_ms for e in events}
        rows = []
        for e in events:
            took = None
            if e.source_event_id is not None and e.source_event_id in scheduled_at:
                took = e.timestamp_ms - scheduled_at[e.source_event_id]
            rows.append((f"#{e.event_id}", f"+{duration(e.timestamp_ms - first) or '0 ms'}", e.kind,
                         f"<- #{e.source_event_id}" if e.source_event_id is not None else "",
                         duration(took), short(e.data, 90)))
        note(f"instance {args.id} [{info.orchestration_name}@{info.orchestration_version}], execution "
             f"{execution} of {len(executions)}, started {when(first)}")
        table(("EVENT", "AT", "KIND", "FOR", "TOOK", "DATA"), rows)
        return EXIT_OK


def run_tree(args: Any) -> int:
    with connect(args) as client:
        info_of(client, args.id)
        tree = instance_tree(client, args.id)
        if args.json:
            as_json({"root_id": tree.root_id, "instances": list(tree.infos.values())})
            return EXIT_OK
        for depth, i in tree.walk():
            print(f"{'    ' * depth}{i.instance_id}  [{i.orchestration_name}@{i.orchestration_version}]  {i.status}")
        return EXIT_OK


def run_metrics(args: Any) -> int:
    with connect(args) as client:
        metrics, depths = client.get_system_metrics(), client.get_queue_depths()
        if args.json:
            as_json({"system": metrics, "queues": depths})
            return EXIT_OK
        rows = [(k.replace("_", " "), v) for k, v in vars(metrics).items()]
        rows += [(f"queue: {k.replace('_queue', '')}", v) for k, v in vars(depths).items()]
        table(("METRIC", "VALUE"), rows)
        return EXIT_OK
