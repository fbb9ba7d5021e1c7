"""The crash-loop harness (crash_loop.py) in its short CI form: 3 SIGKILLs of the worker,
on SQLite and on PostgreSQL, then every check of the harness.

The kill times come from a random seed, printed with the summary (and in the failure
message); set CRASH_LOOP_SEED to replay one. The full form is
``python -m tests.reliability.crash_loop --provider sqlite|postgres --kills 20``.
"""

import os

import pytest

import crash_loop
from conftest import postgres_url

CI_KILLS = 3


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_crash_loop_survives_sigkills(kind, tmp_path):
    url = None
    if kind == "postgres":
        url = postgres_url()
        if url is None:
            pytest.fail("PostgreSQL is required: DATABASE_URL is not set and nothing listens on 127.0.0.1:5432",
                        pytrace=False)
    seed = os.environ.get("CRASH_LOOP_SEED")
    config = crash_loop.Config(
        provider=kind,
        kills=CI_KILLS,
        seed=int(seed) if seed else None,
        workdir=str(tmp_path / "crash-loop"),
        database_url=url,
        deadline=90.0,
        json_path=str(tmp_path / "crash-loop.json"),
    )
    report = crash_loop.run(config)
    summary = crash_loop.format_summary(report)
    print(summary)
    figures = report["figures"]

    assert report["ok"], summary
    assert report["aborted"] is None, summary
    assert figures["kills"] == CI_KILLS and figures["runs"] == CI_KILLS + 1, summary
    # Every instance and sub-orchestration Completed with its expected output.
    assert figures["instances_completed"] == figures["instances"] + figures["sub_orchestrations"], summary
    # Every expected activity call ended at least once; every re-execution had a kill behind it.
    assert figures["activity_executions_completed"] >= figures["activity_calls_expected"], summary
    assert figures["duplicates_unexplained"] == 0, summary
    assert figures["duplicates_explained_by_kills"] == figures["duplicate_executions"], summary
    assert figures["events_raised"] == sum(len(e["events"]) for e in
                                           map(crash_loop.workload.expected,
                                               crash_loop.workload.instance_plan(config.instances))), summary
