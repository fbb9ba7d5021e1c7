"""An asyncio web service that runs durable workflows: FastAPI handlers start orders and
await their results with ``duroxide.aio.Client``; the workflow and its activities are
``async def``.

    pip install fastapi uvicorn
    python examples/async_service/app.py --db orders.db --port 8000

    curl -X POST localhost:8000/orders -H 'content-type: application/json' \\
         -d '{"id": "order-1", "items": ["book", "pen"], "card": "4242"}'
    curl localhost:8000/orders/order-1

A request that waits holds no thread: a thousand customers waiting for their orders are
a thousand awaiting coroutines on one event loop. Kill the process mid-order and start it
again: the order resumes where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from duroxide import DuroxideTimeoutError, Runtime, RuntimeOptions, SqliteProvider
from duroxide.aio import Client


class Order(BaseModel):
    id: str
    items: List[str]
    card: str


def build_runtime(provider: SqliteProvider) -> Runtime:
    """The workflow: reserve the stock and charge the card at once, then confirm."""
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10))

    @runtime.register_activity("ReserveStock")
    async def reserve_stock(ctx: Any, items: List[str]) -> Dict[str, Any]:
        await asyncio.sleep(0.05)  # a call to the inventory service
        return {"reserved": items}

    @runtime.register_activity("ChargeCard")
    async def charge_card(ctx: Any, charge: Dict[str, Any]) -> str:
        await asyncio.sleep(0.05)  # a call to the payment provider
        if charge["card"].startswith("0"):
            raise ValueError("card declined")
        return f"charge-{charge['order']}"

    @runtime.register_activity("SendConfirmation")
    async def send_confirmation(ctx: Any, order_id: str) -> str:
        await asyncio.sleep(0.01)
        return f"confirmation sent for {order_id}"

    @runtime.register_orchestration("PlaceOrder")
    async def place_order(ctx: Any, order: Dict[str, Any]) -> Dict[str, Any]:
        stock, charge = await ctx.all([
            ctx.schedule_activity("ReserveStock", order["items"]),
            ctx.schedule_activity("ChargeCard", {"order": order["id"], "card": order["card"]}),
        ])
        ctx.set_custom_status("paid")
        note = await ctx.schedule_activity("SendConfirmation", order["id"])
        return {"order": order["id"], "items": stock["reserved"], "charge": charge, "note": note}

    return runtime


def create_app(db_path: str) -> FastAPI:
    provider = SqliteProvider.open(db_path)
    runtime = build_runtime(provider)
    client = Client(provider)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        yield
        client.close()
        runtime.shutdown(2000)

    app = FastAPI(title="orders", lifespan=lifespan)

    @app.post("/orders")
    async def create_order(order: Order, wait_ms: int = 10_000) -> Dict[str, Any]:
        await client.start_orchestration(order.id, "PlaceOrder", order.model_dump())
        try:
            result = await client.wait_for_orchestration(order.id, wait_ms)
        except DuroxideTimeoutError:
            return {"order": order.id, "status": "Running"}  # still going: poll GET /orders/{id}
        if result.status == "Failed":
            raise HTTPException(status_code=402, detail=result.error)
        return {"status": result.status, **(result.output or {})}

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> Dict[str, Any]:
        state = await client.get_status(order_id)
        if state.status == "NotFound":
            raise HTTPException(status_code=404, detail=f"no order {order_id!r}")
        return {"status": state.status, "progress": state.custom_status, "output": state.output, "error": state.error}

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default="orders.db", help="SQLite file (default: orders.db)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(create_app(args.db), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
