"""The deployed code: an order is reserved, charged, then shipped."""

from typing import Any, Dict, Generator

from duroxide import OrchestrationContext, Runtime


def checkout(ctx: OrchestrationContext, order: Dict[str, Any]) -> Generator[Any, Any, Dict[str, str]]:
    reservation = yield ctx.schedule_activity("Reserve", order)
    receipt = yield ctx.schedule_activity("Charge", order)
    yield ctx.schedule_timer(10)  # a stand-in for "wait for the warehouse"
    shipment = yield ctx.schedule_activity("Ship", reservation)
    return {"receipt": receipt, "shipment": shipment}


def register(runtime: Runtime) -> None:
    """Registers everything; `duroxide replay --module workflows_v1` finds it here."""
    runtime.register_orchestration("Checkout", checkout)
    runtime.register_activity("Reserve", lambda ctx, order: f"reserved {order['item']}")
    runtime.register_activity("Charge", lambda ctx, order: f"charged {order['amount']}")
    runtime.register_activity("Ship", lambda ctx, reservation: f"shipped ({reservation})")
    runtime.register_activity("FraudCheck", lambda ctx, order: "ok")
