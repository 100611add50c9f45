"""Console pages for the local mailbox and the local SMS sink (the emails and text
messages Accord kept because no SMTP server or SMS gateway is configured), scoped to the
user's organisation, newest first; and the admin's page of dead outbox messages with a
Replay button."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup, escape

from accord.access import Permission
from accord.delivery import services, sms
from accord.delivery.domain import DEAD, MAIL_MAX_AGE
from accord.errors import NotFound
from accord.web.console import ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render

router = APIRouter(include_in_schema=False)
mailbox_router = APIRouter(prefix="/console/mailbox", include_in_schema=False)
sms_router = APIRouter(prefix="/console/sms", include_in_schema=False)
outbox_router = APIRouter(prefix="/console/admin/outbox", include_in_schema=False)
OUTBOX_NOTICES = {"replayed": "The message is queued again; it leaves this list once it "
                  "is sent or fails again."}

PAGE_SIZE = 50
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def linkify(text: str) -> Markup:
    """``text`` escaped, with its http(s) URLs turned into links (nothing else is)."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        out.append(escape(text[last:match.start()]))
        out.append(Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(url))
        last = end
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _page_number(value: str) -> int:
    try:
        return min(max(1, int(value)), 10_000)  # a huge page would overflow the offset
    except ValueError:
        return 1


@mailbox_router.get("", response_class=HTMLResponse)
def mailbox(request: Request, rt: Rt, console: ConsoleUser,
            page: Annotated[str, Query()] = "1") -> HTMLResponse:
    console.principal.require(Permission.MAILBOX_READ)
    number = _page_number(page)
    # one more than a page tells whether an older page exists
    messages = services.list_mailbox(rt, console.principal.org_id, limit=PAGE_SIZE + 1,
                                     offset=(number - 1) * PAGE_SIZE)
    return render(request, "console/mailbox.html", messages=messages[:PAGE_SIZE],
                  number=number, has_older=len(messages) > PAGE_SIZE,
                  **console.context("mailbox"))


@mailbox_router.get("/{message_id}", response_class=HTMLResponse)
def mailbox_message(request: Request, rt: Rt, console: ConsoleUser,
                    message_id: str) -> HTMLResponse:
    console.principal.require(Permission.MAILBOX_READ)
    try:
        message = services.get_mailbox_message(rt, console.principal.org_id, message_id)
    except services.NotFound as exc:
        raise NotFound("no such message in your organisation's mailbox",
                       code="message_not_found") from exc
    return render(request, "console/mailbox_message.html", message=message,
                  body=linkify(message.body), **console.context("mailbox"))


@sms_router.get("", response_class=HTMLResponse)
def sms_sink(request: Request, rt: Rt, console: ConsoleUser,
             page: Annotated[str, Query()] = "1") -> HTMLResponse:
    console.principal.require(Permission.MAILBOX_READ)
    number = _page_number(page)
    messages = sms.list_sms(rt, console.principal.org_id, limit=PAGE_SIZE + 1,
                            offset=(number - 1) * PAGE_SIZE)
    return render(request, "console/sms.html", messages=messages[:PAGE_SIZE],
                  number=number, has_older=len(messages) > PAGE_SIZE,
                  gateway=bool(rt.settings.sms_url), **console.context("mailbox"))


@outbox_router.get("", response_class=HTMLResponse)
def outbox(request: Request, rt: Rt, console: ConsoleUser,
           page: Annotated[str, Query()] = "1",
           notice: Annotated[str, Query()] = "") -> HTMLResponse:
    p = console.principal
    p.require(Permission.OUTBOX_MANAGE)
    number = _page_number(page)
    messages = services.list_outbox(rt, p, status=DEAD, limit=PAGE_SIZE + 1,
                                    offset=(number - 1) * PAGE_SIZE)
    return render(request, "outbox/dead.html", messages=messages[:PAGE_SIZE],
                  number=number, has_older=len(messages) > PAGE_SIZE,
                  stats=services.outbox_stats(rt, org_id=p.org_id),
                  mail_hours=int(MAIL_MAX_AGE.total_seconds() // 3600),
                  notice=OUTBOX_NOTICES.get(notice), **console.context("admin"))


@outbox_router.post("/{outbox_id}/replay")
def replay_outbox(rt: Rt, console: ConsoleUser, outbox_id: str, *,
                  csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    services.replay(rt, console.principal, outbox_id)
    return RedirectResponse("/console/admin/outbox?notice=replayed", status_code=303)


router.include_router(mailbox_router)
router.include_router(sms_router)
router.include_router(outbox_router)
