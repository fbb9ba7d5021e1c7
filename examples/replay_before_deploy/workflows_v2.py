"""The change under review: a fraud check before charging. Instances already past the
reservation would replay a different step 2 -- exactly what the replayer catches."""

from typing import Any, Dict, Generator

from duroxide import OrchestrationContext, Runtime


def checkout(ctx: OrchestrationContext, order: Dict[str, Any]) -> Generator[Any, Any, Dict[str, str]]:
    reservation = yield ctx.schedule_activity("Reserve", order)
    yield ctx.schedule_activity("FraudCheck", order)  # new step
    receipt = yield ctx.schedule_activity("Charge", order)
    yield ctx.schedule_timer(10)
    shipment = yield ctx.schedule_activity("Ship", reservation)
    return {"receipt": receipt, "shipment": shipment}


def register(runtime: Runtime) -> None:
    runtime.register_orchestration("Checkout", checkout)
    runtime.register_activity("Reserve", lambda ctx, order: f"reserved {order['item']}")
    runtime.register_activity("Charge", lambda ctx, order: f"charged {order['amount']}")
    runtime.register_activity("Ship", lambda ctx, reservation: f"shipped ({reservation})")
    runtime.register_activity("FraudCheck", lambda ctx, order: "ok")
