"""Checks of the strings that cross into Rust as they are (names, ids, raw values).

Payloads are JSON-encoded first (which escapes everything), but names, instance ids,
custom statuses and key-value values are stored as given, so text the stores cannot hold
is refused here, before anything is stored, with a message that says what is wrong:
a lone surrogate is not UTF-8 (Rust strings are), and PostgreSQL rejects NUL.
"""

from __future__ import annotations

from typing import Any


def text(what: str, value: Any, *, allow_empty: bool = False) -> str:
    """``value`` when it is a string the stores can hold, else ValueError naming ``what``."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {value!r} ({type(value).__name__})")
    if not value and not allow_empty:
        raise ValueError(f"{what} must be a non-empty string")
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character (\\x00), which the stores cannot hold")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"{what} is not valid Unicode text: a lone surrogate {value[e.start]!r} at position {e.start}"
        ) from None
    return value


def name(what: str, value: Any) -> str:
    """A non-empty, non-blank name."""
    text(what, value)
    if not value.strip():
        raise ValueError(f"{what} must not be blank, got {value!r}")
    return value


def instance_id(value: Any) -> str:
    """An instance id a client or an orchestration may start."""
    text("instance_id", value)
    if value.startswith("sub::") or "::sub::" in value:
        raise ValueError(f"instance_id {value!r} uses the reserved marker 'sub::'")
    return value


def millis(what: str, value: Any) -> int:
    """A non-negative number of milliseconds (an int, or a float that is not NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise ValueError(f"{what} must be a number of milliseconds >= 0, got {value!r}")
    if value == float("inf") or value > _MAX_MILLIS:
        raise ValueError(f"{what} must be at most {_MAX_MILLIS} ms, got {value!r}")
    return int(value)


_MAX_MILLIS = 2**63 - 1
