"""Code written for the original duroxide-python SDK runs unchanged (issue: drop-in).

Each case is what a user of the original writes: the TagFilter constants and list
arguments, ``ctx.tag()`` as a method, ``metrics_snapshot()`` read with attributes,
``init_tracing`` failing with a RuntimeError, history event data with its payloads
decoded, ``from duroxide.context import ScheduledTask``, and refreshable PostgreSQL
credentials (the original's managed-identity token provider, made generic) against a
role whose password really is checked and really is rotated.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

import duroxide
from conftest import _postgres_unavailable, assert_completed, new_id, psql_value, require_postgres_url, run_psql
from duroxide import (
    InvalidArgumentError,
    PostgresProvider,
    ProviderError,
    Runtime,
    RuntimeOptions,
    TagFilter,
)


def test_tag_filter_constants_and_list_arguments(make_runtime, client):
    assert TagFilter.DEFAULT_ONLY == TagFilter.default_only()
    assert TagFilter.ANY == TagFilter.any() and TagFilter.NONE == TagFilter.none()
    assert TagFilter.tags(["gpu", "io"]) == TagFilter.tags("gpu", "io")

    orchestrator = make_runtime(worker_tag_filter=TagFilter.NONE)  # runs no activity
    workers = make_runtime(worker_tag_filter=TagFilter.default_and(["gpu", "io"]))
    for runtime in (orchestrator, workers):
        runtime.register_activity("Where", lambda ctx, x: {"x": x, "tag": ctx.tag(), "worker": ctx.worker_id})

        @runtime.register_orchestration("Tagged")
        def tagged(ctx, x):
            return (yield ctx.all([ctx.schedule_activity("Where", 1), ctx.schedule_activity("Where", 2).with_tag("gpu")]))

    orchestrator.start()
    workers.start()
    iid = new_id("tagfilter")
    client.start_orchestration(iid, "Tagged")
    out = assert_completed(client.wait_for_orchestration(iid, 30_000))
    assert [o["tag"] for o in out] == [None, "gpu"]


def test_activity_tag_is_both_an_attribute_and_a_method(make_runtime, client):
    runtime = make_runtime(worker_tag_filter=TagFilter.ANY)

    @runtime.register_activity("Tag")
    def tag(ctx, x):
        return {"called": ctx.tag(), "attribute": ctx.tag, "is_str": isinstance(ctx.tag, str),
                "falsy": not ctx.tag, "equals_none": ctx.tag == None}  # noqa: E711 - the point

    @runtime.register_orchestration("Tags")
    def tags(ctx, x):
        plain = yield ctx.schedule_activity("Tag", None)
        tagged = yield ctx.schedule_activity("Tag", None).with_tag("gpu")
        return [plain, tagged]

    runtime.start()
    iid = new_id("tag-method")
    client.start_orchestration(iid, "Tags")
    plain, tagged = assert_completed(client.wait_for_orchestration(iid, 30_000))
    assert plain == {"called": None, "attribute": None, "is_str": False, "falsy": True, "equals_none": True}
    assert tagged == {"called": "gpu", "attribute": "gpu", "is_str": True, "falsy": False, "equals_none": False}


def test_metrics_snapshot_reads_as_a_dict_and_as_attributes(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_orchestration("Noop", lambda ctx, x: x)
    runtime.start()
    assert_completed(run_orchestration("Noop", 1))
    snap = runtime.metrics_snapshot()
    assert isinstance(snap, dict) and snap.orch_starts == snap["orch_starts"] >= 1
    assert snap.orch_completions == snap["orch_completions"] >= 1
    with pytest.raises(AttributeError, match="no counter 'no_such_counter'"):
        snap.no_such_counter


def test_init_tracing_on_an_unopenable_path_is_a_runtime_error_too(tmp_path):
    path = tmp_path / "missing-dir" / "x.log"
    try:
        with pytest.raises(RuntimeError) as info:
            duroxide.init_tracing(str(path))
        assert str(info.value).startswith("Failed to open log file")
        assert isinstance(info.value, FileNotFoundError) and info.value.filename == str(path)
        with pytest.raises(IsADirectoryError) as info:  # the OS's own kind, every time
            duroxide.init_tracing(str(tmp_path))
        assert isinstance(info.value, RuntimeError) and str(info.value).startswith("Failed to open log file")
    finally:
        duroxide.reset_tracing()


def test_history_event_data_has_its_payloads_decoded(make_runtime, client):
    runtime = make_runtime()
    runtime.register_activity("Echo", lambda ctx, x: {"echo": x})

    @runtime.register_orchestration("Hist")
    def hist(ctx, x):
        echoed = yield ctx.schedule_activity("Echo", x)
        event = yield ctx.wait_for_event("go")
        child = yield ctx.schedule_sub_orchestration("Child", [1, 2])
        return {"echoed": echoed, "event": event, "child": child}

    runtime.register_orchestration("Child", lambda ctx, x: {"sum": sum(x)})
    runtime.start()
    iid = new_id("hist-data")
    client.start_orchestration(iid, "Hist", {"payload": 7})
    deadline = time.monotonic() + 30
    while not any(e.kind == "ExternalSubscribed" for e in client.read_execution_history(iid, 1)):
        assert time.monotonic() < deadline, "the instance never waited for its event"
        time.sleep(0.05)
    client.raise_event(iid, "go", {"ok": True})
    assert_completed(client.wait_for_orchestration(iid, 30_000))

    events = {e.kind: e.fields for e in client.read_execution_history(iid, 1)}
    assert events["OrchestrationStarted"]["input"] == {"payload": 7}
    assert events["OrchestrationStarted"]["name"] == "Hist"
    assert events["ActivityScheduled"] == {"name": "Echo", "input": {"payload": 7}}
    assert events["ActivityCompleted"] == {"echo": {"payload": 7}}  # the result itself
    assert events["ExternalEvent"] == {"name": "go", "data": {"ok": True}}
    assert events["SubOrchestrationScheduled"]["input"] == [1, 2]
    assert events["SubOrchestrationCompleted"] == {"sum": 3}
    assert events["OrchestrationCompleted"]["output"]["child"] == {"sum": 3}


def test_scheduled_task_is_what_schedule_activity_returns(make_runtime, client):
    from duroxide.context import ScheduledTask

    runtime = make_runtime(worker_tag_filter=TagFilter.ANY)
    runtime.register_activity("Echo", lambda ctx, x: x)

    @runtime.register_orchestration("Scheduled")
    def scheduled(ctx, x):
        task = ctx.schedule_activity("Echo", x)
        assert isinstance(task, ScheduledTask)
        return (yield task.with_tag("fast"))

    runtime.start()
    iid = new_id("scheduled-task")
    client.start_orchestration(iid, "Scheduled", "hi")
    assert_completed(client.wait_for_orchestration(iid, 30_000), "hi")


# -------------------------------------------------------------------- refreshable credentials

PROBE_ROLE = "duroxide_auth_probe"  # scripts/ensure_postgres.sh: password-authenticated
PROBE_PASSWORD = "duroxide-probe-password"


@pytest.fixture
def password_role():
    url = require_postgres_url()
    rules = psql_value(url, f"SELECT count(*) FROM pg_hba_file_rules WHERE '{PROBE_ROLE}' = ANY(user_name) "
                            "AND auth_method IN ('scram-sha-256', 'md5')")
    if rules == "0":
        _postgres_unavailable(f"no password-authenticated role {PROBE_ROLE}; run scripts/ensure_postgres.sh")
    database = urlsplit(url).path.lstrip("/") or "postgres"
    assert run_psql(url, f'GRANT CREATE ON DATABASE "{database}" TO {PROBE_ROLE}').returncode == 0
    schema = f"test_rotation_{secrets.token_hex(4)}"
    yield url, schema
    run_psql(url, f"ALTER ROLE {PROBE_ROLE} PASSWORD '{PROBE_PASSWORD}'")
    run_psql(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _as_probe(url: str, password: str = "") -> str:
    parts = urlsplit(url)
    userinfo = f"{PROBE_ROLE}:{password}" if password else PROBE_ROLE
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.hostname or '127.0.0.1'}:{parts.port or 5432}",
                       parts.path, parts.query, ""))


def _run_one(runtime_provider, name: str) -> str:
    client = duroxide.Client(runtime_provider)
    iid = new_id(name)
    client.start_orchestration(iid, "Rotate", name)
    return assert_completed(client.wait_for_orchestration(iid, 60_000))


def test_a_rotated_password_is_picked_up_without_a_restart(password_role):
    url, schema = password_role
    current = {"password": PROBE_PASSWORD}
    asked = []

    def password() -> str:
        asked.append(time.monotonic())
        return current["password"]

    provider = PostgresProvider.connect_with_credentials(_as_probe(url), password, schema=schema, refresh_interval_s=0.2)
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10))
    runtime.register_activity("Echo", lambda ctx, x: x)

    @runtime.register_orchestration("Rotate")
    def rotate(ctx, x):
        return (yield ctx.schedule_activity("Echo", x))

    runtime.start()
    try:
        assert _run_one(provider, "before") == "before"

        rotated = "rotated-" + secrets.token_hex(8)
        assert run_psql(url, f"ALTER ROLE {PROBE_ROLE} PASSWORD '{rotated}'").returncode == 0
        current["password"] = rotated
        seen = len(asked)
        deadline = time.monotonic() + 15
        while len(asked) < seen + 2:  # asked again since the rotation: the pool has the new one
            assert time.monotonic() < deadline, "the password source was not asked again"
            time.sleep(0.05)
        # Close every connection the role has: the pool must log in again, with the new password.
        run_psql(url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{PROBE_ROLE}'")
        assert _run_one(provider, "after") == "after"

        with pytest.raises(ProviderError, match="password authentication failed"):
            PostgresProvider.connect_with_schema(_as_probe(url, PROBE_PASSWORD), schema)  # the old one is dead
    finally:
        runtime.shutdown(2000)


def test_password_source_mistakes_are_clear_errors(password_role):
    url, schema = password_role

    def broken() -> str:
        raise KeyError("vault unreachable")

    with pytest.raises(InvalidArgumentError, match="the password callable raised KeyError"):
        PostgresProvider.connect_with_credentials(_as_probe(url), broken, schema=schema)
    with pytest.raises(InvalidArgumentError, match="non-empty str, got int"):
        PostgresProvider.connect_with_credentials(_as_probe(url), lambda: 42, schema=schema)
    with pytest.raises(InvalidArgumentError, match="must name its user"):
        parts = urlsplit(url)
        no_user = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port or 5432}", parts.path, "", ""))
        PostgresProvider.connect_with_credentials(no_user, lambda: "x", schema=schema)
    with pytest.raises(InvalidArgumentError, match="refresh_interval_s"):
        PostgresProvider.connect_with_credentials(_as_probe(url), lambda: "x", refresh_interval_s=0)
    with pytest.raises(TypeError, match="callable"):
        PostgresProvider.connect_with_credentials(_as_probe(url), "not-callable")
    assert psql_value(url, f"SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'") == "0"


# -------------------------------------------------------------------- the original's spellings


def test_the_original_sdks_argument_spellings(make_runtime, client):
    runtime = make_runtime(worker_tag_filter=TagFilter.ANY)
    attempts = {}

    @runtime.register_activity("Flaky")
    def flaky(ctx, key):
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] < 2:
            raise RuntimeError("once")
        return {"key": key}

    runtime.register_activity("Where", lambda ctx, key: {"key": key, "session": ctx.session_id, "tag": ctx.tag()})

    @runtime.register_orchestration("Spellings")
    def spellings(ctx, x):
        tagged = ctx.schedule_activity("Where", "t", "sess-1")  # session_id positionally
        tagged.with_tag("fast")  # in place, as in the original
        first = yield tagged
        second = yield ctx.schedule_activity_with_retry(
            "Flaky", "r", retry={"maxAttempts": 3, "delayMs": 10, "backoff": "fixed", "totalTimeoutMs": 30_000})
        ctx.set_kv_value("k", "v")
        message = yield ctx.dequeue_event(queue_name="inbox")
        now = yield ctx.utc_now()
        pruned = ctx.prune_kv_values_updated_before(cutoff_ms=now + 60_000)
        return {"first": first, "second": second, "message": message, "pruned": pruned}

    runtime.start()
    iid = new_id("spellings")
    client.start_orchestration(iid, "Spellings")
    client.enqueue_event(iid, queue_name="inbox", data={"n": 1})
    out = assert_completed(client.wait_for_orchestration(iid, 30_000))
    assert out["first"] == {"key": "t", "session": "sess-1", "tag": "fast"}
    assert out["second"]["key"] == "r" and attempts["r"] == 2
    assert out["message"] == {"n": 1} and out["pruned"] == 1

    status = client.wait_for_status_change(iid)  # last_seen_version defaults to 0
    assert status is None or status.status == "Completed"
    client.cancel_instance(iid, None)  # reason=None, as the original accepted


def test_the_original_sdks_names_and_error_bases(tmp_path, client):
    assert duroxide.Event is duroxide.HistoryEvent and duroxide.SystemStats is duroxide.OrchestrationStats
    assert duroxide.OrchestrationStatus is duroxide.OrchestrationResult
    assert duroxide.PyMetricsSnapshot is duroxide.MetricsSnapshot and duroxide.PySystemStats is duroxide.SystemStats
    # The original raised RuntimeError from every client and provider call.
    with pytest.raises(RuntimeError):
        client.get_instance_info("never-" + new_id())
    with pytest.raises(RuntimeError):
        client.wait_for_orchestration("never-" + new_id(), 10)
    with pytest.raises(RuntimeError):
        duroxide.SqliteProvider.open(str(tmp_path / "no-dir" / "x.db"))
    # sqlx-style SQLite URLs.
    duroxide.SqliteProvider.open(f"sqlite:{tmp_path / 'url.db'}")
    duroxide.SqliteProvider.open(f"sqlite://{tmp_path / 'url2.db'}?mode=rwc")
    assert (tmp_path / "url.db").exists() and (tmp_path / "url2.db").exists()
    duroxide.SqliteProvider.open("sqlite::memory:")
    try:
        duroxide.init_tracing(str(tmp_path / "x.log"), "debug", None)  # positional, None = default
    finally:
        duroxide.reset_tracing()


def test_an_orchestration_only_runtime_leaves_untagged_activities_to_the_workers(make_runtime, client):
    """A deployment that splits orchestrations and activities over processes: the
    orchestrating runtime registers no activity (TagFilter.NONE)."""
    orchestrator = make_runtime(worker_tag_filter=TagFilter.NONE)

    @orchestrator.register_orchestration("Split")
    def split(ctx, x):
        return (yield ctx.schedule_activity("OnlyOnWorkers", x))

    worker = make_runtime()
    worker.register_activity("OnlyOnWorkers", lambda ctx, x: f"worked:{x}")
    worker.register_orchestration("Split", split)
    orchestrator.start()
    iid = new_id("split")
    client.start_orchestration(iid, "Split", 1)
    deadline = time.monotonic() + 30  # the orchestrator alone takes the first turn
    while not any(e.kind == "ActivityScheduled" for e in client.read_execution_history(iid, 1)):
        assert client.get_status(iid).status in ("NotFound", "Running"), client.get_status(iid)  # not Failed
        assert time.monotonic() < deadline, "the orchestration-only runtime never scheduled the activity"
        time.sleep(0.05)
    worker.start()
    assert_completed(client.wait_for_orchestration(iid, 30_000), "worked:1")
