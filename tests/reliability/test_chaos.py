"""The multi-node chaos run (chaos.py) in its short CI form: 3 worker processes on a
private PostgreSQL, 150 instances, SIGKILLs every 2-4 s, one server crash and restart
and two connection drops during 20 s, then every check of the harness.

The fault times come from a random seed, printed with the summary (and in the failure
message); set CHAOS_SEED to replay one. The full run (2,000 instances) is
``python tests/reliability/chaos.py`` (docs/reliability.md has its figures).
"""

import os

import pytest

import chaos
import pg_server


def test_chaos_run_on_three_workers_loses_nothing(tmp_path):
    try:
        pg_server.find_bindir()
    except pg_server.ServerUnavailable as exc:
        pytest.fail(f"the chaos run needs PostgreSQL's server binaries: {exc}", pytrace=False)
    seed = os.environ.get("CHAOS_SEED")
    config = chaos.ChaosConfig(
        instances=150,
        workers=3,
        duration=20.0,
        kill_every_min=2.0,
        kill_every_max=4.0,
        pg_restarts=1,
        drops=2,
        deadline=180.0,
        seed=int(seed) if seed else None,
        workdir=str(tmp_path / "chaos"),
        json_path=str(tmp_path / "chaos.json"),
    )
    report = chaos.run(config)
    summary = chaos.format_summary(report)
    print(summary)
    f = report["figures"]

    assert report["ok"], summary
    assert report["aborted"] is None, summary
    # The faults happened as planned.
    assert f["kills"] >= 4 and f["worker_lives"] == f["kills"] + 3, summary
    assert f["server_restarts"] == 1 and f["connection_drops"] == 2, summary
    # Every instance and sub-orchestration Completed with its expected output (checked
    # one by one by the harness), and each of their events was raised once.
    assert f["instances_completed"] == f["instances"] + f["sub_orchestrations"], summary
    plan = chaos.workload.instance_plan(config.instances)
    assert f["events_raised"] == sum(len(chaos.workload.expected(i)["events"]) for i in plan), summary
    # Every expected activity call ended; every re-execution has a kill or a fault behind it.
    assert f["activity_executions_completed"] >= f["activity_calls_expected"], summary
    assert f["duplicates_unexplained"] == 0, summary
    assert f["duplicates_after_kill"] + f["duplicates_after_fault"] == f["duplicate_executions"], summary
