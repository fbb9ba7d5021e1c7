"""The event loop that runs a runtime's ``async def`` activities.

Sync activities each hold a thread (``_workers``); async ones share one asyncio loop on
one daemon thread, so 500 activities waiting on I/O need 500 tasks, not 500 threads.
The core still bounds how many run at once (``worker_concurrency``).

A cancelled activity (its orchestration lost the race, was cancelled or ended, or the
worker lost its lock) has its asyncio task cancelled: the activity sees
``asyncio.CancelledError`` at its current ``await``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable, Coroutine, Optional

from ._native import gen

log = logging.getLogger("duroxide")

Finish = Callable[["asyncio.Future[Any]"], None]


class _CancelListener(gen.CancelListener):  # type: ignore[misc]  # a generated base (Any to checkers)
    """Called by Rust (on one of its threads) when the activity is cancelled."""

    __slots__ = ("_loop", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: "asyncio.Task[Any]") -> None:
        self._loop = loop
        self._task = task

    def cancelled(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._task.cancel)
        except BaseException:  # noqa: B036 - the loop is closed: nothing left to cancel
            pass


class ActivityLoop:
    """One asyncio loop on a daemon thread, started by the first async activity."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._closed = False

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("the runtime was shut down")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=self._serve, args=(loop,), name=self._name, daemon=True).start()
                self._loop = loop
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def run(self, coroutine: Coroutine[Any, Any, Any], native_ctx: Any, finish: Finish) -> None:
        """Run ``coroutine`` as a task; ``finish(task)`` runs on the loop when it ends.
        Cancelling the activity in Rust cancels the task."""
        loop = self._running_loop()

        def begin() -> None:
            task = loop.create_task(coroutine)
            task.add_done_callback(finish)
            try:
                native_ctx.on_cancelled(_CancelListener(loop, task))
            except BaseException:  # noqa: B036 - without a listener the activity still runs
                log.debug("could not watch an activity for cancellation", exc_info=True)

        loop.call_soon_threadsafe(begin)

    def close(self) -> None:
        """Stop the loop once the tasks it runs now have been cancelled (at shutdown the
        core no longer waits for their results)."""
        with self._lock:
            loop, self._loop, self._closed = self._loop, None, True
        if loop is None:
            return

        def stop() -> None:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.call_later(0.1, loop.stop)  # time for the cancelled tasks to unwind

        try:
            loop.call_soon_threadsafe(stop)
        except RuntimeError:  # already closed
            pass
