"""Checks of the strings that cross into Rust as they are (names, ids, raw values).

Payloads are JSON-encoded first (which escapes everything), but names, instance ids,
custom statuses and key-value values are stored as given, so text the stores cannot hold
is refused here, before anything is stored, with a message that says what is wrong:
a lone surrogate is not UTF-8 (Rust strings are), and PostgreSQL rejects NUL.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidArgumentError


def text(what: str, value: object, *, allow_empty: bool = False) -> str:
    """``value`` when it is a string the stores can hold, else ValueError naming ``what``."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, got {value!r} ({type(value).__name__})")
    if not value and not allow_empty:
        raise InvalidArgumentError(f"{what} must be a non-empty string")
    if "\x00" in value:
        raise InvalidArgumentError(f"{what} contains a NUL character (\\x00), which the stores cannot hold")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(
            f"{what} is not valid Unicode text: a lone surrogate {value[e.start]!r} at position {e.start}"
        ) from None
    return value


def name(what: str, value: object) -> str:
    """A non-empty, non-blank name."""
    value = text(what, value)
    if not value.strip():
        raise InvalidArgumentError(f"{what} must not be blank, got {value!r}")
    return value


#: Longest instance id, session id, KV key or worker node id, in UTF-8 bytes: the stores
#: index these, and PostgreSQL refuses index entries over about 2.7 KB.
MAX_ID_BYTES = 1024


def identifier(what: str, value: object) -> str:
    """A string the stores index: valid text of at most ``MAX_ID_BYTES`` bytes."""
    value = text(what, value)
    size = len(value.encode("utf-8"))
    if size > MAX_ID_BYTES:
        raise InvalidArgumentError(f"{what} is {size} bytes long; the limit is {MAX_ID_BYTES} bytes of UTF-8")
    return value


def instance_id(value: object) -> str:
    """An instance id a client or an orchestration may start."""
    value = identifier("instance_id", value)
    if value.startswith("sub::") or "::sub::" in value:
        raise InvalidArgumentError(f"instance_id {value!r} uses the reserved marker 'sub::'")
    return value


_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def version(what: str, value: Any) -> str:
    """A semantic version like "1.0.2"."""
    if not isinstance(value, str) or not _SEMVER.match(value):
        raise InvalidArgumentError(f"{what} must be a semantic version like '1.0.0', got {value!r}")
    return value


def millis(what: str, value: Any) -> int:
    """A non-negative number of milliseconds (an int, or a float that is not NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise InvalidArgumentError(f"{what} must be a number of milliseconds >= 0, got {value!r}")
    if value == float("inf") or value > MAX_MILLIS:
        raise InvalidArgumentError(f"{what} must be at most {MAX_MILLIS} ms (ten years), got {value!r}")
    return int(value)


def epoch_ms(what: str, value: Any) -> int:
    """A point in time as milliseconds since the epoch (an int >= 0)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidArgumentError(f"{what} must be milliseconds since the epoch (an int >= 0), got {value!r}")
    return value


#: Longest duration accepted anywhere (timers, timeouts, delays): ten years. The stores
#: keep times as epoch milliseconds; far larger values overflow them.
MAX_MILLIS = 10 * 365 * 24 * 3600 * 1000
