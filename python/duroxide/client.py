"""``Client``: start orchestrations, send them events, read and wait for their state."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Dict, Generator, Generic, Optional, Type, TypeVar, Union, overload

from . import _observe, _validate
from ._client_admin import AdminMethods
from ._codec import decode, encode_typed
from ._signatures import name_of
from .converter import DEFAULT_CONVERTER, DataConverter
from ._native import gen, translate_errors
from .errors import DuroxideTimeoutError, InvalidArgumentError, OrchestrationFailedError
from .providers import Provider

if TYPE_CHECKING:
    #: A registered orchestration taking ``I``: a generator function or ``async def``. (Its
    #: ``ctx`` is Any here: duroxide.context imports this module, not the reverse.)
    OrchestrationFn = Callable[[Any, "I"], Union[Generator[Any, Any, Any], Coroutine[Any, Any, Any]]]

__all__ = ["Client", "OrchestrationResult"]

# Blocking waits return to Python this often so Ctrl-C (KeyboardInterrupt) gets through.
_WAIT_SLICE_MS = 250

R = TypeVar("R")
T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - an orchestration's input type


class OrchestrationResult(Generic[R]):
    """The state of an orchestration instance. ``OrchestrationResult[Receipt]`` (from a
    call given ``result_type=Receipt``) types ``output`` as ``Optional[Receipt]``."""

    __slots__ = ("status", "output", "error", "custom_status", "custom_status_version")

    def __init__(
        self, state: Any, converter: DataConverter = DEFAULT_CONVERTER, result_type: Any = Any
    ) -> None:
        #: "Running", "Completed", "Failed" or "NotFound".
        self.status: str = state.status
        #: The orchestration's return value when Completed (as ``result_type`` when the
        #: call gave one, else the decoded JSON), else None.
        self.output: Optional[R] = None if state.output is None else converter.from_payload(state.output, result_type, "output")
        #: The failure message when Failed, else None.
        self.error: Optional[str] = state.error
        #: The last custom status the orchestration set, or None.
        self.custom_status: Optional[str] = (
            None if state.custom_status is None else converter.unseal(state.custom_status)
        )
        #: Increases with every custom status change.
        self.custom_status_version: int = state.custom_status_version

    @property
    def is_terminal(self) -> bool:
        """True when the instance has Completed or Failed."""
        return self.status in ("Completed", "Failed")

    def __repr__(self) -> str:
        detail = f"output={self.output!r}" if self.status == "Completed" else f"error={self.error!r}"
        return f"<OrchestrationResult {self.status} {detail} custom_status={self.custom_status!r}>"


def _in_slices(wait: Callable[[int], Any], timeout_ms: int, timed_out: str) -> Any:
    """``wait(slice_ms)`` repeated in slices of ``_WAIT_SLICE_MS`` until it answers or
    ``timeout_ms`` passes (then DuroxideTimeoutError with ``timed_out``); returning to
    Python between slices lets Ctrl-C through."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        slice_ms = max(0, min(remaining_ms, _WAIT_SLICE_MS))
        try:
            with translate_errors():
                return wait(slice_ms)
        except DuroxideTimeoutError:
            if remaining_ms <= _WAIT_SLICE_MS:
                raise DuroxideTimeoutError(timed_out) from None


_str = _validate.text
_timeout = _validate.millis


def _converter(value: Optional[DataConverter]) -> DataConverter:
    if value is None:
        return DEFAULT_CONVERTER
    if not isinstance(value, DataConverter):
        raise TypeError(f"data_converter must be a duroxide.converter.DataConverter, got {type(value).__name__}")
    return value


def nothing(value: Any) -> None:
    """The conversion of a native call that returns nothing."""
    return None


