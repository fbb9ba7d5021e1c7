"""An execution's history as bars over time: what the dashboard draws.

Each activity, timer and sub-orchestration becomes a bar from the event that scheduled it
to the event that completed it (``source_event_id``); one still waiting runs to the last
event. An activity scheduled again after the same activity failed is a retry. External
events and the orchestration's start and end are instants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from .._views import duration
from ..admin import HistoryEvent

_STARTS = {"ActivityScheduled": "activity", "TimerCreated": "timer", "SubOrchestrationScheduled": "sub-orchestration"}
_ENDS_OK = {"ActivityCompleted", "TimerFired", "SubOrchestrationCompleted"}
_ENDS_FAILED = {"ActivityFailed", "SubOrchestrationFailed"}
_INSTANTS = {
    "OrchestrationStarted": "started",
    "OrchestrationCompleted": "completed",
    "OrchestrationFailed": "failed",
    "OrchestrationContinuedAsNew": "continued as new",
    "OrchestrationCancelRequested": "cancel requested",
    "ExternalEvent": "event",
    "QueueEventDelivered": "queue message",
}


@dataclass
class Bar:
    """One piece of work on the timeline."""

    kind: str  # "activity", "timer" or "sub-orchestration"
    label: str
    start_ms: int
    end_ms: int
    #: "ok", "failed" or "running" (not finished by the last event).
    outcome: str
    #: 1 for a first call; 2, 3, ... when it follows a failed call of the same activity.
    attempt: int = 1
    #: The child instance of a sub-orchestration.
    child_id: Optional[str] = None
    detail: str = ""


@dataclass
class Instant:
    """Something that happened at one moment (an external event, the end)."""

    label: str
    at_ms: int
    failed: bool = False


@dataclass
class Timeline:
    start_ms: int
    end_ms: int
    bars: List[Bar] = field(default_factory=list)
    instants: List[Instant] = field(default_factory=list)

    @property
    def span_ms(self) -> int:
        return max(1, self.end_ms - self.start_ms)


def _fields(event: HistoryEvent) -> Dict[str, Any]:
    try:
        value = json.loads(event.data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _error_text(fields: Dict[str, Any]) -> str:
    details = fields.get("details")
    if isinstance(details, dict):
        for inner in details.values():
            if isinstance(inner, dict) and "message" in inner:
                return str(inner["message"])
        return json.dumps(details)[:300]
    return ""


def build(events: Sequence[HistoryEvent], now_ms: Optional[int] = None) -> Timeline:
    """The timeline of one execution's events (in history order)."""
    if not events:
        return Timeline(0, 1)
    start = events[0].timestamp_ms
    last = max(e.timestamp_ms for e in events)
    end = max(last, now_ms or 0) if now_ms is not None else last
    timeline = Timeline(start, max(end, start + 1))
    open_bars: Dict[int, Bar] = {}
    failed_before: Dict[str, int] = {}
    for event in events:
        fields = _fields(event)
        if event.kind in _STARTS:
            kind = _STARTS[event.kind]
            name = str(fields.get("name", "")) if kind != "timer" else "timer"
            attempt = 1 + failed_before.get(name, 0) if kind == "activity" else 1
            if kind == "timer" and "fire_at_ms" in fields:
                name = f"timer {duration(int(fields['fire_at_ms']) - event.timestamp_ms)}"
            bar = Bar(kind, name, event.timestamp_ms, end, "running", attempt)
            if kind == "sub-orchestration":
                bar.child_id = fields.get("instance")
            open_bars[event.event_id] = bar
            timeline.bars.append(bar)
        elif event.source_event_id in open_bars and (event.kind in _ENDS_OK or event.kind in _ENDS_FAILED):
            bar = open_bars.pop(event.source_event_id)
            bar.end_ms = event.timestamp_ms
            bar.outcome = "ok" if event.kind in _ENDS_OK else "failed"
            if bar.outcome == "failed":
                bar.detail = _error_text(fields)
                if bar.kind == "activity":
                    failed_before[bar.label] = failed_before.get(bar.label, 0) + 1
        if event.kind in _INSTANTS:
            label = _INSTANTS[event.kind]
            if event.kind == "ExternalEvent":
                label = f"event {fields.get('name', '')}"
            timeline.instants.append(Instant(label, event.timestamp_ms, event.kind == "OrchestrationFailed"))
    return timeline


# -- the picture ------------------------------------------------------------------------------

ROW, LABEL_W, PLOT_W, TOP = 26, 240, 720, 34


def layout(timeline: Timeline) -> Dict[str, Any]:
    """Coordinates for the SVG template: one row per bar, instants as ticks on top."""
    scale = PLOT_W / timeline.span_ms

    def x(ms: int) -> float:
        return LABEL_W + (ms - timeline.start_ms) * scale

    rows = []
    for i, bar in enumerate(timeline.bars):
        left = x(bar.start_ms)
        width = max(3.0, x(bar.end_ms) - left)
        label = bar.label + (f" (attempt {bar.attempt})" if bar.attempt > 1 else "")
        rows.append({
            "bar": bar,
            "label": label,
            "x": round(left, 1),
            "y": TOP + i * ROW,
            "width": round(width, 1),
            "took": duration(bar.end_ms - bar.start_ms),
        })
    ticks = [{"instant": t, "x": round(x(t.at_ms), 1)} for t in timeline.instants]
    return {
        "rows": rows,
        "ticks": ticks,
        "width": LABEL_W + PLOT_W + 90,
        "height": TOP + max(1, len(rows)) * ROW + 24,
        "label_w": LABEL_W,
        "plot_w": PLOT_W,
        "top": TOP,
        "row": ROW,
        "total": duration(timeline.span_ms),
    }
