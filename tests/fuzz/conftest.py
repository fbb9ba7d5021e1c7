"""Hypothesis profiles for the fuzz suite, and the corpus it keeps.

Profiles (``HYPOTHESIS_PROFILE``):

* ``ci`` (default): few examples per test; the whole fuzz suite runs in well under two
  minutes.
* ``long``: thousands of examples -- run it before a release or after touching the step
  protocol: ``HYPOTHESIS_PROFILE=long python -m pytest tests/fuzz -q``.

The ``long`` profile stores the failing (and interesting) examples it finds in
``tests/fuzz/corpus`` (a ``DirectoryBasedExampleDatabase``). The directory is meant to be
committed: every later run -- in CI too -- replays the stored examples first, so a bug
found once by a long run stays covered. ``ci`` and ``dev`` read the corpus without writing
it: Hypothesis drops stored examples that no longer fail, and an ordinary run must not
shrink the committed corpus (a failure they find is printed as a reproduction blob).

``deadline=None``: engine calls vary in time (a PostgreSQL round trip, a timer).
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase
except ImportError:  # pragma: no cover - the fuzz suite needs hypothesis
    collect_ignore_glob = ["test_*.py"]
    settings = None

CORPUS = Path(__file__).resolve().parent / "corpus"
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

if settings is not None:
    _common = dict(
        database=DirectoryBasedExampleDatabase(str(CORPUS)),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
        print_blob=True,
    )
    _replay_only = {**_common, "database": ReadOnlyDatabase(_common["database"])}
    settings.register_profile("ci", max_examples=25, **_replay_only)
    settings.register_profile("dev", max_examples=100, **_replay_only)
    settings.register_profile("long", max_examples=2000, **_common)
    # Generation only, no corpus: for chasing a failure with the calls printed
    # (DUROXIDE_FUZZ_VERBOSE=1 python -m pytest -s ...).
    settings.register_profile(
        "debug", **{**_common, "database": None}, max_examples=200, phases=[Phase.generate]
    )
    settings.load_profile(PROFILE)
