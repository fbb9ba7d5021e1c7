"""The dashboard (`duroxide ui`), end to end in a real headless browser.

A runtime in this process runs real instances (completed with a retry, a timer and a
sub-orchestration; failed; waiting for events; one whose payloads are HTML) on a SQLite
file or PostgreSQL; the real `duroxide ui` command serves that store from another
process; Playwright drives Debian's chromium against it: the list shows the instances and
refreshes itself, an instance page draws its timeline (a screenshot is checked for the
bars' colours), hostile payloads stay text, and the actions change an instance only when
enabled.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import new_id, wait_until_custom_status
from helpers.png import pixel_counts

try:
    from playwright.sync_api import sync_playwright
except ImportError as e:  # scripts/test.sh installs it; under CI its absence is a failure
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip(f"the dashboard tests need playwright ({e}); scripts/test.sh installs it", allow_module_level=True)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not os.access(CHROMIUM, os.X_OK):
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(f"no chromium at {CHROMIUM} (scripts/ensure_chromium.sh installs it)")
    pytest.skip(f"no chromium at {CHROMIUM}; scripts/test.sh installs it", allow_module_level=True)

HOSTILE_INPUT = "<script>window.__xss = 1; alert(1)</script>"
HOSTILE_STATUS = '<img src=x onerror="window.__xss = 2; alert(2)">'
# The bar colours of python/duroxide/ui/templates/base.html.
GREEN, RED, PURPLE, GREY = (0x4C, 0x9A, 0x6A), (0xD9, 0x53, 0x4F), (0x8E, 0x6C, 0xC8), (0xB0, 0xB7, 0xC3)


def _register(runtime, attempts):
    @runtime.register_activity("Charge")
    async def charge(ctx, order):
        attempts[order] = attempts.get(order, 0) + 1
        if attempts[order] == 1:
            raise RuntimeError("card network timeout")
        return f"receipt-{order}"

    @runtime.register_activity("Pack")
    def pack(ctx, order):
        time.sleep(0.05)
        return f"box-{order}"

    @runtime.register_activity("Explode")
    def explode(ctx, x):
        raise ValueError("the warehouse is on fire")

    @runtime.register_orchestration("Ship")
    def ship(ctx, order):
        box = yield ctx.schedule_activity("Pack", order)
        yield ctx.schedule_timer(30)
        return box

    @runtime.register_orchestration("Order")
    async def order_flow(ctx, order):
        receipt = await ctx.schedule_activity_with_retry("Charge", order, {"max_attempts": 3, "backoff": "fixed", "delay_ms": 20})
        await ctx.schedule_timer(40)
        box = await ctx.schedule_sub_orchestration("Ship", order)
        return {"receipt": receipt, "box": box}

    @runtime.register_orchestration("Doomed")
    def doomed(ctx, x):
        return (yield ctx.schedule_activity("Explode", x))

    @runtime.register_orchestration("Approval")
    async def approval(ctx, x):
        ctx.set_custom_status(x.get("status", "waiting for approval"))
        ctx.set_kv_value("note", x.get("note", "plain"))
        return await ctx.wait_for_event("approve")


@pytest.fixture
def store(provider_factory, make_runtime, client):
    """Real instances of every kind, and the runtime that keeps running them."""
    runtime = make_runtime()
    _register(runtime, {})
    runtime.start()
    ids = {k: new_id(k) for k in ("order", "doomed", "waiting", "cancel", "hostile")}
    client.start_orchestration(ids["order"], "Order", "o-1")
    client.start_orchestration(ids["doomed"], "Doomed", 1)
    client.start_orchestration(ids["waiting"], "Approval", {})
    client.start_orchestration(ids["cancel"], "Approval", {})
    client.start_orchestration(ids["hostile"], "Approval", {"status": HOSTILE_STATUS, "note": HOSTILE_INPUT, "html": HOSTILE_INPUT})
    assert client.wait_for_orchestration(ids["order"], 30_000).status == "Completed"
    assert client.wait_for_orchestration(ids["doomed"], 30_000).status == "Failed"
    for key in ("waiting", "cancel"):
        wait_until_custom_status(client, ids[key], "waiting for approval")
    wait_until_custom_status(client, ids["hostile"], HOSTILE_STATUS)
    return provider_factory, ids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def dashboard(store):
    """start(*flags) -> the base URL of `duroxide ui` serving the test's store."""
    handle, _ = store
    procs = []

    def start(*flags: str) -> str:
        port = _free_port()
        db = ["--db", handle.sqlite_path] if handle.kind == "sqlite" else ["--db", handle.pg_url, "--schema", handle.pg_schema]
        proc = subprocess.Popen([sys.executable, "-m", "duroxide", "ui", *db, "--port", str(port), *flags],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(base + "/api/instances")
                return base
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"duroxide ui did not start:\n{proc.stdout.read()}")
                time.sleep(0.2)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def test_the_list_shows_every_instance_filters_and_refreshes_itself(store, dashboard, page, client):
    _, ids = store
    base = dashboard()
    page.goto(base + "/")
    for iid in ids.values():
        assert page.locator(f'tr[data-id="{iid}"]').count() == 1, iid
    assert page.locator(f'tr[data-id="{ids["doomed"]}"] .status').inner_text() == "Failed"
    assert page.locator(f'tr[data-id="{ids["order"]}"] .status').inner_text() == "Completed"

    page.select_option("select[name=status]", "Failed")
    page.click("button[type=submit]")
    page.wait_for_url("**status=Failed**")
    assert page.locator("tr.instance-row").count() >= 1
    assert page.locator(f'tr[data-id="{ids["doomed"]}"]').count() == 1
    assert page.locator(f'tr[data-id="{ids["order"]}"]').count() == 0

    page.goto(base + "/")
    late = new_id("late")
    client.start_orchestration(late, "Approval", {})  # after the page was drawn
    page.wait_for_selector(f'tr[data-id="{late}"]', timeout=20_000)  # the live refresh brought it