def version_seen(value: Any) -> int:
    """A custom-status version a caller last saw: 0 to 2**63-1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidArgumentError(f"last_seen_version must be an integer from 0 to 2**63-1, got {value!r}")
    return value


class TypedClientMethods:
    """Mixed into :class:`~duroxide.Client`."""

    __slots__ = ()

    # Provided by Client.
    _typed: Callable[..., str]
    _start: Callable[..., None]
    _raise: Callable[..., None]
    _enqueue: Callable[..., None]
    wait_for_orchestration: Callable[..., "OrchestrationResult[Any]"]
    get_kv_value: Callable[..., Optional[str]]
    wait_for_kv_value: Callable[..., str]

    def start_orchestration_typed(self, instance_id: str, name: Any, input: Any = None) -> None:
        """``start_orchestration`` with the typed encoding of ``input``."""
        name = name_of("start_orchestration_typed()", "orchestration", name)[0]
        return self._start(instance_id, name, self._typed(input, f"input of orchestration {name!r}"), None)

    def start_orchestration_versioned_typed(self, instance_id: str, name: Any, input: Any, version: str) -> None:
        """``start_orchestration_versioned`` with the typed encoding of ``input``."""
        name = name_of("start_orchestration_versioned_typed()", "orchestration", name)[0]
        return self._start(
            instance_id, name, self._typed(input, f"input of orchestration {name!r}"), _validate.version("version", version)
        )

    def raise_event_typed(self, instance_id: str, event_name: str, data: Any = None) -> None:
        """``raise_event`` with the typed encoding of ``data``."""
        return self._raise(instance_id, event_name, self._typed(data, f"data of event {event_name!r}"))

    def enqueue_event_typed(self, instance_id: str, queue: str, data: Any = None) -> None:
        """``enqueue_event`` with the typed encoding of ``data``."""
        return self._enqueue(instance_id, queue, self._typed(data, f"data for queue {queue!r}"))

    @overload
    def wait_for_orchestration_typed(self, instance_id: str, timeout_ms: int = ..., *, result_type: Type[R]) -> R: ...
    @overload
    def wait_for_orchestration_typed(self, instance_id: str, timeout_ms: int = ..., *, result_type: Any = ...) -> Any: ...

    def wait_for_orchestration_typed(self, instance_id: str, timeout_ms: int = 30_000, *, result_type: Any = Any) -> Any:
        """Wait for the instance to end and return its output (as ``result_type``).

        Raises :class:`~duroxide.OrchestrationFailedError` (with the failure message)
        when it Failed, and :class:`~duroxide.DuroxideTimeoutError` on timeout.
        """
        result = self.wait_for_orchestration(instance_id, timeout_ms, result_type=result_type)
        if result.status != "Completed":
            raise OrchestrationFailedError(instance_id, result.error or result.status)
        return result.output

    def get_kv_value_typed(self, instance_id: str, key: str) -> Any:
        """``get_kv_value`` JSON-decoded (None when unset)."""
        value = self.get_kv_value(instance_id, key)
        return None if value is None else decode(value)

    def wait_for_kv_value_typed(self, instance_id: str, key: str, timeout_ms: int = 30_000) -> Any:
        """``wait_for_kv_value`` JSON-decoded."""
        return decode(self.wait_for_kv_value(instance_id, key, timeout_ms))


class Client(AdminMethods, TypedClientMethods):
    """Talks to the store of a provider; needs no running Runtime in this process.

    Every payload (input, event data) is encoded as JSON; a value JSON cannot encode
    raises TypeError before anything is stored. One client may be used from many
    threads at once.
    """

    __slots__ = ("_native", "_converter")

    def __init__(self, provider: Provider, *, data_converter: Optional[DataConverter] = None) -> None:
        if not isinstance(provider, Provider):
            raise TypeError(f"Client needs a SqliteProvider or PostgresProvider, got {type(provider).__name__}")
        self._native = gen.Client(provider._native)
        self._converter = _converter(data_converter)

    @classmethod
    def _from_native(cls, native: Any, data_converter: Optional[DataConverter] = None) -> "Client":
        client = cls.__new__(cls)
        client._native = native
        client._converter = _converter(data_converter)
        return client

    def _encode(self, value: Any, what: str) -> str:
        return self._converter.to_payload(value, what)

    def _typed(self, value: Any, what: str) -> str:
        if isinstance(value, str):
            return self._converter.seal(encode_typed(value, what))
        return self._converter.to_payload(value, what)

    def _unseal(self, text: Optional[str]) -> Optional[str]:
        return None if text is None else self._converter.unseal(text)

    def _result(self, result_type: Any) -> Callable[[Any], "OrchestrationResult[Any]"]:
        return lambda state: OrchestrationResult(state, self._converter, result_type)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Refuse further calls (they raise :class:`~duroxide.ClosedError`)."""
        self._native.shutdown()

    # Every method below that makes one native call does it through ``_call`` and
    # returns what it returns: ``duroxide.aio.Client`` reuses these methods (their
    # checks and conversions) with a ``_call`` that awaits the native async client.

    def _call(self, method: str, *args: Any, convert: Callable[[Any], T]) -> T:
        with translate_errors():
            result = getattr(self._native, method)(*args)
        return convert(result)

    @overload
    def start_orchestration(self, instance_id: str, name: "OrchestrationFn[I]", input: I = ...) -> None: ...
    @overload
    def start_orchestration(self, instance_id: str, name: str, input: Any = ...) -> None: ...

    def start_orchestration(self, instance_id: str, name: Union[str, Callable[..., Any]], input: Any = None) -> None:
        """Start orchestration ``name`` (latest version) as ``instance_id`` with ``input``.

        ``name`` may be the registered orchestration function itself. Starting an id that
        already exists is ignored by the engine.
        """
        name = name_of("start_orchestration()", "orchestration", name)[0]
        return self._start(instance_id, name, self._encode(input, f"input of orchestration {name!r}"), None)

    @overload
    def start_orchestration_versioned(self, instance_id: str, name: "OrchestrationFn[I]", input: I, version: str) -> None: ...
    @overload
    def start_orchestration_versioned(self, instance_id: str, name: str, input: Any, version: str) -> None: ...

    def start_orchestration_versioned(
        self, instance_id: str, name: Union[str, Callable[..., Any]], input: Any, version: str
    ) -> None:
        """Start ``version`` of orchestration ``name``."""
        name = name_of("start_orchestration_versioned()", "orchestration", name)[0]
        payload = self._encode(input, f"input of orchestration {name!r}")
        return self._start(instance_id, name, payload, _str("version", version))

    def _start(self, instance_id: str, name: str, payload: str, version: Optional[str]) -> None:
        _validate.instance_id(instance_id)
        _str("name", name)
        observer = _observe.observer
        if observer is not None:  # the caller's trace context travels with the instance
            mark = observer.caller_mark()
            if mark is not None:
                payload = mark.text() + payload
        return self._call("start_orchestration", instance_id, name, payload, version, convert=nothing)

    @overload
    def get_status(self, instance_id: str, *, result_type: Type[R]) -> OrchestrationResult[R]: ...
    @overload
    def get_status(self, instance_id: str, *, result_type: Any = ...) -> OrchestrationResult[Any]: ...

    def get_status(self, instance_id: str, *, result_type: Any = Any) -> OrchestrationResult[Any]:
        """The instance's state now (status "NotFound" when it does not exist); its output
        as ``result_type`` when given."""
        return self._call("get_status", _str("instance_id", instance_id), convert=self._result(result_type))

    @overload
    def wait_for_orchestration(
        self, instance_id: str, timeout_ms: int = ..., *, result_type: Type[R]
    ) -> OrchestrationResult[R]: ...
    @overload
    def wait_for_orchestration(
        self, instance_id: str, timeout_ms: int = ..., *, result_type: Any = ...
    ) -> OrchestrationResult[Any]: ...

    def wait_for_orchestration(
        self, instance_id: str, timeout_ms: int = 30_000, *, result_type: Any = Any
    ) -> OrchestrationResult[Any]:
        """Wait until the instance Completes or Fails and return its result, its output as
        ``result_type`` when given (e.g. a dataclass: a payload that cannot become one
        raises :class:`~duroxide.PayloadError` naming the field).

        Raises :class:`~duroxide.DuroxideTimeoutError` (a ``TimeoutError``) when
        ``timeout_ms`` passes first. Ctrl-C interrupts the wait.
        """
        _str("instance_id", instance_id)
        state = _in_slices(
            lambda slice_ms: self._native.wait_for_orchestration(instance_id, slice_ms),
            _timeout("timeout_ms", timeout_ms),
            f"instance {instance_id!r} did not finish within {timeout_ms} ms",
        )
        return OrchestrationResult(state, self._converter, result_type)

    def wait_for_status_change(
        self, instance_id: str, last_seen_version: int = 0, poll_interval_ms: int = 50, timeout_ms: int = 30_000
    ) -> Optional[OrchestrationResult[Any]]:
        """Wait until the custom status version exceeds ``last_seen_version``.

        Returns the new state, or None when ``timeout_ms`` passes or the instance ended
        without a newer status.
        """
        _str("instance_id", instance_id)
        last_seen_version = version_seen(last_seen_version)
        interval = max(1, _timeout("poll_interval_ms", poll_interval_ms))
        deadline = time.monotonic() + _timeout("timeout_ms", timeout_ms) / 1000
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            slice_ms = min(remaining_ms, max(_WAIT_SLICE_MS, interval))
            with translate_errors():
                state = self._native.wait_for_status_change(instance_id, last_seen_version, interval, slice_ms)
            if state is not None:
                return OrchestrationResult(state, self._converter)
            if remaining_ms <= slice_ms:
                return None
            # A slice ended without news: stop early when the instance is already over.
            with translate_errors():
                if self._native.get_status(instance_id).status in ("Completed", "Failed"):
                    return None

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        """Deliver ``data`` to the instance's ``ctx.wait_for_event(event_name)``.

        An event raised before the orchestration waits for it is not kept; use
        :meth:`enqueue_event` for messages that must never be missed.
        """
        return self._raise(instance_id, event_name, self._encode(data, f"data of event {event_name!r}"))

    def _raise(self, instance_id: str, event_name: str, payload: str) -> None:
        return self._call("raise_event", _str("instance_id", instance_id), _str("event_name", event_name), payload, convert=nothing)

    def enqueue_event(
        self, instance_id: str, queue: Optional[str] = None, data: Any = None, *, queue_name: Optional[str] = None
    ) -> None:
        """Append ``data`` to the instance's FIFO ``queue`` (``ctx.dequeue_event(queue)``).

        Messages wait until dequeued and survive ``continue_as_new``. Messages for an
        instance that does not exist yet are dropped by the store. (``queue_name=`` is the
        original SDK's spelling.)
        """
        if queue_name is not None:
            if queue is not None:
                raise TypeError("pass 'queue' or 'queue_name', not both")
            queue = queue_name
        if queue is None:
            raise TypeError("enqueue_event() needs the queue name")
        return self._enqueue(instance_id, queue, self._encode(data, f"data for queue {queue!r}"))

    def _enqueue(self, instance_id: str, queue: str, payload: str) -> None:
        return self._call("enqueue_event", _str("instance_id", instance_id), _str("queue", queue), payload, convert=nothing)

    def cancel_instance(self, instance_id: str, reason: str = "") -> None:
        """Cancel a running instance: it ends "Failed" with error "canceled: <reason>".
        Cancelling a finished or unknown instance does nothing."""
        if reason is None:  # the original SDK accepted None
            reason = ""
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, got {type(reason).__name__}")
        _validate.text("reason", reason, allow_empty=True)
        return self._call("cancel_instance", _str("instance_id", instance_id), reason, convert=nothing)

    # -- key-value state ------------------------------------------------------------------

    def get_kv_value(self, instance_id: str, key: str) -> Optional[str]:
        """The value the instance set for ``key`` (``ctx.set_kv_value``), or None."""
        return self._call("get_kv_value", _str("instance_id", instance_id), _str("key", key), convert=self._unseal)

    def get_kv_all_values(self, instance_id: str) -> Dict[str, str]:
        """Every key the instance set, with its value."""
        return self._call(
            "get_kv_all_values", _str("instance_id", instance_id),
            convert=lambda values: {k: self._converter.unseal(v) for k, v in values.items()},
        )

    def wait_for_kv_value(self, instance_id: str, key: str, timeout_ms: int = 30_000) -> str:
        """Wait until the instance sets ``key`` and return the value.

        Raises :class:`~duroxide.DuroxideTimeoutError` when ``timeout_ms`` passes first,
        and :class:`~duroxide.InstanceNotFoundError` as soon as the instance ended without
        setting it. Ctrl-C interrupts the wait.
        """
        iid, k = _str("instance_id", instance_id), _str("key", key)
        value = _in_slices(
            lambda slice_ms: self._native.wait_for_kv_value(iid, k, slice_ms),
            _timeout("timeout_ms", timeout_ms),
            f"instance {instance_id!r} did not set KV key {key!r} within {timeout_ms} ms",
        )
        return self._converter.unseal(value)
