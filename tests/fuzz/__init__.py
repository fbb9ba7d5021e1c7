"""Property-based fuzzing of the step protocol and the Client API (Hypothesis).

A package so that ``tests/fuzz/conftest.py`` does not collide with ``tests/conftest.py``
under pytest's default (prepend) import mode.
"""