def test_an_instance_page_draws_its_timeline(store, dashboard, page, tmp_path):
    _, ids = store
    base = dashboard()
    page.goto(f"{base}/instances/{ids['order']}")
    assert page.locator("#status").inner_text() == "Completed"
    assert "receipt-o-1" in page.locator("#output").inner_text()
    bars = page.locator("#timeline rect.bar")
    kinds = [bars.nth(i).get_attribute("data-kind") for i in range(bars.count())]
    outcomes = [bars.nth(i).get_attribute("data-outcome") for i in range(bars.count())]
    assert kinds.count("activity") == 2 and "timer" in kinds and "sub-orchestration" in kinds, kinds
    assert outcomes.count("failed") == 1 and "running" not in outcomes, outcomes  # the failed first attempt
    assert page.locator("#timeline text", has_text="Charge (attempt 2)").count() == 1
    tree = page.locator("#tree a")
    assert tree.count() == 2 and tree.nth(0).inner_text() == ids["order"]  # the root, then its child

    shot = str(tmp_path / "timeline.png")
    page.locator("#timeline").screenshot(path=shot)
    colours = pixel_counts(shot)
    for name, colour in (("ok activity", GREEN), ("failed attempt", RED), ("sub-orchestration", PURPLE), ("timer", GREY)):
        assert colours[colour] > 100, f"no {name} bar drawn in the screenshot ({colours[colour]} pixels of {colour})"

    page.click("#tree a >> nth=1")  # the sub-orchestration's own page
    assert page.locator("#summary", has_text="Ship@1.0.0").count() == 1
    assert page.locator("#summary a").inner_text() == ids["order"]  # its parent


def test_hostile_payloads_render_as_text(store, dashboard, page):
    _, ids = store
    base = dashboard()
    page.goto(f"{base}/instances/{ids['hostile']}")
    assert page.locator("#input").inner_text().count("<script>") == 2  # the input holds it twice
    assert page.locator("#custom-status").inner_text() == HOSTILE_STATUS
    assert HOSTILE_INPUT in page.locator("#kv").inner_text()
    page.goto(base + "/")
    assert page.dialogs == [] and page.evaluate("window.__xss") is None


def test_actions_are_off_unless_enabled(store, dashboard, page, client):
    _, ids = store
    base = dashboard()
    page.goto(f"{base}/instances/{ids['waiting']}")
    assert page.locator("#actions").count() == 0
    response = page.request.post(f"{base}/instances/{ids['waiting']}/cancel", form={"reason": "x", "form_token": "guess"})
    assert response.status == 403 and "--allow-actions" in response.text()
    assert client.get_status(ids["waiting"]).status == "Running"


def test_raise_and_cancel_from_the_page_change_the_instances(store, dashboard, page, client):
    _, ids = store
    base = dashboard("--allow-actions")
    page.goto(f"{base}/instances/{ids['waiting']}")
    page.fill("input[name=event]", "approve")
    page.fill("input[name=data]", '{"approved_by": "ops"}')
    page.click("#raise")
    assert "raised" in page.locator("#message").inner_text()
    assert client.wait_for_orchestration(ids["waiting"], 30_000).output == {"approved_by": "ops"}

    page.goto(f"{base}/instances/{ids['cancel']}")
    page.fill("input[name=reason]", "no longer needed")
    page.click("#cancel")
    assert "cancellation requested" in page.locator("#message").inner_text()
    result = client.wait_for_orchestration(ids["cancel"], 30_000)
    assert result.status == "Failed" and "no longer needed" in result.error
    page.goto(f"{base}/instances/{ids['cancel']}")
    assert page.locator("#status").inner_text() == "Failed"

    forged = page.request.post(f"{base}/instances/{ids['hostile']}/cancel", form={"reason": "csrf", "form_token": "forged"})
    assert forged.status == 403
    assert client.get_status(ids["hostile"]).status == "Running"


def test_a_token_guards_every_page(store, dashboard, page):
    base = dashboard("--token", "s3cret")
    status, body = _get(base + "/")
    assert status == 401 and "token" in body
    page.goto(base + "/?token=s3cret")
    assert page.locator("tr.instance-row").count() >= 5


def test_ui_command_mistakes_are_one_line(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "duroxide", "ui", "--db", str(tmp_path / "none.db")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0, missing.stderr
    assert "no SQLite database" in missing.stderr
    db = tmp_path / "x.db"
    db.touch()
    exposed = subprocess.run([sys.executable, "-m", "duroxide", "ui", "--db", str(db), "--host", "0.0.0.0", "--allow-actions"],
                             capture_output=True, text=True, timeout=60)
    assert exposed.returncode == 2 and "need a token" in exposed.stderr, exposed.stderr


def test_create_app_mounted_under_a_prefix_keeps_its_links_inside_it(store, page):
    import threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from duroxide.ui import create_app

    handle, ids = store
    host_app = Starlette(routes=[Mount("/workflows", app=create_app(handle.provider))])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(host_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        page.goto(f"http://127.0.0.1:{port}/workflows/")
        page.click(f'tr[data-id="{ids["order"]}"] a')
        page.wait_for_url(f"**/workflows/instances/{ids['order']}")
        assert page.locator("#status").inner_text() == "Completed"
    finally:
        server.should_exit = True
        thread.join(10)
