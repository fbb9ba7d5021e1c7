"""Data converters: how Python values become payloads (JSON text) and back.

The default, :class:`JsonConverter`, writes plain JSON values exactly as before (dicts,
lists, str, int, float, bool, None: existing histories stay readable) and also encodes

* dataclasses (nested) and ``pydantic.BaseModel`` (v2, when pydantic is installed) as
  JSON objects of their fields,
* ``enum.Enum`` as its value, ``datetime``/``date``/``time`` as ISO 8601 text, ``UUID``
  and ``Decimal`` as text, ``bytes`` as base64 text, tuples as lists. (Sets are refused:
  their order is not stable, and a payload must be the same on every replay.)

Decoding is driven by a type: ``from_payload(text, Order)`` builds an ``Order`` (fields
decoded by their own annotations), and ``Optional``, ``Union``, ``list[X]``,
``dict[str, X]``, ``tuple[...]``, ``Literal`` and the types above work at any depth. A value
that cannot become its type raises :class:`~duroxide.PayloadError` naming the field path
and the expected type (``order.items[2].price: expected Decimal, got 'abc'``).

Subclass :class:`JsonConverter` (override ``encode_object`` / ``from_json``) for other types,
and pass the same converter to every ``Runtime`` and ``Client`` of a deployment.
"""

from __future__ import annotations

import base64
import binascii
import json
import dataclasses
import datetime as _dt
import decimal
import enum
import sys
import types
import typing
import uuid
from typing import Any, Dict, Optional, Tuple

from . import _codec
from ._activity_tag import NO_TAG
from .errors import PayloadError

__all__ = ["DataConverter", "JsonConverter", "PayloadCodec", "DEFAULT_CONVERTER", "CODEC_MARK"]

_NONE_TYPE = type(None)
# `Optional[X]`, `Union[X, Y]`, and `X | Y` (Python 3.10+).
_UNIONS = (typing.Union,) + ((types.UnionType,) if hasattr(types, "UnionType") else ())


def _pydantic_model() -> Any:  # pydantic.BaseModel, or None
    module = sys.modules.get("pydantic")  # only when the application imported it
    return getattr(module, "BaseModel", None) if module is not None else None


class PayloadCodec:
    """Bytes to bytes over every stored payload: compression, encryption. ``decode``
    must undo ``encode``; both must be deterministic enough that decoding never depends
    on when or where it runs (a replay decodes what an earlier process encoded)."""

    def encode(self, data: bytes) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> bytes:
        raise NotImplementedError


#: The prefix of a payload a codec encoded (the rest is base64 of the codec's bytes).
CODEC_MARK = "duroxide-codec:"


class DataConverter:
    """Turns values into payload text and back. See :class:`JsonConverter`."""

    def seal(self, text: str) -> str:
        """``text`` as stored (the codec's encoding, when there is one)."""
        return text

    def unseal(self, text: str) -> str:
        """What :meth:`seal` was given."""
        return text

    def to_payload(self, value: Any, what: str) -> str:
        """The payload text of ``value``; ``what`` names it in errors (TypeError for a
        value this converter cannot encode, naming its type)."""
        raise NotImplementedError

    def from_payload(self, text: str, hint: Any = Any, what: str = "payload") -> Any:
        """The value of payload ``text`` as type ``hint`` (``Any``: as decoded JSON)."""
        raise NotImplementedError

    def from_json(self, value: Any, hint: Any, path: str = "payload") -> Any:
        """``value`` (decoded JSON, as a task's result arrives) as type ``hint``. This
        default goes through :meth:`from_payload`; :class:`JsonConverter` decodes directly."""
        return self.from_payload(self.seal(json.dumps(value)), hint, path)


