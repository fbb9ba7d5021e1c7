"""``RuntimeOptions``: how a runtime polls, how much it runs at once, how it logs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Optional, Tuple

from . import _validate
from ._native import gen
from .errors import InvalidArgumentError

__all__ = ["RuntimeOptions", "PyRuntimeOptions", "TagFilter"]

_LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "off")
_LOG_FORMATS = ("pretty", "json", "compact")
_DETERMINISM_CHECKS = ("sampled", "every_turn", "off")
_U32_MAX = 2**32 - 1
_MS_MAX = _validate.MAX_MILLIS  # ten years: anything longer is a mistake


@dataclass(frozen=True)
class TagFilter:
    """Which activities a runtime runs, by the tag they were scheduled with
    (``ctx.schedule_activity(...).with_tag("gpu")``).

    Build one with a class method: ``TagFilter.default_only()`` (untagged activities
    only: the default; also the constant ``TagFilter.DEFAULT_ONLY``), ``TagFilter.tags("gpu", ...)`` (only those tags),
    ``TagFilter.default_and("gpu", ...)`` (untagged and those tags), ``TagFilter.any()``
    (everything; ``TagFilter.ANY``) or ``TagFilter.none()`` (no activities: an
    orchestration-only runtime; ``TagFilter.NONE``). Tags may also be given as one list.
    At most ``MAX_WORKER_TAGS`` tags. ``new_guid``, ``utc_now`` and
    ``get_kv_value_from_instance`` run as untagged activities: some runtime of the
    deployment must take untagged work.
    """

    #: "default_only", "tags", "default_and", "any" or "none".
    kind: str = "default_only"
    #: The tags of a "tags" or "default_and" filter.
    names: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from .limits import MAX_TAG_NAME_BYTES, MAX_WORKER_TAGS

        if self.kind not in ("default_only", "tags", "default_and", "any", "none"):
            raise InvalidArgumentError(f"unknown tag filter kind {self.kind!r}")
        object.__setattr__(self, "names", tuple(self.names))
        takes_tags = self.kind in ("tags", "default_and")
        if takes_tags and not 1 <= len(self.names) <= MAX_WORKER_TAGS:
            raise InvalidArgumentError(
                f"TagFilter.{self.kind}() needs 1 to {MAX_WORKER_TAGS} tags (MAX_WORKER_TAGS), got {len(self.names)}"
            )
        if not takes_tags and self.names:
            raise InvalidArgumentError(f"TagFilter.{self.kind}() takes no tags")
        for tag in self.names:
            _validate.text("tag", tag)
            size = len(tag.encode("utf-8"))
            if size > MAX_TAG_NAME_BYTES:
                raise InvalidArgumentError(f"tag {tag[:40]!r}... is {size} bytes; the limit is {MAX_TAG_NAME_BYTES} (MAX_TAG_NAME_BYTES)")

    @classmethod
    def default_only(cls) -> "TagFilter":
        """Untagged activities only (the default)."""
        return cls("default_only")

    @classmethod
    def tags(cls, *tags: str) -> "TagFilter":
        """Only activities tagged with one of ``tags``."""
        return cls("tags", _flatten(tags))

    @classmethod
    def default_and(cls, *tags: str) -> "TagFilter":
        """Untagged activities and those tagged with one of ``tags``."""
        return cls("default_and", _flatten(tags))

    @classmethod
    def any(cls) -> "TagFilter":
        """Every activity, tagged or not."""
        return cls("any")

    @classmethod
    def none(cls) -> "TagFilter":
        """No activities: this runtime runs orchestrations only."""
        return cls("none")


# The original SDK's constants, beside the class methods.
TagFilter.DEFAULT_ONLY = TagFilter("default_only")  # type: ignore[attr-defined]
TagFilter.ANY = TagFilter("any")  # type: ignore[attr-defined]
TagFilter.NONE = TagFilter("none")  # type: ignore[attr-defined]


def _flatten(tags: Iterable[Any]) -> Tuple[str, ...]:
    items = list(tags)
    if len(items) == 1 and isinstance(items[0], (list, tuple, set, frozenset)):
        items = sorted(items[0]) if isinstance(items[0], (set, frozenset)) else list(items[0])
    return tuple(items)


def _default_replay_cache_size() -> int:
    # DUROXIDE_REPLAY_CACHE=0 turns the cache off process-wide (the test suite runs
    # once with it on and once with it off).
    value = os.environ.get("DUROXIDE_REPLAY_CACHE", "").strip().lower()
    if value in ("0", "off", "false", "no"):
        return 0
    return 1000


@dataclass(frozen=True)
class RuntimeOptions:
    """Options of a :class:`~duroxide.Runtime`; every value is checked when created.

    Also importable as ``PyRuntimeOptions``.
    """

    #: How often an idle dispatcher polls the store for work (ms).
    dispatcher_poll_interval_ms: int = 100
    #: PostgreSQL: how long an idle dispatcher waits for a notification of new work before
    #: polling anyway. It also bounds how late a runtime notices work whose lock expired
    #: (a crashed worker's), since lock expiry sends no notification. (SQLite ignores it.)
    dispatcher_long_poll_timeout_ms: int = 5_000
    #: Orchestration turns run at once. A turn mostly waits on the store (fetch, then
    #: commit), so 4 keep a 2-core machine busier than the core's 2 (performance.md).
    orchestration_concurrency: int = 4
    #: Activities run at once.
    worker_concurrency: int = 2
    #: Lock on an instance during a turn (renewed while the turn runs).
    orchestrator_lock_timeout_ms: int = 5_000
    #: Lock on a running activity; a cancelled activity notices within about half of it.
    worker_lock_timeout_ms: int = 30_000
    #: How long a cancelled activity may keep running before it is abandoned.
    activity_cancellation_grace_period_ms: int = 10_000
    #: Deliveries of one message before it is declared poison and its instance fails.
    max_attempts: int = 10
    #: First back-off when work names an orchestration or activity this runtime lacks.
    unregistered_backoff_ms: int = 1_000
    #: Sessions one runtime owns at once.
    max_sessions_per_runtime: int = 10
    #: An idle session is released after this long.
    session_idle_timeout_ms: int = 300_000
    #: Stable identity for session ownership (e.g. a pod name); None: generated.
    worker_node_id: Optional[str] = None
    #: Level of orchestration and activity traces: trace, debug, info, warn, error, off.
    log_level: str = "info"
    #: "pretty", "json" or "compact".
    log_format: str = "pretty"
    #: Added to every log line (JSON) or when set (text formats).
    service_name: str = "duroxide"
    service_version: Optional[str] = None
    #: Instances whose suspended generators are kept between turns so a turn replays
    #: from Rust without re-running Python (0: re-run every generator from the start on
    #: every turn). Default 1000, or 0 when the environment sets DUROXIDE_REPLAY_CACHE=0.
    replay_cache_size: int = field(default_factory=_default_replay_cache_size)
    #: With the replay cache on, a cached generator is never re-run, so code that yields
    #: differently when re-run (nondeterminism) would go unnoticed until the next replay
    #: from history. A fresh generator therefore re-runs the recorded steps in a
    #: verify-only mode (no actions, traces or effects) and the instance fails on any
    #: difference: "sampled" (default) at a cached generator's 1st, 2nd, 4th, 8th, ...
    #: turn and before every terminal step (return, failure, continue-as-new);
    #: "every_turn" (what tests use); "off".
    determinism_checks: str = "sampled"
    #: Which activity tags this runtime runs (default: untagged only).
    worker_tag_filter: TagFilter = field(default_factory=TagFilter.default_only)

    def __post_init__(self) -> None:
        _int("dispatcher_poll_interval_ms", self.dispatcher_poll_interval_ms, 1, 60_000)
        _int("dispatcher_long_poll_timeout_ms", self.dispatcher_long_poll_timeout_ms, 1, 600_000)
        _int("orchestration_concurrency", self.orchestration_concurrency, 1, 1024)
        _int("worker_concurrency", self.worker_concurrency, 1, 1024)
        _int("orchestrator_lock_timeout_ms", self.orchestrator_lock_timeout_ms, 1_000, _MS_MAX)
        _int("worker_lock_timeout_ms", self.worker_lock_timeout_ms, 1_000, _MS_MAX)
        _int("activity_cancellation_grace_period_ms", self.activity_cancellation_grace_period_ms, 0, _MS_MAX)
        _int("max_attempts", self.max_attempts, 1, _U32_MAX)
        _int("unregistered_backoff_ms", self.unregistered_backoff_ms, 1, 3_600_000)
        _int("max_sessions_per_runtime", self.max_sessions_per_runtime, 1, 1_000_000)
        _int("session_idle_timeout_ms", self.session_idle_timeout_ms, 1, _MS_MAX)
        # The core renews activity locks at (worker_lock_timeout - 5 s), or 1 s when
        # that is negative; a session must stay pinned longer than that.
        renewal = max(self.worker_lock_timeout_ms - 5_000, 0) or 1_000
        if self.session_idle_timeout_ms <= renewal:
            raise InvalidArgumentError(
                f"session_idle_timeout_ms ({self.session_idle_timeout_ms}) must be greater than "
                f"{renewal} ms, the activity lock renewal interval implied by worker_lock_timeout_ms "
                f"({self.worker_lock_timeout_ms})"
            )
        if self.worker_node_id is not None:
            _validate.identifier("worker_node_id", self.worker_node_id)
        _choice("log_level", self.log_level, _LOG_LEVELS)
        _choice("log_format", self.log_format, _LOG_FORMATS)
        _validate.text("service_name", self.service_name)
        if self.service_version is not None:
            _validate.text("service_version", self.service_version)
        _int("replay_cache_size", self.replay_cache_size, 0, 1_000_000)
        _choice("determinism_checks", self.determinism_checks, _DETERMINISM_CHECKS)
        if not isinstance(self.worker_tag_filter, TagFilter):
            raise TypeError(
                f"worker_tag_filter must be a TagFilter (e.g. TagFilter.tags('gpu')), got {type(self.worker_tag_filter).__name__}"
            )

    def _to_native(self) -> Any:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        tag_filter: TagFilter = values.pop("worker_tag_filter")
        checks = {
            "sampled": gen.DeterminismChecks.SAMPLED,
            "every_turn": gen.DeterminismChecks.EVERY_TURN,
            "off": gen.DeterminismChecks.OFF,
        }[values.pop("determinism_checks")]
        return gen.RuntimeConfig(
            **values, determinism_checks=checks, worker_tag_filter=tag_filter.kind, worker_tags=list(tag_filter.names)
        )


#: The name the earlier SDK used; the same class.
PyRuntimeOptions = RuntimeOptions


def _int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _choice(name: str, value: object, allowed: Tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidArgumentError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
