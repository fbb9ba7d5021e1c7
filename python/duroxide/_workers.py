"""Daemon threads that run activity functions.

Activities run on threads Python owns, not on Rust's: at interpreter exit CPython stops
threads that still run Python code, and a thread stopped while Rust frames are on its
stack aborts the whole process. Daemon threads also let the process exit without waiting
for a slow activity; its lock expires and another worker (or the next start) runs it again.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

Job = Callable[[], None]


class WorkerPool:
    """A growable pool of daemon threads; grows to the number of jobs running at once."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: "queue.SimpleQueue[Job]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._idle == 0:
                self._threads += 1
                threading.Thread(target=self._run, name=f"{self._name}-{self._threads}", daemon=True).start()
            else:
                self._idle -= 1
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            job()  # jobs catch their own exceptions
            # Drop it before idling: it holds the activity context and, through it,
            # the provider's connection pool.
            del job
            with self._lock:
                self._idle += 1
