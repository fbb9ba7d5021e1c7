"""How commands print: aligned tables for people, JSON for scripts, times and payloads
shortened to fit a line."""

from __future__ import annotations

import datetime as _dt
import json
import sys
from dataclasses import asdict, is_dataclass
from typing import Any, List, Optional, Sequence

from .._views import duration as duration  # re-exported: the commands import it from here


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """An aligned text table on stdout (the last column is never padded)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        padded = [c.ljust(widths[i]) for i, c in enumerate(row[:-1])] + [row[-1]]
        print("  ".join(padded).rstrip())


def as_json(value: Any) -> None:
    """One JSON document on stdout (dataclass records become objects)."""
    print(json.dumps(_plain(value), indent=2, default=str))


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def when(ms: Optional[int]) -> str:
    """Milliseconds since the epoch as local `YYYY-MM-DD HH:MM:SS.mmm`."""
    if not ms:
        return "-"
    moment = _dt.datetime.fromtimestamp(ms / 1000)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def short(text: Optional[str], limit: int = 80) -> str:
    if text is None:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def note(message: str) -> None:
    """A line for people on stderr (kept out of stdout, which scripts parse)."""
    print(message, file=sys.stderr)
