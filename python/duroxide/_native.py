"""The only module that touches the UniFFI-generated bindings.

Everything else imports ``gen`` from here and wraps native calls in
``translate_errors()`` so users only ever see :mod:`duroxide.errors` exceptions.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterator

from . import errors

__all__ = ["gen", "convert", "translate_errors"]

if TYPE_CHECKING:
    # Type checkers see the generated bindings as Any: they stay out of the public types
    # (and out of mypy --strict, which would check code we do not write).
    gen: Any = None
else:
    try:
        from ._ffi import duroxide as gen  # generated at build time, never committed
    except ImportError as e:  # pragma: no cover - only on a broken install
        raise ImportError(
            "duroxide's native library is missing; build it with `maturin develop` "
            "or install the package with `pip install .`"
        ) from e

_MAP = {
    gen.DuroxideError.InvalidInput: errors.InvalidArgumentError,
    gen.DuroxideError.NotFound: errors.InstanceNotFoundError,
    gen.DuroxideError.NotRegistered: errors.NotRegisteredError,
    gen.DuroxideError.Timeout: errors.DuroxideTimeoutError,
    gen.DuroxideError.Provider: errors.ProviderError,
    gen.DuroxideError.Closed: errors.ClosedError,
    gen.DuroxideError.Internal: errors.InternalError,
}


def convert(err: Any) -> errors.DuroxideError:
    """The SDK exception for a native error."""
    return _MAP.get(type(err), errors.InternalError)(err.reason)


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise native errors as :mod:`duroxide.errors` exceptions."""
    try:
        yield
    except gen.DuroxideError as e:
        raise convert(e) from None
    except gen.InternalError as e:  # a Rust panic; the process is fine
        raise errors.InternalError(f"internal error in the duroxide core: {e}") from None
