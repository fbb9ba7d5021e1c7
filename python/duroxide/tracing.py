"""Where the Rust core's log events go.

By default they are written to stderr, at the levels a runtime's options say
(``RuntimeOptions(log_level=..., log_format=...)``). Two switches change that for the
whole process:

- :func:`init_python_logging` hands every event to Python's :mod:`logging`, under the
  logger named after its Rust target (``duroxide.orchestration``,
  ``duroxide.activity``, ``duroxide.runtime...``, ``sqlx...``), so the application's
  logging configuration (handlers, formats, levels) applies to them;
- :func:`init_tracing` appends them to a file instead.

Which setting wins: ``RUST_LOG``, when set, is always the level filter (e.g.
``RUST_LOG=duroxide::orchestration=debug``). An explicit :func:`init_tracing` /
:func:`init_python_logging` call wins over runtime options, and the last such call wins;
:func:`reset_tracing` gives control back to runtime options. Without explicit calls, each
``Runtime.start()`` applies its own options.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Optional, Union

from ._native import gen, translate_errors
from .errors import InvalidArgumentError, log_file_error

__all__ = ["init_tracing", "init_python_logging", "reset_tracing"]

_LEVELS = {
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
}


class _ToLogging:
    """Receives Rust events (the ``LogSink`` callback) and logs them with :mod:`logging`."""

    def log(self, level: str, target: str, message: str, fields_json: str) -> None:
        try:
            logger = logging.getLogger(target.replace("::", "."))
            py_level = _LEVELS.get(level, logging.INFO)
            if not logger.isEnabledFor(py_level):
                return
            fields = json.loads(fields_json) if fields_json else {}
            details = " ".join(f"{k}={v}" for k, v in fields.items())
            text = f"{message} {details}" if details else message
            logger.log(py_level, "%s", text, extra={"duroxide_fields": fields, "rust_target": target})
        except Exception:  # noqa: BLE001 - a logging failure must not reach Rust
            pass


def init_python_logging(log_level: str = "info") -> None:
    """Send the core's log events to Python's :mod:`logging` from now on.

    ``log_level`` ("trace", "debug", "info", "warn", "error", "off") is the level of
    orchestration and activity traces that cross over; the engine's internals cross at
    "warn" and above. ``RUST_LOG`` overrides both. Each event becomes a record of the
    logger named after its Rust target, with ``record.duroxide_fields`` (a dict of its
    structured fields: instance id, activity name, ...).
    """
    with translate_errors():
        gen.route_tracing(_ToLogging(), _level(log_level))


def init_tracing(
    log_file: Union[str, "os.PathLike[str]"], log_level: Optional[str] = "info", log_format: Optional[str] = "pretty"
) -> None:
    """Append the core's log events to ``log_file`` from now on (created when missing).

    ``log_format`` is "pretty", "compact" or "json" (one object per line). Raises
    :class:`~duroxide.errors.LogFileError` when the file cannot be opened for appending:
    an :class:`OSError` of the OS's own kind (``FileNotFoundError``,
    ``PermissionError``, ...) that is also a ``RuntimeError`` ("Failed to open log file
    ...").
    """
    log_level = "info" if log_level is None else log_level  # None: the original SDK's "default"
    log_format = "pretty" if log_format is None else log_format
    path = os.fspath(log_file)
    if not isinstance(path, str):
        raise TypeError(f"log_file must be a str or os.PathLike[str], got {type(path).__name__}")
    if log_format not in ("pretty", "compact", "json"):
        raise InvalidArgumentError(f"log_format must be 'pretty', 'compact' or 'json', got {log_format!r}")
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:  # the OS's own error kind, also a RuntimeError (the original SDK's)
        raise log_file_error(e) from None
    with translate_errors():
        gen.init_tracing(path, _level(log_level), log_format)


def reset_tracing() -> None:
    """Back to stderr, with each runtime's options in charge again."""
    with translate_errors():
        gen.reset_tracing()


def _level(value: str) -> str:
    levels = ("trace", "debug", "info", "warn", "error", "off")
    if not isinstance(value, str) or value.lower() not in levels:
        raise InvalidArgumentError(f"log_level must be one of {', '.join(levels)}; got {value!r}")
    return value.lower()
