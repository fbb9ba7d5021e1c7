"""Regenerates docs/images/dashboard*.png: a demo store, the dashboard, headless chromium.

    python scripts/dashboard_screenshot.py [--chromium /usr/bin/chromium]

Needs the ui extra and playwright (scripts/test.sh installs both).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time

import uvicorn
from playwright.sync_api import sync_playwright

from duroxide import Client, Runtime, RuntimeOptions, SqliteProvider
from duroxide.ui import create_app

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "images")


def demo_store(path: str) -> tuple:
    provider = SqliteProvider.open(path)
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=5))
    failures: dict = {}

    @runtime.register_activity("ChargeCard")
    async def charge(ctx, order):
        failures[order] = failures.get(order, 0) + 1
        await asyncio.sleep(0.15)
        if failures[order] == 1:
            raise RuntimeError("payment gateway timed out")
        return f"ch_{order}"

    @runtime.register_activity("ReserveStock")
    async def reserve(ctx, order):
        await asyncio.sleep(0.25)
        return "reserved"

    @runtime.register_activity("PackBox")
    def pack(ctx, order):
        time.sleep(0.2)
        return "box-7"

    @runtime.register_activity("SendEmail")
    def email(ctx, order):
        time.sleep(0.05)
        return "sent"

    @runtime.register_orchestration("Shipping")
    def shipping(ctx, order):
        box = yield ctx.schedule_activity("PackBox", order)
        yield ctx.schedule_timer(200)
        return box

    @runtime.register_orchestration("Checkout")
    async def checkout(ctx, order):
        stock, receipt = await ctx.all([
            ctx.schedule_activity("ReserveStock", order),
            ctx.schedule_activity_with_retry("ChargeCard", order, {"max_attempts": 3, "backoff": "fixed", "delay_ms": 100}),
        ])
        ctx.set_custom_status("paid")
        box = await ctx.schedule_sub_orchestration("Shipping", order)
        await ctx.schedule_timer(150)
        await ctx.schedule_activity("SendEmail", order)
        return {"receipt": receipt, "box": box, "stock": stock}

    @runtime.register_orchestration("Refund")
    def refund(ctx, order):
        yield ctx.wait_for_event("approved")

    runtime.start()
    client = Client(provider)
    for n in range(1, 4):
        client.start_orchestration(f"checkout-100{n}", "Checkout", f"A-100{n}")
    client.start_orchestration("refund-77", "Refund", "A-77")
    for n in range(1, 4):
        client.wait_for_orchestration(f"checkout-100{n}", 30_000)
    return provider, runtime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        provider, runtime = demo_store(os.path.join(tmp, "shop.db"))
        server = uvicorn.Server(uvicorn.Config(create_app(provider), host="127.0.0.1", port=8399, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1180, "height": 800})
            page.goto("http://127.0.0.1:8399/instances/checkout-1001")
            page.screenshot(path=os.path.join(OUT, "dashboard-instance.png"), full_page=False)
            page.goto("http://127.0.0.1:8399/")
            page.screenshot(path=os.path.join(OUT, "dashboard-list.png"))
            browser.close()
        server.should_exit = True
        runtime.shutdown(2000)
    print(f"wrote {OUT}/dashboard-instance.png and dashboard-list.png")


if __name__ == "__main__":
    main()
