"""Exceptions raised by the duroxide SDK.

Every exception the SDK raises derives from :class:`DuroxideError`; most also derive
from the built-in exception a Python programmer would reach for (``ValueError``,
``TimeoutError``, ``RuntimeError``, ``LookupError``), so generic handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "DuroxideError",
    "TaskFailedError",
    "ActivityFailedError",
    "SubOrchestrationFailedError",
    "OrchestrationFailedError",
    "PayloadError",
    "InvalidArgumentError",
    "NotRegisteredError",
    "InstanceNotFoundError",
    "DuroxideTimeoutError",
    "ProviderError",
    "RuntimeStateError",
    "ClosedError",
    "InternalError",
    "HistoryFormatError",
]


class DuroxideError(RuntimeError):
    """Base class of every exception raised by the duroxide SDK."""


class TaskFailedError(DuroxideError):
    """Raised inside an orchestration by ``yield task`` when the task failed.

    ``str(error)`` is the failure message (for an activity, the message of the exception
    the activity raised). Catch it to handle the failure; leave it uncaught to fail the
    orchestration with the same message.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ActivityFailedError(TaskFailedError):
    """An activity raised, returned an unencodable value, timed out, or ran out of retries."""


class SubOrchestrationFailedError(TaskFailedError):
    """A sub-orchestration ended ``Failed``."""


class OrchestrationFailedError(DuroxideError):
    """``wait_for_orchestration_typed`` found the instance ``Failed``.

    ``instance_id`` names it; ``message`` (also ``str(error)``) is its failure message.
    """

    def __init__(self, instance_id: str, message: str) -> None:
        super().__init__(f"orchestration {instance_id!r} failed: {message}")
        self.instance_id = instance_id
        self.message = message


class PayloadError(DuroxideError, ValueError):
    """A stored payload cannot be turned back into a Python value (e.g. JSON nested more
    deeply than Python's recursion limit allows at that point)."""


class InvalidArgumentError(DuroxideError, ValueError):
    """An argument was rejected before anything was stored."""


class NotRegisteredError(InvalidArgumentError):
    """A client tried to start an orchestration that the runtime sharing its provider
    in this process has not registered."""


class InstanceNotFoundError(DuroxideError, LookupError):
    """The orchestration instance does not exist."""


class DuroxideTimeoutError(DuroxideError, TimeoutError):
    """A wait ran past its ``timeout_ms``. The instance itself is unaffected."""


class ProviderError(DuroxideError):
    """The storage backend failed: cannot open or reach the database, or a query failed."""


class RuntimeStateError(DuroxideError, RuntimeError):
    """The call does not fit the object's state (e.g. registering after ``start()``)."""


class ClosedError(RuntimeStateError):
    """The Runtime was shut down or the Client closed; create a new one."""


class InternalError(DuroxideError):
    """An unexpected failure inside the SDK. Please report it with the message."""


class HistoryFormatError(InvalidArgumentError):
    """A history given to the replayer is not a history export (not JSON, truncated,
    another format, or a format version this SDK does not read)."""


class LogFileError(OSError, RuntimeError):
    """``init_tracing`` could not open its log file. Both an :class:`OSError` (of the
    OS's own kind: ``FileNotFoundError``, ``PermissionError``, ...; ``errno`` and
    ``filename`` set) and a :class:`RuntimeError` whose message starts "Failed to open
    log file", as the original SDK raises."""

    def __str__(self) -> str:
        return f"Failed to open log file {self.filename!r}: {self.strerror}"


_LOG_FILE_ERRORS: "dict[type, type]" = {}


def log_file_error(exc: OSError) -> LogFileError:
    """A :class:`LogFileError` that is also an instance of ``exc``'s own class."""
    kind = type(exc)
    cls = _LOG_FILE_ERRORS.get(kind)
    if cls is None:
        cls = LogFileError if kind is OSError else type(f"LogFile{kind.__name__}", (LogFileError, kind), {})
        _LOG_FILE_ERRORS[kind] = cls
    error: LogFileError = cls(exc.errno, exc.strerror, exc.filename)
    return error
