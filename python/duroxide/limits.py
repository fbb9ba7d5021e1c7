"""The engine's hard limits, read from the native core so they never drift from it.

Exceeding one raises at the call that would cross it (``InvalidArgumentError``, a
``ValueError``) before anything is stored.
"""

from __future__ import annotations

from ._native import gen

__all__ = [
    "MAX_KV_KEYS",
    "MAX_KV_VALUE_BYTES",
    "MAX_WORKER_TAGS",
    "MAX_TAG_NAME_BYTES",
    "MAX_CUSTOM_STATUS_BYTES",
    "MAX_CARRY_FORWARD_EVENTS",
]

_limits = gen.limits()

#: Keys one instance may hold in its key-value state.
MAX_KV_KEYS: int = _limits.max_kv_keys
#: Bytes (UTF-8) of one key-value value.
MAX_KV_VALUE_BYTES: int = _limits.max_kv_value_bytes
#: Tags one runtime's ``TagFilter`` may name.
MAX_WORKER_TAGS: int = _limits.max_worker_tags
#: Bytes (UTF-8) of one activity tag.
MAX_TAG_NAME_BYTES: int = _limits.max_tag_name_bytes
#: Bytes (UTF-8) of a custom status.
MAX_CUSTOM_STATUS_BYTES: int = _limits.max_custom_status_bytes
#: Unread queue messages carried into the next execution by ``continue_as_new``.
MAX_CARRY_FORWARD_EVENTS: int = _limits.max_carry_forward_events
