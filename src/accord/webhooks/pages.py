"""Console pages for outbound webhooks (admins): endpoints (add, change, rotate the secret,
send a test, delete), recent deliveries with their status and attempts, replay.

Thin like every pages module: check the session (and the CSRF token on POST), parse the
form, call one service of ``accord.webhooks.services``, render or redirect. Input errors
re-render the form with the message (422)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from accord.access import Permission
from accord.errors import AccordError, InvalidInput
from accord.web.console import ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render
from accord.webhooks import services as webhooks
from accord.webhooks.domain import EVENTS, RETRY_SCHEDULE_S, TEST_EVENT

router = APIRouter(prefix="/console/admin/webhooks", include_in_schema=False)

BASE = "/console/admin/webhooks"
SUBSCRIBABLE = {k: v for k, v in EVENTS.items() if k != TEST_EVENT}
NOTICES = {
    "saved": "Saved.",
    "deleted": "The endpoint and its messages are deleted.",
    "tested": "A webhook.test event is queued; it appears below within seconds.",
    "replayed": "The message is queued again with a fresh set of attempts.",
    "replayed-all": "Every failed message of this endpoint is queued again.",
    "nothing": "There were no failed messages to replay.",
}
BADGES = {"pending": "s-sent", "delivered": "s-completed", "dead": "s-declined"}


@dataclass
class EndpointForm:
    url: str = ""
    description: str = ""
    event_types: list[str] = field(default_factory=list)


def _schedule_text() -> str:
    def fmt(s: float) -> str:
        return ("now" if s == 0 else f"{s:g} s" if s < 60 else f"{s / 60:g} min" if s < 3600
                else f"{s / 3600:g} h")

    return ", ".join(fmt(s) for s in RETRY_SCHEDULE_S)


def _list_page(request: Request, rt: Rt, console: ConsoleUser, *,
               form: EndpointForm | None = None, error: str | None = None,
               notice: str | None = None, status_code: int = 200) -> HTMLResponse:
    p = console.principal
    endpoints = webhooks.list_endpoints(rt, p)
    messages = webhooks.list_messages(rt, p, limit=25)
    return render(request, "webhooks/endpoints.html", status_code=status_code,
                  endpoints=endpoints, messages=messages, form=form or EndpointForm(),
                  error=error, notice=notice, events=SUBSCRIBABLE, badges=BADGES,
                  urls={e.id: e.url for e in endpoints}, schedule=_schedule_text(),
                  require_https=rt.settings.webhook_require_https,
                  **console.context("admin"))


@router.get("", response_class=HTMLResponse)
def endpoints(request: Request, rt: Rt, console: ConsoleUser,
              notice: Annotated[str, Query()] = "") -> HTMLResponse:
    console.principal.require(Permission.SETTINGS_MANAGE)
    return _list_page(request, rt, console, notice=NOTICES.get(notice))


@router.post("", response_class=HTMLResponse)
def add_endpoint(request: Request, rt: Rt, console: ConsoleUser, *,
                 csrf_token: Annotated[str, Form()] = "",
                 url: Annotated[str, Form()] = "",
                 description: Annotated[str, Form()] = "",
                 event_type: Annotated[list[str] | None, Form()] = None) -> HTMLResponse:
    console.check_csrf(csrf_token)
    form = EndpointForm(url.strip(), description.strip(), event_type or [])
    try:
        created = webhooks.create_endpoint(rt, console.principal, url=form.url,
                                           description=form.description,
                                           event_types=form.event_types)
    except AccordError as exc:
        if exc.status not in (409, 422):
            raise
        return _list_page(request, rt, console, form=form, error=exc.message,
                          status_code=422)
    return render(request, "webhooks/secret.html", created=created, rotated=False,
                  **console.context("admin"))


def _endpoint_page(request: Request, rt: Rt, console: ConsoleUser, endpoint_id: str, *,
                   error: str | None = None, notice: str | None = None,
                   status_code: int = 200) -> HTMLResponse:
    p = console.principal
    endpoint = webhooks.get_endpoint(rt, p, endpoint_id)
    messages = webhooks.list_messages(rt, p, endpoint_id=endpoint_id, limit=50)
    return render(request, "webhooks/endpoint.html", status_code=status_code,
                  endpoint=endpoint, messages=messages, events=SUBSCRIBABLE, badges=BADGES,
                  error=error, notice=notice, **console.context("admin"))


@router.get("/{endpoint_id}", response_class=HTMLResponse)
def endpoint(request: Request, rt: Rt, console: ConsoleUser, endpoint_id: str,
             notice: Annotated[str, Query()] = "") -> HTMLResponse:
    console.principal.require(Permission.SETTINGS_MANAGE)
    return _endpoint_page(request, rt, console, endpoint_id, notice=NOTICES.get(notice))


@router.post("/{endpoint_id}", response_class=HTMLResponse, response_model=None)
def update_endpoint(request: Request, rt: Rt, console: ConsoleUser, endpoint_id: str, *,
                    csrf_token: Annotated[str, Form()] = "",
                    url: Annotated[str, Form()] = "",
                    description: Annotated[str, Form()] = "",
                    event_type: Annotated[list[str] | None, Form()] = None,
                    enabled: Annotated[str, Form()] = "") -> HTMLResponse | RedirectResponse:
    console.check_csrf(csrf_token)
    try:
        webhooks.update_endpoint(rt, console.principal, endpoint_id, url=url.strip() or None,
                                 description=description, event_types=event_type or [],
                                 enabled=enabled.lower() in ("yes", "on", "true", "1"))
    except InvalidInput as exc:
        return _endpoint_page(request, rt, console, endpoint_id, error=exc.message,
                              status_code=422)
    return RedirectResponse(f"{BASE}/{endpoint_id}?notice=saved", status_code=303)


@router.post("/{endpoint_id}/rotate", response_class=HTMLResponse)
def rotate(request: Request, rt: Rt, console: ConsoleUser, endpoint_id: str, *,
           csrf_token: Annotated[str, Form()] = "") -> HTMLResponse:
    console.check_csrf(csrf_token)
    created = webhooks.rotate_secret(rt, console.principal, endpoint_id)
    return render(request, "webhooks/secret.html", created=created, rotated=True,
                  **console.context("admin"))


@router.post("/{endpoint_id}/test")
def send_test_event(rt: Rt, console: ConsoleUser, endpoint_id: str, *,
                    csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    webhooks.send_test(rt, console.principal, endpoint_id)
    return RedirectResponse(f"{BASE}/{endpoint_id}?notice=tested", status_code=303)


@router.post("/{endpoint_id}/replay-failed")
def replay_failed(rt: Rt, console: ConsoleUser, endpoint_id: str, *,
                  csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    done = webhooks.replay_failed(rt, console.principal, endpoint_id)
    notice = "replayed-all" if done.replayed else "nothing"
    return RedirectResponse(f"{BASE}/{endpoint_id}?notice={notice}", status_code=303)


@router.post("/{endpoint_id}/delete")
def delete(rt: Rt, console: ConsoleUser, endpoint_id: str, *,
           csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    webhooks.delete_endpoint(rt, console.principal, endpoint_id)
    return RedirectResponse(f"{BASE}?notice=deleted", status_code=303)


@router.get("/messages/{webhook_message_id}", response_class=HTMLResponse)
def message(request: Request, rt: Rt, console: ConsoleUser,
            webhook_message_id: str) -> HTMLResponse:
    detail = webhooks.get_message(rt, console.principal, webhook_message_id)
    return render(request, "webhooks/message.html", detail=detail, badges=BADGES,
                  payload=json.dumps(detail.payload, indent=2, ensure_ascii=False),
                  **console.context("admin"))


@router.post("/messages/{webhook_message_id}/replay")
def replay(rt: Rt, console: ConsoleUser, webhook_message_id: str, *,
           csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    view = webhooks.replay(rt, console.principal, webhook_message_id)
    return RedirectResponse(f"{BASE}/{view.endpoint_id}?notice=replayed", status_code=303)
