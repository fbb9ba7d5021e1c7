"""``ActivityContext.tag``: an attribute that is also callable, so code written for the
original SDK (``ctx.tag()``) and for this one (``ctx.tag``) both work."""

from __future__ import annotations


class ActivityTag(str):
    """An activity's tag: a ``str``, also callable as in the original SDK
    (``ctx.tag() == ctx.tag``)."""

    __slots__ = ()

    def __call__(self) -> str:
        return str(self)


class _NoTag:
    """No tag: falsy, equal to None, encoded as JSON null, and callable (``ctx.tag()``
    is None) so code written for the original SDK's ``ctx.tag()`` works."""

    __slots__ = ()

    def __call__(self) -> None:
        return None

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, _NoTag)

    def __hash__(self) -> int:
        return hash(None)

    def __repr__(self) -> str:
        return "None"


#: ``ctx.tag`` of an untagged activity.
NO_TAG = _NoTag()
