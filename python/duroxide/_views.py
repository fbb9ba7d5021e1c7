"""What a person looks at in a store, read with a blocking client: the instance list with
times, one instance's record, its sub-orchestration tree. The ``duroxide`` command and
the dashboard both show these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _trace_mark
from .admin import InstanceInfo
from .client import Client


@dataclass
class Listed:
    """An instance as a list shows it."""

    info: InstanceInfo
    created_ms: int
    updated_ms: int


def times_of(client: Client, info: InstanceInfo) -> Tuple[int, int]:
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


def list_instances(
    client: Client,
    status: Optional[str] = None,
    name: Optional[str] = None,
    prefix: Optional[str] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> List[Listed]:
    """The instances matching the filters, newest first."""
    ids = client.list_instances_by_status(status) if status else client.list_all_instances()
    if prefix:
        ids = [i for i in ids if i.startswith(prefix)]
    found = []
    for n, iid in enumerate(ids, 1):
        info = client.get_instance_info(iid)
        if name is None or info.orchestration_name == name:
            found.append(Listed(info, *times_of(client, info)))
        if progress is not None:
            progress(n, len(ids))
    found.sort(key=lambda item: (item.created_ms, item.info.instance_id), reverse=True)
    return found


def _without_mark(value: Any) -> Any:
    """An input as its code received it: without the trace mark it may carry."""
    if not (isinstance(value, str) and value.startswith(_trace_mark.MARK)):
        return value
    text = _trace_mark.strip(value)
    try:
        return json.loads(text)
    except ValueError:
        return text


def instance_record(client: Client, instance_id: str) -> Dict[str, Any]:
    """Everything ``show`` prints about one instance (InstanceNotFoundError when unknown)."""
    info = client.get_instance_info(instance_id)
    created, updated = times_of(client, info)
    state = client.get_status(instance_id)
    history = client.read_execution_history(instance_id, 1)
    started = next((e for e in history if e.kind == "OrchestrationStarted"), None)
    started_data = started.fields if started else None
    return {
        "instance_id": info.instance_id,
        "orchestration": info.orchestration_name,
        "version": info.orchestration_version,
        "status": state.status,
        "execution": info.current_execution_id,
        "parent": info.parent_instance_id,
        "created_ms": created,
        "updated_ms": updated,
        "input": _without_mark(started_data.get("input")) if isinstance(started_data, dict) else None,
        "output": state.output if state.status == "Completed" else None,
        "error": state.error,
        "custom_status": state.custom_status,
        "kv": client.get_kv_all_values(instance_id),
    }


@dataclass
class Tree:
    root_id: str
    infos: Dict[str, InstanceInfo]
    children: Dict[Optional[str], List[str]]

    def walk(self) -> List[Tuple[int, InstanceInfo]]:
        """(depth, info) for every instance, parents before their children."""
        out: List[Tuple[int, InstanceInfo]] = []

        def visit(iid: str, depth: int) -> None:
            out.append((depth, self.infos[iid]))
            for child in sorted(self.children.get(iid, []), key=lambda c: (self.infos[c].created_at, c)):
                visit(child, depth + 1)

        for root in self.children.get(None, []):
            visit(root, 0)
        return out


def instance_tree(client: Client, instance_id: str) -> Tree:
    """The instance's root and every sub-orchestration under it."""
    tree = client.get_instance_tree(instance_id)
    infos = {i: client.get_instance_info(i) for i in tree.all_ids}
    children: Dict[Optional[str], List[str]] = {}
    for iid, info in infos.items():
        parent = info.parent_instance_id if info.parent_instance_id in infos else None
        if iid == tree.root_id:
            parent = None
        children.setdefault(parent, []).append(iid)
    return Tree(tree.root_id, infos, children)


def duration(ms: Optional[float]) -> str:
    """A span of milliseconds for people: "250 ms", "1.5 s", "3.0 min", "2.0 h"."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    if ms < 7_200_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"
