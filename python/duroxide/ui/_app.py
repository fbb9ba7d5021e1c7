"""The dashboard's routes (Starlette) and templates (Jinja2, autoescaped)."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import time
from typing import Any, Dict, Optional
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import _views
from ..client import Client
from ..errors import DuroxideError, InstanceNotFoundError
from ..providers import Provider
from . import _timeline

STATUSES = ("Running", "Completed", "Failed", "ContinuedAsNew")
_TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
_COOKIE = "duroxide_token"


def _when(ms: Optional[int]) -> str:
    if not ms:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) + f".{ms % 1000:03d}"


def _pretty(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default=True),
    )
    env.filters["when"] = _when
    env.filters["pretty"] = _pretty
    env.filters["path"] = lambda text: quote(str(text), safe="")
    return env


def build(provider: Provider, *, allow_actions: bool, token: Optional[str], refresh_ms: int) -> Starlette:
    client = Client(provider)
    env = _environment()
    form_token = secrets.token_urlsafe(24)  # proves an action form came from this dashboard

    def page(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        # `root`: where the app is mounted (create_app under a prefix), for every link.
        root = request.scope.get("root_path", "").rstrip("/")
        body = env.get_template(name).render(allow_actions=allow_actions, form_token=form_token, root=root, **values)
        return HTMLResponse(body, status_code=status_code)

    def filters(request: Request) -> Dict[str, Optional[str]]:
        q = request.query_params
        status = q.get("status") or None
        return {
            "status": status if status in STATUSES else None,
            "name": q.get("name") or None,
            "prefix": q.get("prefix") or None,
        }

    def listing(request: Request) -> Dict[str, Any]:
        chosen = filters(request)
        try:
            limit = max(1, min(1000, int(request.query_params.get("limit", "200"))))
        except ValueError:
            limit = 200
        found = _views.list_instances(client, chosen["status"], chosen["name"], chosen["prefix"])
        query = urlencode({k: v for k, v in chosen.items() if v})
        return {"instances": found[:limit], "total": len(found), "filters": chosen, "query": query,
                "statuses": STATUSES, "refresh_ms": refresh_ms}

    def index(request: Request) -> Response:
        return page(request, "list.html", **listing(request))

    def rows(request: Request) -> Response:
        return page(request, "rows.html", **listing(request))

    def api_instances(request: Request) -> Response:
        chosen = filters(request)
        found = _views.list_instances(client, chosen["status"], chosen["name"], chosen["prefix"])
        return JSONResponse([{"instance_id": i.info.instance_id, "orchestration": i.info.orchestration_name,
                              "version": i.info.orchestration_version, "status": i.info.status,
                              "created_ms": i.created_ms, "updated_ms": i.updated_ms} for i in found])

    def instance(request: Request) -> Response:
        iid = request.path_params["instance_id"]
        try:
            record = _views.instance_record(client, iid)
        except InstanceNotFoundError:
            return page(request, "missing.html", status_code=404, instance_id=iid)
        executions = client.list_executions(iid)
        try:
            execution = int(request.query_params.get("execution", record["execution"]))
        except ValueError:
            execution = record["execution"]
        if execution not in executions:
            execution = record["execution"]
        events = client.read_execution_history(iid, execution)
        running = record["status"] == "Running" and execution == record["execution"]
        timeline = _timeline.build(events, now_ms=int(time.time() * 1000) if running else None)
        return page(
            request,
            "instance.html",
            record=record,
            tree=_views.instance_tree(client, iid).walk(),
            executions=executions,
            execution=execution,
            events=events,
            picture=_timeline.layout(timeline),
            message=request.query_params.get("message"),
        )

    async def action(request: Request) -> Response:
        iid = request.path_params["instance_id"]
        if request.path_params["verb"] not in ("cancel", "raise"):
            return PlainError("unknown action", 404)
        if not allow_actions:
            return PlainError("actions are off: start the dashboard with --allow-actions", 403)
        # The forms are urlencoded; parsed here rather than with python-multipart.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if not hmac.compare_digest(str(form.get("form_token", "")), form_token):
            return PlainError("this form did not come from this dashboard (reload the page)", 403)
        try:
            if request.path_params["verb"] == "cancel":
                client.cancel_instance(iid, str(form.get("reason", "")))
                message = "cancellation requested"
            else:
                name = str(form.get("event", "")).strip()
                raw = str(form.get("data", "")).strip()
                data = json.loads(raw) if raw else None
                client.raise_event(iid, name, data)
                message = f"event {name!r} raised"
        except ValueError as e:
            message = f"not done: {e}"
        except DuroxideError as e:
            message = f"not done: {type(e).__name__}: {e}"
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(f"{root}/instances/{quote(iid, safe='')}?{urlencode({'message': message})}", 303)

    routes = [
        Route("/", index),
        Route("/fragments/instances", rows),
        Route("/api/instances", api_instances),
        Route("/instances/{instance_id:path}/{verb:str}", action, methods=["POST"]),
        Route("/instances/{instance_id:path}", instance),
    ]
    app = Starlette(routes=routes)
    if token:
        app.add_middleware(_TokenGate, token=token)
    return app


def PlainError(message: str, status: int) -> Response:  # noqa: N802 - reads like a response class
    return Response(message, status_code=status, media_type="text/plain")


class _TokenGate:
    """Every request needs the token: ``?token=`` once (then a cookie), or the cookie."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        cookie = request.cookies.get(_COOKIE, "")
        if given is not None and hmac.compare_digest(given, self.token):
            response: Response = RedirectResponse(str(request.url.remove_query_params("token")), 303)
            response.set_cookie(_COOKIE, self.token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        if not hmac.compare_digest(cookie, self.token):
            await PlainError("this dashboard needs its token: open it with ?token=...", 401)(scope, receive, send)
            return
        await self.app(scope, receive, send)
