"""``duroxide.aio.Client``: every Client method as a coroutine, on SQLite and PostgreSQL.

Each method is awaited against real instances and compared with what the blocking client
returns for the same store; errors are the same exception classes; many waits share one
event loop without a thread each; cancelling an awaiting task stops its wait.
"""

from __future__ import annotations

import asyncio
import inspect
import threading

import pytest

import duroxide
from conftest import new_id, wait_until_custom_status
from duroxide import (
    ClosedError,
    DuroxideTimeoutError,
    InstanceFilter,
    InstanceNotFoundError,
    InvalidArgumentError,
    OrchestrationFailedError,
    PruneOptions,
)
from duroxide.aio import Client as AsyncClient


def _register(runtime):
    @runtime.register_activity("Echo")
    async def echo(ctx, x):
        return x

    @runtime.register_orchestration("Steps")
    async def steps(ctx, x):
        ctx.set_custom_status("started")
        ctx.set_kv_value("color", "blue")
        event = await ctx.wait_for_event("go")
        queued = await ctx.dequeue_event("inbox")
        ctx.set_custom_status("finishing")
        return {"x": await ctx.schedule_activity("Echo", x), "event": event, "queued": queued}

    @runtime.register_orchestration("Fails")
    async def fails(ctx, x):
        raise ValueError("no good")

    @runtime.register_orchestration("Forever")
    async def forever(ctx, x):
        await ctx.wait_for_event("never")

    @runtime.register_orchestration("Parent")
    async def parent(ctx, x):
        return await ctx.schedule_sub_orchestration("Echoing", x)

    @runtime.register_orchestration("Echoing")
    def echoing(ctx, x):
        return (yield ctx.schedule_activity("Echo", x))

    return runtime


def test_every_async_method_against_real_instances(make_runtime, provider, client):
    _register(make_runtime()).start()

    async def scenario():
        async with AsyncClient(provider) as aio:
            iid = new_id("aio")
            await aio.start_orchestration(iid, "Steps", 5)
            seen = await aio.wait_for_status_change(iid, 0, 10, 30_000)
            assert seen is not None and seen.custom_status == "started"
            assert await aio.wait_for_kv_value(iid, "color", 30_000) == "blue"
            assert await aio.wait_for_kv_value_typed(iid, "color", 30_000) == "blue"
            assert await aio.get_kv_value(iid, "color") == "blue"
            assert await aio.get_kv_value_typed(iid, "missing") is None
            assert await aio.get_kv_all_values(iid) == {"color": "blue"}
            assert (await aio.get_status(iid)).status == "Running"
            await aio.raise_event(iid, "go", {"ok": True})
            await aio.enqueue_event(iid, "inbox", [1, 2])
            done = await aio.wait_for_orchestration(iid, 30_000)
            assert done.status == "Completed"
            assert done.output == {"x": 5, "event": {"ok": True}, "queued": [1, 2]}
            assert done.custom_status == "finishing"
            assert await aio.wait_for_status_change(iid, done.custom_status_version, 10, 5_000) is None

            typed = new_id("aio-typed")
            await aio.start_orchestration_typed(typed, "Steps", "t")
            wait_until_custom_status(client, typed, "started")
            await aio.raise_event_typed(typed, "go", "now")
            await aio.enqueue_event_typed(typed, "inbox", "msg")
            assert await aio.wait_for_orchestration_typed(typed, 30_000) == {"x": "t", "event": "now", "queued": "msg"}

            versioned = new_id("aio-v")
            await aio.start_orchestration_versioned(versioned, "Parent", 7, "1.0.0")
            assert (await aio.wait_for_orchestration(versioned, 30_000)).output == 7
            versioned_typed = new_id("aio-vt")
            await aio.start_orchestration_versioned_typed(versioned_typed, "Parent", 8, "1.0.0")
            assert await aio.wait_for_orchestration_typed(versioned_typed, 30_000) == 8

            failing = new_id("aio-fail")
            await aio.start_orchestration(failing, "Fails")
            failed = await aio.wait_for_orchestration(failing, 30_000)
            assert failed.status == "Failed" and "no good" in failed.error
            with pytest.raises(OrchestrationFailedError, match="no good"):
                await aio.wait_for_orchestration_typed(failing, 30_000)

            cancelled = new_id("aio-cancel")
            await aio.start_orchestration(cancelled, "Forever")
            await aio.cancel_instance(cancelled, "stop it")
            assert "stop it" in (await aio.wait_for_orchestration(cancelled, 30_000)).error

            # Admin: the same answers as the blocking client.
            assert (await aio.get_system_metrics()).total_instances == client.get_system_metrics().total_instances
            assert (await aio.get_queue_depths()) == client.get_queue_depths()
            assert sorted(await aio.list_all_instances()) == sorted(client.list_all_instances())
            assert iid in await aio.list_instances_by_status("Completed")
            assert (await aio.get_instance_info(iid)).orchestration_name == "Steps"
            assert (await aio.get_execution_info(iid, 1)).execution_id == 1
            tree = await aio.get_instance_tree(versioned)
            assert tree.root_id == versioned and len(tree.all_ids) == 2
            assert await aio.list_executions(iid) == [1]
            history = await aio.read_execution_history(iid, 1)
            assert [e.kind for e in history] == [e.kind for e in client.read_execution_history(iid, 1)]
            export = await aio.export_history(iid)
            assert export["format"] == "duroxide-history" and export["instance_id"] == iid
            assert (await aio.get_orchestration_stats(iid)).history_event_count == len(history)
            assert await aio.get_orchestration_stats("nope-" + iid) is None
            pruned = await aio.prune_executions(iid, PruneOptions(keep_last=1))
            assert pruned.executions_deleted == 0
            bulk_pruned = await aio.prune_executions_bulk(InstanceFilter(instance_ids=[iid]), PruneOptions(keep_last=1))
            assert bulk_pruned.instances_processed == 1
            deleted = await aio.delete_instance(failing)
            assert deleted.instances_deleted == 1
            bulk = await aio.delete_instance_bulk(InstanceFilter(instance_ids=[typed]))
            assert bulk.instances_deleted == 1
            assert client.get_status(failing).status == "NotFound"

    asyncio.run(scenario())


