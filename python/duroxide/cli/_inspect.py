"""Looking at instances: ``list``, ``show``, ``history``, ``tree``, ``metrics``."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

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


def info_of(client: Client, instance_id: str):
    try:
        return client.get_instance_info(instance_id)
    except InstanceNotFoundError:
        raise CliError(f"no instance {instance_id!r} in this database") from None


def times_of(client: Client, info: Any) -> "tuple[int, int]":
    """(created, updated) in ms; from the history when the store does not keep them
    (the SQLite provider reports 0)."""
    created, updated = info.created_at, info.updated_at
    if created and updated:
        return created, updated
    first = client.read_execution_history(info.instance_id, 1)
    last = first if info.current_execution_id == 1 else client.read_execution_history(
        info.instance_id, info.current_execution_id
    )
    created = created or (first[0].timestamp_ms if first else 0)
    updated = updated or (last[-1].timestamp_ms if last else 0)
    return created, updated


def run_list(args: Any) -> int:
    with connect(args) as client:
        ids = client.list_instances_by_status(args.status) if args.status else client.list_all_instances()
        if args.prefix:
            ids = [i for i in ids if i.startswith(args.prefix)]
        progress = Progress("reading")
        infos = []
        for n, iid in enumerate(ids, 1):
            info = client.get_instance_info(iid)
            if args.name is None or info.orchestration_name == args.name:
                infos.append((info, times_of(client, info)))
            if len(ids) > 200:
                progress(n, len(ids))
        progress.done()
        infos.sort(key=lambda pair: (pair[1][0], pair[0].instance_id), reverse=True)
        shown = infos[: args.limit]
        if args.json:
            as_json([{**vars(i), "created_at": c, "updated_at": u} for i, (c, u) in shown])
        else:
            rows = [(i.instance_id, f"{i.orchestration_name}@{i.orchestration_version}", i.status,
                     i.current_execution_id, when(c), when(u)) for i, (c, u) in shown]
            table(("ID", "ORCHESTRATION", "STATUS", "EXEC", "CREATED", "UPDATED"), rows)
            if len(infos) > len(shown):
                note(f"{len(shown)} of {len(infos)} shown; raise --limit to see more")
        return EXIT_OK


def _decoded(text: Optional[str]) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def run_show(args: Any) -> int:
    with connect(args) as client:
        info = info_of(client, args.id)
        created, updated = times_of(client, info)
        state = client.get_status(args.id)
        history = client.read_execution_history(args.id, 1)
        started = next((e for e in history if e.kind == "OrchestrationStarted"), None)
        started_data = _decoded(started.data) if started else None
        record: Dict[str, Any] = {
            "instance_id": info.instance_id,
            "orchestration": info.orchestration_name,
            "version": info.orchestration_version,
            "status": state.status,
            "execution": info.current_execution_id,
            "parent": info.parent_instance_id,
            "created": when(created),
            "updated": when(updated),
            "input": _decoded(started_data.get("input")) if isinstance(started_data, dict) else None,
            "output": state.output if state.status == "Completed" else None,
            "error": state.error,
            "custom_status": state.custom_status,
            "kv": client.get_kv_all_values(args.id),
        }
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
        tree = client.get_instance_tree(args.id)
        infos = {i: client.get_instance_info(i) for i in tree.all_ids}
        children: Dict[Optional[str], List[str]] = {}
        for iid, info in infos.items():
            parent = info.parent_instance_id if info.parent_instance_id in infos else None
            if iid == tree.root_id:
                parent = None
            children.setdefault(parent, []).append(iid)
        if args.json:
            as_json({"root_id": tree.root_id, "instances": list(infos.values())})
            return EXIT_OK

        def show(iid: str, depth: int) -> None:
            i = infos[iid]
            print(f"{'    ' * depth}{iid}  [{i.orchestration_name}@{i.orchestration_version}]  {i.status}")
            for child in sorted(children.get(iid, []), key=lambda c: infos[c].created_at):
                show(child, depth + 1)

        for root in children.get(None, []):
            show(root, 0)
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
