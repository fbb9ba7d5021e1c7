"""SQLite under write contention: lock errors are absorbed, no orchestration is lost.

The core's SQLite provider hits `database is locked` (codes 5/517) whenever two pooled
connections upgrade to writers at once; left alone, the core logs a warning and backs off
per failed call, and fails an orchestration after 5 failed acknowledgements. The SDK's
store layer retries those calls (src/store/retry.rs).
"""

from __future__ import annotations

import uuid

from duroxide import Client, Runtime, RuntimeOptions, SqliteProvider


def test_contended_sqlite_file_loses_nothing_and_logs_no_lock_errors(tmp_path, capfd):
    provider = SqliteProvider.open(tmp_path / "contended.db")
    runtime = Runtime(
        provider,
        RuntimeOptions(dispatcher_poll_interval_ms=1, orchestration_concurrency=4, worker_concurrency=4),
    )
    runtime.register_activity("Echo", lambda ctx, x: x)

    @runtime.register_orchestration("One")
    def one(ctx, x):
        return (yield ctx.schedule_activity("Echo", x))

    @runtime.register_orchestration("Fan")
    def fan(ctx, n):
        return sum((yield ctx.all([ctx.schedule_activity("Echo", i) for i in range(n)])))

    runtime.start()
    try:
        client = Client(provider)
        singles = [f"one-{uuid.uuid4().hex}" for _ in range(100)]
        fan_id = f"fan-{uuid.uuid4().hex}"
        client.start_orchestration(fan_id, "Fan", 200)
        for i, instance_id in enumerate(singles):
            client.start_orchestration(instance_id, "One", i)

        for i, instance_id in enumerate(singles):
            result = client.wait_for_orchestration(instance_id, 120_000)
            assert (result.status, result.output) == ("Completed", i), result.error
        result = client.wait_for_orchestration(fan_id, 120_000)
        assert (result.status, result.output) == ("Completed", sum(range(200))), result.error
    finally:
        runtime.shutdown()
    err = capfd.readouterr().err
    assert "database is locked" not in err
    assert "Database locked" not in err