class JsonConverter(DataConverter):
    """JSON, with the richer types of the module docstring. With a ``codec``
    (:class:`PayloadCodec`), every payload the SDK stores — inputs, results, event data,
    custom status, KV values — is the codec's encoding of that JSON instead."""

    def __init__(self, codec: Optional[PayloadCodec] = None) -> None:
        # The C encoder writes JSON values itself (byte for byte as before) and calls
        # `encode_object` only for the values it does not know.
        self._encoder = _codec.encoder(self._default)
        self._payload_codec = codec

    def seal(self, text: str) -> str:
        if self._payload_codec is None:
            return text
        sealed = self._payload_codec.encode(text.encode("utf-8"))
        if not isinstance(sealed, bytes):
            raise TypeError(f"the payload codec's encode() must return bytes, got {type(sealed).__name__}")
        return CODEC_MARK + base64.b64encode(sealed).decode("ascii")

    def unseal(self, text: str) -> str:
        if not text.startswith(CODEC_MARK):
            return text  # written without a codec (before one was configured): as it is
        if self._payload_codec is None:
            raise PayloadError(
                "this payload was written with a payload codec; give this client or runtime a "
                "JsonConverter(codec=...) with the same codec to read it"
            )
        try:
            raw = self._payload_codec.decode(base64.b64decode(text[len(CODEC_MARK):].encode("ascii"), validate=True))
            return raw.decode("utf-8")
        except Exception as e:  # noqa: BLE001 - a wrong key, a corrupted value
            raise PayloadError(f"the payload codec could not decode a payload: {type(e).__name__}: {e}") from None

    # -- encoding -------------------------------------------------------------------------

    def to_payload(self, value: Any, what: str) -> str:
        return self.seal(_codec.encode(value, what, self._encoder))

    def _default(self, value: Any) -> Any:
        if value is NO_TAG:
            return None
        return self.encode_object(value)

    def encode_object(self, value: Any) -> Any:
        """A JSON-ready stand-in for a value JSON does not know (it may hold further such
        values); TypeError when there is none. Override to add types, calling ``super()``
        for the rest."""
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        model = _pydantic_model()
        if model is not None and isinstance(value, model):
            return typing.cast(Any, value).model_dump(mode="json")
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
            return value.isoformat()
        if isinstance(value, (uuid.UUID, decimal.Decimal)):
            return str(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(value)).decode("ascii")
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    # -- decoding -------------------------------------------------------------------------

    def from_payload(self, text: str, hint: Any = Any, what: str = "payload") -> Any:
        value = _codec.decode(self.unseal(text))
        if hint is Any or hint is None or hint is object:
            return value
        return self.from_json(value, hint, what)

    def from_json(self, value: Any, hint: Any, path: str = "payload") -> Any:
        """``value`` (decoded JSON) as type ``hint``; PayloadError naming ``path``."""
        if hint is Any or hint is object or isinstance(hint, typing.TypeVar):
            return value
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin in _UNIONS:
            return self._union(value, args, path)
        if origin is typing.Literal:
            if value in args:
                return value
            raise self._mismatch(path, hint, value)
        if origin in (list, typing.List, set, frozenset, typing.Sequence, typing.Iterable):
            self._expect(isinstance(value, list), path, hint, value)
            item = args[0] if args else Any
            items = [self.from_json(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
            return set(items) if origin is set else frozenset(items) if origin is frozenset else items
        if origin is tuple:
            self._expect(isinstance(value, list), path, hint, value)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(self.from_json(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
            self._expect(not args or len(args) == len(value), path, hint, value)
            return tuple(self.from_json(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args or [Any] * len(value))))
        if origin in (dict, typing.Dict, typing.Mapping):
            self._expect(isinstance(value, dict), path, hint, value)
            key_type, value_type = args if args else (Any, Any)
            return {self.from_json(k, key_type, f"{path}.<key>"): self.from_json(v, value_type, f"{path}[{k!r}]")
                    for k, v in value.items()}
        if origin is not None:
            return value  # another generic (Callable, ...): left as decoded
        if not isinstance(hint, type):
            return value
        return self._of_class(value, hint, path)

    def _of_class(self, value: Any, cls: type, path: str) -> Any:
        if cls is _NONE_TYPE:
            self._expect(value is None, path, cls, value)
            return None
        if issubclass(cls, enum.Enum):
            try:
                return cls(value)
            except ValueError:
                raise self._mismatch(path, cls, value, f"one of {[m.value for m in cls]}") from None
        if cls is bool:
            self._expect(isinstance(value, bool), path, cls, value)
            return value
        if cls is int:
            self._expect(isinstance(value, int) and not isinstance(value, bool), path, cls, value)
            return value
        if cls is float:
            self._expect(isinstance(value, (int, float)) and not isinstance(value, bool), path, cls, value)
            return float(value)
        if cls is str:
            self._expect(isinstance(value, str), path, cls, value)
            return value
        if dataclasses.is_dataclass(cls):
            return self._dataclass(value, cls, path)
        model = _pydantic_model()
        if model is not None and issubclass(cls, model):
            try:
                return typing.cast(Any, cls).model_validate(value)
            except Exception as e:  # noqa: BLE001 - pydantic's ValidationError, with its field paths
                raise PayloadError(f"{path}: not a valid {cls.__name__}: {e}") from None
        parse = _PARSERS.get(cls)
        if parse is not None:
            try:
                return parse(value)
            except (TypeError, ValueError, decimal.InvalidOperation, binascii.Error):
                raise self._mismatch(path, cls, value) from None
        if cls in (list, dict, tuple):
            self._expect(isinstance(value, list if cls is not dict else dict), path, cls, value)
            return cls(value) if cls is tuple else value
        if isinstance(value, cls):
            return value
        raise self._mismatch(path, cls, value)

    def _dataclass(self, value: Any, cls: type, path: str) -> Any:
        self._expect(isinstance(value, dict), path, cls, value, "a JSON object")
        try:
            hints = typing.get_type_hints(cls)
        except Exception:  # noqa: BLE001 - unresolvable annotations: take fields as they come
            hints = {}
        kwargs: Dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            if field.name in value:
                kwargs[field.name] = self.from_json(value[field.name], hints.get(field.name, Any), f"{path}.{field.name}")
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise PayloadError(f"{path}.{field.name}: missing (required by {cls.__name__})")
        return cls(**kwargs)

    def _union(self, value: Any, options: Tuple[Any, ...], path: str) -> Any:
        if value is None and _NONE_TYPE in options:
            return None
        errors = []
        for option in options:
            if option is _NONE_TYPE:
                continue
            try:
                return self.from_json(value, option, path)
            except PayloadError as e:
                errors.append(str(e))
        names = " | ".join(_name(o) for o in options)
        raise PayloadError(f"{path}: expected {names}, got {_short(value)}")

    @staticmethod
    def _expect(ok: bool, path: str, hint: Any, value: Any, wanted: Optional[str] = None) -> None:
        if not ok:
            raise JsonConverter._mismatch(path, hint, value, wanted)

    @staticmethod
    def _mismatch(path: str, hint: Any, value: Any, wanted: Optional[str] = None) -> PayloadError:
        return PayloadError(f"{path}: expected {wanted or _name(hint)}, got {_short(value)}")


def _name(hint: Any) -> str:
    if hint is _NONE_TYPE:
        return "None"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _short(value: Any) -> str:
    text = repr(value)
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"


def _datetime(value: Any) -> _dt.datetime:
    if not isinstance(value, str):
        raise TypeError
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _date(value: Any) -> _dt.date:
    if not isinstance(value, str):
        raise TypeError
    return _dt.date.fromisoformat(value)


def _time(value: Any) -> _dt.time:
    if not isinstance(value, str):
        raise TypeError
    return _dt.time.fromisoformat(value)


def _bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError
    return base64.b64decode(value.encode("ascii"), validate=True)


def _decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError
    return decimal.Decimal(str(value))


def _uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise TypeError
    return uuid.UUID(value)


_PARSERS = {
    _dt.datetime: _datetime,
    _dt.date: _date,
    _dt.time: _time,
    uuid.UUID: _uuid,
    decimal.Decimal: _decimal,
    bytes: _bytes,
}

#: The converter every Runtime and Client uses unless given another.
DEFAULT_CONVERTER = JsonConverter()