def test_async_client_has_every_blocking_client_method_as_a_coroutine():
    blocking = {n for n, f in inspect.getmembers(duroxide.Client, inspect.isfunction) if not n.startswith("_")}
    awaitable = {n for n, f in inspect.getmembers(AsyncClient, inspect.iscoroutinefunction) if not n.startswith("_")}
    assert blocking - {"close"} == awaitable, (blocking - awaitable, awaitable - blocking)


def test_async_errors_are_the_blocking_clients_exceptions(make_runtime, provider):
    _register(make_runtime()).start()

    async def scenario():
        aio = AsyncClient(provider)
        with pytest.raises(DuroxideTimeoutError):
            await aio.wait_for_orchestration("never-started-" + new_id(), 50)
        with pytest.raises(InstanceNotFoundError):
            await aio.get_instance_info("never-started-" + new_id())
        with pytest.raises(InvalidArgumentError):
            await aio.list_instances_by_status("Sleeping")
        with pytest.raises(InvalidArgumentError):
            await aio.wait_for_status_change("x", -1)
        with pytest.raises(TypeError):
            await aio.start_orchestration("x", "Steps", object())
        with pytest.raises(InvalidArgumentError):
            await aio.start_orchestration("", "Steps")
        aio.close()
        with pytest.raises(ClosedError):
            await aio.get_status("x")

    asyncio.run(scenario())
    with pytest.raises(TypeError, match="SqliteProvider or PostgresProvider"):
        AsyncClient("sqlite:///tmp/x.db")


def test_many_waits_share_one_loop_without_a_thread_each(make_runtime, provider):
    _register(make_runtime()).start()
    count = 200

    async def scenario():
        async with AsyncClient(provider) as aio:
            ids = [new_id("many") for _ in range(count)]
            await asyncio.gather(*(aio.start_orchestration(i, "Forever") for i in ids))
            waits = [asyncio.ensure_future(aio.wait_for_orchestration(i, 60_000)) for i in ids]
            await asyncio.sleep(0.5)  # every wait is in progress now
            threads_while_waiting = threading.active_count()
            await asyncio.gather(*(aio.cancel_instance(i, "done") for i in ids))
            results = await asyncio.gather(*waits)
            return threads_while_waiting, results

    before = threading.active_count()
    threads_while_waiting, results = asyncio.run(scenario())
    assert threads_while_waiting <= before + 2, f"{threads_while_waiting} threads for {count} waits (had {before})"
    assert [r.status for r in results] == ["Failed"] * count


def test_cancelling_an_awaiting_task_stops_the_wait_and_the_client_goes_on(make_runtime, provider):
    _register(make_runtime()).start()

    async def scenario():
        async with AsyncClient(provider) as aio:
            iid = new_id("cancel-wait")
            await aio.start_orchestration(iid, "Forever")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(aio.wait_for_orchestration(iid, 60_000), 0.2)
            await aio.cancel_instance(iid, "later")
            return await aio.wait_for_orchestration(iid, 30_000)

    assert "later" in asyncio.run(scenario()).error
