"""A local web dashboard over a duroxide store: ``duroxide ui --db app.db``.

The instance list (filters, live refresh), an instance page (status, input, output or
error, custom status, KV, sub-orchestrations, and a timeline of its history), and — only
when enabled — cancel and raise-event actions. Needs the ``ui`` extra
(``pip install 'duroxide[ui]'``: Starlette, Jinja2, uvicorn).

Every payload is user data and is rendered as text. Actions are off unless
``allow_actions``; every action form carries a per-process token, so another site
cannot post one through the user's browser; bound beyond localhost, every request needs
``token`` (``?token=...`` once, then a cookie).
"""

from __future__ import annotations

from typing import Any, Optional

from ..providers import Provider

__all__ = ["create_app", "serve", "MissingExtraError"]


class MissingExtraError(ImportError):
    """The dashboard's libraries are not installed."""


def _require_extra() -> None:
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
    except ImportError as e:
        raise MissingExtraError(
            f"the dashboard needs the ui extra ({e.name} is missing): pip install 'duroxide[ui]'"
        ) from None


def create_app(provider: Provider, *, allow_actions: bool = False, token: Optional[str] = None,
               refresh_ms: int = 2000) -> Any:
    """The dashboard as an ASGI application (Starlette) over ``provider``'s store.

    ``allow_actions`` enables cancel and raise-event; ``token``, when set, is required
    from every request; ``refresh_ms`` is how often the instance list refreshes itself.
    """
    _require_extra()
    from ._app import build

    return build(provider, allow_actions=allow_actions, token=token, refresh_ms=refresh_ms)


def serve(provider: Provider, *, host: str = "127.0.0.1", port: int = 8321, allow_actions: bool = False,
          token: Optional[str] = None) -> None:
    """Serve the dashboard until interrupted (uvicorn). Bound beyond localhost with
    actions enabled, a ``token`` is required."""
    _require_extra()
    try:
        import uvicorn
    except ImportError:
        raise MissingExtraError("the dashboard needs the ui extra (uvicorn is missing): pip install 'duroxide[ui]'") from None
    if allow_actions and not _is_loopback(host) and not token:
        raise ValueError(f"actions on a dashboard bound to {host} need a token (--token)")
    app = create_app(provider, allow_actions=allow_actions, token=token)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
