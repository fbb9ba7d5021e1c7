"""The seam between the SDK and :mod:`duroxide.observability`.

The SDK calls these hooks at the few points observability cares about; until
``duroxide.observability.instrument()`` or ``serve_prometheus()`` installs an observer
they are a ``None`` check, and this module imports nothing from OpenTelemetry.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any, Callable, ContextManager, Coroutine, Optional

from ._trace_mark import TraceMark

log = logging.getLogger("duroxide")


class Observer:
    """What an observer implements (duroxide.observability's is the only one)."""

    def caller_mark(self) -> Optional[TraceMark]:
        """The trace context of the code starting an orchestration, to store with it."""
        return None

    def execution_ended(self, client: Any, info: Any, mark: Optional[TraceMark], worker: str) -> None:
        """An execution ended in a live (not replayed) turn of this process: its span,
        built from its history once the end is committed."""

    def activity_started(self, info: Any, mark: Optional[TraceMark], client: Callable[[], Any], raw_input: str) -> Any:
        """An activity starts executing; returns what :meth:`activity_ended` gets."""
        return None

    def activity_scope(self, token: Any) -> ContextManager[Any]:
        """Makes the activity ``token`` stands for current while its code runs (its
        span is then the parent of the spans that code opens)."""
        return contextlib.nullcontext()

    def activity_ended(self, token: Any, error: Optional[str]) -> None:
        """The activity ``activity_started`` returned ``token`` for finished (``error``:
        its failure message, None when it succeeded)."""


#: The installed observer, or None (then every hook costs one check).
observer: Optional[Observer] = None

#: Running runtimes, for metrics: Runtime.start adds itself, shutdown removes itself.
runtimes: "weakref.WeakSet[Any]" = weakref.WeakSet()


class _Observed:
    """An activity's completion that reports the outcome to the observer first."""

    __slots__ = ("_inner", "_observer", "_token")

    def __init__(self, inner: Any, observer: Observer, token: Any) -> None:
        self._inner, self._observer, self._token = inner, observer, token

    def complete(self, outcome: Any) -> None:
        token, self._token = self._token, None
        if token is not None:
            try:
                self._observer.activity_ended(token, None if outcome.ok else outcome.payload)
            except Exception:  # noqa: BLE001 - observability never fails an activity
                log.warning("observability could not take an activity's outcome", exc_info=True)
        self._inner.complete(outcome)


_NO_SCOPE = contextlib.nullcontext()


def scope(completion: Any) -> ContextManager[Any]:
    """What makes the activity of ``completion`` current (nothing when unobserved)."""
    if type(completion) is _Observed and completion._token is not None:
        return completion._observer.activity_scope(completion._token)
    return _NO_SCOPE


def in_scope(completion: Any, coroutine: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
    """``coroutine``, run inside :func:`scope` of ``completion`` when it is observed."""
    if type(completion) is not _Observed:
        return coroutine

    async def scoped() -> Any:
        with scope(completion):
            return await coroutine

    return scoped()


def observed(
    observer: Observer, completion: Any, info: Any, mark: Optional[TraceMark], client: Callable[[], Any], raw: str
) -> Any:
    """``completion`` wrapped so the activity starting now is reported when it ends."""
    try:
        return _Observed(completion, observer, observer.activity_started(info, mark, client, raw))
    except Exception:  # noqa: BLE001
        log.warning("observability could not take an activity's start", exc_info=True)
        return completion
