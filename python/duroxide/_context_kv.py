"""An orchestration's key-value state: the ``ctx.*kv*`` methods.

Values are strings; other JSON values are stored as their JSON text. The state belongs to
the instance, survives ``continue_as_new`` and can be read by clients
(``client.get_kv_value``) and by other orchestrations
(``yield ctx.get_kv_value_from_instance(...)``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import _validate
from ._native import translate_errors
from .tasks import Task


class KvMethods:
    """Mixed into :class:`~duroxide.OrchestrationContext`."""

    __slots__ = ()
    _native: Any
    _converter: Any

    def set_kv_value(self, key: str, value: Any) -> None:
        """Set ``key`` to ``value`` (a ``str`` as is, anything else as JSON text).

        Raises :class:`~duroxide.InvalidArgumentError` when the value is over
        ``MAX_KV_VALUE_BYTES`` or a new key would exceed ``MAX_KV_KEYS``.
        """
        _validate.identifier("KV key", key)
        if isinstance(value, str):
            _validate.text(f"KV value for {key!r}", value, allow_empty=True)
            text = self._converter.seal(value)
        else:
            text = self._converter.to_payload(value, f"KV value for {key!r}")
        _validate.text(f"KV value for {key!r}", text, allow_empty=True)
        with translate_errors():
            self._native.set_kv_value(key, text)

    def get_kv_value(self, key: str) -> Optional[str]:
        """The value of ``key``, or None when it is not set."""
        _validate.identifier("KV key", key)
        with translate_errors():
            value = self._native.get_kv_value(key)
        return None if value is None else self._converter.unseal(value)

    def get_kv_all_values(self) -> Dict[str, str]:
        """Every key and its value."""
        with translate_errors():
            values = self._native.get_kv_all_values()
        return {k: self._converter.unseal(v) for k, v in values.items()}

    def get_kv_all_keys(self) -> List[str]:
        """Every key, sorted."""
        with translate_errors():
            return list(self._native.get_kv_all_keys())

    def get_kv_length(self) -> int:
        """How many keys are set."""
        with translate_errors():
            return int(self._native.get_kv_length())

    def clear_kv_value(self, key: str) -> None:
        """Remove ``key`` (nothing happens when it is not set)."""
        _validate.identifier("KV key", key)
        with translate_errors():
            self._native.clear_kv_value(key)

    def clear_all_kv_values(self) -> None:
        """Remove every key."""
        with translate_errors():
            self._native.clear_all_kv_values()

    def prune_kv_values_updated_before(self, updated_before_ms: Optional[int] = None, *, cutoff_ms: Optional[int] = None) -> int:
        """Remove the keys last written before ``updated_before_ms`` (milliseconds since
        the epoch, e.g. from ``yield ctx.utc_now()``); returns how many were removed.

        The engine (duroxide 0.1.32) stamps a key written in the *current* execution with
        the time of the latest replay, so in practice this removes keys written before the
        last ``continue_as_new``: call it at the start of an execution.
        """
        if (updated_before_ms is None) == (cutoff_ms is None):
            raise TypeError("pass updated_before_ms (or the original SDK's cutoff_ms), exactly one")
        cutoff = _validate.epoch_ms("updated_before_ms", updated_before_ms if cutoff_ms is None else cutoff_ms)
        with translate_errors():
            return int(self._native.prune_kv_values_updated_before(cutoff))

    def get_kv_value_from_instance(self, instance_id: str, key: str) -> Task[Any]:
        """Yields the value of ``key`` in another instance's state (None when unset).

        It reads the store through a system activity, so the value is recorded and
        replays identically; it needs a runtime that takes untagged activities.
        """
        _validate.text("instance_id", instance_id)
        _validate.identifier("KV key", key)
        return Task("kv_from_instance", {"t": "kv_of", "instance": instance_id, "key": key})
