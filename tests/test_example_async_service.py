"""examples/async_service: the FastAPI service runs for real (uvicorn, a SQLite file) and
serves concurrent orders that start and await durable workflows from async handlers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

try:
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as e:  # scripts/test.sh installs them; under CI their absence is a failure
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip(f"the example needs fastapi and uvicorn ({e}); scripts/test.sh installs them", allow_module_level=True)

APP = os.path.join(os.path.dirname(__file__), "..", "examples", "async_service", "app.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(method: str, url: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def service(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, APP, "--db", str(tmp_path / "orders.db"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            _request("GET", f"{base}/orders/nothing")
            break
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the service did not start:\n{proc.stdout.read()}")
            time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_concurrent_orders_start_and_await_workflows_from_async_handlers(service):
    orders = [{"id": f"order-{i}", "items": ["book", f"pen-{i}"], "card": "4242"} for i in range(20)]
    with ThreadPoolExecutor(len(orders)) as pool:
        answers = list(pool.map(lambda o: _request("POST", f"{service}/orders", o), orders))
    for order, (status, body) in zip(orders, answers):
        assert status == 200, body
        assert body == {
            "status": "Completed",
            "order": order["id"],
            "items": order["items"],
            "charge": f"charge-{order['id']}",
            "note": f"confirmation sent for {order['id']}",
        }
    status, body = _request("GET", f"{service}/orders/order-3")
    assert status == 200 and body["status"] == "Completed" and body["progress"] == "paid"


def test_a_declined_card_and_an_unknown_order_are_http_errors(service):
    status, body = _request("POST", f"{service}/orders", {"id": "declined", "items": ["x"], "card": "0000"})
    assert status == 402 and "card declined" in body["detail"]
    status, body = _request("GET", f"{service}/orders/no-such-order")
    assert status == 404 and "no-such-order" in body["detail"]
