"""Validation of the retry-policy dict accepted by ``schedule_activity_with_retry``."""

from __future__ import annotations

from typing import Any, Dict, Mapping

from ._validate import MAX_MILLIS
from .errors import InvalidArgumentError

_MAX_ATTEMPTS = 2**31 - 1

BACKOFFS = ("none", "fixed", "linear", "exponential")

_DEFAULTS: Dict[str, Any] = {
    "max_attempts": 3,
    "backoff": "exponential",
    "delay_ms": 100,
    "max_delay_ms": 30_000,
    "multiplier": 2.0,
    "timeout_ms": None,
    "total_timeout_ms": None,
}
# "backoff_strategy" is the spelling of the user guide's retry-on-session example.
# Other spellings, the original SDK's camelCase among them.
_ALIASES = {
    "backoff_strategy": "backoff",
    "maxAttempts": "max_attempts",
    "delayMs": "delay_ms",
    "maxDelayMs": "max_delay_ms",
    "timeoutMs": "timeout_ms",
    "totalTimeoutMs": "total_timeout_ms",
}


def _non_negative_int(key: str, value: Any, minimum: int = 0, maximum: int = MAX_MILLIS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidArgumentError(
            f"retry policy: {key} must be an integer from {minimum} to {maximum}, got {value!r}"
        )
    return value


def normalize(policy: Mapping[str, Any]) -> Dict[str, Any]:
    """The policy with defaults filled in, or ValueError naming the bad key."""
    if not isinstance(policy, Mapping):
        raise TypeError(f"retry policy must be a dict, got {type(policy).__name__}")
    out = dict(_DEFAULTS)
    for key, value in policy.items():
        key = _ALIASES.get(key, key)
        if key not in _DEFAULTS:
            allowed = ", ".join(sorted([*_DEFAULTS, *_ALIASES]))
            raise InvalidArgumentError(f"retry policy: unknown key {key!r} (accepted: {allowed})")
        out[key] = value
    _non_negative_int("max_attempts", out["max_attempts"], 1, _MAX_ATTEMPTS)
    if out["backoff"] not in BACKOFFS:
        raise InvalidArgumentError(f"retry policy: backoff must be one of {BACKOFFS}, got {out['backoff']!r}")
    _non_negative_int("delay_ms", out["delay_ms"])
    _non_negative_int("max_delay_ms", out["max_delay_ms"])
    m = out["multiplier"]
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not (1.0 <= m <= 100.0):
        raise InvalidArgumentError(f"retry policy: multiplier must be a number from 1 to 100, got {m!r}")
    out["multiplier"] = float(m)
    for key in ("timeout_ms", "total_timeout_ms"):
        if out[key] is not None:
            _non_negative_int(key, out[key], 1)
    return out
