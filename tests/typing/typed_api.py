"""The typed public API, as a type checker sees it and as it runs.

``mypy --strict`` and ``pyright`` check this file with ``assert_type`` on every typed
call (tests/test_typing.py); the same test then runs :func:`main` on a SQLite file, so
the types asserted here are the values the SDK really returns.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Generator, List, Optional, assert_type


import duroxide.aio
from duroxide import (
    ActivityContext,
    Client,
    OrchestrationContext,
    OrchestrationResult,
    Runtime,
    RuntimeOptions,
    SqliteProvider,
)
from duroxide.tasks import ActivityTask, Task


@dataclass
class Order:
    order_id: str
    amount: int


@dataclass
class Receipt:
    order_id: str
    charged: int


def charge(ctx: ActivityContext, order: Order) -> Receipt:
    return Receipt(order.order_id, order.amount)


async def charge_async(ctx: ActivityContext, order: Order) -> Receipt:
    await asyncio.sleep(0)
    return Receipt(order.order_id, order.amount * 2)


def checkout(ctx: OrchestrationContext, order: Order) -> Generator[Task[Any], Any, Receipt]:
    task = ctx.schedule_activity(charge, order)
    assert_type(task, ActivityTask[Receipt])
    assert_type(ctx.schedule_activity_with_retry(charge, order, {"max_attempts": 2}), Task[Receipt])
    assert_type(ctx.schedule_activity("Charge", order), ActivityTask[Any])
    assert_type(ctx.schedule_timer(10), Task[None])
    assert_type(ctx.new_guid(), Task[str])
    receipt: Receipt = yield task  # a generator's sends are untyped: annotate the target
    return receipt


async def checkout_async(ctx: OrchestrationContext, order: Order) -> Receipt:
    first = await ctx.schedule_activity(charge, order)
    assert_type(first, Receipt)
    doubled = await ctx.schedule_activity(charge_async, order)
    assert_type(doubled, Receipt)
    child = await ctx.schedule_sub_orchestration(checkout, order)
    assert_type(child, Receipt)
    await ctx.schedule_timer(1)
    both = await ctx.all([ctx.schedule_activity(charge, order), ctx.schedule_activity(charge_async, order)])
    assert_type(both, List[Any])
    return Receipt(order.order_id, first.charged + doubled.charged + child.charged + len(both))


def run_sync(client: Client) -> Receipt:
    client.start_orchestration("typed-sync", checkout, Order("typed-sync", 5))
    result = client.wait_for_orchestration("typed-sync", 10_000, result_type=Receipt)
    assert_type(result, OrchestrationResult[Receipt])
    assert_type(result.output, Optional[Receipt])
    untyped = client.get_status("typed-sync")
    assert_type(untyped, OrchestrationResult[Any])
    output = client.wait_for_orchestration_typed("typed-sync", result_type=Receipt)
    assert_type(output, Receipt)
    return output


async def run_async(provider: SqliteProvider) -> Receipt:
    async with duroxide.aio.Client(provider) as client:
        await client.start_orchestration("typed-async", checkout_async, Order("typed-async", 7))
        result = await client.wait_for_orchestration("typed-async", 10_000, result_type=Receipt)
        assert_type(result, OrchestrationResult[Receipt])
        output = await client.wait_for_orchestration_typed("typed-async", result_type=Receipt)
        assert_type(output, Receipt)
        return output


def main(db_path: str) -> List[Receipt]:
    """Runs both workflows on the SQLite file ``db_path``; returns their receipts."""
    provider = SqliteProvider.open(db_path)
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=5))
    runtime.register_activity("Charge", charge)
    runtime.register_activity("ChargeTwice", charge_async)
    runtime.register_orchestration("Checkout", checkout)
    runtime.register_orchestration("CheckoutAsync", checkout_async)
    runtime.start()
    try:
        with Client(provider) as client:
            receipts = [run_sync(client)]
        receipts.append(asyncio.run(run_async(provider)))
        return receipts
    finally:
        runtime.shutdown()
