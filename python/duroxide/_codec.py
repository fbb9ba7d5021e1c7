"""JSON encoding of payloads (inputs, outputs, event data) as they cross into Rust."""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

from ._activity_tag import NO_TAG
from .errors import InvalidArgumentError, PayloadError

def _null_for_no_tag(value: Any) -> Any:
    if value is NO_TAG:  # ActivityContext.tag of an untagged activity is JSON null
        return None
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encoder = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=_null_for_no_tag)
_decode = json.JSONDecoder().decode


def encoder(default: Callable[[Any], Any]) -> json.JSONEncoder:
    """A compact JSON encoder that asks ``default`` for the values JSON does not know."""
    return json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=default)


def encode(value: Any, what: str, with_encoder: Optional[json.JSONEncoder] = None) -> str:
    """JSON text of ``value``; ``what`` names the payload in the error message.

    Raises TypeError for values JSON cannot represent (naming their type) and
    ValueError for NaN/Infinity, circular references and nesting too deep to encode.
    """
    try:
        return (with_encoder or _encoder).encode(value)
    except TypeError as e:
        raise TypeError(f"{what} cannot be encoded as JSON: {e}") from None
    except RecursionError:
        raise InvalidArgumentError(f"{what} is nested too deeply to encode as JSON") from None
    except ValueError as e:
        raise InvalidArgumentError(f"{what} cannot be encoded as JSON: {e}") from None


def decode(text: str) -> Any:
    """The value of JSON ``text``; text that is not JSON (from a non-SDK producer) is
    returned as the string itself. JSON nested too deeply for Python to decode here raises
    :class:`~duroxide.PayloadError` rather than coming back as text."""
    try:
        return _decode(text)
    except ValueError:
        return text
    except RecursionError:
        raise PayloadError(
            f"a payload of {len(text)} characters is JSON nested too deeply to decode at this call depth "
            "(raise sys.setrecursionlimit, or keep payloads shallower)"
        ) from None


def encode_typed(value: Any, what: str) -> str:
    """The ``*_typed`` encoding: a ``str`` is sent as is, anything else as JSON (the
    convention of the core's typed helpers, which send a JSON string unquoted). A ``str``
    the stores cannot hold (NUL, lone surrogates) raises InvalidArgumentError."""
    if isinstance(value, str):
        from ._validate import text

        return text(what, value, allow_empty=True)
    return encode(value, what)


def storable(message: str) -> str:
    """``message`` with what the stores cannot hold escaped: NUL as ``\\x00`` (PostgreSQL
    refuses it), lone surrogates as ``\\udXXX`` (not UTF-8). For failure messages, which
    must always be recorded."""
    if "\x00" in message:
        message = message.replace("\x00", "\\x00")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return message
