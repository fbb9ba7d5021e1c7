"""The pytest plugin of :mod:`duroxide.testing` (registered through the ``pytest11``
entry point when the package is installed): fixtures for testing workflows."""

from __future__ import annotations

from typing import Iterator

import pytest

from . import TestEnvironment


@pytest.fixture
def duroxide_env() -> Iterator[TestEnvironment]:
    """A :class:`~duroxide.testing.TestEnvironment` on in-memory SQLite, shut down after
    the test: register on ``duroxide_env.runtime``, drive with ``duroxide_env.client``."""
    with TestEnvironment() as env:
        yield env
