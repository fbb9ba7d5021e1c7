"""Hypothesis strategies shared by the fuzz modules: hostile text, JSON-able (and
not quite JSON-able) payloads, and how many examples a test runs per profile."""

from __future__ import annotations

import base64
import json
import math
import os
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")



def budget(ci: int, long: int, dev: int | None = None) -> int:
    """max_examples for the active profile."""
    if PROFILE == "long":
        return long
    if PROFILE == "dev":
        return dev if dev is not None else max(ci, long // 10)
    return ci


def weighted(*choices: "tuple[int, st.SearchStrategy[Any]]") -> st.SearchStrategy[Any]:
    """One of the strategies, picked with the given weights (``st.one_of`` flattens
    nested alternatives into equal shares)."""
    indices = [i for i, (w, _) in enumerate(choices) for _ in range(w)]
    return st.sampled_from(indices).flatmap(lambda i: choices[i][1])


# --------------------------------------------------------------------------- text

SPECIAL_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",  # lone high surrogate: not UTF-8
    "\udfff",
    "x\udc80y",
    "\U0010ffff",
    "\u202e\u202d",  # bidi overrides
    "\ufeff",  # BOM
    "\u0085\u2028\u2029",  # line separators
    "e\u0301",  # combining mark
    "💥🧨" * 3,
    "\\u0000",  # the JSON escape as text
    '"\\',
    "null",
    "{}",
    "[1,2",
    "NaN",
    "sub::x",
    "a::sub::b",
    "__duroxide",
    "'; DROP TABLE instances; --",
    "%s%n%x",
    "\t\r\n",
]


def has_surrogate(s: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in s)


def is_clean(s: str) -> bool:
    """Text every store keeps as it is (no NUL, no lone surrogate)."""
    return "\x00" not in s and not has_surrogate(s)


any_char = st.characters(codec=None, exclude_categories=())  # includes surrogates and NUL
unicode_text = st.text(any_char, max_size=40)


def huge_text() -> st.SearchStrategy[str]:
    """Long strings: up to ~300 KB of UTF-8, at most ~1 MB once JSON-escaped (the SDK
    escapes everything outside ASCII, a 4-byte character as 12 bytes)."""
    return st.one_of(
        st.builds(lambda n: "a" * n, st.sampled_from([1_000, 65_536, 65_537, 262_144, 262_145, 300_000])),
        st.builds(
            lambda unit, n: unit * n,
            st.sampled_from(["é", "💥", "\U0010ffff", "ab\x00"]),
            st.sampled_from([1_000, 20_000, 70_000]),
        ),
    )


hostile_text = st.one_of(
    st.sampled_from(SPECIAL_STRINGS),
    unicode_text,
    st.text(max_size=20),
    huge_text(),
)


def texts(*, allow_nul: bool = True, allow_surrogates: bool = True, allow_huge: bool = True) -> st.SearchStrategy[str]:
    base = hostile_text if allow_huge else st.one_of(st.sampled_from(SPECIAL_STRINGS), unicode_text, st.text(max_size=20))

    def ok(s: str) -> bool:
        return (allow_nul or "\x00" not in s) and (allow_surrogates or not has_surrogate(s))

    return base.filter(ok)


# --------------------------------------------------------------------------- numbers

big_ints = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**100, -(10**400)]),
)
floats = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]))

# --------------------------------------------------------------------------- payloads

finite_floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([-0.0, 5e-324, 1.7976931348623157e308]))
json_leaves = st.one_of(st.none(), st.booleans(), big_ints, finite_floats, texts(allow_huge=False))


def deep_nesting() -> st.SearchStrategy[Any]:
    def nest(depth: int, leaf: Any, as_dict: bool) -> Any:
        value = leaf
        for _ in range(depth):
            value = {"k": value} if as_dict else [value]
        return value

    return st.builds(nest, st.sampled_from([100, 127, 128, 129, 200, 300]), json_leaves, st.booleans())


dict_keys = st.one_of(texts(allow_huge=False), st.integers(-5, 5), st.booleans(), st.none(), st.floats(allow_nan=False))

json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.tuples(children, children),
        st.dictionaries(dict_keys, children, max_size=5),
    ),
    max_leaves=15,
)


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


non_json = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.binary(max_size=8),
    st.sets(st.integers(), max_size=3),
    st.complex_numbers(max_magnitude=10),
    st.just(Decimal("1.5")),
    st.builds(Opaque),
    st.just(object()),
    st.lists(st.just(math.nan), min_size=1, max_size=2),
    st.dictionaries(st.sampled_from([(1, 2), b"k"]), st.none(), min_size=1, max_size=1),
)

# Anything an orchestration might pass as a payload: mostly JSON-able, sometimes huge,
# deep, or not JSON-able at all.
payloads = weighted((6, json_values), (1, huge_text()), (1, deep_nesting()), (2, non_json))


def _documented_extras(value: Any) -> Any:
    # What docs/user-guide.md ("Payloads") says the default converter adds to JSON, among
    # the values generated here: bytes as base64 text, Decimal as text.
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encodable(value: Any) -> bool:
    """Whether the SDK's encoder accepts ``value`` (the oracle for payload errors)."""
    try:
        json.dumps(value, allow_nan=False, default=_documented_extras)
        return True
    except (TypeError, ValueError, RecursionError):
        return False


def roundtrip(value: Any) -> Any:
    """``value`` as it comes back after a trip through the payload encoding."""
    return json.loads(json.dumps(value, allow_nan=False, default=_documented_extras))


# Any Python value at all (Client argument fuzzing).
any_value = st.one_of(
    payloads,
    hostile_text,
    big_ints,
    floats,
    st.booleans(),
    st.none(),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.builds(Opaque),
    st.just(Ellipsis),
    st.just(NotImplemented),
    st.just(type),
    st.just(len),
)
