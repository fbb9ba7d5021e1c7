"""Calls the type checkers must refuse (tests/test_typing.py): every line marked
``# wrong:`` must be reported, and nothing else. This proves the typed API catches a
wrong model; typed_api.py is the same API used correctly."""

from __future__ import annotations

from typing import Any, Generator, assert_type

from duroxide import Client, OrchestrationContext
from typed_api import Order, Receipt, charge, checkout


def orchestration(ctx: OrchestrationContext, order: Order) -> Generator[Any, Any, None]:
    yield ctx.schedule_activity(charge, Receipt("o", 1))  # wrong: a Receipt where charge takes an Order
    yield ctx.schedule_sub_orchestration(checkout, "o-1")  # wrong: a str where checkout takes an Order
    yield ctx.schedule_activity(checkout, order)  # wrong: an orchestration scheduled as an activity


async def awaited(ctx: OrchestrationContext, order: Order) -> None:
    receipt = await ctx.schedule_activity(charge, order)
    assert_type(receipt, Order)  # wrong: charge returns a Receipt


def client_side(client: Client) -> None:
    client.start_orchestration("o-1", checkout, Receipt("o-1", 1))  # wrong: checkout takes an Order
    result = client.wait_for_orchestration("o-1", result_type=Receipt)
    assert_type(result.output, Order)  # wrong: the output is Optional[Receipt]
